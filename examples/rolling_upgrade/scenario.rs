//! A rolling upgrade under load: a 3-member cluster on the newest 3.5 patch is upgraded member
//! by member to 3.6 and then 3.7, and downgraded back to 3.6 through the Downgrade API, while
//! writers, a watch, a kept-alive lease and two lock holders run. Shared by
//! `examples/rolling_upgrade` (which prints the figures) and `tests/upgrade.rs` (which asserts
//! them).

use std::collections::{BTreeMap, HashSet};
use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_raw::concurrency::{Mutex, Session};
use etcd_raw::maintenance::Downgrade;
use etcd_raw::testkit::{Cluster, EtcdBinary};
use etcd_raw::watch::WatchStream;
use etcd_raw::{Client, Compare, CompareOp, Config, Put};

pub type BoxError = Box<dyn Error + Send + Sync>;

const WRITERS: usize = 8;
const WRITE_DEADLINE: Duration = Duration::from_secs(2);
const LEASE_TTL: i64 = 6;
const LEASED_KEY: &str = "up/leased";
const COUNTER_KEY: &str = "up/counter";
const LOCK_NAME: &str = "up/lock";

/// The three releases of the run: the starting 3.5 patch, then 3.6, then 3.7.
pub struct Releases {
    pub from: EtcdBinary,
    pub via: EtcdBinary,
    pub to: EtcdBinary,
}

impl Releases {
    /// The newest installed patch of 3.5, 3.6 and 3.7 (`scripts/install-etcd.sh`).
    pub fn installed() -> Result<Releases, BoxError> {
        Ok(Releases {
            from: EtcdBinary::locate_version("3.5")?,
            via: EtcdBinary::locate_version("3.6")?,
            to: EtcdBinary::locate_version("3.7")?,
        })
    }
}

/// What the run counted. Every count but the acknowledged ones should be 0.
#[derive(Debug, Default)]
pub struct Figures {
    pub steps: Vec<String>,
    pub writes_acknowledged: usize,
    pub writes_unknown: usize,
    pub writes_lost: usize,
    pub writes_applied_twice: usize,
    pub watch_revisions: usize,
    pub watch_gaps: usize,
    pub watch_duplicates: usize,
    pub watch_reorders: usize,
    pub leased_key_deletions: usize,
    pub keepalive_failures: usize,
    pub lock_holds: u64,
    pub lock_overlaps: u64,
    pub counter_lost_updates: i64,
    pub worst_past_deadline: Duration,
    pub diverged_members: Vec<String>,
}

impl Figures {
    /// Whether every failure count is 0.
    pub fn clean(&self) -> bool {
        self.writes_lost == 0
            && self.writes_applied_twice == 0
            && self.watch_gaps == 0
            && self.watch_duplicates == 0
            && self.watch_reorders == 0
            && self.leased_key_deletions == 0
            && self.keepalive_failures == 0
            && self.lock_overlaps == 0
            && self.counter_lost_updates == 0
            && self.diverged_members.is_empty()
    }

    /// The figures as a table, one count per line.
    pub fn table(&self) -> String {
        let rows: [(&str, String); 15] = [
            ("writes acknowledged", self.writes_acknowledged.to_string()),
            ("writes of unknown outcome", self.writes_unknown.to_string()),
            ("acknowledged writes lost", self.writes_lost.to_string()),
            ("writes applied twice", self.writes_applied_twice.to_string()),
            ("revisions watched", self.watch_revisions.to_string()),
            ("watch gaps", self.watch_gaps.to_string()),
            ("watch duplicates", self.watch_duplicates.to_string()),
            ("watch reorders", self.watch_reorders.to_string()),
            ("deletions of the lease-attached key", self.leased_key_deletions.to_string()),
            ("keep-alive streams ended", self.keepalive_failures.to_string()),
            ("lock holds", self.lock_holds.to_string()),
            ("lock overlaps", self.lock_overlaps.to_string()),
            ("fenced counter updates lost", self.counter_lost_updates.to_string()),
            ("worst call latency past its deadline", format!("{:?}", self.worst_past_deadline)),
            ("members whose HashKV diverged", format!("{}", self.diverged_members.len())),
        ];
        rows.iter().map(|(what, n)| format!("{what:<40} {n}\n")).collect()
    }
}

/// Runs the whole upgrade and downgrade under load; `say` receives progress lines.
pub async fn run(releases: Releases, say: impl Fn(&str)) -> Result<Figures, BoxError> {
    let started = Instant::now();
    let mut figures = Figures::default();
    let step = |figures: &mut Figures, text: String| {
        let line = format!("[{:>5.1}s] {text}", started.elapsed().as_secs_f64());
        say(&line);
        figures.steps.push(line);
    };
    let mut cluster = blocking(|| {
        Cluster::builder()
            .members(3)
            .binary(releases.from.clone())
            // A 3.6+ flag, given to the 3.5 members under its old name by the kit.
            .arg("--downgrade-check-time=1s")
            .start()
    })?;
    step(&mut figures, format!("3 members on etcd {} are healthy", releases.from.version));

    let client = Client::new(Config::new(cluster.endpoints()).dial_timeout(Duration::from_secs(1))).await?;
    let load = Load::start(&client).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    for (target, release) in [("3.6", &releases.via), ("3.7", &releases.to)] {
        for i in 0..3 {
            swap(&mut cluster, i, release)?;
            step(&mut figures, format!("member {i} now runs etcd {}", release.version));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        wait_cluster_version(&cluster, target).await?;
        step(&mut figures, format!("cluster version is {target}"));
    }

    // The documented downgrade: validate, enable, wait for the storage version, then replace
    // the members with the older binary, leader last; etcd ends the downgrade by itself.
    let validated = client.downgrade(Downgrade::Validate, "3.6").await?;
    step(&mut figures, format!("downgrade to 3.6 validated (cluster version {})", validated.version()));
    client.downgrade(Downgrade::Enable, "3.6").await?;
    step(&mut figures, "downgrade to 3.6 enabled".into());
    wait_storage_version(&client, &cluster, "3.6.0").await?;
    step(&mut figures, "every member reports storage version 3.6.0".into());
    let leader = leader_index(&client, &cluster).await?;
    let mut order: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    order.push(leader);
    for (n, &i) in order.iter().enumerate() {
        if n == 2 {
            let to = client.status(cluster.member(order[0]).client_url()).await?.member_id();
            client.move_leader(to).await?;
            step(&mut figures, format!("leadership moved from member {i} to member {}", order[0]));
        }
        swap(&mut cluster, i, &releases.via)?;
        step(&mut figures, format!("member {i} now runs etcd {}", releases.via.version));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_downgrade_finished(&client, &cluster).await?;
    step(&mut figures, "the downgrade finished: cluster version 3.6, no downgrade in progress".into());
    tokio::time::sleep(Duration::from_secs(2)).await;

    load.finish(&client, &cluster, &mut figures).await?;
    step(&mut figures, "load stopped and checked".into());
    let diverged = cluster.hash_kv_divergence().await?;
    figures.diverged_members = diverged.iter().map(|d| format!("{d:?}")).collect();
    step(&mut figures, "members' HashKV compared".into());
    Ok(figures)
}

/// Runs a blocking test-kit call without stalling the runtime's other tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn swap(cluster: &mut Cluster, i: usize, release: &EtcdBinary) -> Result<(), BoxError> {
    Ok(blocking(|| cluster.swap_binary(i, release.clone()))?)
}

/// The writers, watch, lease and lock holders that run through the upgrade.
struct Load {
    stop: Arc<AtomicBool>,
    start_revision: i64,
    writers: Vec<tokio::task::JoinHandle<WriterLog>>,
    watcher: tokio::task::JoinHandle<Result<History, String>>,
    keepalive: tokio::task::JoinHandle<usize>,
    lease_done: Arc<AtomicBool>,
    lockers: Vec<tokio::task::JoinHandle<Result<LockLog, String>>>,
    overlaps: Arc<AtomicU64>,
    worst_past_deadline: Arc<AtomicU64>,
    watched_until: Arc<AtomicI64>,
    lease: i64,
}

#[derive(Default)]
struct WriterLog {
    acknowledged: Vec<(String, String)>,
    unknown: usize,
}

#[derive(Default)]
struct LockLog {
    holds: u64,
    increments: i64,
    unknown_increments: i64,
}

impl Load {
    async fn start(client: &Client) -> Result<Load, BoxError> {
        let stop = Arc::new(AtomicBool::new(false));
        let worst = Arc::new(AtomicU64::new(0));
        client.put(COUNTER_KEY, "0").await?;
        let lease = client.grant(LEASE_TTL).await?.id();
        let start_revision = client.put(LEASED_KEY, "alive").lease(lease).await?.header().revision();
        let watched_until = Arc::new(AtomicI64::new(0));
        let watch = client.watch("up/").prefix().start_revision(start_revision + 1).await?;
        let watcher = tokio::spawn(watch_revisions(watch, stop.clone(), watched_until.clone()));
        // Kept alive until the checks are done, not just until the load stops.
        let lease_done = Arc::new(AtomicBool::new(false));
        let keepalive = {
            let mut alive = client.keep_alive(lease).await?;
            let stop = lease_done.clone();
            tokio::spawn(async move {
                let mut failures = 0;
                while !stop.load(Ordering::Acquire) {
                    match tokio::time::timeout(Duration::from_millis(500), alive.message()).await {
                        Err(_) | Ok(Some(Ok(_))) => {}
                        Ok(Some(Err(_))) | Ok(None) => {
                            failures += 1;
                            break;
                        }
                    }
                }
                failures
            })
        };
        let writers =
            (0..WRITERS).map(|w| tokio::spawn(write(client.clone(), w, stop.clone(), worst.clone()))).collect();
        let overlaps = Arc::new(AtomicU64::new(0));
        let holders = Arc::new(AtomicU64::new(0));
        let lockers = (0..2)
            .map(|_| tokio::spawn(lock_loop(client.clone(), stop.clone(), holders.clone(), overlaps.clone())))
            .collect();
        Ok(Load {
            stop,
            start_revision,
            writers,
            watcher,
            keepalive,
            lease_done,
            lockers,
            overlaps,
            worst_past_deadline: worst,
            watched_until,
            lease,
        })
    }

    /// Stops the load and counts what went wrong.
    async fn finish(self, client: &Client, cluster: &Cluster, figures: &mut Figures) -> Result<(), BoxError> {
        self.stop.store(true, Ordering::Release);
        let mut acknowledged = Vec::new();
        for writer in self.writers {
            let log = writer.await?;
            figures.writes_unknown += log.unknown;
            acknowledged.extend(log.acknowledged);
        }
        figures.writes_acknowledged = acknowledged.len();
        let mut increments = (0, 0);
        for locker in self.lockers {
            let log = locker.await?.map_err(|e| format!("lock holder: {e}"))?;
            figures.lock_holds += log.holds;
            increments.0 += log.increments;
            increments.1 += log.unknown_increments;
        }
        figures.lock_overlaps = self.overlaps.load(Ordering::Acquire);
        figures.worst_past_deadline = Duration::from_micros(self.worst_past_deadline.load(Ordering::Acquire));

        // Every acknowledged write is there with its value, and no key was written twice.
        let stored = read_prefix(client, "up/w").await?;
        figures.writes_lost = acknowledged.iter().filter(|(k, v)| stored.get(k).is_none_or(|(sv, _)| sv != v)).count();
        figures.writes_applied_twice = stored.values().filter(|(_, version)| *version > 1).count();

        // The counter moved once per fenced increment: at least every acknowledged one, and
        // at most those plus the ones whose outcome is unknown.
        let counter: i64 = read_prefix(client, COUNTER_KEY)
            .await?
            .get(COUNTER_KEY)
            .and_then(|(v, _)| v.parse().ok())
            .ok_or("the counter is gone")?;
        figures.counter_lost_updates = if counter < increments.0 || counter > increments.0 + increments.1 {
            (counter - increments.0).abs().max(1)
        } else {
            0
        };

        // The lease-attached key was never deleted, and still stands.
        let last = client.get("up/").prefix().count_only().await?.header().revision();
        self.watched_until.store(last, Ordering::Release);
        let seen = self.watcher.await?.map_err(|e| format!("watch through the client: {e}"))?;
        let member = cluster.member(0).client_url();
        let reference = Client::connect([member]).await?;
        let truth_watch = reference.watch("up/").prefix().start_revision(self.start_revision + 1).await?;
        let truth_until = Arc::new(AtomicI64::new(last));
        let truth = watch_revisions(truth_watch, Arc::new(AtomicBool::new(true)), truth_until)
            .await
            .map_err(|e| format!("reference watch: {e}"))?;
        let gone = reference.get(LEASED_KEY).await?.kvs().is_empty();
        figures.leased_key_deletions = truth.leased_deletions.max(usize::from(gone));
        self.lease_done.store(true, Ordering::Release);
        figures.keepalive_failures = self.keepalive.await?;
        let _ = client.revoke(self.lease).await;
        compare_histories(&seen.revisions, &truth.revisions, figures);
        Ok(())
    }
}

/// Writes unique keys until stopped; a write is acknowledged, unknown, or refused.
async fn write(client: Client, w: usize, stop: Arc<AtomicBool>, worst: Arc<AtomicU64>) -> WriterLog {
    let mut log = WriterLog::default();
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        let (key, value) = (format!("up/w{w}/{n:07}"), format!("{w}-{n}"));
        n += 1;
        let began = Instant::now();
        let outcome = client.put(key.clone(), value.clone()).timeout(WRITE_DEADLINE).await;
        note_lateness(&worst, began.elapsed(), WRITE_DEADLINE);
        match outcome {
            Ok(_) => log.acknowledged.push((key, value)),
            Err(e) if e.outcome_unknown() => log.unknown += 1,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    log
}

fn note_lateness(worst: &AtomicU64, took: Duration, deadline: Duration) {
    let past = took.saturating_sub(deadline).as_micros();
    worst.fetch_max(u64::try_from(past).unwrap_or(u64::MAX), Ordering::AcqRel);
}

/// Two of these contend for one `Mutex`; each hold increments the counter under a fence.
async fn lock_loop(
    client: Client,
    stop: Arc<AtomicBool>,
    holders: Arc<AtomicU64>,
    overlaps: Arc<AtomicU64>,
) -> Result<LockLog, String> {
    let mut log = LockLog::default();
    let session = Session::new(&client).ttl(10).await.map_err(|e| format!("session: {e}"))?;
    while !stop.load(Ordering::Acquire) {
        if session.is_expired() {
            return Err("the session expired during the upgrade".into());
        }
        let mut mutex = Mutex::new(&session, LOCK_NAME);
        if let Err(e) = mutex.lock().await {
            if e.is_retryable() || e.outcome_unknown() {
                continue;
            }
            return Err(format!("lock: {e}"));
        }
        log.holds += 1;
        if holders.fetch_add(1, Ordering::AcqRel) > 0 {
            overlaps.fetch_add(1, Ordering::AcqRel);
        }
        let outcome = increment(&client, &mutex).await;
        holders.fetch_sub(1, Ordering::AcqRel);
        match outcome {
            Ok(true) => log.increments += 1,
            Ok(false) => {}
            Err(e) if e.outcome_unknown() => log.unknown_increments += 1,
            Err(_) => {}
        }
        // Unlock is safe to repeat; a failure leaves the key to the session's end.
        for _ in 0..5 {
            if mutex.unlock().await.is_ok() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = session.close().await;
    Ok(log)
}

/// Reads the counter and writes it plus one, only while `mutex` is held and nobody else
/// wrote it meanwhile.
async fn increment(client: &Client, mutex: &Mutex) -> etcd_raw::Result<bool> {
    let read = client.get(COUNTER_KEY).await?;
    // A missing counter fails the final check; here it only means no increment.
    let Some(kv) = read.kvs().first() else {
        return Ok(false);
    };
    let value: i64 = kv.value_str()?.parse().unwrap_or(0);
    let written = client
        .txn()
        .when([mutex.owner_compare(), Compare::mod_revision(COUNTER_KEY, CompareOp::Equal, kv.mod_revision())])
        .and_then([Put::new(COUNTER_KEY, (value + 1).to_string())])
        .await?;
    Ok(written.succeeded())
}

/// What a watch delivered: the revisions with events, and deletions of the leased key.
#[derive(Default)]
struct History {
    revisions: Vec<i64>,
    leased_deletions: usize,
}

/// Records a watch until `until` is reached (once `stop` is set).
async fn watch_revisions(
    mut watch: WatchStream,
    stop: Arc<AtomicBool>,
    until: Arc<AtomicI64>,
) -> Result<History, String> {
    let mut seen = History::default();
    let mut give_up: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Acquire) {
            let target = until.load(Ordering::Acquire);
            if target > 0 && seen.revisions.last().is_some_and(|rev| *rev >= target) {
                return Ok(seen);
            }
            let at = *give_up.get_or_insert_with(|| Instant::now() + Duration::from_secs(30));
            if target > 0 && Instant::now() >= at {
                return Err(format!("stalled at {:?} of {target}", seen.revisions.last()));
            }
        }
        match tokio::time::timeout(Duration::from_millis(500), watch.message()).await {
            Err(_) => {}
            Ok(None) => return Err("the watch ended".into()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(response))) if !response.events().is_empty() => {
                // An expired lease deletes its keys.
                let deleted = |e: &&etcd_raw::Event| {
                    e.kind() == etcd_raw::EventType::Delete && e.kv().key() == LEASED_KEY.as_bytes()
                };
                seen.leased_deletions += response.events().iter().filter(deleted).count();
                seen.revisions.push(response.revision());
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

fn compare_histories(seen: &[i64], truth: &[i64], figures: &mut Figures) {
    figures.watch_revisions = seen.len();
    let mut delivered = HashSet::new();
    for w in seen.windows(2) {
        if w[1] < w[0] {
            figures.watch_reorders += 1;
        }
    }
    for rev in seen {
        if !delivered.insert(*rev) {
            figures.watch_duplicates += 1;
        }
    }
    figures.watch_gaps = truth.iter().filter(|rev| !delivered.contains(rev)).count();
}

/// Every key under `prefix` with its value and version, read in pages at one revision.
async fn read_prefix(client: &Client, prefix: &str) -> Result<BTreeMap<String, (String, i64)>, BoxError> {
    let end = etcd_raw::kv::prefix_end(prefix.as_bytes());
    let first = client.get(prefix.to_owned()).prefix().limit(5000).await?;
    let revision = first.header().revision();
    let mut stored = BTreeMap::new();
    let mut page = first;
    loop {
        for kv in page.kvs() {
            stored.insert(kv.key_str()?.to_string(), (kv.value_str()?.to_string(), kv.version()));
        }
        let Some(last) = page.kvs().last().filter(|_| page.more()) else {
            return Ok(stored);
        };
        let mut next = last.key().to_vec();
        next.push(0);
        page = client.get(next).range_end(end.clone()).revision(revision).limit(5000).await?;
    }
}

async fn wait_cluster_version(cluster: &Cluster, minor: &str) -> Result<(), BoxError> {
    let give_up = Instant::now() + Duration::from_secs(60);
    let wanted = format!("{minor}.");
    loop {
        let versions: Vec<String> = cluster.members().iter().map(|m| m.cluster_version().unwrap_or_default()).collect();
        if versions.iter().all(|v| v.starts_with(&wanted)) {
            return Ok(());
        }
        if Instant::now() >= give_up {
            return Err(format!("cluster version still {versions:?}, not {minor}, after 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_storage_version(client: &Client, cluster: &Cluster, version: &str) -> Result<(), BoxError> {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let mut versions = Vec::new();
        for member in cluster.members() {
            let status = client.status(member.client_url()).await.map(|s| s.into_inner().storage_version);
            versions.push(status.unwrap_or_default());
        }
        if versions.iter().all(|v| v == version) {
            return Ok(());
        }
        if Instant::now() >= give_up {
            return Err(format!("storage versions {versions:?}, not {version}, after 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_downgrade_finished(client: &Client, cluster: &Cluster) -> Result<(), BoxError> {
    wait_cluster_version(cluster, "3.6").await?;
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let mut enabled = Vec::new();
        for member in cluster.members() {
            let status = client.status(member.client_url()).await?.into_inner();
            enabled.push(status.downgrade_info.is_some_and(|d| d.enabled));
        }
        if enabled.iter().all(|on| !on) {
            return Ok(());
        }
        if Instant::now() >= give_up {
            return Err(format!("downgrade still enabled on {enabled:?} after 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn leader_index(client: &Client, cluster: &Cluster) -> Result<usize, BoxError> {
    for (i, member) in cluster.members().iter().enumerate() {
        if client.status(member.client_url()).await?.is_leader() {
            return Ok(i);
        }
    }
    Err("no member is the leader".into())
}
