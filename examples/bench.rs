//! The benchmark driver, following `../shared/bench-contract.md`:
//!
//! ```text
//! bench --endpoints http://127.0.0.1:PORT[,...] --workload put|get|watch
//!       --clients C --total N [--conns K] [--key-size 32] [--val-size 256]
//!       [--key-space 10000] [--serializable]
//! ```
//!
//! One JSON line on stdout; progress and the `bench: timed-start` /
//! `bench: timed-end` markers on stderr. Build with
//! `cargo build --release --example bench`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etcd_raw::{Client, Config};

/// Idle time after each marker, so the runner can sample etcd's CPU exactly.
const QUIET: Duration = Duration::from_millis(50);
/// How long every watcher may take to receive all of its events.
const WATCH_DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    Put,
    Get,
    Watch,
}

#[derive(Debug)]
struct Args {
    endpoints: Vec<String>,
    workload: Workload,
    clients: usize,
    total: u64,
    conns: usize,
    key_size: usize,
    val_size: usize,
    key_space: u64,
    serializable: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        endpoints: Vec::new(),
        workload: Workload::Put,
        clients: 1,
        total: 0,
        conns: 1,
        key_size: 32,
        val_size: 256,
        key_space: 10_000,
        serializable: false,
    };
    let mut workload = None;
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        if flag == "--serializable" {
            args.serializable = true;
            continue;
        }
        let value = given.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("bad value for {flag}: {v:?}"));
        match flag.as_str() {
            "--endpoints" => args.endpoints = value.split(',').map(str::to_string).collect(),
            "--workload" => {
                workload = Some(match value.as_str() {
                    "put" => Workload::Put,
                    "get" => Workload::Get,
                    "watch" => Workload::Watch,
                    other => return Err(format!("unknown workload {other:?}")),
                })
            }
            "--clients" => args.clients = number(&value)? as usize,
            "--total" => args.total = number(&value)?,
            "--conns" => args.conns = number(&value)? as usize,
            "--key-size" => args.key_size = number(&value)? as usize,
            "--val-size" => args.val_size = number(&value)? as usize,
            "--key-space" => args.key_space = number(&value)?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    args.workload = workload.ok_or("--workload is required")?;
    if args.endpoints.is_empty() || args.clients == 0 || args.total == 0 || args.conns == 0 || args.key_space == 0 {
        return Err("--endpoints, --clients, --total, --conns and --key-space must be given and non-zero".into());
    }
    Ok(args)
}

/// Key number `i` of the key space: `bench/` and the number, zero-padded
/// to the key size. Written by hand: `format!` with padding cost more
/// than the client's own work on a request, and a table of every key
/// would cost memory.
fn key(i: u64, size: usize) -> Vec<u8> {
    const PREFIX: &[u8] = b"bench/";
    let digits = std::iter::successors(Some(i), |n| (*n >= 10).then_some(n / 10)).count();
    let width = size.saturating_sub(PREFIX.len()).max(digits);
    let mut key = Vec::with_capacity(PREFIX.len() + width);
    key.extend_from_slice(PREFIX);
    key.resize(PREFIX.len() + width, b'0');
    let mut rest = i;
    for slot in key.iter_mut().rev().take(digits) {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    key
}
/// splitmix64, seeded with the worker's index + 1: the contract's
/// generator, so every driver asks for the same keys in the same order.
struct Rng(u64);

impl Rng {
    fn for_worker(worker: usize) -> Rng {
        Rng(worker as u64 + 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn marker(what: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("bench: {what}\n").as_bytes());
}

struct Outcome {
    secs: f64,
    cpu_s: f64,
    /// Per request, issue to response.
    latencies_ns: Vec<u64>,
    errors: u64,
}

/// Which keys a phase asks for, and how.
#[derive(Clone, Copy)]
enum Phase {
    /// Puts every key of the key space once, in order (untimed).
    Populate,
    /// The timed requests of the workload, on random keys.
    Measure,
}

/// Latencies (ns) and failures of one phase's workers.
type PhaseResult = (Vec<u64>, u64);

/// Runs `count` requests on `workers` tasks that take request numbers from
/// one shared counter; worker `w` uses client object `w` mod K.
async fn kv_phase(args: &Args, clients: &[Client], phase: Phase, count: u64) -> PhaseResult {
    let next = std::sync::Arc::new(AtomicU64::new(0));
    let value = bytes_of(args.val_size);
    let mut workers = Vec::with_capacity(args.clients);
    for w in 0..args.clients {
        let client = clients[w % clients.len()].clone();
        let (next, value) = (next.clone(), value.clone());
        let (workload, key_size, key_space, serializable) =
            (args.workload, args.key_size, args.key_space, args.serializable);
        let expected = match phase {
            Phase::Populate => 0,
            Phase::Measure => count as usize / args.clients + 1,
        };
        workers.push(tokio::spawn(async move {
            let mut rng = Rng::for_worker(w);
            let mut latencies = Vec::with_capacity(expected);
            let mut errors = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let (k, put) = match phase {
                    Phase::Populate => (key(i % key_space, key_size), true),
                    Phase::Measure => (key(rng.below(key_space), key_size), workload == Workload::Put),
                };
                let sent = Instant::now();
                let result = if put {
                    client.put(k, value.clone()).await.map(drop).map_err(|e| e.to_string())
                } else {
                    let get = client.get(k);
                    let get = if serializable { get.serializable() } else { get };
                    // A read that finds no key (or several) fails, as the contract says.
                    match get.await {
                        Ok(found) if found.kvs().len() == 1 => Ok(()),
                        Ok(found) => Err(format!("get found {} keys", found.kvs().len())),
                        Err(e) => Err(e.to_string()),
                    }
                };
                if let Phase::Measure = phase {
                    latencies.push(sent.elapsed().as_nanos() as u64);
                }
                if let Err(e) = result {
                    errors += 1;
                    if errors <= 3 {
                        eprintln!("request failed: {e}");
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::with_capacity(count as usize);
    let mut errors = 0;
    for worker in workers {
        match worker.await {
            Ok((mut l, e)) => {
                latencies.append(&mut l);
                errors += e;
            }
            Err(e) => {
                eprintln!("worker failed: {e}");
                errors += 1;
            }
        }
    }
    (latencies, errors)
}

async fn run_kv(args: &Args, clients: &[Client]) -> Outcome {
    if args.workload == Workload::Get {
        // Untimed: every key of the key space exists before reads start.
        let (_, errors) = kv_phase(args, clients, Phase::Populate, args.key_space).await;
        if errors > 0 {
            eprintln!("bench: populating the key space failed ({errors} errors)");
            std::process::exit(1);
        }
    }
    marker("timed-start");
    tokio::time::sleep(QUIET).await;
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let (latencies_ns, errors) = kv_phase(args, clients, Phase::Measure, args.total).await;
    let secs = started.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu_before;
    marker("timed-end");
    tokio::time::sleep(QUIET).await;
    Outcome { secs, cpu_s, latencies_ns, errors }
}

/// C watchers on `watch/`, one writer putting N keys; timed until every
/// watcher has every event.
async fn run_watch(args: &Args, clients: &[Client]) -> Outcome {
    let value = bytes_of(args.val_size);
    let mut watchers = Vec::with_capacity(args.clients);
    for w in 0..args.clients {
        match clients[w % clients.len()].watch("watch/").prefix().await {
            Ok(watch) => watchers.push(watch),
            Err(e) => {
                eprintln!("bench: creating watch {w}: {e}");
                std::process::exit(1);
            }
        }
    }
    let total = args.total;
    // Receivers wait for their events from before the timed phase; one
    // deadline covers a whole receiver, not each message.
    let mut receivers = Vec::with_capacity(watchers.len());
    for mut watch in watchers {
        receivers.push(tokio::spawn(async move {
            let mut seen = 0u64;
            let receive = async {
                while seen < total {
                    match watch.message().await {
                        Some(Ok(response)) => seen += response.events().len() as u64,
                        Some(Err(e)) => {
                            eprintln!("watch failed: {e}");
                            break;
                        }
                        None => break,
                    }
                }
            };
            let _ = tokio::time::timeout(WATCH_DRAIN_TIMEOUT, receive).await;
            total.saturating_sub(seen)
        }));
    }
    marker("timed-start");
    tokio::time::sleep(QUIET).await;
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let mut errors = 0;
    for i in 0..total {
        if let Err(e) = clients[0].put(format!("watch/{i}"), value.clone()).await {
            errors += 1;
            eprintln!("put failed: {e}");
        }
    }
    for receiver in receivers {
        errors += receiver.await.unwrap_or(total);
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu_before;
    marker("timed-end");
    tokio::time::sleep(QUIET).await;
    Outcome { secs, cpu_s, latencies_ns: Vec::new(), errors }
}

fn bytes_of(len: usize) -> bytes::Bytes {
    bytes::Bytes::from(vec![b'v'; len])
}

fn percentile(sorted: &[u64], pct: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() * pct).div_ceil(100)).clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            eprintln!("bench: {why}");
            std::process::exit(2);
        }
    };
    let mut clients = Vec::with_capacity(args.conns);
    for _ in 0..args.conns {
        match Client::new(Config::new(args.endpoints.clone()).request_timeout(Duration::from_secs(30))).await {
            Ok(client) => clients.push(client),
            Err(e) => {
                eprintln!("bench: connecting: {e}");
                std::process::exit(1);
            }
        }
    }
    let outcome = match args.workload {
        Workload::Watch => run_watch(&args, &clients).await,
        Workload::Put | Workload::Get => run_kv(&args, &clients).await,
    };
    let ops = match args.workload {
        Workload::Watch => args.total * args.clients as u64,
        Workload::Put | Workload::Get => args.total,
    };
    let mut sorted = outcome.latencies_ns;
    sorted.sort_unstable();
    let workload = match args.workload {
        Workload::Put => "put",
        Workload::Get => "get",
        Workload::Watch => "watch",
    };
    println!(
        "{{\"client\":\"etcd-raw\",\"workload\":\"{workload}\",\"clients\":{},\"conns\":{},\"total\":{},\"secs\":{:.4},\"ops_per_sec\":{:.1},\"p50_us\":{:.1},\"p99_us\":{:.1},\"cpu_s\":{:.4},\"errors\":{}}}",
        args.clients,
        args.conns,
        args.total,
        outcome.secs,
        ops as f64 / outcome.secs.max(1e-9),
        percentile(&sorted, 50),
        percentile(&sorted, 99),
        outcome.cpu_s,
        outcome.errors
    );
}
