//! Revoke: end a lease now and delete its keys.

use std::future::IntoFuture;

use super::check_id;
use crate::call::{CallOptions, ResponseFuture};
use crate::error::Result;
use crate::pb::etcdserverpb::{LeaseRevokeRequest, LeaseRevokeResponse as RawLeaseRevokeResponse};
use crate::transport::rpc;
use crate::Client;

/// A lease revocation, from [`Client::revoke`].
#[derive(Clone, Debug)]
#[must_use = "a revoke does nothing until awaited"]
pub struct Revoke {
    request: LeaseRevokeRequest,
    options: CallOptions,
    client: Client,
}

impl Revoke {
    pub(crate) fn new(client: &Client, id: i64) -> Self {
        Revoke { request: LeaseRevokeRequest { id }, options: CallOptions::default(), client: client.clone() }
    }

    timeout_setter!();
}

impl IntoFuture for Revoke {
    type Output = Result<LeaseRevokeResponse>;
    type IntoFuture = ResponseFuture<LeaseRevokeResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            check_id(self.request.id)?;
            let response: RawLeaseRevokeResponse =
                self.client.transport.unary(&rpc::LEASE_REVOKE, &self.request, self.options.timeout).await?;
            // Holders of a keep-alive on this client learn it now rather
            // than at their next renewal.
            self.client.lessor.revoked(self.request.id);
            Ok(LeaseRevokeResponse(response))
        })
    }
}

wire_response! {
    /// The answer to a revoke.
    LeaseRevokeResponse(RawLeaseRevokeResponse)
}
