//! What the integration tests share: a client of the test binary's shared
//! etcd, and a key prefix of its own for each test.
#![allow(dead_code)]

use std::time::Duration;

use etcd_raw::testkit::{self, EtcdBinary};
use etcd_raw::{Client, Config};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A client of the shared server and a prefix no other test uses.
pub async fn shared_client(test: &str) -> Result<(Client, String), Box<dyn std::error::Error>> {
    let etcd = testkit::shared()?;
    let client = Client::new(Config::new([etcd.endpoint()]).dial_timeout(Duration::from_secs(5))).await?;
    Ok((client, testkit::unique_prefix(test)))
}

/// The (major, minor) version of the etcd the tests run against.
pub fn etcd_version() -> (u32, u32) {
    EtcdBinary::locate().map(|b| b.major_minor()).unwrap_or((0, 0))
}

/// `prefix` + `name` as bytes.
pub fn key(prefix: &str, name: &str) -> Vec<u8> {
    format!("{prefix}{name}").into_bytes()
}
