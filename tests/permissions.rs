//! Which calls need which rights once auth is on, per etcd release.
//!
//! The 2026 security fixes (3.5.28, 3.6.9, 3.7.0) tightened them: Compact
//! and the maintenance calls (Defragment, Hash, HashKV, Snapshot,
//! MoveLeader, Downgrade, alarm disarm) need root; LeaseGrant and
//! LeaseTimeToLive need an authenticated user; a lease renewal needs write
//! access to the lease's keys, LeaseTimeToLive and LeaseLeases read access
//! (or root). Later patches let any authenticated user list members and
//! alarms (3.5.29, 3.6.10) and read a member's status (3.5.32, 3.6.12).
//! Older releases let anyone, even a caller without a token, run Status,
//! MoveLeader, Downgrade, alarms, Compact and every lease call; they
//! already kept Defragment, Hash, HashKV and Snapshot for root, refused
//! with etcd's auth-package messages (`auth: permission denied`, code
//! Unknown) that the client types the same as the newer ones.
//!
//! Each check runs for `alice` (a user with read-write access to `app/`
//! only) and for a client without credentials, and expects the typed error
//! kind of the release the test runs against.
#![cfg(feature = "testkit")]

mod support;

use std::fmt::Debug;

use etcd_raw::maintenance::{AlarmType, Downgrade};
use etcd_raw::testkit::{Cluster, Etcd};
use etcd_raw::{Client, Config, ErrorKind};
use support::{etcd_release, TestResult};

/// Whether the release is at least the given patch of its line: 3.5 from
/// `five`, 3.6 from `six`, every 3.7 and later; never 3.4.
fn from_patch(five: u32, six: u32) -> bool {
    match etcd_release() {
        (3, 5, patch) => patch >= five,
        (3, 6, patch) => patch >= six,
        (3, minor, _) => minor >= 7,
        (major, _, _) => major > 3,
    }
}

/// The security fixes: 3.5.28, 3.6.9, 3.7.0.
fn tightened() -> bool {
    from_patch(28, 9)
}

/// What a call should give: success, or an error of this kind.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Ok,
    Err(ErrorKind),
}

use Expect::{Err as Refused, Ok as Allowed};

/// Compares each outcome with its expectation, collecting every mismatch
/// so that one run shows them all.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn check<T: Debug>(&mut self, what: &str, outcome: etcd_raw::Result<T>, expected: Expect) {
        match (&outcome, expected) {
            (Ok(_), Expect::Ok) => {}
            (Err(e), Expect::Err(kind)) if e.kind() == kind => {
                if e.outcome_unknown() {
                    self.0.push(format!("{what}: a refusal marked outcome unknown: {e}"));
                }
            }
            _ => self.0.push(format!("{what}: expected {expected:?}, got {outcome:?}")),
        }
    }

    fn done(self) -> TestResult {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!("etcd {:?}:\n{}", etcd_release(), self.0.join("\n")).into())
        }
    }
}

/// One etcd with auth on: `root`, and `alice` who may use `app/`. Returns
/// root's, alice's and an anonymous client.
async fn auth_server() -> Result<(Etcd, Client, Client, Client), Box<dyn std::error::Error>> {
    let etcd = Etcd::start_with(Cluster::builder())?;
    let admin = support::enable_auth_with_alice(&etcd.endpoint()).await?;
    let root = Client::new(Config::new([etcd.endpoint()]).auth("root", "root-pw")).await?;
    let alice = Client::new(Config::new([etcd.endpoint()]).auth("alice", "alice-pw")).await?;
    Ok((etcd, root, alice, admin))
}

/// The first chunk of a snapshot, or why there is none.
async fn snapshot(client: &Client) -> etcd_raw::Result<usize> {
    let mut snapshot = client.snapshot().await?;
    match snapshot.next_chunk().await {
        Some(chunk) => Ok(chunk?.len()),
        None => Ok(0),
    }
}

#[tokio::test]
async fn maintenance_and_compaction_need_root() -> TestResult {
    let (etcd, root, alice, anonymous) = auth_server().await?;
    let endpoint = etcd.endpoint();
    let (_, minor, _) = etcd_release();
    let member = root.status(&endpoint).await?.member_id();
    let mut checks = Checks::default();

    for (who, client, refusal) in
        [("alice", &alice, ErrorKind::PermissionDenied), ("anonymous", &anonymous, ErrorKind::UserEmpty)]
    {
        let new_rule = if tightened() { Refused(refusal) } else { Allowed };
        // Root-only in every release.
        checks.check(&format!("{who} defragment"), client.defragment(&endpoint).await, Refused(refusal));
        checks.check(&format!("{who} hash"), client.hash(&endpoint).await, Refused(refusal));
        checks.check(&format!("{who} hash_kv"), client.hash_kv(&endpoint, 0).await, Refused(refusal));
        checks.check(&format!("{who} snapshot"), snapshot(client).await, Refused(refusal));
        // Unchecked before the fixes.
        let latest = root.put("app/k", "v").await?.header().revision();
        checks.check(&format!("{who} compact"), client.compact(latest).await, new_rule);
        checks.check(&format!("{who} alarm disarm"), client.alarm_disarm(member, AlarmType::Nospace).await, new_rule);
        // A transferee that does not exist: refused for rights first, where
        // rights are checked.
        let move_leader = if tightened() { new_rule } else { Refused(ErrorKind::BadLeaderTransferee) };
        checks.check(&format!("{who} move_leader"), client.move_leader(0xdead).await, move_leader);
        let downgrade = if minor < 5 { Refused(ErrorKind::Unimplemented) } else { new_rule };
        let target = format!("3.{}", minor.saturating_sub(1));
        checks.check(&format!("{who} downgrade"), client.downgrade(Downgrade::Validate, target).await, downgrade);
    }

    // Reading the state of the cluster needs a user, and no more, in the
    // newest patches.
    let list_rule = if from_patch(29, 10) { Allowed } else { Refused(ErrorKind::PermissionDenied) };
    let alice_list = if tightened() { list_rule } else { Allowed };
    // Status was root-only in every 3.6 before 3.6.12 (etcd #14663).
    let status_checked = tightened() || minor == 6;
    let alice_status =
        if !from_patch(32, 12) && status_checked { Refused(ErrorKind::PermissionDenied) } else { Allowed };
    let anonymous_rule = if tightened() { Refused(ErrorKind::UserEmpty) } else { Allowed };
    let anonymous_status = if status_checked { Refused(ErrorKind::UserEmpty) } else { Allowed };
    checks.check("alice member_list", alice.member_list().await, alice_list);
    checks.check("alice alarm_list", alice.alarm_list().await, alice_list);
    checks.check("alice status", alice.status(&endpoint).await, alice_status);
    checks.check("anonymous member_list", anonymous.member_list().await, anonymous_rule);
    checks.check("anonymous alarm_list", anonymous.alarm_list().await, anonymous_rule);
    checks.check("anonymous status", anonymous.status(&endpoint).await, anonymous_status);

    // Root may do all of it.
    checks.check("root hash_kv", root.hash_kv(&endpoint, 0).await, Allowed);
    checks.check("root defragment", root.defragment(&endpoint).await, Allowed);
    checks.check("root snapshot", snapshot(&root).await, Allowed);
    checks.check("root alarm disarm", root.alarm_disarm(member, AlarmType::Nospace).await, Allowed);
    checks.check("root member_list", root.member_list().await, Allowed);
    let latest = root.put("app/k", "v").await?.header().revision();
    checks.check("root compact", root.compact(latest).await, Allowed);
    checks.done()
}

#[tokio::test]
async fn lease_calls_check_the_caller_and_the_leased_keys() -> TestResult {
    let (_etcd, root, alice, anonymous) = auth_server().await?;
    let tight = tightened();
    let denied = if tight { Refused(ErrorKind::PermissionDenied) } else { Allowed };
    let no_user = if tight { Refused(ErrorKind::UserEmpty) } else { Allowed };
    let mut checks = Checks::default();

    // A lease of root's on a key alice may not touch, and one of alice's.
    let foreign = root.grant(60).await?.id();
    root.put("other/k", "v").lease(foreign).await?;
    let own = alice.grant(60).await?.id();
    alice.put("app/k", "v").lease(own).await?;

    checks.check("anonymous grant", anonymous.grant(60).await, no_user);
    checks.check("alice grant", alice.grant(60).await, Allowed);

    checks.check("alice time_to_live, own lease", alice.time_to_live(own).keys().await, Allowed);
    // The keys are checked only when asked for; before the fixes they were
    // handed out to anyone.
    checks.check("alice time_to_live, root's lease", alice.time_to_live(foreign).await, Allowed);
    checks.check("alice time_to_live, root's lease's keys", alice.time_to_live(foreign).keys().await, denied);
    checks.check("anonymous time_to_live", anonymous.time_to_live(own).await, no_user);

    checks.check("alice renews her lease", alice.keep_alive_once(own).await, Allowed);
    checks.check("alice renews root's lease", alice.keep_alive_once(foreign).await, denied);
    checks.check("anonymous renews", anonymous.keep_alive_once(own).await, no_user);
    // The client's keepalive task hears the same refusal on its first renewal.
    let kept = alice.keep_alive(foreign).timeout(std::time::Duration::from_secs(5)).await.map(|s| s.ttl());
    checks.check("alice keeps root's lease alive", kept, denied);

    // Listing needs read access to every key of every lease.
    checks.check("alice leases", alice.leases().await, denied);
    checks.check("anonymous leases", anonymous.leases().await, no_user);
    checks.check("root leases", root.leases().await, Allowed);
    checks.check("root time_to_live", root.time_to_live(own).await, Allowed);
    checks.check("root renews alice's lease", root.keep_alive_once(own).await, Allowed);
    // Once root's lease is gone, alice may list what is left.
    root.revoke(foreign).await?;
    checks.check("alice leases, hers only", alice.leases().await, Allowed);
    checks.done()
}

#[tokio::test]
async fn auth_status_needs_root_before_3_7() -> TestResult {
    let (_etcd, root, alice, anonymous) = auth_server().await?;
    let (_, minor, _) = etcd_release();
    let (for_alice, for_anonymous) = match minor {
        0..=4 => (Refused(ErrorKind::Unimplemented), Refused(ErrorKind::Unimplemented)),
        5 | 6 => (Refused(ErrorKind::PermissionDenied), Refused(ErrorKind::UserEmpty)),
        // 3.7 answers anyone (etcd #20802).
        _ => (Allowed, Allowed),
    };
    let for_root = if minor < 5 { Refused(ErrorKind::Unimplemented) } else { Allowed };
    let mut checks = Checks::default();
    checks.check("root auth_status", root.auth_status().await, for_root);
    checks.check("alice auth_status", alice.auth_status().await, for_alice);
    checks.check("anonymous auth_status", anonymous.auth_status().await, for_anonymous);
    checks.done()
}
