//! Grant: a new lease with a time to live.

use std::future::IntoFuture;

use super::check_id;
use crate::call::{CallOptions, ResponseFuture};
use crate::error::{Error, Result};
use crate::pb::etcdserverpb::{LeaseGrantRequest, LeaseGrantResponse as RawLeaseGrantResponse};
use crate::transport::rpc;
use crate::Client;

/// A lease grant, from [`Client::grant`].
#[derive(Clone, Debug)]
#[must_use = "a grant does nothing until awaited"]
pub struct Grant {
    request: LeaseGrantRequest,
    options: CallOptions,
    client: Client,
}

impl Grant {
    pub(crate) fn new(client: &Client, ttl: i64) -> Self {
        Grant { request: LeaseGrantRequest { ttl, id: 0 }, options: CallOptions::default(), client: client.clone() }
    }

    /// Asks for this lease id instead of letting the server choose one; it
    /// fails with [`LeaseExist`](crate::ErrorKind::LeaseExist) when taken.
    pub fn id(mut self, id: i64) -> Self {
        self.request.id = id;
        self
    }

    timeout_setter!();
}

impl IntoFuture for Grant {
    type Output = Result<LeaseGrantResponse>;
    type IntoFuture = ResponseFuture<LeaseGrantResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            // etcd raises a TTL of zero or less to its minimum without a
            // word; a caller who sent one has a bug worth hearing about.
            if self.request.ttl <= 0 {
                return Err(Error::invalid_argument(format!(
                    "lease TTL must be at least 1 second, not {}",
                    self.request.ttl
                )));
            }
            if self.request.id != 0 {
                check_id(self.request.id)?;
            }
            let response: RawLeaseGrantResponse =
                self.client.transport.unary(&rpc::LEASE_GRANT, &self.request, self.options.timeout).await?;
            Ok(LeaseGrantResponse(response))
        })
    }
}

wire_response! {
    /// The answer to a grant: the lease's id and the TTL the server gave it.
    LeaseGrantResponse(RawLeaseGrantResponse)
}

impl LeaseGrantResponse {
    /// The lease id, to attach keys with `put(..).lease(id)` and to keep
    /// alive with [`Client::keep_alive`].
    pub fn id(&self) -> i64 {
        self.0.id
    }

    /// The TTL granted, in seconds: at least the server's minimum (about
    /// 1.5 election timeouts, 2 s with default settings), which may exceed
    /// the TTL asked for.
    pub fn ttl(&self) -> i64 {
        self.0.ttl
    }
}
