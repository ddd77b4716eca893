//! Delete: remove one key or a range of keys.

use std::future::IntoFuture;
use std::time::Duration;

use bytes::Bytes;

use super::{check_key, header, KeyValue, RangeEnd, ResponseHeader};
use crate::call::{CallOptions, ResponseFuture};
use crate::error::Result;
use crate::pb::etcdserverpb::{DeleteRangeRequest, DeleteRangeResponse};
use crate::transport::rpc;
use crate::Client;

/// A delete request. From [`Client::delete`] it is awaited directly; from
/// [`Delete::new`] it is an operation of a [`Txn`](super::Txn).
#[derive(Clone, Debug)]
#[must_use = "a delete does nothing until awaited or added to a txn"]
pub struct Delete<C = ()> {
    request: DeleteRangeRequest,
    range: RangeEnd,
    options: CallOptions,
    client: C,
}

impl Delete<()> {
    /// A delete of `key`, for a transaction.
    pub fn new(key: impl Into<Bytes>) -> Delete<()> {
        Delete {
            request: DeleteRangeRequest { key: key.into(), ..Default::default() },
            range: RangeEnd::Single,
            options: CallOptions::default(),
            client: (),
        }
    }

    pub(crate) fn bind(self, client: &Client) -> Delete<&Client> {
        Delete { request: self.request, range: self.range, options: self.options, client }
    }
}

impl<C> Delete<C> {
    /// Every key that starts with the key (`WithPrefix`).
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

    /// Returns the deleted pairs in the response (`WithPrevKV`).
    pub fn prev_kv(mut self) -> Self {
        self.request.prev_kv = true;
        self
    }

    /// The deadline of this call, instead of the client's request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    pub(crate) fn into_request(self) -> Result<DeleteRangeRequest> {
        let mut request = self.request;
        let (key, end) = self.range.resolve(request.key);
        check_key(&key)?;
        request.key = key;
        request.range_end = end;
        Ok(request)
    }
}

impl<'a> IntoFuture for Delete<&'a Client> {
    type Output = Result<DeleteResponse>;
    type IntoFuture = ResponseFuture<'a, DeleteResponse>;

    fn into_future(self) -> Self::IntoFuture {
        let client = self.client;
        let timeout = self.options.timeout;
        let request = self.into_request();
        ResponseFuture::new(async move {
            let response: DeleteRangeResponse = client.transport.unary(&rpc::DELETE_RANGE, &request?, timeout).await?;
            Ok(DeleteResponse(response))
        })
    }
}

/// The answer to a delete.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeleteResponse(pub(crate) DeleteRangeResponse);

impl DeleteResponse {
    /// Revision, member and raft term of the write.
    pub fn header(&self) -> &ResponseHeader {
        header(&self.0.header)
    }

    /// How many keys were deleted.
    pub fn deleted(&self) -> i64 {
        self.0.deleted
    }

    /// The deleted pairs, when requested with [`prev_kv`](Delete::prev_kv).
    pub fn prev_kvs(&self) -> &[KeyValue] {
        &self.0.prev_kvs
    }

    /// The wire message.
    pub fn into_inner(self) -> DeleteRangeResponse {
        self.0
    }
}

impl From<DeleteRangeResponse> for DeleteResponse {
    fn from(raw: DeleteRangeResponse) -> Self {
        DeleteResponse(raw)
    }
}

impl From<DeleteResponse> for DeleteRangeResponse {
    fn from(response: DeleteResponse) -> Self {
        response.0
    }
}
