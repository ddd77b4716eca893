//! Put: store a value under a key.

use crate::IntoBytes;
use std::future::IntoFuture;

use super::{check_key, KeyValue};
use crate::call::{CallOptions, ResponseFuture};
use crate::error::Result;
use crate::namespace::Namespace;
use crate::pb::etcdserverpb::{PutRequest, PutResponse as RawPutResponse};
use crate::transport::rpc;
use crate::Client;

/// A put request. From [`Client::put`] it is awaited directly; from
/// [`Put::new`] it is an operation of a [`Txn`](super::Txn).
#[derive(Clone, Debug)]
#[must_use = "a put does nothing until awaited or added to a txn"]
pub struct Put<C = ()> {
    pub(crate) request: PutRequest,
    options: CallOptions,
    client: C,
}

impl Put<()> {
    /// A put of `value` under `key`, for a transaction.
    pub fn new(key: impl IntoBytes, value: impl IntoBytes) -> Put<()> {
        Put {
            request: PutRequest { key: key.into_bytes(), value: value.into_bytes(), ..Default::default() },
            options: CallOptions::default(),
            client: (),
        }
    }

    pub(crate) fn bind(self, client: &Client) -> Put<Client> {
        Put { request: self.request, options: self.options, client: client.clone() }
    }
}

impl<C> Put<C> {
    /// Attaches the key to lease `id`; it is deleted when the lease ends
    /// (Go's `WithLease`).
    pub fn lease(mut self, id: i64) -> Self {
        self.request.lease = id;
        self
    }

    /// Returns the previous key-value pair in the response (`WithPrevKV`).
    pub fn prev_kv(mut self) -> Self {
        self.request.prev_kv = true;
        self
    }

    /// Keeps the current value and updates only the lease; the key must
    /// exist and the value given must be empty (`WithIgnoreValue`).
    pub fn ignore_value(mut self) -> Self {
        self.request.ignore_value = true;
        self
    }

    /// Keeps the current lease and updates only the value; the key must
    /// exist (`WithIgnoreLease`).
    pub fn ignore_lease(mut self) -> Self {
        self.request.ignore_lease = true;
        self
    }

    timeout_setter!();

    /// The wire request in `namespace`, checked: an empty key is refused.
    pub(crate) fn into_request(self, namespace: &Namespace) -> Result<PutRequest> {
        let mut request = self.request;
        check_key(&request.key)?;
        request.key = namespace.key(request.key);
        Ok(request)
    }
}

impl IntoFuture for Put<Client> {
    type Output = Result<PutResponse>;
    type IntoFuture = ResponseFuture<PutResponse>;

    fn into_future(self) -> Self::IntoFuture {
        let Put { request, options, client } = self;
        let unbound = Put { request, options, client: () };
        let request = match unbound.into_request(&client.namespace) {
            Ok(request) => request,
            // Refused before anything is sent; the future only reports it.
            Err(e) => return ResponseFuture::failed(e),
        };
        ResponseFuture::new(async move {
            let response: RawPutResponse = client.transport.unary(&rpc::PUT, &request, options.timeout).await?;
            Ok(PutResponse::from(client.namespace.strip(response)))
        })
    }
}

wire_response! {
    /// The answer to a put.
    PutResponse(RawPutResponse) { prev_kv: Option<KeyValue> }
}

impl PutResponse {
    /// The pair before this put, when requested with
    /// [`prev_kv`](Put::prev_kv) and the key existed.
    pub fn prev_kv(&self) -> Option<&KeyValue> {
        self.prev_kv.as_ref()
    }
}
