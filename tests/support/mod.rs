//! What the integration tests share: a client of the test binary's shared
//! etcd, and a key prefix of its own for each test; in [`scratch`], what
//! tests that start etcd themselves need; in [`ca`], certificates for TLS
//! tests; and in [`fake_server`], a loopback HTTP/2 server for answers a
//! real etcd does not give.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

pub mod ca;
pub mod fake_server;
pub mod scratch;

use std::time::Duration;

use etcd_raw::testkit::{self, Cluster, EtcdBinary};
use etcd_raw::{Client, Config};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A client of the shared server and a prefix no other test uses.
pub async fn shared_client(test: &str) -> Result<(Client, String), Box<dyn std::error::Error>> {
    let etcd = testkit::shared()?;
    let client = Client::new(Config::new([etcd.endpoint()]).dial_timeout(Duration::from_secs(5))).await?;
    Ok((client, testkit::unique_prefix(test)))
}

/// The kind of a call's error, `None` when it succeeded.
pub fn kind<T>(result: Result<T, etcd_raw::Error>) -> Option<etcd_raw::ErrorKind> {
    result.err().map(|e| e.kind())
}

/// The (major, minor) version of the etcd the tests run against.
pub fn etcd_version() -> (u32, u32) {
    EtcdBinary::locate().map(|b| b.major_minor()).unwrap_or((0, 0))
}

/// The (major, minor, patch) release of the etcd the tests run against.
pub fn etcd_release() -> (u32, u32, u32) {
    EtcdBinary::locate().map(|b| b.release()).unwrap_or((0, 0, 0))
}

/// Ends a fault test: the running members' `HashKV` agree at the newest revision. A member
/// that differs is a server that diverged, named here so the client is not blamed for it.
pub async fn assert_members_agree(cluster: &Cluster) -> TestResult {
    let diverged = cluster.hash_kv_divergence().await?;
    if diverged.is_empty() {
        return Ok(());
    }
    let version = &cluster.binary().version;
    let report = format!("etcd {version} members diverged (a server fault, not the client's): {diverged:?}");
    // etcd 3.5.0 to 3.5.2 lose writes on a member that restarts mid-apply
    // (etcd-io/etcd#13766, fixed in 3.5.3); there the culprit is known.
    if (3, 5, 0) <= cluster.binary().release() && cluster.binary().release() < (3, 5, 3) {
        eprintln!("{report}: the known server bug etcd-io/etcd#13766");
        return Ok(());
    }
    Err(report.into())
}

/// Turns auth on at `endpoint` with users `root` (password `root-pw`) and
/// `alice` (`alice-pw`, read and write on `app/`); returns the client that
/// did it, which has no token.
pub async fn enable_auth_with_alice(endpoint: &str) -> Result<Client, Box<dyn std::error::Error>> {
    use etcd_raw::auth::PermissionType;
    let admin = Client::connect([endpoint]).await?;
    admin.user_add("root", "root-pw").await?;
    admin.user_grant_role("root", "root").await?;
    admin.role_add("app").await?;
    admin.role_grant_permission("app", "app/", PermissionType::Readwrite).prefix().await?;
    admin.user_add("alice", "alice-pw").await?;
    admin.user_grant_role("alice", "app").await?;
    admin.auth_enable().await?;
    Ok(admin)
}

/// `prefix` + `name` as bytes.
pub fn key(prefix: &str, name: &str) -> Vec<u8> {
    format!("{prefix}{name}").into_bytes()
}

/// A `tracing` writer that keeps what it is given, to read back in a test.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut held) = self.0.lock() {
            held.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
