//! Temporary directories `etcd-raw-<pid>-<n>`, and removal of those left by dead processes.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use super::error::TestkitError;

const PREFIX: &str = "etcd-raw-";

static COUNTER: AtomicU64 = AtomicU64::new(0);
static CLEANUP: Once = Once::new();

/// A number unique within this process, for directory names and cluster tokens.
pub(crate) fn next_id() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Creates a fresh, private directory `<tmp>/etcd-raw-<pid>-<n>`.
pub(crate) fn fresh_dir() -> Result<PathBuf, TestkitError> {
    CLEANUP.call_once(remove_stale);
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}-{}", std::process::id(), next_id()));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| TestkitError::io(format!("create {} (is the temp dir writable?)", dir.display()), e))?;
    Ok(dir)
}

/// Removes `etcd-raw-<pid>-<n>` directories whose process is gone (left by a killed test run).
pub(crate) fn remove_stale() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner_pid) else {
            continue;
        };
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && !pid_alive(pid) {
            // Best effort: another process may be removing it at the same time.
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The pid in `etcd-raw-<pid>-<n>`, if the name has exactly that shape.
fn owner_pid(name: &str) -> Option<i32> {
    let (pid, n) = name.strip_prefix(PREFIX)?.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok().filter(|p| *p > 0)
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::owner_pid;

    #[test]
    fn stale_names() {
        assert_eq!(owner_pid("etcd-raw-123-4"), Some(123));
        assert_eq!(owner_pid("etcd-raw-123"), None);
        assert_eq!(owner_pid("etcd-raw-abc-4"), None);
        assert_eq!(owner_pid("etcd-raw-12-4x"), None);
        assert_eq!(owner_pid("other-12-4"), None);
    }
}
