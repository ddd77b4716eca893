//! List-then-watch (`Client::sync_prefix`) against a real etcd: the
//! snapshot and the changes after it, applied to a map, equal the final
//! state, with a writer running throughout, a member killed and restarted
//! on a 3-member cluster, and compactions that force a restart.
#![cfg(feature = "testkit")]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use etcd_raw::testkit::{Cluster, Etcd};
use etcd_raw::{Client, Config, Error, ErrorKind, KeyValue, Mirror, MirrorEvent, Put};
use support::{key, shared_client, TestResult};

/// What a consumer of the mirror has, checked as it goes.
#[derive(Default)]
struct Seen {
    state: BTreeMap<Bytes, KeyValue>,
    synced: Option<i64>,
    /// The revisions of the changes since the last snapshot.
    changes: Vec<i64>,
    pages: usize,
    /// The last key of the snapshot so far: pages come in key order.
    last_key: Option<Bytes>,
    restarts: Vec<Error>,
}

impl Seen {
    fn take(&mut self, event: MirrorEvent) -> TestResult {
        event.apply(&mut self.state);
        match event {
            MirrorEvent::Page(kvs) => {
                assert!(self.synced.is_none(), "a page after the snapshot was complete");
                assert!(!kvs.is_empty(), "an empty page");
                let mut previous = self.last_key.take();
                for kv in &kvs {
                    assert!(
                        previous.as_ref().is_none_or(|p| p.as_ref() < kv.key()),
                        "{:?} repeated or out of order",
                        kv.key()
                    );
                    previous = Some(kv.key_bytes().clone());
                }
                self.last_key = previous;
                self.pages += 1;
            }
            MirrorEvent::Synced { revision } => {
                assert!(self.synced.is_none(), "synced twice");
                self.synced = Some(revision);
            }
            MirrorEvent::Changes { revision, events } => {
                let synced = self.synced.ok_or("a change before the snapshot was complete")?;
                let last = self.changes.last().copied().unwrap_or(synced);
                assert!(revision > last, "revision {revision} after {last}: repeated or out of order");
                assert!(events.iter().all(|e| e.revision() == revision));
                self.changes.push(revision);
            }
            MirrorEvent::Restarted { reason } => {
                assert_eq!(reason.kind(), ErrorKind::Compacted, "{reason}");
                assert!(self.state.is_empty());
                (self.synced, self.pages, self.last_key) = (None, 0, None);
                self.changes.clear();
                self.restarts.push(reason);
            }
            other => return Err(format!("an event this test does not know: {other:?}").into()),
        }
        Ok(())
    }

    /// The revision the state is at, once the snapshot is complete.
    fn at(&self) -> Option<i64> {
        self.synced.map(|synced| self.changes.last().copied().unwrap_or(synced))
    }

    /// Takes events until the state is at `revision` or later.
    async fn follow_until(&mut self, mirror: &mut Mirror, revision: i64, within: Duration) -> TestResult {
        let give_up = Instant::now() + within;
        while self.at().is_none_or(|at| at < revision) {
            let left = give_up.saturating_duration_since(Instant::now());
            let event = tokio::time::timeout(left, mirror.next_event())
                .await
                .map_err(|_| format!("not at revision {revision} after {within:?}: at {:?}", self.at()))?;
            self.take(event.ok_or("the mirror ended")??)?;
        }
        Ok(())
    }

    /// The state equals what a get under `prefix` at `revision` returns.
    async fn assert_equals(&self, client: &Client, prefix: &str, revision: i64) -> TestResult {
        let truth = client.get(prefix.to_string()).prefix().revision(revision).timeout(Duration::from_secs(30)).await?;
        let truth: BTreeMap<Bytes, KeyValue> =
            truth.into_kvs().into_iter().map(|kv| (kv.key_bytes().clone(), kv)).collect();
        let differ: Vec<_> = truth
            .iter()
            .filter(|(k, kv)| self.state.get(*k) != Some(kv))
            .map(|(k, kv)| (k.clone(), kv.mod_revision(), self.state.get(k).map(|m| m.mod_revision())))
            .take(5)
            .collect();
        assert!(differ.is_empty(), "the mirror differs from a get at revision {revision}: {differ:?}");
        assert_eq!(self.state.len(), truth.len(), "key count at revision {revision}");
        Ok(())
    }
}

/// Writes `n` keys `<p>k00000..` with values of `size` bytes, 100 per txn.
async fn fill(client: &Client, p: &str, n: usize, size: usize) -> Result<(), Error> {
    for start in (0..n).step_by(100) {
        let puts = (start..(start + 100).min(n)).map(|i| Put::new(key(p, &format!("k{i:05}")), vec![b'v'; size]));
        client.txn().and_then(puts).await?;
    }
    Ok(())
}

/// What a writer did: the revisions of its writes that took effect, and
/// how many may or may not have (a member died under them).
#[derive(Debug, Default)]
struct Written {
    revisions: Vec<i64>,
    unknown: usize,
}

/// Puts and deletes keys under `p` until `stop`.
fn writer(client: Client, p: String, keys: usize, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Written> {
    tokio::spawn(async move {
        let mut written = Written::default();
        let mut i = 0usize;
        while !stop.load(Ordering::Acquire) {
            i += 1;
            let name = format!("k{:05}", (i * 7919) % keys);
            let outcome = if i.is_multiple_of(5) {
                // Only a delete that removed a key makes a revision.
                client.delete(key(&p, &name)).await.map(|r| (r.deleted() > 0).then(|| r.header().revision()))
            } else {
                client.put(key(&p, &name), format!("w{i}")).await.map(|r| Some(r.header().revision()))
            };
            match outcome {
                Ok(Some(revision)) => written.revisions.push(revision),
                Ok(None) => {}
                Err(e) if e.outcome_unknown() => written.unknown += 1,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        written
    })
}

#[tokio::test]
async fn snapshot_and_changes_equal_the_final_state_with_a_writer_throughout() -> TestResult {
    let (client, p) = shared_client("mirror_writer").await?;
    const KEYS: usize = 3000;
    fill(&client, &p, KEYS, 100).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writes = writer(client.clone(), p.clone(), KEYS + 500, stop.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut mirror = client.sync_prefix(p.clone());
    let mut seen = Seen::default();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        let event = tokio::time::timeout(Duration::from_secs(10), mirror.next_event()).await?.ok_or("ended")??;
        // A slow consumer of the snapshot, so writes land while it is read.
        if matches!(event, MirrorEvent::Page(_)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen.take(event)?;
    }
    stop.store(true, Ordering::Release);
    let written = writes.await?;
    let last = *written.revisions.iter().max().ok_or("nothing written")?;
    seen.follow_until(&mut mirror, last, Duration::from_secs(20)).await?;

    let synced = seen.synced.ok_or("no snapshot")?;
    assert!(seen.pages >= 2, "{KEYS} keys in {} pages", seen.pages);
    assert!(seen.restarts.is_empty());
    // Every write after the snapshot came as a change, once; none before it.
    let expected: Vec<i64> = written.revisions.iter().copied().filter(|&r| r > synced).collect();
    assert!(expected.len() >= 20, "only {} writes after the snapshot", expected.len());
    assert_eq!(seen.changes, expected, "changes differ from the writes after revision {synced}");
    seen.assert_equals(&client, &p, last).await
}

/// Takes `n` more snapshot pages (slowly, so that the snapshot takes a
/// while), or fewer if the snapshot completes first.
async fn take_pages(mirror: &mut Mirror, seen: &mut Seen, n: usize) -> TestResult {
    let target = seen.pages.saturating_add(n);
    while seen.synced.is_none() && seen.pages < target {
        let event = next(mirror).await?;
        if matches!(event, MirrorEvent::Page(_)) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        seen.take(event)?;
    }
    Ok(())
}

/// Takes events until `n` more changes came.
async fn take_changes(mirror: &mut Mirror, seen: &mut Seen, n: usize) -> TestResult {
    let target = seen.changes.len() + n;
    while seen.changes.len() < target {
        seen.take(next(mirror).await?)?;
    }
    Ok(())
}

/// The next event, within 30 s.
async fn next(mirror: &mut Mirror) -> Result<MirrorEvent, Box<dyn std::error::Error>> {
    Ok(tokio::time::timeout(Duration::from_secs(30), mirror.next_event()).await?.ok_or("the mirror ended")??)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_during_the_list_and_the_watch_loses_and_repeats_nothing() -> TestResult {
    let mut cluster = Cluster::start(3)?;
    let config = Config::new(cluster.endpoints()).request_timeout(Duration::from_secs(3));
    let client = Client::new(config).await?;
    // 20 MB: more than the HTTP/2 windows hold, so the member serving the
    // snapshot is still sending it when it dies.
    const KEYS: usize = 5000;
    let p = "faults/";
    fill(&client, p, KEYS, 4096).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writes = writer(client.clone(), p.to_string(), KEYS + 500, stop.clone());

    let mut mirror = client.sync_prefix(p);
    let mut seen = Seen::default();
    // While the snapshot is read (slowly), then while changes stream, each
    // member dies and comes back in turn, so whichever serves is hit.
    let mut kills = Vec::new();
    for member in [0, 1, 2] {
        if seen.synced.is_some() {
            break;
        }
        take_pages(&mut mirror, &mut seen, 2).await?;
        tokio::task::block_in_place(|| cluster.kill(member))?;
        kills.push((member, "snapshot"));
        take_pages(&mut mirror, &mut seen, 2).await?;
        tokio::task::block_in_place(|| cluster.restart(member))?;
    }
    take_pages(&mut mirror, &mut seen, usize::MAX).await?;
    for member in [0, 1, 2] {
        take_changes(&mut mirror, &mut seen, 30).await?;
        tokio::task::block_in_place(|| cluster.kill(member))?;
        kills.push((member, "watch"));
        take_changes(&mut mirror, &mut seen, 30).await?;
        tokio::task::block_in_place(|| cluster.restart(member))?;
    }
    stop.store(true, Ordering::Release);
    let written = writes.await?;
    // Every revision is a write under the prefix: the mirror reaches this one.
    let last = client.get("faults/").count_only().await?.header().revision();
    seen.follow_until(&mut mirror, last, Duration::from_secs(30)).await?;

    let synced = seen.synced.ok_or("no snapshot")?;
    assert!(seen.restarts.is_empty(), "{:?}", seen.restarts);
    assert!(kills.iter().any(|(_, phase)| *phase == "snapshot"), "no member died during the snapshot: {kills:?}");
    // The writes that took effect came once each; beyond them only writes
    // whose outcome the writer could not know.
    let known: Vec<i64> = written.revisions.iter().copied().filter(|&r| r > synced).collect();
    let missing: Vec<i64> = known.iter().copied().filter(|r| seen.changes.binary_search(r).is_err()).collect();
    assert!(missing.is_empty(), "writes never seen as changes: {missing:?}");
    let extra = seen.changes.len() - known.len();
    assert!(extra <= written.unknown, "{extra} changes from {} writes of unknown outcome", written.unknown);
    eprintln!(
        "faults: kills {kills:?}; {} pages; {} changes after revision {synced}; {} writes of unknown outcome",
        seen.pages,
        seen.changes.len(),
        written.unknown
    );
    seen.assert_equals(&client, p, last).await?;
    support::assert_members_agree(&cluster).await
}

#[tokio::test]
async fn a_compaction_during_the_snapshot_restarts_it_and_says_so() -> TestResult {
    // Compaction would break the shared server's other tests: a server of its own.
    let etcd = Etcd::start()?;
    let client = Client::new(Config::new([etcd.endpoint()])).await?;
    let p = "config/";
    // 20 MB: more than the read-ahead and the HTTP/2 windows hold, so the
    // snapshot is still being read when the compaction lands.
    const KEYS: usize = 5000;
    fill(&client, p, KEYS, 4096).await?;

    let mut mirror = client.sync_prefix(p);
    let mut seen = Seen::default();
    let first = mirror.next_event().await.ok_or("ended")??;
    assert!(matches!(first, MirrorEvent::Page(_)), "{first:?}");
    seen.take(first)?;
    let now = client.put("config/k00000", "changed").await?.header().revision();
    client.compact(now).await?;
    client.put("config/added", "after the compaction").await?;
    let last = client.delete("config/k00001").await?.header().revision();

    seen.follow_until(&mut mirror, last, Duration::from_secs(60)).await?;
    assert_eq!(seen.restarts.len(), 1, "{:?}", seen.restarts);
    assert!(
        seen.restarts[0].compact_revision().is_some_and(|r| r >= now) || seen.restarts[0].compact_revision().is_none()
    );
    assert!(seen.synced.is_some_and(|s| s >= now), "the new snapshot is older than the compaction");
    seen.assert_equals(&client, p, last).await?;
    assert!(seen.state.contains_key(&Bytes::from_static(b"config/added")));

    // A snapshot asked for at a compacted revision restarts at once.
    let mut old = client.sync_prefix(p).revision(1);
    let mut seen = Seen::default();
    let first = old.next_event().await.ok_or("ended")??;
    assert!(matches!(first, MirrorEvent::Restarted { .. }), "{first:?}");
    seen.take(first)?;
    seen.follow_until(&mut old, last, Duration::from_secs(60)).await?;
    seen.assert_equals(&client, p, last).await
}

#[tokio::test]
async fn the_empty_prefix_mirrors_every_key() -> TestResult {
    let (client, p) = shared_client("mirror_everything").await?;
    client.put(key(&p, "a"), "1").await?;
    let mut mirror = client.sync_prefix("");
    let mut seen = Seen::default();
    while seen.synced.is_none() {
        seen.take(mirror.next_event().await.ok_or("ended")??)?;
    }
    let synced = seen.synced.ok_or("no snapshot")?;
    assert!(seen.state.contains_key(key(&p, "a").as_slice()));
    seen.assert_equals(&client, "", synced).await
}

#[tokio::test]
async fn an_error_no_retry_gets_past_is_yielded_once_and_ends_the_mirror() -> TestResult {
    let etcd = Etcd::start()?;
    support::enable_auth_with_alice(&etcd.endpoint()).await?;
    let alice = Client::new(Config::new([etcd.endpoint()]).auth("alice", "alice-pw")).await?;
    let mut mirror = alice.sync_prefix("other/");
    ends_with(&mut mirror, ErrorKind::PermissionDenied).await
}

/// The mirror's next event is an error of `kind` (within 10 s), and then it ends.
async fn ends_with(mirror: &mut Mirror, kind: ErrorKind) -> TestResult {
    let error = match tokio::time::timeout(Duration::from_secs(10), mirror.next_event()).await? {
        Some(Err(e)) => e,
        other => return Err(format!("expected {kind:?}, got {other:?}").into()),
    };
    assert_eq!(error.kind(), kind, "{error}");
    assert!(mirror.next_event().await.is_none(), "the mirror goes on after {error}");
    Ok(())
}

#[tokio::test]
async fn closing_the_client_ends_the_mirror_with_client_closed() -> TestResult {
    let etcd = Etcd::start()?;
    let client = Client::connect([etcd.endpoint()]).await?;
    client.put("closing/a", "1").await?;
    let mut mirror = client.sync_prefix("closing/");
    let mut seen = Seen::default();
    while seen.synced.is_none() {
        seen.take(next(&mut mirror).await?)?;
    }
    // Closed while the mirror watches: it says why once, then ends.
    client.close();
    ends_with(&mut mirror, ErrorKind::ClientClosed).await
}
