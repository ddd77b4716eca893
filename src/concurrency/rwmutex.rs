//! RwMutex: a distributed read-write lock on a session, with a fencing
//! token, as Go's recipe `RWMutex`.

use crate::IntoBytes;
use bytes::Bytes;
use tokio::task::JoinHandle;

use super::lock_queue::{gone_before_unlock, join_queue};
use super::wait::{wait_for_no_older, wait_for_turn};
use super::{queue_key, queue_prefix, settle, unless_expired, Abandon, Session};
use crate::error::{Error, ErrorKind, Result};
use crate::kv::{Compare, CompareOp, Delete, ResponseHeader};

/// A distributed read-write lock held by a [`Session`] (Go's recipe
/// `RWMutex`): any number of readers share it, a writer holds it alone.
///
/// Readers queue as `<name>/read/<lease in hex>` and writers as
/// `<name>/write/<lease in hex>`, attached to the session's lease; Go's
/// recipe uses the same prefixes, so the two interoperate. Everyone is
/// served in the order they asked (by create revision): a reader waits for
/// the writers queued before it, a writer for everyone queued before it.
/// So a waiting writer is not starved by readers that come after it.
///
/// While held, [`revision`](RwMutex::revision) is the fencing token and
/// [`owner_compare`](RwMutex::owner_compare) the compare that lets a
/// transaction through only while the lock is still held, in the mode it
/// was taken. The [`Mutex`](super::Mutex)'s rules hold here too: a lost
/// session fails a waiter with
/// [`SessionExpired`](ErrorKind::SessionExpired), a dropped `lock` future
/// leaves the queue, transient failures are retried while the session
/// lives.
///
/// One `RwMutex` per session and name, holding one mode at a time.
///
/// ```no_run
/// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
/// use etcd_raw::concurrency::{RwMutex, Session};
/// use etcd_raw::Put;
///
/// let session = Session::new(&client).ttl(10).await?;
/// let mut config = RwMutex::new(&session, "locks/config");
///
/// config.read_lock().await?; // shared with other readers
/// let current = client.get("config").await?;
/// config.read_unlock().await?;
/// println!("{:?}", current.kvs().first().map(|kv| kv.value_str()));
///
/// config.lock().await?; // alone
/// let write = client.txn().when([config.owner_compare()]).and_then([Put::new("config", "v2")]).await?;
/// assert!(write.succeeded(), "the lock was lost before the write");
/// config.unlock().await?;
/// # Ok(()) }
/// ```
pub struct RwMutex {
    session: Session,
    /// `<name>/`: every key of the lock, readers' and writers'.
    all: Bytes,
    /// `<name>/write/`: the writers' keys.
    writers: Bytes,
    read_key: Bytes,
    write_key: Bytes,
    held: Option<Held>,
    /// Removal of a key left by a failed or dropped call.
    cleanup: Option<JoinHandle<()>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Read,
    Write,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    mode: Mode,
    revision: i64,
    header: ResponseHeader,
}

impl RwMutex {
    /// The read-write lock `name` for `session` (Go's `NewRWMutex`).
    pub fn new(session: &Session, name: impl IntoBytes) -> RwMutex {
        let all = queue_prefix(name.into_bytes());
        let sub = |what: &str| queue_prefix([all.as_ref(), what.as_bytes()].concat().into());
        let (readers, writers) = (sub("read"), sub("write"));
        RwMutex {
            read_key: queue_key(&readers, session.lease()),
            write_key: queue_key(&writers, session.lease()),
            session: session.clone(),
            all,
            writers,
            held: None,
            cleanup: None,
        }
    }

    /// Waits until the lock is held for reading (Go's `RLock`): until no
    /// writer queued before this call holds or waits. Otherwise as
    /// [`lock`](RwMutex::lock).
    pub async fn read_lock(&mut self) -> Result<()> {
        self.acquire(Mode::Read).await
    }

    /// Waits until the lock is held for writing (Go's `Lock`): until
    /// everyone queued before this call, reader or writer, is gone. For as
    /// long as it takes: bound it with `tokio::time::timeout` if needed.
    /// Dropping the future leaves the queue. Fails with
    /// [`SessionExpired`](ErrorKind::SessionExpired) when the session is
    /// lost before the lock is acquired. Holding it already in this mode
    /// is not an error; holding it in the other mode is
    /// [`InvalidArgument`](ErrorKind::InvalidArgument) (changing modes in
    /// place would wait for itself).
    pub async fn lock(&mut self) -> Result<()> {
        self.acquire(Mode::Write).await
    }

    /// Releases a lock held for reading (Go's `RUnlock`); as
    /// [`unlock`](RwMutex::unlock).
    pub async fn read_unlock(&mut self) -> Result<()> {
        self.release(Mode::Read).await
    }

    /// Releases a lock held for writing (Go's `Unlock`). Fails with
    /// [`LockReleased`](ErrorKind::LockReleased) when it is not held in
    /// this mode, and with [`SessionExpired`](ErrorKind::SessionExpired)
    /// when it was lost before this call: whatever was done under it since
    /// may have overlapped another holder. After any other error the lock
    /// is still taken to be held, so the call may be repeated.
    pub async fn unlock(&mut self) -> Result<()> {
        self.release(Mode::Write).await
    }

    /// While held: the key this session holds the lock under,
    /// `<name>/read/<lease in hex>` or `<name>/write/<lease in hex>`.
    pub fn key(&self) -> Option<&Bytes> {
        self.held.map(|held| self.key_of(held.mode))
    }

    /// Whether the lock is held for writing (else for reading, or not at
    /// all).
    pub fn is_write_locked(&self) -> bool {
        matches!(self.held, Some(Held { mode: Mode::Write, .. }))
    }

    /// While held: the create revision of the held key, the fencing token.
    /// Each later writer has a larger one.
    pub fn revision(&self) -> Option<i64> {
        self.held.map(|held| held.revision)
    }

    /// While held: the header of the read that showed the lock ours.
    pub fn header(&self) -> Option<&ResponseHeader> {
        self.held.as_ref().map(|held| &held.header)
    }

    /// A compare that holds only while this lock is held, in the mode it
    /// was taken: put it in the `when` of every transaction the lock
    /// protects. Never holds when the lock is not held.
    pub fn owner_compare(&self) -> Compare {
        // No key has create revision -1.
        let key = self.key().unwrap_or(&self.write_key).clone();
        Compare::create_revision(key, CompareOp::Equal, self.revision().unwrap_or(-1))
    }

    /// The session the lock belongs to.
    pub fn session(&self) -> &Session {
        &self.session
    }

    fn key_of(&self, mode: Mode) -> &Bytes {
        match mode {
            Mode::Read => &self.read_key,
            Mode::Write => &self.write_key,
        }
    }

    async fn acquire(&mut self, mode: Mode) -> Result<()> {
        settle(&mut self.cleanup).await;
        if let Some(held) = self.held {
            if held.mode != mode {
                return Err(Error::invalid_argument(format!(
                    "rwmutex: held for {}; release it before locking for {}",
                    held.mode.name(),
                    mode.name()
                )));
            }
            if self.session.is_expired() {
                self.held = None;
                return Err(self.session.expired_error());
            }
            return Ok(());
        }
        let key = self.key_of(mode).clone();
        // A reader waits for older writers, a writer for every older key.
        let blockers = match mode {
            Mode::Read => self.writers.clone(),
            Mode::Write => self.all.clone(),
        };
        let session = &self.session;
        let (client, lease) = (session.client(), session.lease());
        let mut abandon = Abandon::new(&mut self.cleanup, session, &key);
        let (revision, header) = unless_expired(session, async {
            let joined = join_queue(session, &key, &blockers).await?;
            abandon.revision = Some(joined.revision);
            // Nothing queued before us blocks us (our own key is the only
            // blocker as old as we are): the lock is ours.
            if joined.oldest.is_none_or(|oldest| oldest >= joined.revision) {
                return Ok((joined.revision, joined.header));
            }
            let header = match mode {
                Mode::Read => wait_for_no_older(client, &blockers, &key, joined.revision, lease).await?,
                Mode::Write => wait_for_turn(client, &blockers, &key, joined.revision, lease).await?,
            };
            Ok((joined.revision, header))
        })
        .await?;
        abandon.disarm();
        self.held = Some(Held { mode, revision, header });
        Ok(())
    }

    async fn release(&mut self, mode: Mode) -> Result<()> {
        settle(&mut self.cleanup).await;
        let Some(held) = self.held.filter(|held| held.mode == mode) else {
            let message = format!("rwmutex: not held for {}", mode.name());
            return Err(Error::new(ErrorKind::LockReleased, message));
        };
        let key = self.key_of(mode).clone();
        let response = self.session.client().txn().when([self.owner_compare()]).and_then([Delete::new(key)]).await?;
        self.held = None;
        if !response.succeeded() {
            return Err(gone_before_unlock(&self.session, held.revision));
        }
        Ok(())
    }
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Read => "reading",
            Mode::Write => "writing",
        }
    }
}

impl std::fmt::Debug for RwMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RwMutex")
            .field("name", &String::from_utf8_lossy(&self.all[..self.all.len() - 1]))
            .field("held", &self.held.map(|held| held.mode))
            .field("revision", &self.revision())
            .finish()
    }
}
