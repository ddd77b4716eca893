//! Whether the members still hold the same data: `HashKV` compared at one revision.
//!
//! A fault or upgrade test ends with this check, so that a server that diverged is named as
//! the culprit instead of the client being blamed for what it reads (etcd 3.5.1 diverged in
//! some of our fault runs: etcd-io/etcd#13766, fixed in 3.5.3).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::error::{TestkitError, TestkitErrorKind};
use crate::{Client, Config};

/// How long the read of the newest revision is retried across members.
const CATCH_UP: Duration = Duration::from_secs(10);
/// How long a member may take to apply the newest revision. A member
/// killed and restarted under load replays its log and then catches up
/// with the leader: CI saw a 3.5.1 member still short of 20k revisions
/// after 10 s on two busy cores.
const APPLY_WAIT: Duration = Duration::from_secs(40);
/// How long one try of the newest revision's read may take before the next member is asked.
const READ_TRY: Duration = Duration::from_secs(2);

/// One member whose key-value hash differs from the majority's.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Divergence {
    /// The member's name, e.g. `etcd-1`.
    pub member: String,
    /// Its hash and the compaction revision the hash starts from.
    pub hash: (u32, i64),
    /// The hash (and compaction revision) most members agree on.
    pub majority: (u32, i64),
    /// The revision compared at.
    pub revision: i64,
}

impl Cluster {
    /// Compares every running member's `HashKV` at the newest revision, and returns the
    /// members that disagree with the majority (empty when all agree).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use etcd_raw::testkit::Cluster;
    /// let cluster = Cluster::start(3)?;
    /// // ... faults and load ...
    /// let diverged = cluster.hash_kv_divergence().await?;
    /// assert!(diverged.is_empty(), "servers diverged: {diverged:?}");
    /// # Ok(()) }
    /// ```
    pub async fn hash_kv_divergence(&self) -> Result<Vec<Divergence>, TestkitError> {
        let running: Vec<_> = self.members().iter().filter(|m| m.is_running()).collect();
        let urls: Vec<String> = running.iter().map(|m| m.client_url()).collect();
        let client = Client::new(Config::new(urls.clone()).dial_timeout(Duration::from_secs(2)))
            .await
            .map_err(|e| failed(format!("connect to {urls:?}"), e))?;
        // A linearizable read: every committed revision is at or below this one. Right
        // after a fault heals, a member may hold reads through an election (a 3.4 member
        // back from a partition forces one): short tries, each on the next member.
        let give_up = Instant::now() + CATCH_UP;
        let revision = loop {
            match client.get("").prefix().count_only().timeout(READ_TRY).await {
                Ok(response) => break response.header().revision(),
                Err(_) if Instant::now() < give_up => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => return Err(failed("read the newest revision", e)),
            }
        };
        let mut hashes = Vec::with_capacity(running.len());
        for member in running {
            let give_up = Instant::now() + APPLY_WAIT;
            let hash = loop {
                match client.hash_kv(member.client_url(), revision).await {
                    Ok(h) => break (h.hash(), h.compact_revision()),
                    // A follower may not have applied the revision yet.
                    Err(_) if Instant::now() < give_up => tokio::time::sleep(Duration::from_millis(100)).await,
                    Err(e) => return Err(failed(format!("HashKV of {} at revision {revision}", member.name()), e)),
                }
            };
            hashes.push((member.name().to_string(), hash));
        }
        let mut tally: BTreeMap<(u32, i64), usize> = BTreeMap::new();
        for (_, hash) in &hashes {
            *tally.entry(*hash).or_default() += 1;
        }
        let Some(majority) = tally.into_iter().max_by_key(|(_, n)| *n).map(|(hash, _)| hash) else {
            return Ok(Vec::new());
        };
        Ok(hashes
            .into_iter()
            .filter(|(_, hash)| *hash != majority)
            .map(|(member, hash)| Divergence { member, hash, majority, revision })
            .collect())
    }
}

fn failed(what: impl std::fmt::Display, e: crate::Error) -> TestkitError {
    TestkitError::new(TestkitErrorKind::Io, format!("testkit: {what}: {e}"))
}
