//! Deadlines at their edges, against real etcd: a deadline that has
//! already passed sends nothing, a huge one is "no deadline" rather than a
//! panic, and the raw stubs honour the deadline set on the tonic request.
//! Against a fake server: which calls tell the server their deadline, and
//! that every call resets its stream when the deadline passes.
#![cfg(feature = "testkit")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_raw::concurrency::Session;
use etcd_raw::pb::etcdserverpb::{kv_client::KvClient, RangeRequest};
use etcd_raw::pb::v3lockpb::{lock_client::LockClient, LockRequest};
use etcd_raw::testkit::{self, Etcd};
use etcd_raw::{Client, Config, ErrorKind};
use support::fake_server::{FakeServer, Incoming};
use support::scratch::free_address;
use support::{shared_client, Captured, TestResult};

/// How late a failing call may return after its deadline.
const SLACK: Duration = Duration::from_millis(150);

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
    let watch = client.watch(key.clone()).timeout(Duration::ZERO).await;
    assert_eq!(watch.err().map(|e| e.kind()), Some(ErrorKind::DeadlineExceeded));
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
    let dead = free_address()?;
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

#[tokio::test]
async fn a_deadline_names_the_member_that_did_not_answer() -> TestResult {
    let etcd = Etcd::start()?;
    let client = Client::connect([etcd.endpoint()]).await?;
    client.put("hung/k", "v").await?;
    etcd.pause(0)?;
    let outcome = client.get("hung/k").timeout(Duration::from_millis(300)).await;
    etcd.resume(0)?;
    let error = outcome.err().ok_or("a stopped server answered")?;
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
    assert_eq!(error.endpoint(), Some(etcd.endpoint().as_str()), "{error}");
    assert!(error.to_string().contains(&etcd.endpoint()), "{error}");
    Ok(())
}

#[tokio::test]
async fn raw_calls_honour_the_request_deadline_on_a_stopped_server() -> TestResult {
    let etcd = Etcd::start()?;
    let client = Client::connect([etcd.endpoint()]).await?;
    client.put("raw/k", "v").await?;
    etcd.pause(0)?;
    let mut raw = KvClient::new(client.raw_channel());
    let deadline = Duration::from_millis(300);
    let mut request = tonic::Request::new(RangeRequest { key: "raw/k".into(), ..Default::default() });
    request.set_timeout(deadline);
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(10), raw.range(request)).await?;
    let elapsed = started.elapsed();
    etcd.resume(0)?;
    let status = outcome.err().ok_or("a stopped server answered")?;
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(elapsed >= deadline && elapsed <= deadline + SLACK, "raw range took {elapsed:?}");
    Ok(())
}

#[tokio::test]
async fn a_raw_lock_gives_up_at_its_request_deadline() -> TestResult {
    let (client, p) = shared_client("raw_lock").await?;
    let name = format!("{p}lock");
    let holder = client.grant(30).await?;
    let waiter = client.grant(30).await?;
    client.lock(name.clone(), holder.id()).await?;

    let mut raw = LockClient::new(client.raw_channel());
    let deadline = Duration::from_millis(300);
    let mut request = tonic::Request::new(LockRequest { name: name.clone().into(), lease: waiter.id() });
    request.set_timeout(deadline);
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(10), raw.lock(request)).await?;
    let elapsed = started.elapsed();
    let status = outcome.err().ok_or("a held lock was granted")?;
    // The server got the deadline too; when its copy ends first, etcd's
    // Lock service answers Unknown "context deadline exceeded", passed on
    // as is to a raw stub (typed calls map it to DeadlineExceeded).
    let servers = status.code() == tonic::Code::Unknown && status.message() == "context deadline exceeded";
    assert!(status.code() == tonic::Code::DeadlineExceeded || servers, "{status:?}");
    assert!(elapsed <= deadline + SLACK, "raw lock took {elapsed:?}");
    client.revoke(holder.id()).await?;
    client.revoke(waiter.id()).await?;
    Ok(())
}

#[tokio::test]
async fn raw_calls_are_traced_like_typed_ones() -> TestResult {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let (client, p) = shared_client("raw_trace").await?;
    let key = format!("{p}traced-key");
    let mut raw = KvClient::new(client.raw_channel());
    raw.range(RangeRequest { key: key.clone().into(), ..Default::default() }).await?;

    let text = captured.0.lock().map(|held| String::from_utf8_lossy(&held).into_owned()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("etcd_rpc") && l.contains("Range")).collect();
    assert!(lines.iter().any(|l| l.contains("send") && l.contains(&key)), "no traced request:\n{text}");
    assert!(lines.iter().any(|l| l.contains("received")), "no traced response:\n{text}");
    assert!(lines.iter().any(|l| l.contains("rpc done")), "no end of call:\n{text}");
    Ok(())
}

/// What the fake server saw of one request: its path, the deadline it was
/// told, and how the client ended the stream.
type Seen = (String, Option<String>, Option<h2::Reason>);

#[tokio::test]
async fn only_calls_that_wait_on_the_server_tell_it_their_deadline_and_every_call_is_reset_at_it() -> TestResult {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    // Never answers: waits until the client resets the stream.
    let server = FakeServer::start(move |(request, mut respond): Incoming| {
        let log = log.clone();
        async move {
            let path = request.uri().path().to_string();
            let told = request.headers().get("grpc-timeout").and_then(|v| v.to_str().ok()).map(str::to_string);
            let reset = std::future::poll_fn(|cx| respond.poll_reset(cx)).await.ok();
            if let Ok(mut log) = log.lock() {
                log.push((path, told, reset));
            }
        }
    })
    .await?;
    let deadline = Duration::from_millis(300);
    let client = Client::new(Config::new([server.endpoint()]).request_timeout(Duration::from_secs(5))).await?;

    let get = client.get("k").timeout(deadline).await;
    assert_eq!(support::kind(get), Some(ErrorKind::DeadlineExceeded));
    let put = client.put("k", "v").timeout(deadline).await;
    assert_eq!(support::kind(put), Some(ErrorKind::DeadlineExceeded));
    let lock = client.lock("l", 7).timeout(deadline).await;
    assert_eq!(support::kind(lock), Some(ErrorKind::DeadlineExceeded));
    let campaign = client.campaign("e", 7, "v").timeout(deadline).await;
    assert_eq!(support::kind(campaign), Some(ErrorKind::DeadlineExceeded));

    // The resets reach the server a moment after each call returned.
    let waited = Instant::now();
    while seen.lock().map(|s| s.len()).unwrap_or(0) < 4 && waited.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let paths: Vec<&str> = seen.iter().map(|(path, _, _)| path.as_str()).collect();
    let expected =
        ["/etcdserverpb.KV/Put", "/etcdserverpb.KV/Range", "/v3electionpb.Election/Campaign", "/v3lockpb.Lock/Lock"];
    assert_eq!(paths, expected, "{seen:?}");
    for (path, told, reset) in &seen {
        assert_eq!(*reset, Some(h2::Reason::CANCEL), "{path} was not reset at its deadline");
        let waits = path.ends_with("/Lock") || path.ends_with("/Campaign");
        // What was left of the 300 ms, in milliseconds.
        let ms: Option<u64> = told.as_deref().and_then(|t| t.strip_suffix('m')).and_then(|t| t.parse().ok());
        match waits {
            true => assert!(ms.is_some_and(|ms| (1..=300).contains(&ms)), "{path} told the server {told:?}"),
            false => assert_eq!(*told, None, "{path} told the server its deadline"),
        }
    }
    Ok(())
}
