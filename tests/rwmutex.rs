//! The read-write lock against real etcd: readers share it, a writer waits
//! for them and then holds it alone, late readers do not starve a waiting
//! writer, nothing overlaps under contention, and a lost session lets go.
#![cfg(feature = "testkit")]

mod support;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_raw::concurrency::{RwMutex, Session};
use etcd_raw::{Client, ErrorKind, Put};
use support::{key, shared_client, TestResult};

const QUICK: Duration = Duration::from_secs(5);
/// How long a waiter is watched to be still waiting.
const STILL: Duration = Duration::from_millis(300);

/// Takes `lock` in a task, for the mode asked: the task gives it back once held.
fn spawn_lock(mut lock: RwMutex, write: bool) -> tokio::task::JoinHandle<Result<RwMutex, etcd_raw::Error>> {
    tokio::spawn(async move {
        if write {
            lock.lock().await?;
        } else {
            lock.read_lock().await?;
        }
        Ok(lock)
    })
}

/// How many keys lock `name` has queued under `what` (`read/` or `write/`).
async fn queued(client: &Client, name: &str, what: &str) -> Result<i64, etcd_raw::Error> {
    Ok(client.get(format!("{name}/{what}")).prefix().count_only().await?.count())
}

#[tokio::test]
async fn readers_share_a_writer_waits_for_them_and_late_readers_wait_for_it() -> TestResult {
    let (client, p) = shared_client("rwmutex_share").await?;
    let name = format!("{p}lock");
    let mut sessions = Vec::new();
    for _ in 0..5 {
        sessions.push(Session::new(&client).ttl(30).await?);
    }
    let mut readers = Vec::new();
    for session in &sessions[..3] {
        let mut reader = RwMutex::new(session, name.clone());
        tokio::time::timeout(QUICK, reader.read_lock()).await??;
        readers.push(reader);
    }
    let writer = spawn_lock(RwMutex::new(&sessions[3], name.clone()), true);
    tokio::time::sleep(STILL).await;
    assert!(!writer.is_finished(), "a writer got in beside readers");
    let late_reader = spawn_lock(RwMutex::new(&sessions[4], name.clone()), false);
    tokio::time::sleep(STILL).await;
    assert!(!late_reader.is_finished(), "a reader overtook a waiting writer");

    for reader in &mut readers[..2] {
        reader.read_unlock().await?;
    }
    tokio::time::sleep(STILL).await;
    assert!(!writer.is_finished(), "a writer got in beside a reader");
    readers[2].read_unlock().await?;
    let mut writer = tokio::time::timeout(QUICK, writer).await???;
    assert!(writer.is_write_locked());
    let fenced = client.txn().when([writer.owner_compare()]).and_then([Put::new(key(&p, "data"), "w")]).await?;
    assert!(fenced.succeeded());
    tokio::time::sleep(STILL).await;
    assert!(!late_reader.is_finished(), "a reader got in beside the writer");

    writer.unlock().await?;
    let mut late_reader = tokio::time::timeout(QUICK, late_reader).await???;
    assert!(late_reader.revision() > writer.revision().or(Some(0)));
    late_reader.read_unlock().await?;
    assert_eq!(queued(&client, &name, "").await?, 0, "every key is gone");
    for session in sessions {
        session.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_overlaps_under_contention() -> TestResult {
    const TASKS: usize = 4;
    const ROUNDS: usize = 50;
    let (client, p) = shared_client("rwmutex_contention").await?;
    let name = format!("{p}lock");
    let counter = key(&p, "counter");
    let readers = Arc::new(AtomicI64::new(0));
    let writers = Arc::new(AtomicI64::new(0));
    let overlaps = Arc::new(AtomicI64::new(0));
    let most_readers = Arc::new(AtomicI64::new(0));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (client, name, counter) = (client.clone(), name.clone(), counter.clone());
        let (readers, writers, overlaps, most_readers) =
            (readers.clone(), writers.clone(), overlaps.clone(), most_readers.clone());
        tasks.push(tokio::spawn(async move {
            let session = Session::new(&client).ttl(30).await?;
            let mut lock = RwMutex::new(&session, name);
            let mut writes = 0;
            for i in 0..ROUNDS {
                if (t + i) % 3 == 0 {
                    lock.lock().await?;
                    if writers.fetch_add(1, Ordering::SeqCst) != 0 || readers.load(Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    // An unguarded read-modify-write, fenced by the lock alone.
                    let now = client.get(counter.clone()).await?;
                    let n: i64 =
                        now.kvs().first().map_or(Ok(0), |kv| kv.value_str().map(|v| v.parse().unwrap_or(0)))?;
                    let put = Put::new(counter.clone(), (n + 1).to_string());
                    assert!(client.txn().when([lock.owner_compare()]).and_then([put]).await?.succeeded());
                    writes += 1;
                    writers.fetch_sub(1, Ordering::SeqCst);
                    lock.unlock().await?;
                } else {
                    lock.read_lock().await?;
                    let now = readers.fetch_add(1, Ordering::SeqCst) + 1;
                    most_readers.fetch_max(now, Ordering::SeqCst);
                    if writers.load(Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    readers.fetch_sub(1, Ordering::SeqCst);
                    lock.read_unlock().await?;
                }
            }
            session.close().await?;
            Ok::<_, etcd_raw::Error>(writes)
        }));
    }
    let mut writes = 0;
    for task in tasks {
        writes += tokio::time::timeout(Duration::from_secs(120), task).await???;
    }
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "a writer overlapped another holder");
    let stored = client.get(counter).await?;
    assert_eq!(stored.kvs()[0].value_str()?, writes.to_string(), "a write under the lock was lost");
    eprintln!(
        "{} acquisitions, {writes} writes, up to {} readers at once",
        TASKS * ROUNDS,
        most_readers.load(Ordering::SeqCst)
    );
    Ok(())
}

#[tokio::test]
async fn a_lost_session_releases_its_lock_and_fails_its_waiter() -> TestResult {
    let (client, p) = shared_client("rwmutex_lost").await?;
    let name = format!("{p}lock");
    let other = Client::connect(client.endpoints()).await?;
    let (holder, reader, writer) = (
        Session::new(&client).ttl(30).await?,
        Session::new(&client).ttl(30).await?,
        Session::new(&client).ttl(30).await?,
    );

    let mut held = RwMutex::new(&holder, name.clone());
    held.lock().await?;
    let waiting_reader = spawn_lock(RwMutex::new(&reader, name.clone()), false);
    tokio::time::sleep(STILL).await;
    assert!(!waiting_reader.is_finished());
    other.revoke(holder.lease()).await?;
    let mut reading = tokio::time::timeout(QUICK, waiting_reader).await???;
    let unlock = held.unlock().await;
    assert_eq!(unlock.err().map(|e| e.kind()), Some(ErrorKind::SessionExpired));

    // A writer whose session is lost while it waits gets an error, not the lock.
    let waiting_writer = spawn_lock(RwMutex::new(&writer, name.clone()), true);
    tokio::time::sleep(STILL).await;
    assert!(!waiting_writer.is_finished());
    other.revoke(writer.lease()).await?;
    let outcome = tokio::time::timeout(QUICK, waiting_writer).await??;
    assert_eq!(outcome.err().map(|e| e.kind()), Some(ErrorKind::SessionExpired));
    assert_eq!(queued(&client, &name, "write/").await?, 0);
    reading.read_unlock().await?;
    reader.close().await?;
    Ok(())
}

#[tokio::test]
async fn modes_are_kept_apart_and_a_dropped_wait_leaves_the_queue() -> TestResult {
    let (client, p) = shared_client("rwmutex_modes").await?;
    let name = format!("{p}lock");
    let (first, second) = (Session::new(&client).ttl(30).await?, Session::new(&client).ttl(30).await?);
    let mut lock = RwMutex::new(&first, name.clone());
    assert_eq!(lock.key(), None);
    lock.read_lock().await?;
    lock.read_lock().await?; // holding already is fine
    assert_eq!(lock.key().map(|k| k.to_vec()), Some(format!("{name}/read/{:x}", first.lease()).into_bytes()));
    assert!(!lock.is_write_locked());
    assert_eq!(lock.lock().await.err().map(|e| e.kind()), Some(ErrorKind::InvalidArgument));
    assert_eq!(lock.unlock().await.err().map(|e| e.kind()), Some(ErrorKind::LockReleased));

    // A writer that gives up waiting leaves no key behind.
    let mut writer = RwMutex::new(&second, name.clone());
    assert!(tokio::time::timeout(STILL, writer.lock()).await.is_err());
    tokio::time::sleep(STILL).await;
    assert_eq!(queued(&client, &name, "write/").await?, 0);

    let compare = lock.owner_compare();
    lock.read_unlock().await?;
    assert_eq!(lock.read_unlock().await.err().map(|e| e.kind()), Some(ErrorKind::LockReleased));
    let stale = client.txn().when([compare]).and_then([Put::new(key(&p, "x"), "y")]).await?;
    assert!(!stale.succeeded(), "an owner compare outlived its lock");
    tokio::time::timeout(QUICK, writer.lock()).await??;
    assert!(writer.is_write_locked());
    writer.unlock().await?;
    first.close().await?;
    second.close().await?;
    Ok(())
}
