//! Start real etcd servers and clusters from tests (feature `testkit`, Unix only).
//!
//! ```no_run
//! use etcd_raw::testkit::{self, Cluster};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Tests that only need keys share one server and keep to their own prefix.
//!     let etcd = testkit::shared()?;
//!     let prefix = testkit::unique_prefix("my_test");
//!     println!("{} {prefix}", etcd.endpoint());
//!
//!     // Fault tests get a cluster of their own.
//!     let mut cluster = Cluster::builder().members(3).arg("--auth-token-ttl=2").start()?;
//!     cluster.kill(1)?;
//!     cluster.restart(1)?;
//!     Ok(())
//! }
//! ```
//!
//! # Which etcd
//! [`EtcdBinary::locate`] takes `ETCD_BIN` (and `ETCDCTL_BIN`), else `.etcd/<ETCD_VERSION>/`
//! (default 3.5.1) as installed by `scripts/install-etcd.sh`, else `etcd` on `PATH`.
//! `ETCD_VERSION` and [`EtcdBinary::locate_version`] take a full version (`3.6.16`) or a
//! minor (`3.6`, the newest installed patch).
//!
//! Each member may run a release of its own ([`ClusterBuilder::member_binary`]), and
//! [`Cluster::swap_binary`] upgrades or downgrades one member in place: graceful stop, the
//! other binary on the same data directory, wait for health. Flags renamed in etcd 3.6
//! (`--experimental-*`, `--feature-gates`) are given to each member in the spelling its
//! release accepts, so one argument list serves a cluster in the middle of an upgrade.
//!
//! # Processes and files
//! Every member listens on 127.0.0.1 only, on ports picked free (retried if taken meanwhile),
//! with its data and its log (`etcd.log`) in `<temp dir>/etcd-raw-<pid>-<n>/`. Dropping a
//! [`Cluster`] SIGKILLs its processes and removes those directories. Processes never outlive
//! the test process, even on abort: the kernel kills them when it exits. Directories left
//! behind that way are removed by the next run.

mod binary;
mod cluster;
mod consistency;
mod dirs;
mod error;
mod etcd;
mod flags;
mod health;
mod member;
mod ports;
mod proxy;
mod shared;
mod spawner;

#[cfg(test)]
mod tests;

pub use binary::{EtcdBinary, DEFAULT_VERSION};
pub use cluster::{Cluster, ClusterBuilder, DEFAULT_TIMEOUT};
pub use consistency::Divergence;
pub use error::{TestkitError, TestkitErrorKind};
pub use etcd::Etcd;
pub use member::Member;
pub use proxy::Proxy;
pub use shared::{shared, unique_prefix};
