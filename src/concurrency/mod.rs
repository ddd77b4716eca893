//! Recipes built on leases and transactions, as Go's `concurrency`
//! package: [`Session`], [`Mutex`], [`Election`] and the transactional
//! memory [`Stm`]; and from Go's `recipes`, the read-write lock
//! [`RwMutex`], the [`Barrier`] and the FIFO [`Queue`].
//!
//! ```no_run
//! use etcd_raw::concurrency::{Election, Mutex, Session};
//! use etcd_raw::Put;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), etcd_raw::Error> {
//!     let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
//!     let session = Session::new(&client).ttl(10).await?;
//!
//!     let mut mutex = Mutex::new(&session, "locks/report");
//!     mutex.lock().await?;
//!     // Only writes made while the lock is held go through.
//!     let write = client.txn().when([mutex.owner_compare()]).and_then([Put::new("report", "done")]).await?;
//!     assert!(write.succeeded());
//!     mutex.unlock().await?;
//!
//!     let mut election = Election::new(&session, "pool/primary");
//!     election.campaign("10.0.0.7").await?;
//!     election.proclaim("10.0.0.7:8080").await?;
//!     election.resign().await?;
//!     session.close().await?;
//!     Ok(())
//! }
//! ```
//!
//! [`Stm`] runs a closure that reads and writes keys until the writes
//! commit in one transaction guarded by the reads (see its docs).
//!
//! # Safety
//!
//! Waiters and candidates queue as keys `<name>/<lease in hex>` attached to
//! their session's lease, served in create-revision order (etcd's layout,
//! shared with `etcdctl lock`, the Lock and Election services and Go; the
//! [`RwMutex`] adds `read/` or `write/` before the lease, as Go's recipe).
//! Beyond Go's recipes:
//!
//! - A waiter re-reads its own key before it reports success, and watches
//!   its session: if the lease is lost while queued, `lock` and `campaign`
//!   fail with [`SessionExpired`](crate::ErrorKind::SessionExpired), never
//!   with a false success (Go's `Campaign` can report a leadership whose
//!   lease is gone).
//! - Dropping a `lock` or `campaign` future midway removes its key, so no
//!   orphan blocks the queue until the TTL ends.
//! - A holder's revision ([`Mutex::revision`], [`Election::revision`],
//!   [`RwMutex::revision`]) is the fencing token: compare it in every write that the lock protects
//!   ([`Mutex::owner_compare`]). A holder paused past its TTL still
//!   believes it holds the lock; only such a compare can stop its writes.
//! - Transient failures (a member down, a lost connection) are retried
//!   while the session lives; every step is safe to repeat.

mod barrier;
mod election;
mod lock_queue;
mod mutex;
mod queue;
mod rwmutex;
mod session;
mod stm;
mod wait;

pub use barrier::Barrier;
pub use election::Election;
pub use mutex::Mutex;
pub use queue::Queue;
pub use rwmutex::RwMutex;
pub use session::{NewSession, Session, DEFAULT_SESSION_TTL};
pub use stm::{Committed, Isolation, Stm, StmTx};

use bytes::Bytes;
use std::future::{poll_fn, Future, IntoFuture};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind, Result};
use crate::kv::{Compare, CompareOp, Delete};
use crate::transport::Backoff;
use crate::Client;

/// Whether an idempotent step may simply be tried again.
fn transient(e: &Error) -> bool {
    e.is_retryable()
        || e.outcome_unknown()
        || matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::DeadlineExceeded | ErrorKind::Canceled)
}

/// Pauses between tries of a recipe's step: 50 ms doubling to 1 s.
const STEP_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));

/// Runs an idempotent step until it succeeds or fails for good, backing
/// off between tries. Callers bound it by their session's life.
async fn retrying<T, F, R>(mut step: F) -> Result<T>
where
    F: FnMut() -> R,
    R: IntoFuture<Output = Result<T>>,
{
    let mut failures = 0;
    loop {
        match step().await {
            Ok(value) => return Ok(value),
            Err(e) if transient(&e) => {
                tracing::debug!(error = %e, "recipe step failed; trying again");
                failures += 1;
                tokio::time::sleep(STEP_BACKOFF.pause(failures)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs `work`, unless the session is lost first.
async fn unless_expired<T>(session: &Session, work: impl Future<Output = Result<T>>) -> Result<T> {
    if session.is_expired() {
        return Err(session.expired_error());
    }
    let mut done = pin!(session.done());
    let mut work = pin!(work);
    poll_fn(|cx| {
        if let Poll::Ready(lost) = done.as_mut().poll(cx) {
            return Poll::Ready(Err(lost));
        }
        work.as_mut().poll(cx)
    })
    .await
}

/// Removes a queue key that its caller will never learn about: armed while
/// a `lock` or `campaign` runs, it deletes the key if that call fails or
/// is dropped before it succeeds. The deletion runs in the background;
/// the next call on the same recipe waits for it first.
struct Abandon<'a> {
    pending: &'a mut Option<JoinHandle<()>>,
    client: Client,
    key: Bytes,
    lease: i64,
    /// The key's create revision, once known: only that key is deleted.
    revision: Option<i64>,
    armed: bool,
}

impl<'a> Abandon<'a> {
    /// Armed for the queue key `key` of `session`.
    fn new(pending: &'a mut Option<JoinHandle<()>>, session: &Session, key: &Bytes) -> Abandon<'a> {
        Abandon {
            pending,
            client: session.client().clone(),
            key: key.clone(),
            lease: session.lease(),
            revision: None,
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (client, key) = (self.client.clone(), self.key.clone());
        let guard = match self.revision {
            Some(revision) => Compare::create_revision(key.clone(), CompareOp::Equal, revision),
            // The put may or may not have happened: any key of ours there is
            // this call's.
            None => Compare::lease(key.clone(), CompareOp::Equal, self.lease),
        };
        *self.pending = Some(runtime.spawn(async move {
            // A few tries; the lease's expiry is the backstop.
            for _ in 0..3 {
                match client.txn().when([guard.clone()]).and_then([Delete::new(key.clone())]).await {
                    Err(e) if transient(&e) => tokio::time::sleep(Duration::from_millis(200)).await,
                    _ => return,
                }
            }
        }));
    }
}

/// Waits for a cleanup left by an earlier call, so it cannot delete a key
/// this call creates.
async fn settle(pending: &mut Option<JoinHandle<()>>) {
    // Left in place until done, so a call dropped meanwhile still leaves it
    // for the next one to wait for.
    if let Some(cleanup) = pending.as_mut() {
        let _ = cleanup.await;
    }
    *pending = None;
}

/// `<prefix><lease in hex>`: the queue key of a session (Go's layout).
fn queue_key(prefix: &Bytes, lease: i64) -> Bytes {
    let mut key = prefix.to_vec();
    key.extend_from_slice(format!("{lease:x}").as_bytes());
    key.into()
}

/// `<name>/`: the queue of a lock or election.
fn queue_prefix(name: Bytes) -> Bytes {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    prefix.into()
}
