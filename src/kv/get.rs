//! Get: read one key or a range of keys.

use std::future::IntoFuture;
use std::time::Duration;

use bytes::Bytes;

use super::{check_key, header, KeyValue, RangeEnd, ResponseHeader, SortOrder, SortTarget};
use crate::call::{CallOptions, ResponseFuture};
use crate::error::Result;
use crate::pb::etcdserverpb::{RangeRequest, RangeResponse};
use crate::transport::rpc;
use crate::Client;

/// A range request. From [`Client::get`] it is awaited directly; from
/// [`Get::new`] it is an operation of a [`Txn`](super::Txn).
#[derive(Clone, Debug)]
#[must_use = "a get does nothing until awaited or added to a txn"]
pub struct Get<C = ()> {
    request: RangeRequest,
    range: RangeEnd,
    options: CallOptions,
    client: C,
}

impl Get<()> {
    /// A read of `key`, for a transaction.
    pub fn new(key: impl Into<Bytes>) -> Get<()> {
        Get {
            request: RangeRequest { key: key.into(), ..Default::default() },
            range: RangeEnd::Single,
            options: CallOptions::default(),
            client: (),
        }
    }

    pub(crate) fn bind(self, client: &Client) -> Get<&Client> {
        Get { request: self.request, range: self.range, options: self.options, client }
    }
}

impl<C> Get<C> {
    /// Every key that starts with the key (Go's `WithPrefix`); an empty key
    /// with a prefix reads every key.
    pub fn prefix(mut self) -> Self {
        self.range = RangeEnd::Prefix;
        self
    }

    /// Keys in `[key, end)` (`WithRange`).
    pub fn range_end(mut self, end: impl Into<Bytes>) -> Self {
        self.range = RangeEnd::End(end.into());
        self
    }

    /// The key and every key after it (`WithFromKey`).
    pub fn from_key(mut self) -> Self {
        self.range = RangeEnd::FromKey;
        self
    }

    /// At most `limit` keys; `more()` on the response says if there are
    /// more (`WithLimit`; 0 means no limit).
    pub fn limit(mut self, limit: i64) -> Self {
        self.request.limit = limit;
        self
    }

    /// Reads as of `revision` (`WithRev`; 0 means the latest). A
    /// compacted revision fails with `Compacted`, a future one with
    /// `FutureRev`.
    pub fn revision(mut self, revision: i64) -> Self {
        self.request.revision = revision;
        self
    }

    /// Orders the result (`WithSort`).
    pub fn sort(mut self, target: SortTarget, order: SortOrder) -> Self {
        self.request.sort_target = target as i32;
        self.request.sort_order = order as i32;
        self
    }

    /// Answers from the member's local state without a round through the
    /// leader: faster, possibly stale (`WithSerializable`).
    pub fn serializable(mut self) -> Self {
        self.request.serializable = true;
        self
    }

    /// Returns keys without values (`WithKeysOnly`).
    pub fn keys_only(mut self) -> Self {
        self.request.keys_only = true;
        self
    }

    /// Returns only the count of matching keys (`WithCountOnly`).
    pub fn count_only(mut self) -> Self {
        self.request.count_only = true;
        self
    }

    /// Only keys last modified at or after `revision` (`WithMinModRev`).
    pub fn min_mod_revision(mut self, revision: i64) -> Self {
        self.request.min_mod_revision = revision;
        self
    }

    /// Only keys last modified at or before `revision` (`WithMaxModRev`).
    pub fn max_mod_revision(mut self, revision: i64) -> Self {
        self.request.max_mod_revision = revision;
        self
    }

    /// Only keys created at or after `revision` (`WithMinCreateRev`).
    pub fn min_create_revision(mut self, revision: i64) -> Self {
        self.request.min_create_revision = revision;
        self
    }

    /// Only keys created at or before `revision` (`WithMaxCreateRev`).
    pub fn max_create_revision(mut self, revision: i64) -> Self {
        self.request.max_create_revision = revision;
        self
    }

    /// The deadline of this call, instead of the client's request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// The wire request, checked: an empty key without a range is refused.
    pub(crate) fn into_request(self) -> Result<RangeRequest> {
        let mut request = self.request;
        let (key, end) = self.range.resolve(request.key);
        check_key(&key)?;
        request.key = key;
        request.range_end = end;
        Ok(request)
    }
}

impl<'a> IntoFuture for Get<&'a Client> {
    type Output = Result<GetResponse>;
    type IntoFuture = ResponseFuture<'a, GetResponse>;

    fn into_future(self) -> Self::IntoFuture {
        let client = self.client;
        let timeout = self.options.timeout;
        let request = self.into_request();
        ResponseFuture::new(async move {
            let response: RangeResponse = client.transport.unary(&rpc::RANGE, &request?, timeout).await?;
            Ok(GetResponse(response))
        })
    }
}

/// The answer to a get.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GetResponse(pub(crate) RangeResponse);

impl GetResponse {
    /// Revision (of the store when read), member and raft term.
    pub fn header(&self) -> &ResponseHeader {
        header(&self.0.header)
    }

    /// The pairs found, in the requested order (by key by default).
    pub fn kvs(&self) -> &[KeyValue] {
        &self.0.kvs
    }

    /// Takes the pairs out of the response.
    pub fn into_kvs(self) -> Vec<KeyValue> {
        self.0.kvs
    }

    /// Whether a limit cut the result short.
    pub fn more(&self) -> bool {
        self.0.more
    }

    /// How many keys are in the range, ignoring the limit.
    pub fn count(&self) -> i64 {
        self.0.count
    }

    /// The wire message.
    pub fn into_inner(self) -> RangeResponse {
        self.0
    }
}

impl From<RangeResponse> for GetResponse {
    fn from(raw: RangeResponse) -> Self {
        GetResponse(raw)
    }
}

impl From<GetResponse> for RangeResponse {
    fn from(response: GetResponse) -> Self {
        response.0
    }
}
