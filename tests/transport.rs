//! The request path under faults, against real etcd processes of its own:
//! hung (SIGSTOPped) servers, dead and hung endpoints, killed members.
#![cfg(feature = "testkit")]

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use etcd_raw::pb::etcdserverpb::{kv_client::KvClient, RangeRequest};
use etcd_raw::testkit::{Cluster, Etcd};
use etcd_raw::{Client, Config, ErrorKind};
use support::scratch::free_address;
use support::TestResult;

/// How late a failing call may return after its deadline.
const SLACK: Duration = Duration::from_millis(100);

#[tokio::test]
async fn paused_server_fails_with_deadline_exceeded_on_time() -> TestResult {
    let etcd = Etcd::start()?;
    let client = Client::connect([etcd.endpoint()]).await?;
    client.put("paused/k", "v").await?;
    etcd.pause(0)?;
    let deadline = Duration::from_millis(500);

    let started = Instant::now();
    let read = client.get("paused/k").timeout(deadline).await;
    let elapsed = started.elapsed();
    let error = read.err().ok_or("read answered by a stopped server")?;
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
    assert!(elapsed >= deadline && elapsed <= deadline + SLACK, "read took {elapsed:?}");
    assert!(!error.outcome_unknown());

    let started = Instant::now();
    let write = client.put("paused/k", "w").timeout(deadline).await;
    let elapsed = started.elapsed();
    let error = write.err().ok_or("write answered by a stopped server")?;
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
    assert!(elapsed <= deadline + SLACK, "write took {elapsed:?}");
    assert!(error.outcome_unknown(), "a write that was sent has an unknown outcome");

    // The raw stubs share the deadline: the client's request timeout.
    let short = Client::new(Config::new([etcd.endpoint()]).request_timeout(deadline)).await;
    assert!(short.is_err(), "dialing a stopped server must fail");
    let mut raw = KvClient::new(client.raw_channel());
    let started = Instant::now();
    let raw_read = tokio::time::timeout(
        Duration::from_secs(10),
        raw.range(RangeRequest { key: "paused/k".into(), ..Default::default() }),
    )
    .await?;
    let status = raw_read.err().ok_or("raw read answered by a stopped server")?;
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    assert!(started.elapsed() <= Duration::from_secs(5) + SLACK);

    etcd.resume(0)?;
    // The same client recovers once the server runs again.
    let value = client.get("paused/k").timeout(Duration::from_secs(5)).await?;
    assert_eq!(value.count(), 1);
    Ok(())
}

#[tokio::test]
async fn dead_endpoint_fails_within_the_dial_timeout_naming_it() -> TestResult {
    let dead = free_address()?;
    let dial = Duration::from_millis(800);
    let started = Instant::now();
    let outcome = Client::new(Config::new([dead.clone()]).dial_timeout(dial)).await;
    let error = outcome.err().ok_or("connected to nothing")?;
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(error.message().contains(&dead), "{error}");
    assert!(started.elapsed() <= dial + SLACK, "{:?}", started.elapsed());
    Ok(())
}

#[tokio::test]
async fn hung_endpoint_fails_within_the_dial_timeout() -> TestResult {
    // Accepts TCP (the kernel's backlog) but never speaks HTTP/2.
    let hung = TcpListener::bind("127.0.0.1:0")?;
    let endpoint = format!("http://{}", hung.local_addr()?);
    let dial = Duration::from_millis(600);
    let started = Instant::now();
    let outcome = Client::new(Config::new([endpoint.clone()]).dial_timeout(dial)).await;
    let error = outcome.err().ok_or("connected to a mute socket")?;
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(error.message().contains(&endpoint), "{error}");
    let elapsed = started.elapsed();
    assert!(elapsed >= dial && elapsed <= dial + SLACK, "{elapsed:?}");
    Ok(())
}

#[tokio::test]
async fn dead_and_hung_first_endpoints_do_not_stop_connect() -> TestResult {
    let etcd = etcd_raw::testkit::shared()?;
    let hung = TcpListener::bind("127.0.0.1:0")?;
    let endpoints = [free_address()?, format!("http://{}", hung.local_addr()?), etcd.endpoint()];
    let dial = Duration::from_secs(1);
    let started = Instant::now();
    let client = Client::new(Config::new(endpoints).dial_timeout(dial)).await?;
    assert!(started.elapsed() < dial, "connect waited for the bad endpoints");
    // Calls still land, within their deadline, whichever endpoint they try first.
    let p = etcd_raw::testkit::unique_prefix("bad_first");
    for i in 0..6 {
        client.put(format!("{p}{i}"), "v").timeout(Duration::from_secs(3)).await?;
        client.get(format!("{p}{i}")).timeout(Duration::from_secs(3)).await?;
    }
    Ok(())
}

#[tokio::test]
async fn endpoint_forms_etcdctl_accepts() -> TestResult {
    let etcd = etcd_raw::testkit::shared()?;
    let url = etcd.endpoint();
    let bare = url.trim_start_matches("http://").to_string();
    for form in [bare, url.clone(), format!("{url}/")] {
        let client = Client::connect([form.clone()]).await?;
        client.get("forms/k").await?;
        assert_eq!(client.endpoints(), vec![form]);
    }
    Ok(())
}

#[tokio::test]
async fn dropping_a_call_cancels_it_and_the_client_carries_on() -> TestResult {
    let etcd = Etcd::start()?;
    let client = Client::connect([etcd.endpoint()]).await?;
    etcd.pause(0)?;
    let pending = {
        let client = client.clone();
        tokio::spawn(async move { client.get("cancel/k").timeout(Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    pending.abort();
    assert!(pending.await.is_err_and(|e| e.is_cancelled()));
    etcd.resume(0)?;
    client.put("cancel/k", "v").timeout(Duration::from_secs(5)).await?;
    assert_eq!(client.get("cancel/k").await?.count(), 1);
    Ok(())
}

#[tokio::test]
async fn reads_and_writes_go_on_when_a_member_dies() -> TestResult {
    let mut cluster = Cluster::start(3)?;
    let client = Client::new(Config::new(cluster.endpoints()).request_timeout(Duration::from_secs(5))).await?;
    client.put("members/k", "before").await?;
    cluster.kill(0)?;
    // Every call below may pick the dead member first; none may fail.
    for i in 0..9 {
        assert_eq!(client.get("members/k").await?.count(), 1);
        client.put(format!("members/{i}"), "after").await?;
    }
    cluster.restart(0)?;
    assert_eq!(client.get("members/").prefix().count_only().await?.count(), 10);
    Ok(())
}
