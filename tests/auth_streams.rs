//! Streams whose token the server no longer knows (simple tokens live in a
//! member's memory, so a restart forgets them all) open again with a fresh
//! one, as unary calls do, instead of ending with InvalidAuthToken.
#![cfg(feature = "testkit")]

mod support;

use std::time::Duration;

use etcd_raw::testkit::Cluster;
use etcd_raw::{Client, Config};
use support::{enable_auth_with_alice, TestResult};

const PATIENT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn observe_and_keep_alive_once_refresh_a_forgotten_token() -> TestResult {
    let mut cluster = Cluster::start(1)?;
    let endpoint = cluster.endpoints()[0].clone();
    enable_auth_with_alice(&endpoint).await?;
    let alice = || Client::new(Config::new([endpoint.clone()]).auth("alice", "alice-pw"));
    // One client per stream, each idle otherwise: no other call of theirs
    // refreshes the token for them.
    let (candidate, observer, renewer) = (alice().await?, alice().await?, alice().await?);

    let lease = candidate.grant(60).await?.id();
    let elected = candidate.campaign("app/election", lease, "one").await?;
    let mut observing = observer.observe("app/election").await?;
    let first = observing.message().await.ok_or("the observation ended")??;
    assert_eq!(first.kv().map(|kv| kv.value()), Some(&b"one"[..]));
    let renewed = renewer.grant(60).await?.id();

    cluster.stop(0)?;
    cluster.restart(0)?;

    renewer.keep_alive_once(renewed).timeout(PATIENT).await.map_err(|e| format!("keep_alive_once: {e}"))?;
    candidate.proclaim(elected.leader(), "two").timeout(PATIENT).await.map_err(|e| format!("proclaim: {e}"))?;
    let next = tokio::time::timeout(PATIENT, observing.message()).await?.ok_or("the observation ended")??;
    assert_eq!(next.kv().map(|kv| kv.value()), Some(&b"two"[..]));
    Ok(())
}
