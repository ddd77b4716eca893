//! Balancing and failover against real 3-member clusters: members killed
//! with SIGKILL, stopped with SIGSTOP and restarted under a continuous
//! load; every acknowledged write present at the end, no write sent twice
//! (counted at a TCP proxy in front of each member), every call back
//! within its deadline.
#![cfg(feature = "testkit")]

mod support;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_raw::testkit::{self, Cluster, Proxy};
use etcd_raw::{Client, Config, ErrorKind};
use support::scratch::free_address;
use support::TestResult;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How late a call may return after its deadline.
const SLACK: Duration = Duration::from_millis(100);
const WRITE_DEADLINE: Duration = Duration::from_secs(3);
const READ_DEADLINE: Duration = Duration::from_secs(5);
const TASKS: usize = 8;

/// A TCP proxy that counts, in what clients send, every write marker
/// `wv#NNNNNNNN#`: a write sent twice shows up as a count of 2.
struct CountingProxy {
    addr: SocketAddr,
    counts: Arc<Mutex<HashMap<String, u32>>>,
    accept: tokio::task::JoinHandle<()>,
}

const MARKER_LEN: usize = 12;

impl CountingProxy {
    async fn start(target: SocketAddr) -> std::io::Result<CountingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let for_task = counts.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counts = for_task.clone();
                tokio::spawn(async move {
                    // A dead member: the client sees its connection closed.
                    let Ok(upstream) = TcpStream::connect(target).await else { return };
                    let _ = upstream.set_nodelay(true);
                    let _ = client.set_nodelay(true);
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut upstream_read, mut upstream_write) = upstream.into_split();
                    let up = tokio::spawn(async move {
                        let mut carry: Vec<u8> = Vec::new();
                        let mut buf = vec![0u8; 32 * 1024];
                        loop {
                            let n = match client_read.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            carry.extend_from_slice(&buf[..n]);
                            count_markers(&carry, &counts);
                            let keep = carry.len().saturating_sub(MARKER_LEN - 1);
                            carry.drain(..keep);
                            if upstream_write.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = upstream_write.shutdown().await;
                    });
                    let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
                    let _ = client_write.shutdown().await;
                    up.abort();
                });
            }
        });
        Ok(CountingProxy { addr, counts, accept })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn counts(&self) -> HashMap<String, u32> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Counts every whole marker in `window`. The window keeps fewer bytes
/// than a marker from the previous read, so no marker is counted twice.
fn count_markers(window: &[u8], counts: &Mutex<HashMap<String, u32>>) {
    let mut i = 0;
    while i + MARKER_LEN <= window.len() {
        if &window[i..i + 3] == b"wv#"
            && window[i + MARKER_LEN - 1] == b'#'
            && window[i + 3..i + MARKER_LEN - 1].iter().all(u8::is_ascii_digit)
        {
            let marker = String::from_utf8_lossy(&window[i..i + MARKER_LEN]).into_owned();
            if let Ok(mut counts) = counts.lock() {
                *counts.entry(marker).or_insert(0) += 1;
            }
            i += MARKER_LEN;
        } else {
            i += 1;
        }
    }
}

#[derive(Default)]
struct Stats {
    acked: Vec<(String, String)>,
    unknown: Vec<String>,
    definite_write_failures: Vec<String>,
    reads_ok: u64,
    read_failures: Vec<String>,
    /// (elapsed, deadline, what) of the call closest to its deadline.
    slowest: (Duration, Duration, String),
    late: Vec<String>,
}

impl Stats {
    fn timed(&mut self, what: &str, elapsed: Duration, deadline: Duration) {
        if elapsed > self.slowest.0 {
            self.slowest = (elapsed, deadline, what.to_string());
        }
        if elapsed > deadline + SLACK {
            self.late.push(format!("{what} took {elapsed:?} (deadline {deadline:?})"));
        }
    }
}

/// One of the 8 workers: put a unique value, read back a key acknowledged
/// before, until told to stop.
async fn worker(client: Client, prefix: String, task: usize, stop: Arc<AtomicBool>, stats: Arc<Mutex<Stats>>) {
    let mut last_acked: Option<String> = None;
    let mut seq = 0usize;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let key = format!("{prefix}t{task}/{seq:06}");
        let value = format!("wv#{task:02}{seq:06}#");
        let started = Instant::now();
        let put = client.put(key.clone(), value.clone()).timeout(WRITE_DEADLINE).await;
        let elapsed = started.elapsed();
        {
            let Ok(mut s) = stats.lock() else { return };
            s.timed("put", elapsed, WRITE_DEADLINE);
            match put {
                Ok(_) => {
                    s.acked.push((key.clone(), value));
                    last_acked = Some(key.clone());
                }
                Err(e) if e.outcome_unknown() => s.unknown.push(key.clone()),
                Err(e) => s.definite_write_failures.push(format!("{key}: {e}")),
            }
        }
        let read_key = last_acked.clone().unwrap_or(key);
        let started = Instant::now();
        let get = client.get(read_key.clone()).timeout(READ_DEADLINE).await;
        let elapsed = started.elapsed();
        let Ok(mut s) = stats.lock() else { return };
        s.timed("get", elapsed, READ_DEADLINE);
        match get {
            Ok(_) => s.reads_ok += 1,
            Err(e) => s.read_failures.push(format!("get {read_key} after {elapsed:?}: {e}")),
        }
    }
}

/// The index of the member that is the leader now, asked of each member.
async fn leader(client: &Client, endpoints: &[String]) -> Result<usize, Box<dyn std::error::Error>> {
    let give_up = Instant::now() + Duration::from_secs(15);
    while Instant::now() < give_up {
        for (i, endpoint) in endpoints.iter().enumerate() {
            if let Ok(status) = client.status(endpoint).timeout(Duration::from_millis(500)).await {
                if status.is_leader() {
                    return Ok(i);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("no leader within 15 s".into())
}

fn sleep_blocking(
    cluster: &mut Cluster,
    f: impl FnOnce(&mut Cluster) -> Result<(), testkit::TestkitError>,
) -> TestResult {
    tokio::task::block_in_place(|| f(cluster))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_and_reads_survive_kill_pause_and_restart_of_leader_and_member_in_use() -> TestResult {
    let mut cluster = Cluster::start(3)?;
    let mut proxies = Vec::new();
    for member in cluster.members() {
        proxies.push(CountingProxy::start(member.client_addr()).await?);
    }
    let endpoints: Vec<String> = proxies.iter().map(CountingProxy::url).collect();
    let client = Client::new(Config::new(endpoints.clone()).dial_timeout(Duration::from_secs(2))).await?;
    let prefix = testkit::unique_prefix("failover");
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Mutex::new(Stats::default()));
    let mut workers = Vec::new();
    for task in 0..TASKS {
        workers.push(tokio::spawn(worker(client.clone(), prefix.clone(), task, stop.clone(), stats.clone())));
    }
    let pause = |d: u64| tokio::time::sleep(Duration::from_millis(d));
    let mut faults = Vec::new();
    pause(1500).await;

    // 1. The leader dies (SIGKILL), then comes back.
    let l = leader(&client, &endpoints).await?;
    cluster.kill(l)?;
    faults.push(format!("kill -9 leader (member {l})"));
    pause(2500).await;
    sleep_blocking(&mut cluster, |c| c.restart(l))?;
    faults.push(format!("restart member {l}"));
    pause(1500).await;

    // 2. A member in use that is not the leader hangs (SIGSTOP), then continues.
    let l = leader(&client, &endpoints).await?;
    let f = (l + 1) % 3;
    cluster.pause(f)?;
    faults.push(format!("SIGSTOP follower in use (member {f}) for 4 s"));
    pause(4000).await;
    cluster.resume(f)?;
    pause(1500).await;

    // 3. The leader hangs.
    let l = leader(&client, &endpoints).await?;
    cluster.pause(l)?;
    faults.push(format!("SIGSTOP leader (member {l}) for 4 s"));
    pause(4000).await;
    cluster.resume(l)?;
    pause(2000).await;

    // 4. The member in use that is not the leader dies, then comes back.
    let l = leader(&client, &endpoints).await?;
    let f = (l + 2) % 3;
    cluster.kill(f)?;
    faults.push(format!("kill -9 follower in use (member {f})"));
    pause(2500).await;
    sleep_blocking(&mut cluster, |c| c.restart(f))?;
    faults.push(format!("restart member {f}"));
    pause(1500).await;

    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await?;
    }
    tokio::task::block_in_place(|| cluster.wait_healthy(Duration::from_secs(20)))?;

    // Every acknowledged write is there, written once; unknown ones at most once.
    let direct = Client::new(Config::new(cluster.endpoints())).await?;
    let stats = std::mem::take(&mut *stats.lock().map_err(|_| "stats poisoned")?);
    let mut lost = Vec::new();
    for (key, value) in &stats.acked {
        let got = direct.get(key.clone()).timeout(Duration::from_secs(5)).await?;
        match got.kvs().first() {
            Some(kv) if kv.value_str()? == value && kv.version() == 1 => {}
            other => lost.push(format!("{key}: {other:?}")),
        }
    }
    for key in &stats.unknown {
        let got = direct.get(key.clone()).timeout(Duration::from_secs(5)).await?;
        assert!(got.kvs().first().is_none_or(|kv| kv.version() == 1), "{key} written twice");
    }
    let mut sent: HashMap<String, u32> = HashMap::new();
    for proxy in &proxies {
        for (marker, n) in proxy.counts() {
            *sent.entry(marker).or_insert(0) += n;
        }
    }
    // A write refused with NoLeader was not applied and goes to the next
    // member (etcd checks for a leader before it proposes anything), so
    // its bytes can pass the proxies twice. What must never happen is a
    // write applied twice: every resent one is stored once, at version 1.
    let twice: Vec<_> = sent.iter().filter(|(_, &n)| n > 1).collect();
    for (marker, n) in &twice {
        let digits = marker.trim_matches(|c| c == 'w' || c == 'v' || c == '#');
        let (task, seq) = digits.split_at(2);
        let key = format!("{prefix}t{}/{seq}", task.trim_start_matches('0').parse::<usize>().unwrap_or(0));
        let got = direct.get(key.clone()).timeout(Duration::from_secs(5)).await?;
        let version = got.kvs().first().map_or(0, |kv| kv.version());
        assert!(version <= 1, "{marker} sent {n} times and applied {version} times ({key})");
    }
    let (slowest, deadline, what) = &stats.slowest;
    eprintln!(
        "fault run (etcd {:?}): faults: {}; writes acknowledged: {}, outcome unknown: {}, definite failures: {}, \
         lost: {}, sent again after a definite refusal (applied once): {}; reads ok: {}, failed: {}; slowest call: {what} {slowest:?} vs deadline {deadline:?}",
        support::etcd_version(),
        faults.join(", "),
        stats.acked.len(),
        stats.unknown.len(),
        stats.definite_write_failures.len(),
        lost.len(),
        twice.len(),
        stats.reads_ok,
        stats.read_failures.len(),
    );
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(stats.read_failures.is_empty(), "reads failed: {:?}", stats.read_failures);
    assert!(stats.late.is_empty(), "calls past their deadline: {:?}", stats.late);
    assert!(stats.acked.len() > 100, "too few writes acknowledged: {}", stats.acked.len());
    // The proxies saw every acknowledged write: the counting works.
    for (_, value) in &stats.acked {
        assert!(sent.contains_key(value), "{value} acknowledged but never seen at a proxy");
    }
    support::assert_members_agree(&cluster).await?;
    Ok(())
}

#[tokio::test]
async fn dead_hung_and_unresolvable_first_endpoints_do_not_stop_connect_or_calls() -> TestResult {
    let etcd = testkit::shared()?;
    let hung = StdListener::bind("127.0.0.1:0")?;
    for bad in [free_address()?, format!("http://{}", hung.local_addr()?), "etcd-raw-nowhere.invalid:2379".to_string()]
    {
        let dial = Duration::from_secs(2);
        let started = Instant::now();
        let client = Client::new(Config::new([bad.clone(), etcd.endpoint()]).dial_timeout(dial)).await?;
        assert!(started.elapsed() < dial, "connect waited {:?} for {bad}", started.elapsed());
        let p = testkit::unique_prefix("bad_first");
        for i in 0..10 {
            let deadline = Duration::from_millis(1500);
            let started = Instant::now();
            client.put(format!("{p}{i}"), "v").timeout(deadline).await?;
            client.get(format!("{p}{i}")).timeout(deadline).await?;
            assert!(started.elapsed() <= 2 * deadline + SLACK, "{bad}: {:?}", started.elapsed());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_member_leaves_the_rotation_and_is_probed_back() -> TestResult {
    let cluster = Cluster::start(3)?;
    let proxies: Vec<Proxy> =
        cluster.members().iter().map(|m| Proxy::start(m.client_addr())).collect::<Result<_, _>>()?;
    let client = Client::new(Config::new(proxies.iter().map(Proxy::url).collect::<Vec<_>>())).await?;
    let p = testkit::unique_prefix("rotation");
    client.put(format!("{p}k"), "v").await?;
    cluster.pause(0)?;
    // The first calls may wait for the hang to be found (a few hundred ms
    // of silence, then an unanswered ping); none may fail.
    for _ in 0..6 {
        client.get(format!("{p}k")).timeout(Duration::from_secs(5)).await?;
    }
    // Found: calls no longer wait on it.
    for _ in 0..20 {
        let started = Instant::now();
        client.get(format!("{p}k")).timeout(Duration::from_secs(5)).await?;
        assert!(started.elapsed() < Duration::from_millis(500), "a call waited {:?}", started.elapsed());
    }
    cluster.resume(0)?;
    // Its prober brings it back: it serves reads of this client again.
    let served = || handled(&cluster, 0, "Range");
    let give_up = Instant::now() + Duration::from_secs(15);
    let before = served()?;
    loop {
        for _ in 0..6 {
            client.get(format!("{p}k")).timeout(Duration::from_secs(2)).await?;
        }
        if served()? > before {
            break;
        }
        assert!(Instant::now() < give_up, "the resumed member was never used again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    support::assert_members_agree(&cluster).await?;
    Ok(())
}

/// How many `method` calls member `i` has answered, from its `/metrics`.
fn handled(cluster: &Cluster, i: usize, method: &str) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(cluster.member(i).metric("grpc_server_handled_total", &[("grpc_method", method)])? as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_returns_by_its_deadline_under_faults() -> TestResult {
    let mut cluster = Cluster::start(3)?;
    let proxies: Vec<Proxy> =
        cluster.members().iter().map(|m| Proxy::start(m.client_addr())).collect::<Result<_, _>>()?;
    let client = Client::new(Config::new(proxies.iter().map(Proxy::url).collect::<Vec<_>>())).await?;
    let p = testkit::unique_prefix("deadlines");
    client.put(format!("{p}k"), "v").await?;
    let mut slowest = (Duration::ZERO, Duration::ZERO);
    let mut check = |elapsed: Duration, deadline: Duration, what: &str| {
        if elapsed > slowest.0 {
            slowest = (elapsed, deadline);
        }
        assert!(elapsed <= deadline + SLACK, "{what}: {elapsed:?} for a deadline of {deadline:?}");
    };
    let faults: [&str; 3] = ["member 0 paused", "member 1 killed too (no quorum)", "member 2 paused too (all hung)"];
    for (step, fault) in faults.iter().enumerate() {
        match step {
            0 => cluster.pause(0)?,
            1 => cluster.kill(1)?,
            _ => cluster.pause(2)?,
        }
        for deadline in [Duration::from_millis(50), Duration::from_millis(300), Duration::from_millis(1000)] {
            let mut calls = Vec::new();
            for i in 0..8 {
                let client = client.clone();
                let key = format!("{p}k");
                calls.push(tokio::spawn(async move {
                    let started = Instant::now();
                    let outcome = if i % 2 == 0 {
                        client.get(key).timeout(deadline).await.map(|_| ())
                    } else {
                        client.put(key, "w").timeout(deadline).await.map(|_| ())
                    };
                    (started.elapsed(), outcome.err())
                }));
            }
            for call in calls {
                let (elapsed, error) = call.await?;
                check(elapsed, deadline, fault);
                if let Some(error) = error {
                    let kind = error.kind();
                    // etcd sends its side of an expired deadline as Unknown
                    // "context deadline exceeded" (error table: pending entry).
                    if error.message() == "context deadline exceeded" {
                        continue;
                    }
                    assert!(
                        matches!(
                            kind,
                            ErrorKind::DeadlineExceeded
                                | ErrorKind::Unavailable
                                | ErrorKind::NoLeader
                                | ErrorKind::LeaderChanged
                                | ErrorKind::Timeout
                                | ErrorKind::TimeoutDueToLeaderFail
                                | ErrorKind::TimeoutDueToConnectionLost
                        ),
                        "{fault}: {error}"
                    );
                }
            }
        }
    }
    eprintln!("deadline run: slowest call {:?} vs deadline {:?}", slowest.0, slowest.1);
    cluster.resume(0)?;
    cluster.resume(2)?;
    support::assert_members_agree(&cluster).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaderless_member_fails_fast_with_no_leader_and_comes_back() -> TestResult {
    let mut cluster = Cluster::start(3)?;
    let config = Config::new(cluster.endpoints()).require_leader(true).request_timeout(Duration::from_secs(2));
    let client = Client::new(config).await?;
    let p = testkit::unique_prefix("leaderless");
    client.put(format!("{p}k"), "v").await?;
    cluster.kill(1)?;
    cluster.kill(2)?;
    // Member 0 is alone: once it knows it has no leader it refuses at once.
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let started = Instant::now();
        let error = client.get(format!("{p}k")).await.err().ok_or("read without a quorum")?;
        assert!(started.elapsed() <= Duration::from_secs(2) + SLACK, "{:?}", started.elapsed());
        if error.kind() == ErrorKind::NoLeader {
            assert!(error.is_retryable(), "{error}");
            break;
        }
        assert!(Instant::now() < give_up, "never NoLeader: {error}");
    }
    // Maintenance never asks for a leader: a leaderless member still says
    // how it is, which is what an operator needs when quorum is gone.
    let status = client.status(cluster.member(0).client_url()).await?;
    assert_eq!(status.leader(), 0, "member 0 reports a leader without a quorum");
    // With a quorum back, it is probed back in and serves again.
    tokio::task::block_in_place(|| cluster.restart(1))?;
    let give_up = Instant::now() + Duration::from_secs(15);
    loop {
        match client.get(format!("{p}k")).await {
            Ok(got) => {
                assert_eq!(got.count(), 1);
                break;
            }
            Err(e) => assert!(Instant::now() < give_up, "no recovery: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    support::assert_members_agree(&cluster).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_sync_follows_the_members() -> TestResult {
    let mut cluster = Cluster::start(3)?;
    let all = cluster.endpoints();
    let config = Config::new([all[0].clone()]).auto_sync_interval(Duration::from_millis(200));
    let client = Client::new(config).await?;
    let p = testkit::unique_prefix("sync");
    // It learns the other two members...
    let give_up = Instant::now() + Duration::from_secs(5);
    while client.endpoints().len() < 3 {
        assert!(Instant::now() < give_up, "never synced: {:?}", client.endpoints());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut synced = client.endpoints();
    synced.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(synced, expected);
    // ...so losing the one it was given does not stop it (a write may
    // meet the election if that one led: its outcome is then unknown).
    client.put(format!("{p}k"), "v").await?;
    cluster.kill(0)?;
    for _ in 0..10 {
        assert_eq!(client.get(format!("{p}k")).timeout(Duration::from_secs(5)).await?.count(), 1);
    }
    let give_up = Instant::now() + Duration::from_secs(15);
    for i in 0..10 {
        loop {
            match client.put(format!("{p}{i}"), "v").timeout(Duration::from_secs(3)).await {
                Ok(_) => break,
                Err(e) => assert!((e.is_retryable() || e.outcome_unknown()) && Instant::now() < give_up, "{e}"),
            }
        }
    }
    tokio::task::block_in_place(|| cluster.restart(0))?;
    // A member removed is no longer used.
    let gone = client.status(&all[2]).await?.member_id();
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        match client.member_remove(gone).await {
            // etcd wants every member connected for 5 s first.
            Err(e) if e.kind() == ErrorKind::Unhealthy && Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => break other.map(|_| ())?,
        }
    }
    // etcd 3.4 answers MemberList from the asked member's own view, which
    // may not have applied the removal yet; newer releases answer
    // linearizably and agree at once.
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        client.sync().await?;
        if !client.endpoints().contains(&all[2]) {
            break;
        }
        assert!(Instant::now() < give_up, "the removed member is still used: {:?}", client.endpoints());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(client.endpoints().len(), 2);
    for i in 0..6 {
        client.get(format!("{p}{i}")).timeout(Duration::from_secs(5)).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_leave_a_partitioned_member_instead_of_waiting_on_it() -> TestResult {
    let cluster = Cluster::builder().members(3).peer_proxies(true).start()?;
    // Default config: requests ask for a leader, so the cut-off member says
    // NoLeader (once it knows) instead of holding each call to its deadline.
    let client = Client::new(Config::new(cluster.endpoints()).dial_timeout(Duration::from_secs(1))).await?;
    let p = testkit::unique_prefix("partition");
    client.put(format!("{p}k"), "v").await?;
    cluster.isolate(0)?;
    let started = Instant::now();
    let (mut calls, mut failures) = (0u32, Vec::new());
    while started.elapsed() < Duration::from_secs(10) {
        let outcome = if calls % 2 == 0 {
            client.get(format!("{p}k")).await.map(|_| ())
        } else {
            client.put(format!("{p}k"), calls.to_string()).await.map(|_| ())
        };
        if let Err(e) = outcome {
            failures.push(e);
        }
        calls += 1;
    }
    cluster.heal(0)?;
    // Only what reached member 0 before it noticed the partition may fail:
    // by our deadline or by etcd's own request timeout, whichever ends
    // first, a write with its outcome unknown.
    assert!(failures.len() <= 2, "{} of {calls} calls failed: {failures:?}", failures.len());
    for error in &failures {
        assert!(matches!(error.kind(), ErrorKind::DeadlineExceeded | ErrorKind::Timeout), "{error}");
    }
    assert!(calls >= 100, "only {calls} calls in 10 s");
    eprintln!("partition: {calls} calls, {} failed", failures.len());
    support::assert_members_agree(&cluster).await?;
    Ok(())
}
