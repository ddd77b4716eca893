//! Delete: remove one key or a range of keys.

use crate::IntoBytes;
use std::future::IntoFuture;

use super::{KeyValue, RangeEnd};
use crate::call::{CallOptions, ResponseFuture};
use crate::error::Result;
use crate::namespace::Namespace;
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
    pub fn new(key: impl IntoBytes) -> Delete<()> {
        Delete {
            request: DeleteRangeRequest { key: key.into_bytes(), ..Default::default() },
            range: RangeEnd::Single,
            options: CallOptions::default(),
            client: (),
        }
    }

    pub(crate) fn bind(self, client: &Client) -> Delete<Client> {
        Delete { request: self.request, range: self.range, options: self.options, client: client.clone() }
    }
}

impl<C> Delete<C> {
    key_range_setters!();

    /// Returns the deleted pairs in the response (`WithPrevKV`).
    pub fn prev_kv(mut self) -> Self {
        self.request.prev_kv = true;
        self
    }

    timeout_setter!();

    /// The request without its client, and the client.
    fn unbind(self) -> (Delete<()>, C) {
        let Delete { request, range, options, client } = self;
        (Delete { request, range, options, client: () }, client)
    }

    pub(crate) fn into_request(self, namespace: &Namespace) -> Result<DeleteRangeRequest> {
        let mut request = self.request;
        namespace.fill(&self.range, &mut request.key, &mut request.range_end)?;
        Ok(request)
    }
}

impl IntoFuture for Delete<Client> {
    type Output = Result<DeleteResponse>;
    type IntoFuture = ResponseFuture<DeleteResponse>;

    fn into_future(self) -> Self::IntoFuture {
        let timeout = self.options.timeout;
        let (unbound, client) = self.unbind();
        let request = match unbound.into_request(&client.namespace) {
            Ok(request) => request,
            // Refused before anything is sent; the future only reports it.
            Err(e) => return ResponseFuture::failed(e),
        };
        ResponseFuture::new(async move {
            let response: DeleteRangeResponse = client.transport.unary(&rpc::DELETE_RANGE, &request, timeout).await?;
            Ok(DeleteResponse::from(client.namespace.strip(response)))
        })
    }
}

wire_response! {
    /// The answer to a delete.
    DeleteResponse(DeleteRangeResponse) { prev_kvs: Vec<KeyValue> }
}

impl DeleteResponse {
    /// How many keys were deleted.
    pub fn deleted(&self) -> i64 {
        self.raw.deleted
    }

    /// The deleted pairs, when requested with [`prev_kv`](Delete::prev_kv).
    pub fn prev_kvs(&self) -> &[KeyValue] {
        &self.prev_kvs
    }
}
