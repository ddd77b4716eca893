//! STM: software transactional memory over etcd, as Go's
//! `concurrency.NewSTM`. A closure reads and writes keys through a
//! [`StmTx`]; its writes are sent in one transaction guarded by its reads,
//! and the closure runs again from the start until that transaction
//! commits.

mod tx;

pub use tx::StmTx;

use bytes::Bytes;
use std::time::Duration;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind};
use crate::kv::TxnResponse;
use crate::Client;

/// How an [`Stm`] run's reads may interleave with other writers, and so
/// when it must run again (Go's `Isolation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isolation {
    /// [`Serializable`](Isolation::Serializable), and besides, the commit
    /// fails if a key the run writes was written by anyone since its
    /// snapshot, even a key it never read (no lost blind writes). Go's
    /// default, and ours.
    #[default]
    SerializableSnapshot,
    /// Every read of an attempt sees one snapshot: the revision of its
    /// first read. The commit fails if any key read has changed since.
    Serializable,
    /// A key read twice in an attempt gives the same answer, but different
    /// keys may be read at different revisions. The commit fails if any
    /// key read has changed since it was read.
    RepeatableReads,
    /// Reads see whatever is committed when they are made, and the commit
    /// checks none of them: the closure runs once, and a concurrent writer
    /// of a key it read may be overwritten (a lost update).
    ReadCommitted,
}

impl Isolation {
    /// Whether all reads of an attempt are made at one revision.
    fn snapshot(self) -> bool {
        matches!(self, Isolation::SerializableSnapshot | Isolation::Serializable)
    }
}

/// A run of a transactional closure (Go's `NewSTM`), set up with chained
/// options and started with [`run`](Stm::run).
///
/// The closure is an async closure that borrows the [`StmTx`] of one
/// attempt: `async |tx: &mut StmTx| { ... }`. It is called once per
/// attempt, from the start, with an empty transaction, so it must not
/// count on side effects of an earlier attempt; what it returns from the
/// attempt that commits is what [`run`](Stm::run) returns.
///
/// ```no_run
/// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
/// use etcd_raw::concurrency::{Isolation, Stm, StmTx};
///
/// // Move 10 from alice to bob; no other writer can make it count twice
/// // or lose it.
/// let committed = Stm::new(&client)
///     .isolation(Isolation::Serializable)
///     .prefetch(["accounts/alice", "accounts/bob"])
///     .attempts(100)
///     .run(async |tx: &mut StmTx| {
///         let alice = balance(tx.get("accounts/alice").await?);
///         let bob = balance(tx.get("accounts/bob").await?);
///         tx.put("accounts/alice", (alice - 10).to_string());
///         tx.put("accounts/bob", (bob + 10).to_string());
///         Ok::<_, etcd_raw::Error>(alice - 10)
///     })
///     .await?;
/// println!("alice has {} after {} attempt(s)", committed.value, committed.attempts);
///
/// fn balance(value: Option<bytes::Bytes>) -> i64 {
///     value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()).unwrap_or(0)
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The closure's error type is its own (`E: From<etcd_raw::Error>`, so
/// `?` works on the transaction's reads). An error from the closure ends
/// the run at once and nothing is written. Errors of the run itself are
/// converted into `E`: a failed read or commit, and, when a limit was set,
/// [`DeadlineExceeded`](ErrorKind::DeadlineExceeded) once
/// [`attempts`](Stm::attempts) commits failed or the
/// [`timeout`](Stm::timeout) passed. A commit whose outcome is unknown
/// (the connection broke while it was sent) is returned as such, with
/// [`Error::outcome_unknown`]: trying it again could apply it twice.
///
/// Dropping the run's future midway writes nothing, unless the commit was
/// already sent.
#[derive(Clone, Debug)]
#[must_use = "an STM does nothing until run"]
pub struct Stm {
    client: Client,
    isolation: Isolation,
    prefetch: Vec<Bytes>,
    attempts: Option<u32>,
    timeout: Option<Duration>,
}

/// What a committed [`Stm`] run gives back.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Committed<T> {
    /// What the closure returned in the attempt that committed.
    pub value: T,
    /// The answer to the commit; its header's revision is the revision of
    /// the writes.
    pub response: TxnResponse,
    /// How many attempts it took, the one that committed included.
    pub attempts: u32,
}

impl Stm {
    /// A run over `client`, with [`Isolation::SerializableSnapshot`], no
    /// prefetch, and no limit on attempts or time (as Go's `NewSTM`).
    pub fn new(client: &Client) -> Stm {
        Stm {
            client: client.clone(),
            isolation: Isolation::default(),
            prefetch: Vec::new(),
            attempts: None,
            timeout: None,
        }
    }

    /// The isolation level (Go's `WithIsolation`).
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Keys to read in one request before each attempt, for a closure that
    /// will read them anyway (Go's `WithPrefetch`).
    pub fn prefetch<K: Into<Bytes>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.prefetch.extend(keys.into_iter().map(Into::into));
        self
    }

    /// Gives up after this many attempts whose commit failed on a conflict,
    /// with [`DeadlineExceeded`](ErrorKind::DeadlineExceeded).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts);
        self
    }

    /// Gives up when the whole run, retries included, takes longer than
    /// this (Go's `WithAbortContext` with a deadline), with
    /// [`DeadlineExceeded`](ErrorKind::DeadlineExceeded). Each read and
    /// the commit are bounded by what is left of it, and by the client's
    /// request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs `apply` until its transaction commits, and returns what the
    /// committing attempt returned. See [`Stm`] for the closure's shape and
    /// the errors.
    pub async fn run<F, T, E>(self, mut apply: F) -> Result<Committed<T>, E>
    where
        F: AsyncFnMut(&mut StmTx) -> Result<T, E>,
        E: From<Error>,
    {
        let deadline = self.timeout.map(|timeout| Instant::now() + timeout);
        let mut tx = StmTx::new(self.client, self.isolation, deadline);
        loop {
            if let Some(limit) = self.attempts {
                if tx.attempt() >= limit {
                    let message =
                        format!("stm: no commit in {limit} attempts: each found a key changed by another writer");
                    return Err(Error::new(ErrorKind::DeadlineExceeded, message).into());
                }
            }
            tx.begin();
            if !self.prefetch.is_empty() {
                if let Err(e) = tx.fetch(&self.prefetch).await {
                    if tx.must_restart() {
                        continue;
                    }
                    return Err(e.into());
                }
            }
            let outcome = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, apply(&mut tx)).await {
                    Ok(outcome) => outcome,
                    Err(_) => return Err(tx.deadline_error().into()),
                },
                None => apply(&mut tx).await,
            };
            // A restart means the attempt's reads could not be made as its
            // isolation requires: what the closure made of them is void.
            let value = match outcome {
                _ if tx.must_restart() => continue,
                Ok(value) => value,
                Err(e) => return Err(e),
            };
            if let Some(response) = tx.commit().await? {
                return Ok(Committed { value, response, attempts: tx.attempt() });
            }
            tracing::debug!(attempt = tx.attempt(), "stm: a key read has changed; running again");
        }
    }
}
