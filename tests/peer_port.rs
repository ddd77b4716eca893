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
    let attempt = || async {
        let client = Client::new(Config::new([peer.clone()]).dial_timeout(Duration::from_secs(2))).await?;
        client.put("peer/k", "v").timeout(Duration::from_secs(3)).await?;
        client.get("peer/k").timeout(Duration::from_secs(3)).await
    };
    if support::etcd_version() < (3, 6) {
        let got = attempt().await?;
        assert_eq!(got.kvs().len(), 1, "the peer port served a write but not the read");
    } else {
        // etcd answers the HTTP/2 preface with an HTTP/1 error and closes at
        // once, so its answer can be lost to the reset that follows it: then
        // the error can only say the connection was reset. Most tries see it.
        let mut named = 0;
        for _ in 0..10 {
            let started = Instant::now();
            let error = attempt().await.err().ok_or("etcd 3.6+ served a client RPC on its peer port")?;
            let took = started.elapsed();
            assert!(took < Duration::from_secs(3), "took {took:?} to refuse: {error}");
            match error.kind() {
                ErrorKind::Protocol => {
                    assert!(error.to_string().contains("peer URL"), "{error}");
                    assert!(!error.is_retryable(), "retrying a peer port cannot help: {error}");
                    assert_eq!(error.endpoint(), Some(peer.as_str()));
                    named += 1;
                }
                // The socket cut under the handshake: reset, broken pipe or closed.
                ErrorKind::Unavailable => {
                    let text = error.to_string();
                    assert!(["reset", "broken pipe", "closed"].iter().any(|cut| text.contains(cut)), "{error}");
                }
                _ => return Err(format!("unexpected error from the peer port: {error}").into()),
            }
        }
        assert!(named >= 5, "only {named} of 10 errors said the URL is a peer port");
    }
    // Listed beside the client URL, the peer URL is passed over.
    let both = Client::new(Config::new([peer, etcd.endpoint()]).dial_timeout(Duration::from_secs(2))).await?;
    for i in 0..4 {
        both.put(format!("peer/both{i}"), "v").timeout(Duration::from_secs(3)).await?;
    }
    Ok(())
}
