//! TimeToLive and Leases: what the server knows about leases.

use bytes::Bytes;
use std::future::IntoFuture;

use super::{check_id, not_found};
use crate::call::{CallOptions, ResponseFuture};
use crate::error::Result;
use crate::pb::etcdserverpb::{
    LeaseLeasesRequest, LeaseLeasesResponse as RawLeaseLeasesResponse, LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse as RawLeaseTimeToLiveResponse,
};
use crate::transport::rpc;
use crate::Client;

/// A lease lookup, from [`Client::time_to_live`].
#[derive(Clone, Debug)]
#[must_use = "a time_to_live does nothing until awaited"]
pub struct TimeToLive {
    request: LeaseTimeToLiveRequest,
    options: CallOptions,
    client: Client,
}

impl TimeToLive {
    pub(crate) fn new(client: &Client, id: i64) -> Self {
        TimeToLive {
            request: LeaseTimeToLiveRequest { id, keys: false },
            options: CallOptions::default(),
            client: client.clone(),
        }
    }

    /// Also lists the keys attached to the lease (Go's `WithAttachedKeys`).
    pub fn keys(mut self) -> Self {
        self.request.keys = true;
        self
    }

    timeout_setter!();
}

impl IntoFuture for TimeToLive {
    type Output = Result<LeaseTimeToLiveResponse>;
    type IntoFuture = ResponseFuture<LeaseTimeToLiveResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            check_id(self.request.id)?;
            let response: RawLeaseTimeToLiveResponse =
                self.client.transport.unary(&rpc::LEASE_TIME_TO_LIVE, &self.request, self.options.timeout).await?;
            // The server answers TTL -1 instead of an error for a lease it
            // does not have.
            if response.ttl < 0 {
                return Err(not_found(self.request.id, "the server reports no such lease (TTL -1)"));
            }
            let mut response = response;
            response.keys = self.client.namespace.keys_within(response.keys);
            Ok(LeaseTimeToLiveResponse(response))
        })
    }
}

wire_response! {
    /// What the server knows about one lease.
    LeaseTimeToLiveResponse(RawLeaseTimeToLiveResponse)
}

impl LeaseTimeToLiveResponse {
    /// The lease id.
    pub fn id(&self) -> i64 {
        self.0.id
    }

    /// Seconds left before the lease expires.
    pub fn ttl(&self) -> i64 {
        self.0.ttl
    }

    /// The TTL the lease was granted with, in seconds.
    pub fn granted_ttl(&self) -> i64 {
        self.0.granted_ttl
    }

    /// The keys attached to the lease, when asked for with
    /// [`keys`](TimeToLive::keys); through a
    /// [namespace](crate::Client::with_namespace), only those under it,
    /// without it.
    pub fn keys(&self) -> &[Bytes] {
        &self.0.keys
    }
}

/// A listing of every lease, from [`Client::leases`].
#[derive(Clone, Debug)]
#[must_use = "a leases call does nothing until awaited"]
pub struct Leases {
    options: CallOptions,
    client: Client,
}

impl Leases {
    pub(crate) fn new(client: &Client) -> Self {
        Leases { options: CallOptions::default(), client: client.clone() }
    }

    timeout_setter!();
}

impl IntoFuture for Leases {
    type Output = Result<LeaseLeasesResponse>;
    type IntoFuture = ResponseFuture<LeaseLeasesResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let response: RawLeaseLeasesResponse =
                self.client.transport.unary(&rpc::LEASE_LEASES, &LeaseLeasesRequest {}, self.options.timeout).await?;
            Ok(LeaseLeasesResponse(response))
        })
    }
}

wire_response! {
    /// Every lease the cluster has.
    LeaseLeasesResponse(RawLeaseLeasesResponse)
}

impl LeaseLeasesResponse {
    /// The ids of the leases.
    pub fn ids(&self) -> Vec<i64> {
        self.0.leases.iter().map(|lease| lease.id).collect()
    }
}
