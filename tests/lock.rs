//! Locks against real etcd: the Lock service, the `concurrency::Mutex`
//! under contention from tasks and separate processes, a holder stopped
//! past its TTL, and interplay with `etcdctl lock`.
//!
//! Separate processes are this test binary run again with
//! `ETCD_RAW_CONTENDER` set: the `contender_process` test then acts as one
//! contender and prints what it did.
#![cfg(feature = "testkit")]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_raw::concurrency::{Mutex, Session};
use etcd_raw::testkit;
use etcd_raw::{Client, Compare, CompareOp, ErrorKind, Put};
use support::{kind, shared_client, TestResult};

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the host,
/// so hold intervals of different processes compare.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

#[tokio::test]
async fn lock_service_excludes_fences_and_unlocks() -> TestResult {
    let (client, p) = shared_client("lock_service").await?;
    let name = format!("{p}lock");
    let first = client.grant(10).await?;
    let second = client.grant(10).await?;
    let _alive = (client.keep_alive(first.id()).await?, client.keep_alive(second.id()).await?);

    let held = client.lock(name.clone(), first.id()).await?;
    assert_eq!(held.key(), format!("{name}/{:x}", first.id()).as_bytes());
    assert!(held.revision() > 0 && held.header().revision() >= held.revision());
    let blocked = client.lock(name.clone(), second.id()).timeout(Duration::from_millis(500)).await;
    assert_eq!(kind(blocked), Some(ErrorKind::DeadlineExceeded));
    // The server removes the waiter that gave up.
    let gave_up = Instant::now();
    while client.get(format!("{name}/")).prefix().count_only().await?.count() > 1 {
        assert!(gave_up.elapsed() < Duration::from_secs(2), "the waiter's key stayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A write guarded by the fencing token goes through while held.
    let guard = || Compare::create_revision(held.key().clone(), CompareOp::Equal, held.revision());
    assert!(client.txn().when([guard()]).and_then([Put::new(format!("{p}data"), "1")]).await?.succeeded());

    client.unlock(held.key().clone()).await?;
    assert!(!client.txn().when([guard()]).and_then([Put::new(format!("{p}data"), "2")]).await?.succeeded());
    let next = client.lock(name.clone(), second.id()).timeout(Duration::from_secs(5)).await?;
    assert!(next.revision() > held.revision(), "fencing tokens increase");

    // Unlocking what is not held is an error, not a silent success.
    assert_eq!(kind(client.unlock(held.key().clone()).await), Some(ErrorKind::LockReleased));
    assert_eq!(kind(client.unlock(format!("{name}/nothing")).await), Some(ErrorKind::LockReleased));
    client.unlock(next.key().clone()).await?;
    Ok(())
}

#[tokio::test]
async fn lock_service_bad_input() -> TestResult {
    let (client, p) = shared_client("lock_bad").await?;
    let unknown = 0x7c00_0000_0000_0000 | i64::from(std::process::id());
    let lock = client.lock(format!("{p}l"), unknown).timeout(Duration::from_secs(5)).await;
    assert_eq!(kind(lock), Some(ErrorKind::LeaseNotFound));
    assert_eq!(kind(client.lock(format!("{p}l"), 0).await), Some(ErrorKind::InvalidArgument));
    assert_eq!(kind(client.lock(format!("{p}l"), -7).await), Some(ErrorKind::InvalidArgument));
    Ok(())
}

#[tokio::test]
async fn lock_service_never_grants_a_lock_whose_lease_expired_while_waiting() -> TestResult {
    // etcd 3.4's Lock RPC answers such a waiter with success (etcd#11456).
    let (client, p) = shared_client("lock_expired_waiter").await?;
    let name = format!("{p}lock");
    let holder = client.grant(10).await?;
    let _alive = client.keep_alive(holder.id()).await?;
    let held = client.lock(name.clone(), holder.id()).await?;
    let doomed = client.grant(2).await?; // never kept alive
    let waiter = {
        let client = client.clone();
        let name = name.clone();
        tokio::spawn(async move { client.lock(name, doomed.id()).timeout(Duration::from_secs(15)).await })
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    client.unlock(held.key().clone()).await?;
    let outcome = waiter.await?;
    assert_eq!(kind(outcome), Some(ErrorKind::SessionExpired));
    assert_eq!(client.get(format!("{name}/")).prefix().count_only().await?.count(), 0);
    Ok(())
}

/// One acquisition: the counter value read under the lock, the fencing
/// token, and the hold interval on the shared monotonic clock.
#[derive(Clone, Copy, Debug)]
struct Hold {
    value: u64,
    token: i64,
    start: u64,
    end: u64,
}

impl Hold {
    fn line(&self) -> String {
        format!("HOLD {} {} {} {}", self.value, self.token, self.start, self.end)
    }

    fn parse(line: &str) -> Option<Hold> {
        // The harness may print its own text before ours on the same line.
        let mut fields = line.split_once("HOLD ")?.1.split(' ');
        let mut next = || fields.next()?.parse::<u64>().ok();
        Some(Hold { value: next()?, token: i64::try_from(next()?).ok()?, start: next()?, end: next()? })
    }
}

/// `rounds` acquisitions of lock `name`, each a non-atomic read-modify-write
/// of `counter` under the lock.
async fn contend(client: &Client, name: &str, counter: &str, rounds: usize) -> Result<Vec<Hold>, etcd_raw::Error> {
    let session = Session::new(client).ttl(5).await?;
    let mut mutex = Mutex::new(&session, name.to_string());
    let mut holds = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        mutex.lock().await?;
        let start = monotonic_ns();
        let token = mutex.revision().unwrap_or(0);
        let value = match client.get(counter.to_string()).await?.kvs().first() {
            Some(kv) => kv.value_str()?.parse::<u64>().unwrap_or(u64::MAX),
            None => 0,
        };
        client.put(counter.to_string(), (value + 1).to_string()).await?;
        let end = monotonic_ns();
        mutex.unlock().await?;
        holds.push(Hold { value, token, start, end });
    }
    session.close().await?;
    Ok(holds)
}

/// A child process that is killed if the test ends before it does.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Reaped {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Starts this binary as a contender process.
fn spawn_contender(role: &str, endpoint: &str, name: &str, counter: &str, rounds: usize) -> std::io::Result<Reaped> {
    Command::new(std::env::current_exe()?)
        .args(["--exact", "contender_process", "--nocapture", "--test-threads=1"])
        .env("ETCD_RAW_CONTENDER", role)
        .env("ETCD_RAW_ENDPOINT", endpoint)
        .env("ETCD_RAW_LOCK", name)
        .env("ETCD_RAW_COUNTER", counter)
        .env("ETCD_RAW_ROUNDS", rounds.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map(Reaped)
}

/// Not a test of its own: the body of a contender process (see the
/// module docs); passes at once when run as part of the suite.
#[test]
fn contender_process() -> TestResult {
    let Ok(role) = std::env::var("ETCD_RAW_CONTENDER") else { return Ok(()) };
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} not set"));
    let (endpoint, name, counter) = (var("ETCD_RAW_ENDPOINT")?, var("ETCD_RAW_LOCK")?, var("ETCD_RAW_COUNTER")?);
    let rounds: usize = var("ETCD_RAW_ROUNDS")?.parse()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = Client::connect([endpoint]).await?;
        match role.as_str() {
            "count" => {
                for hold in contend(&client, &name, &counter, rounds).await? {
                    println!("{}", hold.line());
                }
            }
            "hold" => hold_until_stopped(&client, &name, &counter).await?,
            other => return Err(format!("unknown contender role {other}").into()),
        }
        Ok(())
    })
}

/// Takes the lock with a 2 s session, says so, and once resumed from a stop
/// longer than that, tries a write guarded by its stale fencing token.
async fn hold_until_stopped(client: &Client, name: &str, resource: &str) -> TestResult {
    let session = Session::new(client).ttl(2).await?;
    let mut mutex = Mutex::new(&session, name.to_string());
    mutex.lock().await?;
    println!("HELD {} {}", String::from_utf8_lossy(mutex.key()), mutex.revision().unwrap_or(0));
    let lost = session.done().await;
    let write = client.txn().when([mutex.owner_compare()]).and_then([Put::new(resource.to_string(), "stale")]).await?;
    println!("STALE {} {}", write.succeeded(), lost.kind().as_str());
    Ok(())
}

/// Reads a child's stdout lines until one holds `marker`, and returns the
/// line from the marker on (the test harness may print before it).
fn read_line_starting(reader: &mut impl BufRead, marker: &str) -> Result<String, Box<dyn std::error::Error>> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(format!("child ended before printing {marker}").into());
        }
        if let Some(at) = line.find(marker) {
            return Ok(line[at..].trim_end().to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_contenders_in_tasks_and_processes_never_overlap() -> TestResult {
    const TASKS: usize = 4;
    const PROCESSES: usize = 4;
    const ROUNDS: usize = 250;
    let etcd = testkit::shared()?;
    let p = testkit::unique_prefix("contention");
    let (name, counter) = (format!("{p}lock"), format!("{p}counter"));
    let started = Instant::now();
    let children: Vec<Reaped> = (0..PROCESSES)
        .map(|_| spawn_contender("count", &etcd.endpoint(), &name, &counter, ROUNDS))
        .collect::<Result<_, _>>()?;
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let client = Client::connect([etcd.endpoint()]).await?;
        let (name, counter) = (name.clone(), counter.clone());
        tasks.push(tokio::spawn(async move { contend(&client, &name, &counter, ROUNDS).await }));
    }
    let mut holds = Vec::new();
    for task in tasks {
        holds.extend(task.await??);
    }
    for mut child in children {
        let (status, text) = tokio::task::spawn_blocking(move || {
            let mut text = String::new();
            if let Some(mut out) = child.stdout.take() {
                std::io::Read::read_to_string(&mut out, &mut text)?;
            }
            Ok::<_, std::io::Error>((child.wait()?, text))
        })
        .await??;
        assert!(status.success(), "contender process failed: {status}");
        let theirs: Vec<Hold> = text.lines().filter_map(Hold::parse).collect();
        assert_eq!(theirs.len(), ROUNDS, "a process reported {} holds", theirs.len());
        holds.extend(theirs);
    }
    let elapsed = started.elapsed();
    let total = (TASKS + PROCESSES) * ROUNDS;

    // The counter is exact: no update was lost to an overlapping holder.
    let client = Client::connect([etcd.endpoint()]).await?;
    let kvs = client.get(counter.clone()).await?.into_kvs();
    assert_eq!(kvs.first().map(|kv| kv.value_str().map(str::to_string)).transpose()?, Some(total.to_string()));
    // Each value was read once, and tokens grow in the order of the holds.
    holds.sort_by_key(|h| h.value);
    assert!(holds.iter().enumerate().all(|(i, h)| h.value == i as u64), "a counter value was read twice");
    assert!(holds.windows(2).all(|w| w[0].token < w[1].token), "fencing tokens must strictly increase");
    // No two hold intervals overlap on the shared clock.
    holds.sort_by_key(|h| h.start);
    let mut overlaps = 0;
    let mut latest_end = 0;
    for hold in &holds {
        if hold.start < latest_end {
            overlaps += 1;
        }
        latest_end = latest_end.max(hold.end);
    }
    eprintln!(
        "contention: {total} acquisitions by {} contenders ({TASKS} tasks, {PROCESSES} processes) in {elapsed:.2?}: \
         {:.0} acquisitions/s, overlaps = {overlaps}",
        TASKS + PROCESSES,
        total as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(overlaps, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_stopped_past_its_ttl_loses_the_lock_and_its_stale_writes() -> TestResult {
    let etcd = testkit::shared()?;
    let p = testkit::unique_prefix("stopped_holder");
    let (name, resource) = (format!("{p}lock"), format!("{p}resource"));
    let mut child = spawn_contender("hold", &etcd.endpoint(), &name, &resource, 0)?;
    let mut out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let held = tokio::task::block_in_place(|| read_line_starting(&mut out, "HELD "))?;
    let mut fields = held.split(' ').skip(1);
    let (stale_key, stale_token) =
        (fields.next().ok_or("no key")?.to_string(), fields.next().ok_or("no token")?.parse::<i64>()?);

    let client = Client::connect([etcd.endpoint()]).await?;
    let waiter = {
        let client = client.clone();
        let name = name.clone();
        tokio::spawn(async move {
            let session = Session::new(&client).ttl(5).await?;
            let mut mutex = Mutex::new(&session, name);
            mutex.lock().await?;
            Ok::<_, etcd_raw::Error>((Instant::now(), mutex, session))
        })
    };
    // Wait until the waiter is queued behind the holder, then stop the holder.
    while client.get(format!("{name}/")).prefix().count_only().await?.count() < 2 {
        assert!(!waiter.is_finished(), "the waiter ended before queueing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = libc::pid_t::try_from(child.id())?;
    // SAFETY: signals our own unreaped child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let stopped = Instant::now();
    let (acquired, mutex, _session) = tokio::time::timeout(Duration::from_secs(10), waiter).await???;
    let after = acquired - stopped;
    eprintln!("the next waiter got the lock {after:?} after the holder (TTL 2 s) was stopped");
    assert!(after <= Duration::from_secs(3), "took {after:?}, over TTL + 1 s");
    assert!(mutex.revision() > Some(stale_token));

    // The stale token no longer passes a compare; the new one does.
    let stale = Compare::create_revision(stale_key, CompareOp::Equal, stale_token);
    assert!(!client.txn().when([stale]).and_then([Put::new(resource.clone(), "stale")]).await?.succeeded());
    assert!(client
        .txn()
        .when([mutex.owner_compare()])
        .and_then([Put::new(resource.clone(), "fresh")])
        .await?
        .succeeded());

    // Resumed, the old holder learns its session is gone and its write fails.
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let outcome = tokio::task::block_in_place(|| read_line_starting(&mut out, "STALE "))?;
    assert_eq!(outcome, "STALE false SessionExpired");
    assert!(child.wait()?.success());
    assert_eq!(client.get(resource).await?.kvs()[0].value_str()?, "fresh");
    Ok(())
}

/// Waits (without blocking the runtime) for a child to exit, up to `limit`.
async fn wait_child(child: &mut Reaped, limit: Duration) -> Result<Option<std::process::ExitStatus>, std::io::Error> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_exclude_etcdctl_lock_both_ways() -> TestResult {
    let etcd = testkit::shared()?;
    let (client, p) = shared_client("interop").await?;
    let name = format!("{p}lock");

    // Held through the Lock service: etcdctl waits.
    let lease = client.grant(10).await?;
    let _alive = client.keep_alive(lease.id()).await?;
    let held = client.lock(name.clone(), lease.id()).await?;
    let mut ctl = Reaped(
        etcd.etcdctl()?.args(["lock", &name, "--", "sh", "-c", "echo acquired"]).stdout(Stdio::piped()).spawn()?,
    );
    assert!(wait_child(&mut ctl, Duration::from_millis(1500)).await?.is_none(), "etcdctl took a held lock");
    client.unlock(held.key().clone()).await?;
    let status = wait_child(&mut ctl, Duration::from_secs(5)).await?.ok_or("etcdctl never got the lock")?;
    assert!(status.success());
    let mut out = String::new();
    std::io::Read::read_to_string(&mut ctl.stdout.take().ok_or("no stdout")?, &mut out)?;
    assert_eq!(out.trim(), "acquired");

    // Held by etcdctl: the Lock service and the Mutex both wait.
    let mut ctl = Reaped(
        etcd.etcdctl()?.args(["lock", &name, "--", "sh", "-c", "echo held; sleep 2"]).stdout(Stdio::piped()).spawn()?,
    );
    let mut ctl_out = BufReader::new(ctl.stdout.take().ok_or("no stdout")?);
    tokio::task::block_in_place(|| read_line_starting(&mut ctl_out, "held"))?;
    let since = Instant::now();
    let blocked = client.lock(name.clone(), lease.id()).timeout(Duration::from_millis(500)).await;
    assert_eq!(
        blocked.as_ref().err().map(|e| e.kind()),
        Some(ErrorKind::DeadlineExceeded),
        "took a lock etcdctl holds: {blocked:?}"
    );
    let session = Session::new(&client).ttl(5).await?;
    let mut mutex = Mutex::new(&session, name.clone());
    assert_eq!(kind(mutex.try_lock().await), Some(ErrorKind::Locked));
    mutex.lock().await?;
    assert!(since.elapsed() >= Duration::from_millis(1500), "got the lock after {:?}", since.elapsed());
    assert!(wait_child(&mut ctl, Duration::from_secs(1)).await?.is_some_and(|s| s.success()));
    mutex.unlock().await?;
    session.close().await?;
    Ok(())
}
