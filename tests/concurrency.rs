//! The `concurrency` recipes against real etcd: sessions that keep their
//! lease and say when it is lost, and a mutex that never hands out a lock
//! its session cannot hold, even to a waiter that expires or gives up.
#![cfg(feature = "testkit")]

mod support;

use std::time::{Duration, Instant};

use etcd_raw::concurrency::{Mutex, Session, DEFAULT_SESSION_TTL};
use etcd_raw::testkit::{Etcd, Proxy};
use etcd_raw::{Client, Config, ErrorKind, Put};
use support::{key, kind, shared_client, TestResult};

/// How many queue keys lock `name` has.
async fn queued(client: &Client, name: &str) -> Result<i64, etcd_raw::Error> {
    Ok(client.get(format!("{name}/")).prefix().count_only().await?.count())
}

#[tokio::test]
async fn a_session_keeps_its_lease_and_close_revokes_it() -> TestResult {
    let (client, p) = shared_client("session_close").await?;
    let session = Session::new(&client).ttl(2).await?;
    assert_eq!(session.ttl(), 2);
    client.put(key(&p, "k"), "v").lease(session.lease()).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(client.get(key(&p, "k")).await?.count(), 1, "the session let its lease expire");
    assert!(!session.is_expired());

    let clone = session.clone();
    let done = tokio::spawn(clone.done());
    session.close().await?;
    assert_eq!(client.get(key(&p, "k")).await?.count(), 0, "close revokes");
    let lost = tokio::time::timeout(Duration::from_millis(200), done).await??;
    assert_eq!(lost.kind(), ErrorKind::SessionExpired, "{lost}");
    assert!(session.is_expired() && clone.is_expired());
    session.close().await?; // closing twice is fine
    Ok(())
}

#[tokio::test]
async fn a_session_adopts_an_existing_lease_and_refuses_bad_ones() -> TestResult {
    let (client, _) = shared_client("session_lease").await?;
    let lease = client.grant(30).await?;
    let session = Session::new(&client).lease(lease.id()).await?;
    assert_eq!((session.lease(), session.ttl()), (lease.id(), 30));
    let default = Session::new(&client).await?;
    assert_eq!(default.ttl(), DEFAULT_SESSION_TTL);
    default.close().await?;

    let unknown = 0x7b00_0000_0000_0000 | i64::from(std::process::id());
    assert_eq!(kind(Session::new(&client).lease(unknown).await), Some(ErrorKind::LeaseNotFound));
    assert_eq!(kind(Session::new(&client).ttl(0).await), Some(ErrorKind::InvalidArgument));
    assert_eq!(kind(Session::new(&client).ttl(-1).await), Some(ErrorKind::InvalidArgument));
    assert_eq!(kind(Session::new(&client).lease(0).await), Some(ErrorKind::InvalidArgument));
    session.close().await?;
    Ok(())
}

#[tokio::test]
async fn dropping_a_session_stops_renewing() -> TestResult {
    let (client, p) = shared_client("session_drop").await?;
    let session = Session::new(&client).ttl(2).await?;
    client.put(key(&p, "k"), "v").lease(session.lease()).await?;
    drop(session);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(client.get(key(&p, "k")).await?.count(), 0);
    Ok(())
}

#[tokio::test]
async fn done_fires_when_the_lease_is_revoked_elsewhere() -> TestResult {
    let (client, _) = shared_client("session_revoked").await?;
    let other = Client::connect(client.endpoints()).await?;
    let session = Session::new(&client).ttl(3).await?;
    let started = Instant::now();
    other.revoke(session.lease()).await?;
    let lost = tokio::time::timeout(Duration::from_secs(3), session.done()).await?;
    assert_eq!(lost.kind(), ErrorKind::SessionExpired);
    // Learnt at the next renewal, a third of the TTL later at most.
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    Ok(())
}

#[tokio::test]
async fn mutex_lock_try_lock_unlock_and_fencing() -> TestResult {
    let (client, p) = shared_client("mutex_basics").await?;
    let name = format!("{p}lock");
    let (one, two) = (Session::new(&client).ttl(10).await?, Session::new(&client).ttl(10).await?);
    let mut first = Mutex::new(&one, name.clone());
    let mut second = Mutex::new(&two, name.clone());
    assert_eq!(first.key(), format!("{name}/{:x}", one.lease()).as_bytes());
    assert_eq!(first.revision(), None);
    assert!(!client.txn().when([first.owner_compare()]).and_then([Put::new(key(&p, "data"), "x")]).await?.succeeded());

    first.lock().await?;
    first.lock().await?; // holding it already is fine
    let token = first.revision().ok_or("no token while held")?;
    assert!(first.header().is_some_and(|h| h.revision() >= token));
    assert!(client.txn().when([first.owner_compare()]).and_then([Put::new(key(&p, "data"), "1")]).await?.succeeded());

    assert_eq!(kind(second.try_lock().await), Some(ErrorKind::Locked));
    assert_eq!(queued(&client, &name).await?, 1, "try_lock left its key behind");
    let waiting = tokio::time::timeout(Duration::from_millis(300), second.lock()).await;
    assert!(waiting.is_err(), "lock() returned while another holds it");

    first.unlock().await?;
    assert_eq!(first.revision(), None);
    assert_eq!(kind(first.unlock().await), Some(ErrorKind::LockReleased));
    assert!(!client.txn().when([first.owner_compare()]).and_then([Put::new(key(&p, "data"), "2")]).await?.succeeded());
    second.try_lock().await?;
    assert!(second.revision() > Some(token), "fencing tokens increase");
    second.unlock().await?;
    one.close().await?;
    two.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_waiter_whose_lease_is_revoked_while_queued_gets_an_error() -> TestResult {
    let (client, p) = shared_client("mutex_revoked_waiter").await?;
    let name = format!("{p}lock");
    let other = Client::connect(client.endpoints()).await?;
    let holder = Session::new(&client).ttl(10).await?;
    let mut held = Mutex::new(&holder, name.clone());
    held.lock().await?;
    let waiter = Session::new(&client).ttl(3).await?;
    let mut waiting = Mutex::new(&waiter, name.clone());
    let attempt = tokio::spawn(async move { waiting.lock().await.map(|()| waiting) });
    while queued(&client, &name).await? < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    other.revoke(waiter.lease()).await?;
    let outcome = tokio::time::timeout(Duration::from_secs(3), attempt).await??;
    assert_eq!(kind(outcome), Some(ErrorKind::SessionExpired));
    assert_eq!(held.revision().map(|_| ()), Some(()));
    held.unlock().await?;
    holder.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_cut_off_from_the_cluster_gets_an_error_never_the_lock() -> TestResult {
    let etcd = Etcd::start()?;
    let proxy = Proxy::start(etcd.member(0).client_addr())?;
    let direct = Client::connect([etcd.endpoint()]).await?;
    let behind = Client::new(Config::new([proxy.url()])).await?;
    let name = "cut/lock".to_string();
    let holder = Session::new(&direct).ttl(10).await?;
    let mut held = Mutex::new(&holder, name.clone());
    held.lock().await?;
    let waiter = Session::new(&behind).ttl(2).await?;
    let mut waiting = Mutex::new(&waiter, name.clone());
    let attempt = tokio::spawn(async move { waiting.lock().await.map(|()| waiting) });
    while queued(&direct, &name).await? < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.block(true);
    proxy.cut();
    let cut = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(5), attempt).await??;
    assert_eq!(kind(outcome), Some(ErrorKind::SessionExpired));
    // Lost at most a TTL (2 s) after the last renewal, which came before the
    // cut; the rest is this task being scheduled.
    assert!(cut.elapsed() <= Duration::from_millis(2300), "noticed after {:?}", cut.elapsed());
    // The server lets the waiter's key go with its lease; the holder keeps the lock.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(queued(&direct, &name).await?, 1);
    assert!(direct.txn().when([held.owner_compare()]).and_then([Put::new("cut/data", "1")]).await?.succeeded());
    proxy.block(false);
    held.unlock().await?;
    Ok(())
}

#[tokio::test]
async fn dropping_lock_futures_midway_leaves_no_key_behind() -> TestResult {
    let (client, p) = shared_client("mutex_drop").await?;
    let name = format!("{p}lock");
    let holder = Session::new(&client).ttl(10).await?;
    let mut held = Mutex::new(&holder, name.clone());
    held.lock().await?;
    let waiter = Session::new(&client).ttl(10).await?;
    let mut waiting = Mutex::new(&waiter, name.clone());
    // Give up at many different points: before, during and after joining the queue.
    for i in 0..25u64 {
        let patience = Duration::from_micros(200 + i * 613 % 9000);
        assert!(tokio::time::timeout(patience, waiting.lock()).await.is_err(), "got a held lock");
    }
    // The Lock service's waiter goes too when its call is dropped.
    let lease = client.grant(10).await?;
    let _alive = client.keep_alive(lease.id()).await?;
    assert!(tokio::time::timeout(Duration::from_millis(300), client.lock(name.clone(), lease.id())).await.is_err());
    let deadline = Instant::now() + Duration::from_secs(2);
    while queued(&client, &name).await? > 1 {
        assert!(Instant::now() < deadline, "abandoned waiter keys are still queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // No orphan blocks the next waiter.
    held.unlock().await?;
    tokio::time::timeout(Duration::from_secs(2), waiting.lock()).await??;
    waiting.unlock().await?;
    Ok(())
}

#[tokio::test]
async fn unlock_after_the_session_expired_says_the_lock_was_lost() -> TestResult {
    let (client, p) = shared_client("mutex_lost").await?;
    let session = Session::new(&client).ttl(5).await?;
    let mut mutex = Mutex::new(&session, format!("{p}lock"));
    mutex.lock().await?;
    Client::connect(client.endpoints()).await?.revoke(session.lease()).await?;
    assert_eq!(kind(mutex.unlock().await), Some(ErrorKind::SessionExpired));
    assert_eq!(kind(mutex.unlock().await), Some(ErrorKind::LockReleased));
    // A lost session cannot lock again.
    tokio::time::timeout(Duration::from_secs(3), session.done()).await?;
    assert_eq!(kind(mutex.lock().await), Some(ErrorKind::SessionExpired));
    assert_eq!(kind(mutex.try_lock().await), Some(ErrorKind::SessionExpired));
    Ok(())
}
