//! The transaction one STM attempt builds: what it read, at which
//! revisions, and what it will write.

use crate::IntoBytes;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

use super::Isolation;
use crate::error::{Error, ErrorKind, Result};
use crate::kv::{Compare, CompareOp, Delete, Get, Put, TxnOp, TxnOpResponse, TxnResponse};
use crate::Client;

/// The transaction of one attempt of an [`Stm`](super::Stm) run: reads go
/// to etcd (once per key and attempt) and enter the read set that the
/// commit checks; writes stay here until the commit sends them all in one
/// transaction (Go's `STM`).
///
/// A read of a key the attempt wrote gives the written value back.
pub struct StmTx {
    client: Client,
    isolation: Isolation,
    deadline: Option<Instant>,
    attempt: u32,
    /// What each key read was; the commit requires it unchanged.
    reads: HashMap<Bytes, Read>,
    /// Pending writes, `None` for a delete; sent in key order.
    writes: BTreeMap<Bytes, Option<Bytes>>,
    /// Snapshot levels: the revision every read of the attempt is made at,
    /// set by its first read.
    snapshot: Option<i64>,
    /// Snapshot levels: the keys read by the last failed commit, at its
    /// revision; the next attempt takes them from here instead of asking.
    prefetched: Option<(i64, HashMap<Bytes, Read>)>,
    /// The attempt cannot go on as its isolation requires (its snapshot
    /// was compacted away): the run starts it over.
    restart: bool,
}

/// A key as read: its value and the revision of its last write, 0 when
/// it did not exist.
#[derive(Clone, Debug)]
struct Read {
    value: Option<Bytes>,
    mod_revision: i64,
}

impl StmTx {
    pub(super) fn new(client: Client, isolation: Isolation, deadline: Option<Instant>) -> StmTx {
        StmTx {
            client,
            isolation,
            deadline,
            attempt: 0,
            reads: HashMap::new(),
            writes: BTreeMap::new(),
            snapshot: None,
            prefetched: None,
            restart: false,
        }
    }

    /// The value of `key`, `None` when it does not exist: the value this
    /// attempt wrote, or else the value read from etcd (once; later reads
    /// in the attempt give the same answer).
    pub async fn get(&mut self, key: impl IntoBytes) -> Result<Option<Bytes>> {
        let key = key.into_bytes();
        if let Some(written) = self.writes.get(&key) {
            return Ok(written.clone());
        }
        Ok(self.read(key).await?.value.clone())
    }

    /// The revision of the last write to `key` as read (Go's `Rev`), 0
    /// when it did not exist; this attempt's own writes do not count.
    pub async fn rev(&mut self, key: impl IntoBytes) -> Result<i64> {
        Ok(self.read(key.into_bytes()).await?.mod_revision)
    }

    /// Sets `key` to `value` when the attempt commits (Go's `Put`).
    pub fn put(&mut self, key: impl IntoBytes, value: impl IntoBytes) {
        self.writes.insert(key.into_bytes(), Some(value.into_bytes()));
    }

    /// Deletes `key` when the attempt commits (Go's `Del`).
    pub fn delete(&mut self, key: impl IntoBytes) {
        self.writes.insert(key.into_bytes(), None);
    }

    /// Which attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The isolation level of the run.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// Starts the next attempt with empty read and write sets.
    pub(super) fn begin(&mut self) {
        self.attempt += 1;
        self.reads.clear();
        self.writes.clear();
        self.restart = false;
        self.snapshot = self.prefetched.as_ref().map(|(revision, _)| *revision);
    }

    pub(super) fn must_restart(&self) -> bool {
        self.restart
    }

    /// Reads `key` into the read set unless it is there already.
    async fn read(&mut self, key: Bytes) -> Result<&Read> {
        if !self.reads.contains_key(&key) {
            self.fetch(std::slice::from_ref(&key)).await?;
        }
        self.reads.get(&key).ok_or_else(|| Error::protocol("stm: a read answered without the key"))
    }

    /// Reads the keys not yet read, in one request, into the read set.
    pub(super) async fn fetch(&mut self, keys: &[Bytes]) -> Result<()> {
        let mut missing: Vec<Bytes> = Vec::new();
        for key in keys {
            if self.reads.contains_key(key) || missing.contains(key) {
                continue;
            }
            match self.prefetched.as_mut().and_then(|(_, reads)| reads.remove(key)) {
                Some(read) => {
                    self.reads.insert(key.clone(), read);
                }
                None => missing.push(key.clone()),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let response = match self.read_request(&missing, true).await {
            // A member behind the snapshot: ask again, linearizably, so
            // the member catches up first.
            Err(e) if e.kind() == ErrorKind::FutureRev => self.read_request(&missing, false).await,
            other => other,
        };
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                if e.kind() == ErrorKind::Compacted && self.snapshot.is_some() {
                    self.restart = true;
                    self.prefetched = None;
                }
                return Err(e);
            }
        };
        if self.isolation.snapshot() && self.snapshot.is_none() {
            self.snapshot = Some(response.header().revision());
        }
        self.reads.extend(reads_of(missing, &response)?);
        Ok(())
    }

    /// One transaction of gets: at the attempt's snapshot if it has one,
    /// else at the latest revision. `local` lets the member answer from
    /// its own state, as Go does for every level but a first snapshot
    /// read; the commit checks what such a read saw.
    async fn read_request(&self, keys: &[Bytes], local: bool) -> Result<TxnResponse> {
        let gets = keys.iter().map(|key| {
            let get = Get::new(key.clone());
            let get = match self.snapshot {
                Some(revision) => get.revision(revision),
                None => get,
            };
            let local = local && (self.snapshot.is_some() || !self.isolation.snapshot());
            TxnOp::from(if local { get.serializable() } else { get })
        });
        self.client.txn().and_then(gets).timeout(self.call_timeout()?).await
    }

    /// Sends the writes, guarded by the reads as the isolation level says.
    /// `None` when a guard failed: the attempt must run again.
    pub(super) async fn commit(&mut self) -> Result<Option<TxnResponse>> {
        let mut guards = Vec::new();
        if self.isolation != Isolation::ReadCommitted {
            for (key, read) in &self.reads {
                guards.push(Compare::mod_revision(key.clone(), CompareOp::Equal, read.mod_revision));
            }
        }
        if let (Isolation::SerializableSnapshot, Some(snapshot)) = (self.isolation, self.snapshot) {
            for key in self.writes.keys() {
                guards.push(Compare::mod_revision(key.clone(), CompareOp::Less, snapshot + 1));
            }
        }
        let writes = self.writes.iter().map(|(key, value)| match value {
            Some(value) => TxnOp::from(Put::new(key.clone(), value.clone())),
            None => TxnOp::from(Delete::new(key.clone())),
        });
        // On a conflict, read the keys again in the same request: the next
        // attempt starts from those answers (a snapshot at one revision).
        let reread: Vec<Bytes> =
            if self.isolation.snapshot() { self.reads.keys().cloned().collect() } else { Vec::new() };
        let response = self
            .client
            .txn()
            .when(guards)
            .and_then(writes)
            .or_else(reread.iter().map(|key| Get::new(key.clone())))
            .timeout(self.call_timeout()?)
            .await?;
        if response.succeeded() {
            return Ok(Some(response));
        }
        if !reread.is_empty() {
            let reads = reads_of(reread, &response)?.into_iter().collect();
            self.prefetched = Some((response.header().revision(), reads));
        }
        Ok(None)
    }

    /// The deadline of one call: what is left of the run's, within the
    /// client's request timeout.
    fn call_timeout(&self) -> Result<Duration> {
        let per_call = self.client.transport.request_timeout();
        match self.deadline {
            None => Ok(per_call),
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(left.min(per_call)),
                _ => Err(self.deadline_error()),
            },
        }
    }

    pub(super) fn deadline_error(&self) -> Error {
        Error::new(
            ErrorKind::DeadlineExceeded,
            format!("stm: no commit before the deadline ({} attempts)", self.attempt),
        )
    }
}

/// The reads of `keys` from a transaction of one get per key, in order.
fn reads_of(keys: Vec<Bytes>, response: &TxnResponse) -> Result<Vec<(Bytes, Read)>> {
    let answers = response.op_responses()?;
    if answers.len() != keys.len() {
        return Err(Error::protocol(format!("stm: {} reads answered with {} ranges", keys.len(), answers.len())));
    }
    keys.into_iter()
        .zip(answers)
        .map(|(key, op)| match op {
            TxnOpResponse::Get(get) => Ok((
                key,
                match get.kvs().first() {
                    Some(kv) => Read { value: Some(kv.value_bytes().clone()), mod_revision: kv.mod_revision() },
                    None => Read { value: None, mod_revision: 0 },
                },
            )),
            _ => Err(Error::protocol("stm: a read answered with something other than a range")),
        })
        .collect()
}

impl std::fmt::Debug for StmTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StmTx")
            .field("isolation", &self.isolation)
            .field("attempt", &self.attempt)
            .field("reads", &self.reads.len())
            .field("writes", &self.writes.len())
            .field("snapshot", &self.snapshot)
            .finish()
    }
}
