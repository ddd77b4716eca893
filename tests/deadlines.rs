//! Deadlines at their edges, against real etcd: a deadline that has
//! already passed sends nothing, and a huge one is "no deadline" rather
//! than a panic.
#![cfg(feature = "testkit")]

mod support;

use std::time::{Duration, Instant};

use etcd_raw::concurrency::Session;
use etcd_raw::testkit;
use etcd_raw::{Client, Config, ErrorKind};
use support::{shared_client, TestResult};

#[tokio::test]
async fn an_expired_deadline_fails_at_once_and_sends_nothing() -> TestResult {
    let (client, p) = shared_client("expired").await?;
    let key = format!("{p}k");
    for _ in 0..50 {
        let started = Instant::now();
        let error =
            client.put(key.clone(), "v").timeout(Duration::ZERO).await.err().ok_or("a zero-deadline put succeeded")?;
        assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
        assert!(!error.outcome_unknown(), "nothing was sent, so the outcome is known: {error}");
        assert!(started.elapsed() < Duration::from_millis(50), "{:?}", started.elapsed());
    }
    assert_eq!(client.get(key.clone()).await?.count(), 0, "a zero-deadline put was applied");

    let read = client.get(key.clone()).timeout(Duration::from_nanos(1)).await;
    assert_eq!(read.err().map(|e| e.kind()), Some(ErrorKind::DeadlineExceeded));

    let lease = client.grant(10).await?;
    let lock = client.lock(format!("{p}lock"), lease.id()).timeout(Duration::ZERO).await;
    assert_eq!(lock.err().map(|e| e.kind()), Some(ErrorKind::DeadlineExceeded));
    assert_eq!(client.get(format!("{p}lock/")).prefix().count_only().await?.count(), 0, "the lock was taken");

    let once = client.keep_alive_once(lease.id()).timeout(Duration::ZERO).await;
    assert_eq!(once.err().map(|e| e.kind()), Some(ErrorKind::DeadlineExceeded));
    // The connection is fine for the next call.
    client.put(key.clone(), "after").await?;
    Ok(())
}

#[tokio::test]
async fn an_unbounded_deadline_does_not_panic_the_lessor() -> TestResult {
    let (client, p) = shared_client("max_deadline").await?;
    let other = client.grant(30).await?;
    let mut other_alive = client.keep_alive(other.id()).await?;

    let lease = client.grant(30).await?;
    let alive = client.keep_alive(lease.id()).timeout(Duration::MAX).await?;
    assert_eq!(alive.id(), lease.id());
    let session = Session::new(&client).ttl(30).timeout(Duration::MAX).await?;
    assert!(!session.is_expired());

    // The lessor task still runs: a new holder gets an answer, and the
    // lease held before sees no loss.
    let third = client.grant(30).await?;
    let _third_alive = client.keep_alive(third.id()).timeout(Duration::from_secs(5)).await?;
    let pending = tokio::time::timeout(Duration::from_millis(200), other_alive.message()).await;
    assert!(!matches!(pending, Ok(Some(Err(_)))), "the other lease was lost: {pending:?}");
    assert!(!session.is_expired());

    let put = client.put(format!("{p}k"), "v").timeout(Duration::MAX).await;
    assert!(put.is_ok(), "{put:?}");
    session.close().await?;
    Ok(())
}

#[tokio::test]
async fn an_unbounded_deadline_to_an_endpoint_without_a_connection_does_not_panic() -> TestResult {
    let etcd = testkit::shared()?;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("127.0.0.1:{}", listener.local_addr()?.port())
    };
    let client =
        Client::new(Config::new([etcd.endpoint(), dead.clone()]).dial_timeout(Duration::from_millis(500))).await?;
    // With no deadline the call keeps dialing; it must not panic doing so.
    let pending = {
        let client = client.clone();
        tokio::spawn(async move { client.status(dead).timeout(Duration::MAX).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!pending.is_finished(), "the call ended: {:?}", pending.await);
    pending.abort();
    assert!(pending.await.is_err_and(|e| e.is_cancelled()), "the call panicked");
    client.get("unbounded/k").await?;
    Ok(())
}
