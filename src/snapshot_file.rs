//! A snapshot saved to a file, as Go's `snapshot.SaveWithVersion` and
//! `etcdctl snapshot save` save it: into `<path>.part`, checked against the
//! SHA-256 etcd sends last, synced, then renamed into place.

mod sha256;

use std::fs::File;
use std::future::IntoFuture;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::call::ResponseFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::pb::etcdserverpb::{SnapshotRequest, SnapshotResponse};
use crate::transport::rpc;
use crate::transport::stream_core::StreamCore;
use crate::Client;
use sha256::Sha256;

/// Received bytes gathered before each write to the file.
const WRITE_BATCH: usize = 1024 * 1024;
/// The checksum etcd appends to the database.
const TRAILER: usize = 32;

impl Client {
    /// Saves a snapshot of the backend database to `path` (Go's
    /// `snapshot.SaveWithVersion`, `etcdctl snapshot save`); see
    /// [`SnapshotToFile`].
    ///
    /// ```no_run
    /// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
    /// let saved = client.snapshot_to_file("backup.db").await?;
    /// println!("{} bytes from etcd {}", saved.size(), saved.version());
    /// # Ok(()) }
    /// ```
    pub fn snapshot_to_file(&self, path: impl Into<PathBuf>) -> SnapshotToFile {
        SnapshotToFile { client: self.clone(), path: path.into(), endpoint: None, timeout: None }
    }
}

/// A snapshot to save to a file, from [`Client::snapshot_to_file`]. Await
/// it for the [`SavedSnapshot`].
///
/// - The bytes go to `<path>.part` (created, or truncated, with mode 0600)
///   as they arrive. At the end the SHA-256 that etcd sends after the
///   database is checked against the bytes before it; then the file is
///   synced to disk, renamed to `path`, and the directory synced.
/// - The file keeps the checksum at its end, as `etcdctl snapshot save`
///   writes it: `etcdutl snapshot restore` (`etcdctl snapshot restore`
///   before 3.5) checks it again.
/// - Nothing ever appears under `path` unless the whole snapshot arrived
///   and its checksum matched. On any failure, and when the future is
///   dropped, `<path>.part` is removed; an existing file at `path` is left
///   as it was. (A future dropped in the instant of its rename, such as by
///   a deadline passing then, may still have put the complete, checked
///   snapshot in place; a dropped save never touches a later save's file.)
/// - The snapshot is one member's database at one moment: choose that
///   member with [`endpoint`](SnapshotToFile::endpoint), else the client
///   picks one. A member lost mid-transfer fails the call (with its error,
///   e.g. [`Unavailable`](ErrorKind::Unavailable)); call again to retry.
///
/// Checksum mismatches and a missing checksum are
/// [`Protocol`](ErrorKind::Protocol) errors; file-system failures are
/// [`Io`](ErrorKind::Io) errors whose source is the I/O error.
#[derive(Clone, Debug)]
#[must_use = "a call does nothing until awaited"]
pub struct SnapshotToFile {
    client: Client,
    path: PathBuf,
    endpoint: Option<String>,
    timeout: Option<Duration>,
}

impl SnapshotToFile {
    /// Take the snapshot from the member at `endpoint` (one of the
    /// client's) instead of any.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// A deadline for the whole transfer (default: none, as for
    /// [`Client::snapshot`]; a large database takes a while).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl IntoFuture for SnapshotToFile {
    type Output = Result<SavedSnapshot>;
    type IntoFuture = ResponseFuture<SavedSnapshot>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let Some(timeout) = self.timeout else {
                return save(self).await;
            };
            tokio::time::timeout(timeout, save(self)).await.unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorKind::DeadlineExceeded,
                    format!("the snapshot did not arrive within its deadline of {timeout:?}"),
                ))
            })
        })
    }
}

/// A snapshot saved by [`Client::snapshot_to_file`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SavedSnapshot {
    path: PathBuf,
    size: u64,
    version: String,
    endpoint: String,
}

impl SavedSnapshot {
    /// Where the snapshot is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size in bytes: the database and its 32-byte checksum.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The etcd version that made the snapshot. From etcd 3.6 it is the
    /// one the server sends with the snapshot (its storage version, e.g.
    /// `3.6.0`, as Go's `SaveWithVersion` returns); older members send
    /// none, so it is the member's own version from its status (e.g.
    /// `3.5.21`), or empty if that could not be read.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The member the snapshot came from.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

async fn save(request: SnapshotToFile) -> Result<SavedSnapshot> {
    let SnapshotToFile { client, path, endpoint, .. } = request;
    let mut part = PartFile::create(&path)?;
    let transport = &client.transport;
    let mut core = match &endpoint {
        None => StreamCore::new(transport.clone(), &rpc::SNAPSHOT),
        Some(endpoint) => StreamCore::on(transport.clone(), &rpc::SNAPSHOT, transport.endpoint_id(endpoint)?),
    };
    let (mut sink, mut source) = core.open_once::<SnapshotRequest, SnapshotResponse>(None).await?;
    sink.send(&SnapshotRequest {})?;
    sink.finish()?;
    let served_by = source.endpoint().to_string();

    let mut check = TrailerCheck::default();
    let mut version = String::new();
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(message) = source.message().await? {
        if version.is_empty() {
            version = message.version;
        }
        check.feed(&message.blob);
        batch.extend_from_slice(&message.blob);
        if batch.len() >= WRITE_BATCH {
            batch = part.write(batch).await?;
        }
    }
    part.write(batch).await?;
    let size = check.verify()?;
    part.commit(&path).await?;

    if version.is_empty() {
        // Before 3.6 the server names no version: ask the member.
        match client.status(served_by.clone()).await {
            Ok(status) => version = status.version().to_string(),
            Err(e) => {
                tracing::debug!(endpoint = %served_by, error = %e, "snapshot saved; its member's version unknown")
            }
        }
    }
    Ok(SavedSnapshot { path, size, version, endpoint: served_by })
}

/// `<path>.part`, removed on drop unless renamed into place.
struct PartFile {
    part: PathBuf,
    /// `None` while a write has it on the blocking pool.
    file: Option<File>,
    /// Shared with the commit's blocking task, which can outlive a save
    /// that was dropped (a deadline that passed during the commit).
    state: Arc<Mutex<PartState>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartState {
    Writing,
    Committed,
    /// The save was dropped: its part file is gone, and the name may
    /// already belong to a newer save's part, which must not be renamed.
    Abandoned,
}

impl PartFile {
    fn create(path: &Path) -> Result<PartFile> {
        let mut name = path.as_os_str().to_owned();
        name.push(".part");
        let part = PathBuf::from(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&part).map_err(|e| io_error(format!("could not create {}", part.display()), e))?;
        Ok(PartFile { part, file: Some(file), state: Arc::new(Mutex::new(PartState::Writing)) })
    }

    /// Appends `bytes` off the async threads; returns the buffer, emptied.
    async fn write(&mut self, mut bytes: Vec<u8>) -> Result<Vec<u8>> {
        let mut file = self.take_file()?;
        let (file, outcome) = blocking(move || {
            let outcome = file.write_all(&bytes);
            bytes.clear();
            (file, outcome.map(|()| bytes))
        })
        .await?;
        self.file = Some(file);
        outcome.map_err(|e| io_error(format!("could not write {}", self.part.display()), e))
    }

    /// Syncs the file, renames it to `path` and syncs the directory.
    async fn commit(&mut self, path: &Path) -> Result<()> {
        let file = self.take_file()?;
        let (part, path, state) = (self.part.clone(), path.to_path_buf(), self.state.clone());
        blocking(move || finish(file, &part, &path, &state)).await?
    }

    fn take_file(&mut self) -> Result<File> {
        self.file.take().ok_or_else(|| Error::new(ErrorKind::Internal, "the snapshot file is already in use"))
    }
}

/// The commit's blocking half. The rename happens under the state's lock,
/// and only while the save is still wanted: a task left running by a
/// dropped save would otherwise rename the part file of the next save to
/// the same path, which then found its own part gone (seen in CI).
fn finish(file: File, part: &Path, path: &Path, state: &Mutex<PartState>) -> Result<()> {
    file.sync_all().map_err(|e| io_error(format!("could not sync {}", part.display()), e))?;
    drop(file);
    {
        let mut state = lock(state);
        if *state == PartState::Abandoned {
            return Err(Error::new(ErrorKind::Canceled, "the snapshot save was dropped before its rename"));
        }
        std::fs::rename(part, path)
            .map_err(|e| io_error(format!("could not rename {} to {}", part.display(), path.display()), e))?;
        *state = PartState::Committed;
    }
    // The rename itself lasts once the directory is synced.
    #[cfg(unix)]
    if let Some(dir) = path.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d }) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(format!("could not sync {}", dir.display()), e))?;
    }
    Ok(())
}

/// The state survives a panic in whoever held it: it is a plain value.
fn lock(state: &Mutex<PartState>) -> std::sync::MutexGuard<'_, PartState> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Drop for PartFile {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        if *state == PartState::Writing {
            *state = PartState::Abandoned;
            // Unlinking works even while a write still holds the file.
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::new(ErrorKind::Internal, format!("a snapshot file task failed: {e}")))
}

fn io_error(what: String, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("{what}: {e}")).with_source(e)
}

/// Hashes everything but the last 32 bytes seen, which are etcd's SHA-256
/// of the rest.
#[derive(Clone)]
struct TrailerCheck {
    hasher: Sha256,
    /// The last bytes seen (at most 32): the checksum, if the stream ends now.
    tail: Vec<u8>,
    total: u64,
}

impl Default for TrailerCheck {
    fn default() -> Self {
        TrailerCheck { hasher: Sha256::new(), tail: Vec::with_capacity(TRAILER), total: 0 }
    }
}

impl TrailerCheck {
    fn feed(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        if chunk.len() >= TRAILER {
            self.hasher.update(&self.tail);
            let (body, tail) = chunk.split_at(chunk.len() - TRAILER);
            self.hasher.update(body);
            self.tail.clear();
            self.tail.extend_from_slice(tail);
        } else {
            self.tail.extend_from_slice(chunk);
            let excess = self.tail.len().saturating_sub(TRAILER);
            self.hasher.update(&self.tail[..excess]);
            self.tail.drain(..excess);
        }
    }

    /// The total size, if the trailer is the checksum of what came before.
    fn verify(self) -> Result<u64> {
        // etcd's own test for a trailer (etcdutl's `hasChecksum`): the
        // database is whole pages, so only a checksum makes the size
        // 32 past a multiple of 512.
        if self.total % 512 != TRAILER as u64 {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("the snapshot has no sha256 checksum at its end ({} bytes received)", self.total),
            ));
        }
        if self.hasher.finish().as_slice() != self.tail.as_slice() {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("the snapshot's sha256 checksum does not match its {} bytes", self.total - TRAILER as u64),
            ));
        }
        Ok(self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database of `pages` 512-byte pages and its checksum.
    fn snapshot(pages: usize) -> Vec<u8> {
        let mut bytes: Vec<u8> = (0..pages * 512).map(|i| (i * 7 % 251) as u8).collect();
        let mut hasher = Sha256::new();
        hasher.update(&bytes);
        bytes.extend_from_slice(&hasher.finish());
        bytes
    }

    fn check(bytes: &[u8], piece: usize) -> Result<u64> {
        let mut check = TrailerCheck::default();
        for chunk in bytes.chunks(piece) {
            check.feed(chunk);
        }
        check.verify()
    }

    /// The interleaving CI met: a save dropped during its commit, whose
    /// blocking half runs only after the next save has made its part.
    #[test]
    fn a_dropped_save_never_renames_the_next_saves_part() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("etcd-raw-partfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("backup.db");
        let mut dropped = PartFile::create(&path)?;
        let (old_file, old_state, old_part) = (dropped.take_file()?, dropped.state.clone(), dropped.part.clone());
        drop(dropped);
        let mut next = PartFile::create(&path)?;
        next.take_file()?.write_all(b"the next save")?;
        let late = finish(old_file, &old_part, &path, &old_state).err().ok_or("the dropped save renamed")?;
        assert_eq!(late.kind(), ErrorKind::Canceled, "{late}");
        assert!(!path.exists() && next.part.exists());
        finish(File::open(&next.part)?, &next.part, &path, &next.state)?;
        assert_eq!(std::fs::read(&path)?, b"the next save");
        drop(next);
        assert!(path.exists(), "a committed part is not removed on drop");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn a_whole_snapshot_passes_in_any_chunking() -> Result<()> {
        let bytes = snapshot(9);
        for piece in [1, 7, 31, 32, 33, 512, 4096, bytes.len()] {
            assert_eq!(check(&bytes, piece)?, bytes.len() as u64, "pieces of {piece}");
        }
        Ok(())
    }

    #[test]
    fn damage_truncation_and_a_missing_trailer_fail() {
        let mut bytes = snapshot(4);
        bytes[100] ^= 1;
        assert_eq!(check(&bytes, 100).map_err(|e| e.kind()), Err(ErrorKind::Protocol));
        let whole = snapshot(4);
        assert!(check(&whole[..whole.len() - 1], 100).is_err());
        assert!(check(&whole[..4 * 512], 100).is_err(), "a database without its checksum");
        assert!(check(&[], 100).is_err());
    }

    #[test]
    fn builders_and_results_move_between_tasks() {
        fn send<T: Send + Sync + 'static>() {}
        send::<SnapshotToFile>();
        send::<SavedSnapshot>();
    }
}
