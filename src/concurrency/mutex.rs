//! Mutex: a fair distributed lock on a session, with a fencing token.

use crate::IntoBytes;
use bytes::Bytes;
use tokio::task::JoinHandle;

use super::lock_queue::{gone_before_unlock, join_queue};
use super::wait::wait_for_turn;
use super::{queue_key, queue_prefix, retrying, settle, unless_expired, Abandon, Session};
use crate::error::{Error, ErrorKind, Result};
use crate::kv::{Compare, CompareOp, Delete, ResponseHeader};

/// A distributed lock held by a [`Session`] (Go's `concurrency.Mutex`).
///
/// Waiters are served in the order they asked (by the create revision of
/// their key `<name>/<lease in hex>`). While held,
/// [`revision`](Mutex::revision) is the fencing token and
/// [`owner_compare`](Mutex::owner_compare) the compare that lets a write
/// through only while the lock is still held.
///
/// One `Mutex` per session and name: two on the same session and name
/// share one key, and both would believe they hold the lock.
pub struct Mutex {
    session: Session,
    prefix: Bytes,
    key: Bytes,
    held: Option<Held>,
    /// Removal of a key left by a failed or dropped call.
    cleanup: Option<JoinHandle<()>>,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    revision: i64,
    header: ResponseHeader,
}

impl Mutex {
    /// The lock `name` for `session`.
    pub fn new(session: &Session, name: impl IntoBytes) -> Mutex {
        let prefix = queue_prefix(name.into_bytes());
        let key = queue_key(&prefix, session.lease());
        Mutex { session: session.clone(), prefix, key, held: None, cleanup: None }
    }

    /// Waits until the lock is held (Go's `Lock`), for as long as it takes:
    /// bound it with `tokio::time::timeout` if needed. Dropping the future
    /// leaves the queue. Fails with
    /// [`SessionExpired`](ErrorKind::SessionExpired) when the session is
    /// lost before the lock is acquired, never with a lock that is not
    /// held. Holding it already is not an error.
    pub async fn lock(&mut self) -> Result<()> {
        let Mutex { session, prefix, key, held, cleanup } = self;
        settle(cleanup).await;
        if held.is_some() {
            return still_held(session, held);
        }
        let client = session.client();
        let mut abandon = Abandon::new(cleanup, session, key);
        let (revision, header) = unless_expired(session, async {
            let joined = join_queue(session, key, prefix).await?;
            abandon.revision = Some(joined.revision);
            // Our key is the oldest: the lock is ours.
            if joined.oldest == Some(joined.revision) {
                return Ok((joined.revision, joined.header));
            }
            let header = wait_for_turn(client, prefix, key, joined.revision, session.lease()).await?;
            Ok((joined.revision, header))
        })
        .await?;
        abandon.disarm();
        *held = Some(Held { revision, header });
        Ok(())
    }

    /// Takes the lock if it is free (Go's `TryLock`), else fails at once
    /// with [`Locked`](ErrorKind::Locked), leaving no key behind.
    pub async fn try_lock(&mut self) -> Result<()> {
        let Mutex { session, prefix, key, held, cleanup } = self;
        settle(cleanup).await;
        if held.is_some() {
            return still_held(session, held);
        }
        let client = session.client();
        let mut abandon = Abandon::new(cleanup, session, key);
        let joined = unless_expired(session, join_queue(session, key, prefix)).await?;
        abandon.revision = Some(joined.revision);
        // Our key is the oldest: the lock is ours.
        if joined.oldest == Some(joined.revision) {
            abandon.disarm();
            *held = Some(Held { revision: joined.revision, header: joined.header });
            return Ok(());
        }
        // Leave the queue before saying so.
        let ours = Compare::create_revision(key.clone(), CompareOp::Equal, joined.revision);
        let leave = retrying(|| client.txn().when([ours.clone()]).and_then([Delete::new(key.clone())]));
        unless_expired(session, leave).await?;
        abandon.disarm();
        Err(Error::new(ErrorKind::Locked, "mutex: Locked by another session"))
    }

    /// Releases the lock (Go's `Unlock`). Fails with
    /// [`LockReleased`](ErrorKind::LockReleased) when it is not held, and
    /// with [`SessionExpired`](ErrorKind::SessionExpired) when it was lost
    /// before this call (its key was gone): whatever was done under it
    /// since may have overlapped another holder. After any other error the
    /// lock is still taken to be held, so `unlock` may be called again.
    pub async fn unlock(&mut self) -> Result<()> {
        settle(&mut self.cleanup).await;
        let Some(held) = self.held else {
            return Err(Error::new(ErrorKind::LockReleased, "mutex: lock has already been released"));
        };
        let response =
            self.session.client().txn().when([self.owner_compare()]).and_then([Delete::new(self.key.clone())]).await?;
        self.held = None;
        if !response.succeeded() {
            return Err(gone_before_unlock(&self.session, held.revision));
        }
        Ok(())
    }

    /// The key this session queues and holds the lock under (Go's `Key`).
    pub fn key(&self) -> &Bytes {
        &self.key
    }

    /// While held: the create revision of the lock key, the fencing token.
    /// Each later holder of the lock has a larger one.
    pub fn revision(&self) -> Option<i64> {
        self.held.map(|held| held.revision)
    }

    /// While held: the header of the read that showed the lock ours (Go's
    /// `Header`).
    pub fn header(&self) -> Option<ResponseHeader> {
        self.held.map(|held| held.header)
    }

    /// A compare that holds only while this lock is held (Go's
    /// `IsOwner`): put it in the `when` of every transaction the lock
    /// protects. Never holds when the lock is not held.
    pub fn owner_compare(&self) -> Compare {
        // No key has create revision -1.
        Compare::create_revision(self.key.clone(), CompareOp::Equal, self.revision().unwrap_or(-1))
    }

    /// The session the lock belongs to.
    pub fn session(&self) -> &Session {
        &self.session
    }
}

impl std::fmt::Debug for Mutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutex")
            .field("key", &String::from_utf8_lossy(&self.key))
            .field("revision", &self.revision())
            .finish()
    }
}

/// A lock held before a call: still held unless the session is lost.
fn still_held(session: &Session, held: &mut Option<Held>) -> Result<()> {
    if session.is_expired() {
        *held = None;
        return Err(session.expired_error());
    }
    Ok(())
}
