//! Watch under faults, on etcd processes of its own: members killed,
//! stopped and restarted, connections cut, history compacted while the
//! watcher is away, thousands of watches created and dropped.
#![cfg(feature = "testkit")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_raw::testkit::{Cluster, Etcd, Member, Proxy};
use etcd_raw::watch::WatchStream;
use etcd_raw::{Client, Config, ErrorKind, Put};
use support::TestResult;

/// What a watcher saw: per response, its revision and (type, key, value)s.
type Record = Vec<(i64, Vec<(etcd_raw::EventType, Vec<u8>, Vec<u8>)>)>;

/// Records responses until one at or past `until` (or 90 s pass).
async fn record(mut watch: WatchStream, until: Arc<std::sync::atomic::AtomicI64>) -> Result<Record, String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Record::new();
    loop {
        let target = until.load(std::sync::atomic::Ordering::Acquire);
        if target > 0 && seen.last().is_some_and(|(rev, _)| *rev >= target) {
            return Ok(seen);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let item = tokio::time::timeout(left.min(Duration::from_secs(1)), watch.message()).await;
        match item {
            Err(_) if Instant::now() >= deadline => return Err(format!("timed out after {} responses", seen.len())),
            Err(_) => continue,
            Ok(None) => return Err("watch ended".into()),
            Ok(Some(Err(e))) => return Err(format!("watch failed: {e}")),
            Ok(Some(Ok(response))) => {
                let events = response
                    .events()
                    .iter()
                    .map(|e| (e.kind(), e.kv().key().to_vec(), e.kv().value().to_vec()))
                    .collect();
                seen.push((response.revision(), events));
            }
        }
    }
}

#[tokio::test]
async fn watch_survives_kills_pauses_and_cuts_without_gap_or_duplicate() -> TestResult {
    let mut cluster = Cluster::start(3)?;
    let proxies = cluster.members().iter().map(|m| Proxy::start(m.client_addr())).collect::<Result<Vec<_>, _>>()?;
    // The watcher under test reaches every member through a proxy we can
    // cut; the reference watcher sits on member 2, which is never touched.
    let tested = Client::new(
        Config::new(proxies.iter().map(Proxy::url))
            .dial_timeout(Duration::from_secs(2))
            .keepalive(Duration::from_secs(5), Duration::from_secs(2)),
    )
    .await?;
    let reference = Client::connect([cluster.member(2).client_url()]).await?;
    let writer = Client::new(Config::new(cluster.endpoints()).request_timeout(Duration::from_secs(10))).await?;

    let until = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let under_test = tokio::spawn(record(tested.watch("faults/").prefix().await?, until.clone()));
    // A second, identical watch shares the first one's server watch.
    let sharing = tokio::spawn(record(tested.watch("faults/").prefix().await?, until.clone()));
    let truth = tokio::spawn(record(reference.watch("faults/").prefix().await?, until.clone()));

    let writes = tokio::spawn(async move {
        let mut last = 0;
        for i in 0..1200u32 {
            let outcome = if i % 7 == 0 {
                let ops: Vec<Put> = (0..3).map(|j| Put::new(format!("faults/txn{j}"), i.to_string())).collect();
                writer.txn().and_then(ops).await.map(|r| r.header().revision())
            } else {
                writer.put(format!("faults/{}", i % 40), i.to_string()).await.map(|r| r.header().revision())
            };
            // A write lost to a fault is fine: the reference says what happened.
            if let Ok(revision) = outcome {
                last = last.max(revision);
            }
            // Spread the writes over the whole run of faults.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        last
    });

    let pause = |ms| tokio::time::sleep(Duration::from_millis(ms));
    pause(500).await;
    for proxy in &proxies {
        proxy.cut();
    }
    pause(700).await;
    cluster.kill(0)?;
    pause(1500).await;
    cluster.restart(0)?;
    proxies[0].cut();
    pause(700).await;
    cluster.pause(1)?;
    pause(3000).await;
    cluster.resume(1)?;
    for proxy in &proxies {
        proxy.cut();
    }
    let last = writes.await?;
    assert!(last > 0, "no write succeeded");
    until.store(last, std::sync::atomic::Ordering::Release);
    let truth = truth.await?.map_err(|e| format!("reference watcher: {e}"))?;
    let seen = under_test.await?.map_err(|e| format!("watcher under test: {e}"))?;
    let shared = sharing.await?.map_err(|e| format!("sharing watcher: {e}"))?;
    assert!(shared == truth, "the sharing watcher saw a different history");
    assert!(truth.len() >= 1000, "only {} revisions written", truth.len());
    let revisions: Vec<i64> = seen.iter().map(|(rev, _)| *rev).collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "revisions out of order or repeated");
    assert_eq!(seen.len(), truth.len(), "revision count differs");
    assert!(seen == truth, "the watcher under test saw a different history");
    // The faults really did break the tested client's connections.
    let accepted: u64 = proxies.iter().map(Proxy::connections).sum();
    assert!(accepted >= 4, "only {accepted} connections through the proxies");
    eprintln!("faults: {} revisions, {accepted} connections through the proxies", truth.len());
    support::assert_members_agree(&cluster).await?;
    Ok(())
}

#[tokio::test]
async fn compaction_while_disconnected_ends_the_watch_with_one_compacted_error() -> TestResult {
    let etcd = Etcd::start()?;
    let proxy = Proxy::start(etcd.member(0).client_addr())?;
    let watching = Client::new(Config::new([proxy.url()]).dial_timeout(Duration::from_secs(1))).await?;
    let direct = Client::connect([etcd.endpoint()]).await?;
    let mut watch = watching.watch("compact/").prefix().await?;
    // An identical watch shares the server watch, and its fate.
    let mut twin = watching.watch("compact/").prefix().await?;
    direct.put("compact/a", "1").await?;
    let first = tokio::time::timeout(Duration::from_secs(5), watch.message()).await?.ok_or("ended")??;
    assert_eq!(first.events().len(), 1);
    let first = tokio::time::timeout(Duration::from_secs(5), twin.message()).await?.ok_or("ended")??;
    assert_eq!(first.events().len(), 1);

    proxy.block(true);
    proxy.cut();
    direct.put("compact/b", "2").await?;
    let latest = direct.put("compact/c", "3").await?.header().revision();
    direct.compact(latest).physical().await?;
    proxy.block(false);

    for watch in [&mut watch, &mut twin] {
        let ended =
            tokio::time::timeout(Duration::from_secs(15), watch.message()).await?.ok_or("ended without an error")?;
        let error = ended.err().ok_or("an event arrived across a compacted gap")?;
        assert_eq!(error.kind(), ErrorKind::Compacted, "{error}");
        assert_eq!(error.compact_revision(), Some(latest));
        assert!(tokio::time::timeout(Duration::from_secs(5), watch.message()).await?.is_none(), "more after the error");
    }
    Ok(())
}

#[tokio::test]
async fn progress_notifications_let_a_quiet_watch_resume_past_a_compaction() -> TestResult {
    let etcd = Etcd::start_with(Cluster::builder().arg("--experimental-watch-progress-notify-interval=200ms"))?;
    let proxy = Proxy::start(etcd.member(0).client_addr())?;
    let watching = Client::new(Config::new([proxy.url()]).dial_timeout(Duration::from_secs(1))).await?;
    let direct = Client::connect([etcd.endpoint()]).await?;
    let mut watch = watching.watch("quiet/").prefix().progress_notify().await?;
    direct.put("busy/x", "0").await?;
    let progress = tokio::time::timeout(Duration::from_secs(5), watch.message()).await?.ok_or("ended")??;
    assert!(progress.is_progress_notify());

    // Busy elsewhere, progress seen, then cut off while history is compacted.
    let mut latest = 0;
    for i in 0..20 {
        latest = direct.put("busy/x", i.to_string()).await?.header().revision();
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    proxy.block(true);
    proxy.cut();
    direct.compact(latest).physical().await?;
    proxy.block(false);
    let written = direct.put("quiet/k", "v").await?.header().revision();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), watch.message()).await?.ok_or("ended")??;
        if item.is_progress_notify() {
            continue;
        }
        assert_eq!(item.revision(), written);
        break;
    }
    Ok(())
}

/// `etcd_debugging_mvcc_watcher_total` from the member's /metrics.
fn watcher_total(member: &Member) -> Result<f64, Box<dyn std::error::Error>> {
    Ok(member.metric("etcd_debugging_mvcc_watcher_total", &[])?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_watches_dropped_leave_nothing_behind() -> TestResult {
    let etcd = Etcd::start()?;
    let addr = etcd.member(0);
    let client = Client::connect([etcd.endpoint()]).await?;
    let tasks_before = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    let baseline = watcher_total(addr)?;

    let mut creating = Vec::new();
    for i in 0..5000 {
        let client = client.clone();
        creating.push(tokio::spawn(async move { client.watch(format!("many/{i}")).await }));
    }
    let mut watches = Vec::new();
    for task in creating {
        watches.push(task.await??);
    }
    assert_eq!(watcher_total(addr)?, baseline + 5000.0);
    drop(watches);

    let deadline = Instant::now() + Duration::from_secs(2);
    while watcher_total(addr)? > baseline {
        assert!(Instant::now() < deadline, "server watchers still at {}", watcher_total(addr)?);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Only the client's one watch task remains.
    let tasks_after = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    assert!(tasks_after <= tasks_before + 1, "tasks: {tasks_before} before, {tasks_after} after");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_watches_share_one_server_watcher() -> TestResult {
    let etcd = Etcd::start()?;
    let addr = etcd.member(0);
    let client = Client::connect([etcd.endpoint()]).await?;
    let baseline = watcher_total(addr)?;
    // Half created one after another, half all at once.
    let mut watches = Vec::new();
    for _ in 0..100 {
        watches.push(client.watch("same/").prefix().await?);
    }
    let together: Vec<_> = (0..100)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.watch("same/").prefix().await })
        })
        .collect();
    for task in together {
        watches.push(task.await??);
    }
    assert_eq!(watcher_total(addr)?, baseline + 1.0);
    let revision = client.put("same/k", "v").await?.header().revision();
    for watch in &mut watches {
        let response = tokio::time::timeout(Duration::from_secs(5), watch.message()).await?.ok_or("ended")??;
        assert_eq!(response.revision(), revision);
    }
    drop(watches);
    let deadline = Instant::now() + Duration::from_secs(2);
    while watcher_total(addr)? > baseline {
        assert!(Instant::now() < deadline, "server watchers still at {}", watcher_total(addr)?);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_lost_its_leader_ends_the_watch_stream_and_the_watch_resumes_without_a_gap() -> TestResult {
    let cluster = Cluster::start(3)?;
    let pinned = cluster.member(0);
    // Only member 0, so the watch can but wait for it to have a leader again.
    let watching =
        Client::new(Config::new([cluster.member(0).client_url()]).dial_timeout(Duration::from_secs(1))).await?;
    let writer = Client::new(Config::new(cluster.endpoints()).request_timeout(Duration::from_secs(15))).await?;
    let baseline = watcher_total(pinned)?;
    let mut watch = watching.watch("leader/").prefix().await?;
    let first = writer.put("leader/a", "1").await?.header().revision();
    let item = tokio::time::timeout(Duration::from_secs(5), watch.message()).await?.ok_or("ended")??;
    assert_eq!(item.revision(), first);
    assert_eq!(watcher_total(pinned)?, baseline + 1.0);

    // Cut off from the others, member 0 loses its leader; the watch asked
    // for one, so etcd ends its stream (after three election timeouts).
    cluster.pause(1)?;
    cluster.pause(2)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while watcher_total(pinned)? > baseline {
        assert!(Instant::now() < deadline, "member 0 kept the watch without a leader");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.resume(1)?;
    cluster.resume(2)?;

    // Back on member 0 once it has a leader, from the next revision. A
    // write may time out while the members elect one; the watch shows
    // whether it happened, and nothing else may come before the one that
    // was acknowledged.
    let deadline = Instant::now() + Duration::from_secs(20);
    let second = loop {
        match writer.put("leader/b", "2").await {
            Ok(put) => break put.header().revision(),
            Err(e) if Instant::now() < deadline => eprintln!("put during the election: {e}"),
            Err(e) => return Err(e.into()),
        }
    };
    loop {
        let item = tokio::time::timeout(Duration::from_secs(15), watch.message()).await?.ok_or("ended")??;
        let keys: Vec<&[u8]> = item.events().iter().map(|e| e.kv().key()).collect();
        assert_eq!(keys, [b"leader/b".as_slice()], "revision {}", item.revision());
        assert!(item.revision() <= second, "past the acknowledged write");
        if item.revision() == second {
            break;
        }
    }
    assert_eq!(watcher_total(pinned)?, baseline + 1.0);
    support::assert_members_agree(&cluster).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_a_partitioned_member_moves_to_the_majority_without_a_gap() -> TestResult {
    let cluster = Cluster::builder().members(3).peer_proxies(true).start()?;
    let watching = Client::new(Config::new(cluster.endpoints()).dial_timeout(Duration::from_secs(1))).await?;
    let mut watch = watching.watch("partition/").prefix().await?;
    let first = watching.put("partition/start", "0").await?.header().revision();
    let item = tokio::time::timeout(Duration::from_secs(5), watch.message()).await?.ok_or("ended")??;
    assert_eq!(item.revision(), first);
    let serving = (0..3)
        .find(|&i| watcher_total(cluster.member(i)).is_ok_and(|n| n >= 1.0))
        .ok_or("no member holds the watch")?;

    // The member serving the watch still answers its clients, but hears
    // nothing of the writes the other two commit meanwhile.
    cluster.isolate(serving)?;
    let others: Vec<String> = (0..3).filter(|&i| i != serving).map(|i| cluster.member(i).client_url()).collect();
    let writer = Client::new(Config::new(others).request_timeout(Duration::from_secs(15))).await?;
    // If the isolated member led, the others elect a leader first; a write
    // lost to that is fine, the reference watch below says what happened.
    let (mut last, mut acknowledged) = (first, 0);
    let deadline = Instant::now() + Duration::from_secs(40);
    while acknowledged < 20 && Instant::now() < deadline {
        if let Ok(put) = writer.put(format!("partition/{acknowledged}"), "v").await {
            last = put.header().revision();
            acknowledged += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(acknowledged, 20, "the majority did not take writes");
    let reference = writer.watch("partition/").prefix().start_revision(first + 1).await?;
    let until = Arc::new(std::sync::atomic::AtomicI64::new(last));
    let truth = record(reference, until.clone()).await.map_err(|e| format!("reference watch: {e}"))?;
    let seen = record(watch, until).await.map_err(|e| format!("watch on the isolated member: {e}"))?;
    assert!(truth.len() >= 20);
    assert!(seen == truth, "the watch missed or repeated writes made during the partition");
    cluster.heal(serving)?;
    support::assert_members_agree(&cluster).await?;
    Ok(())
}
