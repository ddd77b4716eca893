//! One etcd shared by all tests of a test binary, and key prefixes that keep them apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::error::TestkitError;
use super::etcd::Etcd;

static SHARED: OnceLock<Result<Etcd, TestkitError>> = OnceLock::new();
static PREFIX_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One etcd shared by every test of this test binary: started on first use, killed when the
/// process exits. Tests that only need keys use it with a unique key prefix.
///
/// If the first start fails, every later call returns the same error without trying again.
/// Do not kill, pause or restart it: other tests use it at the same time.
pub fn shared() -> Result<&'static Etcd, TestkitError> {
    // The process is killed with SIGKILL by the kernel when this process exits (see spawner),
    // and its directory is removed by the first test run after that.
    SHARED.get_or_init(Etcd::start).as_ref().map_err(Clone::clone)
}

/// A key prefix unique to the calling test in this process: `<test_name>/<pid>-<n>/`.
pub fn unique_prefix(test_name: &str) -> String {
    let n = PREFIX_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{test_name}/{}-{n}/", std::process::id())
}
