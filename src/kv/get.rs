//! Get: read one key or a range of keys.

use crate::IntoBytes;
use std::future::IntoFuture;

use super::{GetStream, KeyValue, RangeEnd, SortOrder, SortTarget};
use crate::call::{CallOptions, ResponseFuture};
use crate::error::Result;
use crate::namespace::Namespace;
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
    pub fn new(key: impl IntoBytes) -> Get<()> {
        Get {
            request: RangeRequest { key: key.into_bytes(), ..Default::default() },
            range: RangeEnd::Single,
            options: CallOptions::default(),
            client: (),
        }
    }

    pub(crate) fn bind(self, client: &Client) -> Get<Client> {
        Get { request: self.request, range: self.range, options: self.options, client: client.clone() }
    }
}

impl<C> Get<C> {
    key_range_setters!();

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

    timeout_setter!();

    /// The request without its client, and the client.
    fn unbind(self) -> (Get<()>, C) {
        let Get { request, range, options, client } = self;
        (Get { request, range, options, client: () }, client)
    }

    /// The wire request in `namespace`, checked: an empty key without a
    /// range is refused.
    pub(crate) fn into_request(self, namespace: &Namespace) -> Result<RangeRequest> {
        let mut request = self.request;
        namespace.fill(&self.range, &mut request.key, &mut request.range_end)?;
        Ok(request)
    }
}

impl Get<Client> {
    /// The same read answered as a stream of pages instead of one message
    /// (Go's `GetStream`; etcd 3.7's `RangeStream`, paged gets on older servers): awaiting
    /// a `Get` is Go's `Get`, `.stream()` is its `GetStream`. For ranges too
    /// large for one response, or to start on the first keys before the
    /// last arrive. Every page is read at one revision. Nothing is sent
    /// until the stream is first polled; see [`GetStream`] for the
    /// guarantees, the deadline and the errors.
    ///
    /// ```no_run
    /// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
    /// let mut pages = client.get("jobs/").prefix().keys_only().stream();
    /// let mut keys = 0;
    /// while let Some(page) = pages.next_page().await {
    ///     keys += page?.kvs().len();
    /// }
    /// println!("{keys} jobs");
    /// # Ok(()) }
    /// ```
    pub fn stream(self) -> GetStream {
        let timeout = self.options.timeout;
        let (unbound, client) = self.unbind();
        GetStream::new(&client, unbound.into_request(&client.namespace), timeout)
    }
}

impl IntoFuture for Get<Client> {
    type Output = Result<GetResponse>;
    type IntoFuture = ResponseFuture<GetResponse>;

    fn into_future(self) -> Self::IntoFuture {
        let timeout = self.options.timeout;
        let (unbound, client) = self.unbind();
        let request = match unbound.into_request(&client.namespace) {
            Ok(request) => request,
            // Refused before anything is sent; the future only reports it.
            Err(e) => return ResponseFuture::failed(e),
        };
        ResponseFuture::new(async move {
            let response: RangeResponse = client.transport.unary(&rpc::RANGE, &request, timeout).await?;
            Ok(GetResponse::from(client.namespace.strip(response)))
        })
    }
}

wire_response! {
    /// The answer to a get.
    GetResponse(RangeResponse) { kvs: Vec<KeyValue> }
}

impl GetResponse {
    /// The pairs found, in the requested order (by key by default).
    pub fn kvs(&self) -> &[KeyValue] {
        &self.kvs
    }

    /// Takes the pairs out of the response.
    pub fn into_kvs(self) -> Vec<KeyValue> {
        self.kvs
    }

    /// Whether a limit cut the result short.
    pub fn more(&self) -> bool {
        self.raw.more
    }

    /// How many keys are in the range, ignoring the limit.
    pub fn count(&self) -> i64 {
        self.raw.count
    }
}
