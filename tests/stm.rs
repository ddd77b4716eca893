//! STM against real etcd: contending transfers keep their invariant under
//! every isolation level that promises it, and each level retries exactly
//! when its guarantee needs it.
#![cfg(feature = "testkit")]

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use etcd_raw::concurrency::{Isolation, Stm, StmTx};
use etcd_raw::testkit::Etcd;
use etcd_raw::{Client, Error, ErrorKind};
use support::{key, shared_client, TestResult};

/// A stored number; a missing key is 0.
fn number(value: Option<Bytes>) -> i64 {
    value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()).unwrap_or(0)
}

async fn value(client: &Client, key: &[u8]) -> Result<Option<String>, Error> {
    let response = client.get(key.to_vec()).await?;
    Ok(response.kvs().first().map(|kv| String::from_utf8_lossy(kv.value()).into_owned()))
}

const ACCOUNTS: usize = 5;
const TASKS: usize = 4;
const TRANSFERS: usize = 50;
const OPENING: i64 = 100;

/// The transfer number `i` of task `t`: from, to, amount.
fn transfer(t: usize, i: usize) -> (usize, usize, i64) {
    let from = (t * 7 + i * 3) % ACCOUNTS;
    let to = (from + 1 + i % (ACCOUNTS - 1)) % ACCOUNTS;
    (from, to, 1 + ((t + i) % 7) as i64)
}

/// 4 tasks move money between 5 accounts at once, 50 transfers each; each
/// transfer also records itself, and refuses to run if its record exists.
async fn contending_transfers(isolation: Isolation, test: &str) -> TestResult {
    let (client, p) = shared_client(test).await?;
    let account = |a: usize| key(&p, &format!("account/{a}"));
    for a in 0..ACCOUNTS {
        client.put(account(a), OPENING.to_string()).await?;
    }
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (client, p) = (client.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            let mut attempts = 0;
            for i in 0..TRANSFERS {
                let (from, to, amount) = transfer(t, i);
                let (from, to) = (key(&p, &format!("account/{from}")), key(&p, &format!("account/{to}")));
                let record = key(&p, &format!("done/{t}-{i}"));
                let committed = Stm::new(&client)
                    .isolation(isolation)
                    .attempts(1000)
                    .run(async move |tx: &mut StmTx| {
                        assert!(tx.get(record.clone()).await?.is_none(), "transfer {t}-{i} applied twice");
                        let (a, b) = (number(tx.get(from.clone()).await?), number(tx.get(to.clone()).await?));
                        tx.put(from.clone(), (a - amount).to_string());
                        tx.put(to.clone(), (b + amount).to_string());
                        tx.put(record.clone(), "");
                        Ok::<_, Error>(())
                    })
                    .await?;
                attempts += committed.attempts;
            }
            Ok::<_, Error>(attempts)
        }));
    }
    let mut attempts = 0;
    for task in tasks {
        attempts += task.await??;
    }

    let mut expected = [OPENING; ACCOUNTS];
    for t in 0..TASKS {
        for i in 0..TRANSFERS {
            let (from, to, amount) = transfer(t, i);
            expected[from] -= amount;
            expected[to] += amount;
        }
    }
    let mut balances = [0; ACCOUNTS];
    for (a, balance) in balances.iter_mut().enumerate() {
        *balance = number(value(&client, &account(a)).await?.map(Bytes::from));
    }
    assert_eq!(balances.iter().sum::<i64>(), OPENING * ACCOUNTS as i64, "the total moved: {balances:?}");
    assert_eq!(balances, expected, "a transfer was lost or applied twice");
    let records = client.get(key(&p, "done/")).prefix().count_only().await?.count();
    assert_eq!(records, (TASKS * TRANSFERS) as i64);
    eprintln!("{isolation:?}: {} transfers in {attempts} attempts", TASKS * TRANSFERS);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contending_transfers_keep_the_total_serializable_snapshot() -> TestResult {
    contending_transfers(Isolation::SerializableSnapshot, "stm_bank_ss").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contending_transfers_keep_the_total_serializable() -> TestResult {
    contending_transfers(Isolation::Serializable, "stm_bank_s").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contending_transfers_keep_the_total_repeatable_reads() -> TestResult {
    contending_transfers(Isolation::RepeatableReads, "stm_bank_rr").await
}

#[tokio::test]
async fn read_committed_never_retries_and_may_lose_an_update() -> TestResult {
    let (client, p) = shared_client("stm_rc").await?;
    let (k, out) = (key(&p, "k"), key(&p, "out"));
    client.put(k.clone(), "1").await?;
    let mut seen = Vec::new();
    let committed = Stm::new(&client)
        .isolation(Isolation::ReadCommitted)
        .run(async |tx: &mut StmTx| {
            let first = tx.get(k.clone()).await?;
            client.put(k.clone(), "2").await?; // another writer, meanwhile
            let again = tx.get(k.clone()).await?;
            seen.push((first.clone(), again));
            tx.put(out.clone(), first.unwrap_or_default());
            Ok::<_, Error>(())
        })
        .await?;
    assert_eq!(committed.attempts, 1, "read committed does not check its reads");
    assert_eq!(seen, [(Some(Bytes::from("1")), Some(Bytes::from("1")))], "a read is made once per attempt");
    assert_eq!(value(&client, &out).await?.as_deref(), Some("1"), "written from the stale read");
    Ok(())
}

#[tokio::test]
async fn repeatable_reads_reread_the_first_value_and_retry_when_it_changed() -> TestResult {
    let (client, p) = shared_client("stm_rr").await?;
    let (k, out) = (key(&p, "k"), key(&p, "out"));
    client.put(k.clone(), "1").await?;
    let mut seen = Vec::new();
    let committed = Stm::new(&client)
        .isolation(Isolation::RepeatableReads)
        .run(async |tx: &mut StmTx| {
            let first = number(tx.get(k.clone()).await?);
            if tx.attempt() == 1 {
                client.put(k.clone(), "2").await?;
            }
            let again = number(tx.get(k.clone()).await?);
            seen.push((first, again));
            tx.put(out.clone(), first.to_string());
            Ok::<_, Error>(())
        })
        .await?;
    assert_eq!(seen, [(1, 1), (2, 2)]);
    assert_eq!(committed.attempts, 2);
    assert_eq!(value(&client, &out).await?.as_deref(), Some("2"));
    Ok(())
}

/// Reads `a`, lets another writer change `b`, then reads `b`: what was
/// seen of `b` in each attempt, and the number of attempts.
async fn read_across_a_write(isolation: Isolation, test: &str) -> Result<(Vec<i64>, u32), Box<dyn std::error::Error>> {
    let (client, p) = shared_client(test).await?;
    let (a, b) = (key(&p, "a"), key(&p, "b"));
    client.put(a.clone(), "1").await?;
    client.put(b.clone(), "1").await?;
    let mut seen = Vec::new();
    let committed = Stm::new(&client)
        .isolation(isolation)
        .run(async |tx: &mut StmTx| {
            tx.get(a.clone()).await?;
            if tx.attempt() == 1 {
                client.put(b.clone(), "2").await?;
            }
            seen.push(number(tx.get(b.clone()).await?));
            Ok::<_, Error>(())
        })
        .await?;
    Ok((seen, committed.attempts))
}

#[tokio::test]
async fn repeatable_reads_read_each_key_at_its_own_revision() -> TestResult {
    let (seen, attempts) = read_across_a_write(Isolation::RepeatableReads, "stm_rr_skew").await?;
    assert_eq!((seen, attempts), (vec![2], 1), "b is read as it is now, and has not changed since");
    Ok(())
}

#[tokio::test]
async fn serializable_reads_one_snapshot_and_retries_when_a_read_key_changed() -> TestResult {
    let (seen, attempts) = read_across_a_write(Isolation::Serializable, "stm_s_snapshot").await?;
    assert_eq!((seen, attempts), (vec![1, 2], 2), "b is read at a's revision, then the commit sees it changed");
    Ok(())
}

/// Reads `a` and writes `c` without reading it, while another writer
/// changes `c`: the number of attempts and what `c` ends as.
async fn blind_write_across_a_write(
    isolation: Isolation,
    test: &str,
) -> Result<(u32, Option<String>), Box<dyn std::error::Error>> {
    let (client, p) = shared_client(test).await?;
    let (a, c) = (key(&p, "a"), key(&p, "c"));
    client.put(a.clone(), "1").await?;
    let committed = Stm::new(&client)
        .isolation(isolation)
        .run(async |tx: &mut StmTx| {
            tx.get(a.clone()).await?;
            if tx.attempt() == 1 {
                client.put(c.clone(), "other").await?;
            }
            tx.put(c.clone(), format!("stm-{}", tx.attempt()));
            Ok::<_, Error>(())
        })
        .await?;
    Ok((committed.attempts, value(&client, &c).await?))
}

#[tokio::test]
async fn serializable_snapshot_also_retries_when_a_written_key_changed() -> TestResult {
    let blind = blind_write_across_a_write(Isolation::Serializable, "stm_s_blind").await?;
    assert_eq!(blind, (1, Some("stm-1".into())), "serializable checks reads only");
    let snapshot = blind_write_across_a_write(Isolation::SerializableSnapshot, "stm_ss_blind").await?;
    assert_eq!(snapshot, (2, Some("stm-2".into())), "serializable snapshot checks writes too");
    Ok(())
}

#[tokio::test]
async fn writes_are_seen_by_later_reads_and_rev_is_the_read_revision() -> TestResult {
    let (client, p) = shared_client("stm_own_writes").await?;
    let (a, b) = (key(&p, "a"), key(&p, "b"));
    let put = client.put(a.clone(), "1").await?;
    let committed = Stm::new(&client)
        .prefetch([a.clone(), b.clone()])
        .run(async |tx: &mut StmTx| {
            assert_eq!(tx.rev(a.clone()).await?, put.header().revision());
            assert_eq!(tx.rev(b.clone()).await?, 0);
            tx.put(b.clone(), "new");
            tx.delete(a.clone());
            assert_eq!(tx.get(b.clone()).await?, Some(Bytes::from("new")));
            assert_eq!(tx.get(a.clone()).await?, None);
            assert_eq!(tx.rev(a.clone()).await?, put.header().revision(), "own writes have no revision yet");
            Ok::<_, Error>("done")
        })
        .await?;
    assert_eq!((committed.value, committed.attempts), ("done", 1));
    assert_eq!(value(&client, &a).await?, None);
    assert_eq!(value(&client, &b).await?.as_deref(), Some("new"));
    let b_now = client.get(b.clone()).await?;
    assert_eq!(b_now.kvs()[0].mod_revision(), committed.response.header().revision());
    Ok(())
}

#[tokio::test]
async fn prefetched_keys_are_read_before_the_closure_runs() -> TestResult {
    let (client, p) = shared_client("stm_prefetch").await?;
    let k = key(&p, "k");
    client.put(k.clone(), "1").await?;
    let mut seen = Vec::new();
    let committed = Stm::new(&client)
        .isolation(Isolation::RepeatableReads)
        .prefetch([k.clone()])
        .run(async |tx: &mut StmTx| {
            if tx.attempt() == 1 {
                client.put(k.clone(), "2").await?;
            }
            seen.push(number(tx.get(k.clone()).await?));
            Ok::<_, Error>(())
        })
        .await?;
    assert_eq!((seen, committed.attempts), (vec![1, 2], 2));
    Ok(())
}

/// A closure's own error type, with room for the client's.
#[derive(Debug)]
enum Refused {
    Etcd(Error),
    Overdrawn(i64),
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        Refused::Etcd(e)
    }
}

#[tokio::test]
async fn an_error_from_the_closure_ends_the_run_and_writes_nothing() -> TestResult {
    let (client, p) = shared_client("stm_abort").await?;
    let (from, to) = (key(&p, "from"), key(&p, "to"));
    client.put(from.clone(), "5").await?;
    let mut runs = 0;
    let outcome = Stm::new(&client)
        .run(async |tx: &mut StmTx| {
            runs += 1;
            let balance = number(tx.get(from.clone()).await?);
            tx.put(to.clone(), "10");
            if balance < 10 {
                return Err(Refused::Overdrawn(balance));
            }
            tx.put(from.clone(), (balance - 10).to_string());
            Ok(())
        })
        .await;
    assert!(matches!(outcome, Err(Refused::Overdrawn(5))), "{outcome:?}");
    assert_eq!(runs, 1);
    assert_eq!(value(&client, &to).await?, None);
    assert_eq!(value(&client, &from).await?.as_deref(), Some("5"));

    // The client's errors reach the caller through the closure's type.
    let empty = Stm::new(&client).run(async |tx: &mut StmTx| tx.get("").await.map_err(Refused::from)).await;
    assert!(matches!(&empty, Err(Refused::Etcd(e)) if e.kind() == ErrorKind::EmptyKey), "{empty:?}");
    Ok(())
}

#[tokio::test]
async fn attempts_and_timeout_bound_a_run_that_cannot_commit() -> TestResult {
    let (client, p) = shared_client("stm_limits").await?;
    let (k, out) = (key(&p, "k"), key(&p, "out"));
    let mut runs = 0;
    let gave_up = Stm::new(&client)
        .attempts(3)
        .run(async |tx: &mut StmTx| {
            runs += 1;
            tx.get(k.clone()).await?;
            client.put(k.clone(), runs.to_string()).await?; // always a conflict
            tx.put(out.clone(), "x");
            Ok::<_, Error>(())
        })
        .await;
    assert_eq!(gave_up.err().map(|e| e.kind()), Some(ErrorKind::DeadlineExceeded));
    assert_eq!(runs, 3);
    assert_eq!(value(&client, &out).await?, None);

    let started = Instant::now();
    let late = Stm::new(&client)
        .timeout(Duration::from_millis(300))
        .run(async |tx: &mut StmTx| {
            tx.put(out.clone(), "late");
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, Error>(())
        })
        .await;
    assert_eq!(late.err().map(|e| e.kind()), Some(ErrorKind::DeadlineExceeded));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(value(&client, &out).await?, None);
    Ok(())
}

/// A snapshot compacted away under a serializable attempt starts it over
/// at a new snapshot instead of failing. Compaction would break other
/// tests, so this one has its own etcd.
#[tokio::test]
async fn a_compacted_snapshot_starts_the_attempt_over() -> TestResult {
    let etcd = Etcd::start()?;
    let client = Client::connect([etcd.endpoint()]).await?;
    client.put("a", "1").await?;
    client.put("b", "1").await?;
    let mut seen = Vec::new();
    let committed = Stm::new(&client)
        .isolation(Isolation::Serializable)
        .run(async |tx: &mut StmTx| {
            tx.get("a").await?;
            if tx.attempt() == 1 {
                let newest = client.put("b", "2").await?.header().revision();
                client.compact(newest).await?;
            }
            seen.push(number(tx.get("b").await?));
            tx.put("c", "done");
            Ok::<_, Error>(())
        })
        .await?;
    assert_eq!((seen, committed.attempts), (vec![2], 2));
    Ok(())
}
