//! Endpoints changed at run time (Go's `SetEndpoints`, etcd-client's
//! `add_endpoint`/`remove_endpoint`): streams move over without a gap or a
//! repeat, and auto-sync keeps an endpoint that is a proxy.
#![cfg(feature = "testkit")]

mod support;

use std::time::Duration;

use etcd_raw::testkit::{Cluster, Proxy};
use etcd_raw::{Client, Config, ErrorKind};
use support::TestResult;

#[tokio::test]
async fn a_watch_moves_to_the_new_endpoints_without_a_gap_or_a_repeat() -> TestResult {
    let mut cluster = Cluster::start(3)?;
    let urls = cluster.endpoints();
    // The member the watch leaves is then killed: not the leader, so the
    // writes meanwhile see no election (their outcome would be unknown).
    let admin = Client::new(Config::new(urls.clone())).await?;
    let mut gone = 0;
    for (i, url) in urls.iter().enumerate() {
        if !admin.status(url.clone()).await?.is_leader() {
            gone = i;
        }
    }
    let rest: Vec<String> = urls.iter().enumerate().filter(|(i, _)| *i != gone).map(|(_, u)| u.clone()).collect();
    let watcher = Client::new(Config::new([urls[gone].clone()]).request_timeout(Duration::from_secs(1))).await?;
    let writer = Client::new(Config::new(rest.clone())).await?;
    let mut watch = watcher.watch("moving/").prefix().await?;

    let mut next = 0;
    let write = |n: usize| {
        let writer = writer.clone();
        async move {
            for i in n..n + 20 {
                writer.put(format!("moving/{i:03}"), "v").await?;
            }
            Ok::<usize, etcd_raw::Error>(n + 20)
        }
    };
    next = write(next).await?;
    watcher.set_endpoints(rest.clone())?;
    assert_eq!(watcher.endpoints(), rest);
    next = write(next).await?;
    // Past the grace of calls in flight, the old member goes away for good.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.kill(gone)?;
    next = write(next).await?;

    let mut seen = Vec::new();
    while seen.len() < next {
        let response =
            tokio::time::timeout(Duration::from_secs(10), watch.message()).await?.ok_or("the watch ended")??;
        seen.extend(response.events().iter().map(|e| String::from_utf8_lossy(e.kv().key()).into_owned()));
    }
    let expected: Vec<String> = (0..next).map(|i| format!("moving/{i:03}")).collect();
    assert_eq!(seen, expected, "events after moving endpoints");
    assert_eq!(watcher.get("moving/000").await?.kvs().len(), 1);

    // The last endpoint stays; adding brings one back.
    watcher.remove_endpoint(&rest[0])?;
    let last = watcher.remove_endpoint(&rest[1]).err().ok_or("removed the last endpoint")?;
    assert_eq!(last.kind(), ErrorKind::InvalidArgument, "{last}");
    watcher.add_endpoint(rest[0].clone())?;
    assert_eq!(watcher.endpoints().len(), 2);
    Ok(())
}

#[tokio::test]
async fn auto_sync_keeps_an_endpoint_that_is_a_proxy() -> TestResult {
    let cluster = Cluster::start(1)?;
    let proxy = Proxy::start(cluster.member(0).client_addr())?;
    let client = Client::new(Config::new([proxy.url()]).auto_sync_interval(Duration::from_millis(200))).await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let endpoints = client.endpoints();
    assert!(endpoints.contains(&proxy.url()), "the proxy was dropped: {endpoints:?}");
    assert!(endpoints.contains(&cluster.endpoints()[0]), "the member was not added: {endpoints:?}");
    client.put("proxy/k", "v").await?;
    Ok(())
}
