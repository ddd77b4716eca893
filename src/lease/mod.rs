//! The Lease service: grant, revoke, time_to_live, leases, and keeping
//! leases alive.
//!
//! A lease is a TTL on the server; keys put with `.lease(id)` are deleted
//! when it ends. [`Client::keep_alive`] renews it in the background for as
//! long as the returned [`KeepAliveStream`] lives, and tells when it is
//! lost.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), etcd_raw::Error> {
//!     let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
//!     let lease = client.grant(5).await?;
//!     client.put("service/instance-1", "10.0.0.7:8080").lease(lease.id()).await?;
//!     let mut alive = client.keep_alive(lease.id()).await?;
//!     // The key lives while `alive` does; this loop ends when the lease is lost.
//!     while let Some(renewal) = alive.message().await {
//!         match renewal {
//!             Ok(renewal) => println!("renewed for {}s", renewal.ttl()),
//!             Err(lost) => println!("lease lost: {lost}"),
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Keeping alive
//!
//! All leases of a client (and of its clones) share one bidirectional
//! LeaseKeepAlive stream, run by one background task while any lease is
//! held. Each lease is renewed a third of its TTL after the previous
//! renewal. A broken stream is reopened at once on the next endpoint, and a
//! member that leaves a renewal unanswered for a quarter of the TTL is
//! taken for hung and left the same way. A lease is reported lost when the
//! server says it is gone (it answers TTL 0 rather than an error) or when
//! its TTL passed since the last answered renewal was sent.
//!
//! Unknown or expired leases are errors everywhere, never silent:
//! [`LeaseNotFound`](crate::ErrorKind::LeaseNotFound) from `revoke`,
//! `time_to_live` (where the server answers TTL -1), `keep_alive_once` and
//! `keep_alive` (where it answers TTL 0), and from a put with the lease.

mod grant;
mod keep_alive;
mod lessor;
mod revoke;
mod time_to_live;

pub use grant::{Grant, LeaseGrantResponse};
pub(crate) use keep_alive::KeepAliveHandle;
pub use keep_alive::{KeepAlive, KeepAliveOnce, KeepAliveStream, LeaseKeepAliveResponse};
pub(crate) use lessor::Lessor;
pub use revoke::{LeaseRevokeResponse, Revoke};
pub use time_to_live::{LeaseLeasesResponse, LeaseTimeToLiveResponse, Leases, TimeToLive};

use crate::error::{Error, ErrorKind, Result};
use crate::Client;

/// The longest TTL etcd grants, in seconds; a longer one fails with
/// [`LeaseTtlTooLarge`](crate::ErrorKind::LeaseTtlTooLarge).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

impl Client {
    /// Grants a lease of `ttl` seconds (Go's `Grant`); the server may raise
    /// it to its minimum. A TTL of zero or less fails with
    /// [`InvalidArgument`](crate::ErrorKind::InvalidArgument), one over
    /// [`MAX_LEASE_TTL`] with
    /// [`LeaseTtlTooLarge`](crate::ErrorKind::LeaseTtlTooLarge).
    pub fn grant(&self, ttl: i64) -> Grant {
        Grant::new(self, ttl)
    }

    /// Revokes lease `id` and deletes its keys (Go's `Revoke`).
    pub fn revoke(&self, id: i64) -> Revoke {
        Revoke::new(self, id)
    }

    /// Seconds left of lease `id`, with its keys on `.keys()` (Go's
    /// `TimeToLive`). A lease that does not exist (or expired) fails with
    /// [`LeaseNotFound`](crate::ErrorKind::LeaseNotFound).
    pub fn time_to_live(&self, id: i64) -> TimeToLive {
        TimeToLive::new(self, id)
    }

    /// Every lease of the cluster (Go's `Leases`).
    pub fn leases(&self) -> Leases {
        Leases::new(self)
    }

    /// Renews lease `id` once (Go's `KeepAliveOnce`).
    pub fn keep_alive_once(&self, id: i64) -> KeepAliveOnce {
        KeepAliveOnce::new(self, id)
    }

    /// Keeps lease `id` alive until the returned [`KeepAliveStream`] is
    /// dropped (Go's `KeepAlive`); see the [module docs](crate::lease).
    /// Awaiting it returns once the server answered the first renewal, and
    /// fails with [`LeaseNotFound`](crate::ErrorKind::LeaseNotFound) for a
    /// lease that does not exist.
    pub fn keep_alive(&self, id: i64) -> KeepAlive {
        KeepAlive::new(self, id)
    }
}

/// Lease ids are positive: 0 means "no lease", and etcd never grants a
/// negative one.
pub(crate) fn check_id(id: i64) -> Result<()> {
    if id <= 0 {
        return Err(Error::invalid_argument(format!("lease id must be positive, not {id}")));
    }
    Ok(())
}

/// The error for a lease the server does not have.
pub(crate) fn not_found(id: i64, why: &str) -> Error {
    Error::new(ErrorKind::LeaseNotFound, format!("etcdserver: requested lease not found: lease {id:x} ({why})"))
}
