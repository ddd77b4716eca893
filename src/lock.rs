//! The Lock service (v3lock): named locks held by the server, tied to a
//! lease.
//!
//! [`Client::lock`] waits until the lock is free and returns its key;
//! [`Client::unlock`] releases it. The lock lasts while the lease does:
//! keep the lease alive ([`Client::keep_alive`]) for as long as the lock is
//! needed. For locks with a session, `try_lock` and fencing built in, see
//! [`concurrency::Mutex`](crate::concurrency::Mutex); both use etcd's key
//! layout (`<name>/<lease in hex>`, ordered by create revision), so they
//! exclude each other and `etcdctl lock`.
//!
//! ```no_run
//! use etcd_raw::{Compare, CompareOp, Put};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), etcd_raw::Error> {
//!     let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
//!     let lease = client.grant(10).await?;
//!     let _alive = client.keep_alive(lease.id()).await?;
//!     let lock = client.lock("jobs/nightly", lease.id()).await?;
//!     // Writes guarded by the lock's revision fail once the lock is lost.
//!     let guarded = client
//!         .txn()
//!         .when([Compare::create_revision(lock.key().clone(), CompareOp::Equal, lock.revision())])
//!         .and_then([Put::new("jobs/nightly-state", "running")])
//!         .await?;
//!     assert!(guarded.succeeded());
//!     client.unlock(lock.key().clone()).await?;
//!     Ok(())
//! }
//! ```
//!
//! A lock is not mutual exclusion by itself: a holder that stalls past its
//! TTL loses the lock while still believing it holds it. Guard every write
//! with the lock's [`revision`](LockResponse::revision), as above, or hand
//! it to the protected resource as a fencing token.

use crate::IntoBytes;
use bytes::Bytes;
use std::future::IntoFuture;
use std::time::Duration;

use crate::call::{CallOptions, ResponseFuture};
use crate::error::{Error, ErrorKind, Result};
use crate::kv::{Compare, CompareOp, Delete, ResponseHeader};
use crate::lease::check_id;
use crate::pb::v3lockpb::{LockRequest, LockResponse as RawLockResponse, UnlockResponse as RawUnlockResponse};
use crate::transport::rpc;
use crate::Client;

/// The deadline of a call that waits for a lock or a leadership without
/// one of its own: in effect none. The server is told too.
pub(crate) const WAIT_WITHOUT_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

impl Client {
    /// Acquires the lock `name` for `lease` (the Lock service's `Lock`),
    /// waiting as long as it takes unless given a
    /// [`timeout`](Lock::timeout). A lease that does not exist fails with
    /// [`LeaseNotFound`](ErrorKind::LeaseNotFound); one that expires while
    /// waiting fails with [`SessionExpired`](ErrorKind::SessionExpired),
    /// never with a lock that is not held (the etcd 3.4 server grants
    /// such locks; the client checks the key is still there). A failure
    /// whose [outcome is unknown](Error::outcome_unknown) may have left the
    /// lock granted: unlock `<name>/<lease in hex>` or revoke the lease.
    pub fn lock(&self, name: impl IntoBytes, lease: i64) -> Lock {
        Lock {
            request: LockRequest { name: self.namespace.key(name.into_bytes()), lease },
            options: CallOptions::default(),
            client: self.clone(),
        }
    }

    /// Releases the lock whose key [`lock`](Client::lock) returned. A key
    /// that holds no lock (already released, or lost with its lease)
    /// fails with [`LockReleased`](ErrorKind::LockReleased).
    pub fn unlock(&self, key: impl IntoBytes) -> Unlock {
        Unlock { key: key.into_bytes(), options: CallOptions::default(), client: self.clone() }
    }
}

/// A lock request, from [`Client::lock`].
#[derive(Clone, Debug)]
#[must_use = "a lock does nothing until awaited"]
pub struct Lock {
    request: LockRequest,
    options: CallOptions,
    client: Client,
}

impl Lock {
    /// Gives up waiting after `timeout` (the default is to wait for as long
    /// as it takes, unlike other calls). The server then removes the
    /// waiter's key.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }
}

impl IntoFuture for Lock {
    type Output = Result<LockResponse>;
    type IntoFuture = ResponseFuture<LockResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            check_id(self.request.lease)?;
            let timeout = self.options.timeout.unwrap_or(WAIT_WITHOUT_DEADLINE);
            let mut raw: RawLockResponse =
                self.client.transport.unary(&rpc::LOCK, &self.request, Some(timeout)).await?;
            // The key as this client's namespace names it: the check below,
            // the caller's unlock and guarded writes all go through it.
            raw.key = self.client.namespace.strip(raw.key);
            // etcd 3.4 answers a waiter whose lease expired meanwhile as if
            // it held the lock (etcd#11456): only a key still there counts.
            let held = self.client.get(raw.key.clone()).await?.into_kvs().pop();
            match held {
                Some(kv) if kv.lease() == self.request.lease => {
                    Ok(LockResponse { raw, revision: kv.create_revision() })
                }
                _ => Err(Error::new(
                    ErrorKind::SessionExpired,
                    format!(
                        "mutex: session is expired: the lock was granted on lease {:x} but its key is gone: \
                         the lease expired while waiting",
                        self.request.lease
                    ),
                )),
            }
        })
    }
}

/// A held lock, from [`Client::lock`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LockResponse {
    raw: RawLockResponse,
    revision: i64,
}

impl LockResponse {
    /// Revision, member and raft term of the answer.
    pub fn header(&self) -> ResponseHeader {
        ResponseHeader::of(&self.raw.header)
    }

    /// The lock's key, to pass to [`Client::unlock`]; it exists exactly as
    /// long as the lock is held.
    pub fn key(&self) -> &Bytes {
        &self.raw.key
    }

    /// The key's create revision: the fencing token. Later holders of the
    /// same lock get larger ones; compare it
    /// (`Compare::create_revision(key, Equal, revision)`) to guard writes.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The wire message.
    pub fn into_inner(self) -> RawLockResponse {
        self.raw
    }
}

/// An unlock request, from [`Client::unlock`].
#[derive(Clone, Debug)]
#[must_use = "an unlock does nothing until awaited"]
pub struct Unlock {
    key: Bytes,
    options: CallOptions,
    client: Client,
}

impl Unlock {
    timeout_setter!();
}

impl IntoFuture for Unlock {
    type Output = Result<UnlockResponse>;
    type IntoFuture = ResponseFuture<UnlockResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            // The service's Unlock deletes the key without saying whether it
            // existed; the same delete in a transaction guarded by the key's
            // existence does, so releasing a lock not held is an error.
            let mut txn = self
                .client
                .txn()
                .when([Compare::create_revision(self.key.clone(), CompareOp::Greater, 0)])
                .and_then([Delete::new(self.key.clone())]);
            if let Some(timeout) = self.options.timeout {
                txn = txn.timeout(timeout);
            }
            let response = txn.await?;
            if !response.succeeded() {
                return Err(Error::new(
                    ErrorKind::LockReleased,
                    format!(
                        "mutex: lock has already been released: no lock is held under {:?}",
                        String::from_utf8_lossy(&self.key)
                    ),
                ));
            }
            Ok(UnlockResponse(RawUnlockResponse { header: response.into_inner().header }))
        })
    }
}

wire_response! {
    /// The answer to an unlock.
    UnlockResponse(RawUnlockResponse)
}
