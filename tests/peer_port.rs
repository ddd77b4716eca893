//! A client pointed at a member's peer port. etcd 3.5 and older also serve
//! client RPCs there; from 3.6 the peer port speaks only the members'
//! own HTTP, and the client must say so rather than hang or blame the network.
#![cfg(feature = "testkit")]

mod support;

use std::time::{Duration, Instant};

use etcd_raw::testkit::Etcd;
use etcd_raw::{Client, Config, ErrorKind};
use support::TestResult;

#[tokio::test]
async fn the_peer_port_serves_clients_before_3_6_and_is_refused_clearly_after() -> TestResult {
    let etcd = Etcd::start()?;
    let peer = etcd.member(0).peer_url();
    let started = Instant::now();
    let outcome = async {
        let client = Client::new(Config::new([peer.clone()]).dial_timeout(Duration::from_secs(2))).await?;
        client.put("peer/k", "v").timeout(Duration::from_secs(3)).await?;
        client.get("peer/k").timeout(Duration::from_secs(3)).await
    }
    .await;
    let took = started.elapsed();
    if support::etcd_version() < (3, 6) {
        let got = outcome?;
        assert_eq!(got.kvs().len(), 1, "the peer port served a write but not the read");
    } else {
        let error = outcome.err().ok_or("etcd 3.6+ served a client RPC on its peer port")?;
        eprintln!("peer port on etcd {:?}: {error} ({:?})", support::etcd_version(), error.kind());
        assert!(took < Duration::from_secs(3), "took {took:?} to refuse");
        assert!(error.to_string().contains("peer"), "the error does not point at the peer port: {error}");
        assert!(!error.is_retryable(), "retrying a peer port cannot help: {error}");
        assert!(matches!(error.kind(), ErrorKind::Unavailable | ErrorKind::Protocol | ErrorKind::Unimplemented), "{error}");
    }
    Ok(())
}
