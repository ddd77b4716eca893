//! `Client::close` (Go's `Close`): what is running ends with ClientClosed,
//! what comes after fails at once, and no connection is left open.
#![cfg(feature = "testkit")]

mod support;

use std::time::{Duration, Instant};

use etcd_raw::{Client, ErrorKind};
use support::{shared_client, TestResult};

const PATIENT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn close_ends_watches_keepalives_observations_and_later_calls() -> TestResult {
    let (client, prefix) = shared_client("close").await?;
    let other: Client = client.clone();
    let mut watch = client.watch(format!("{prefix}w/")).prefix().await?;
    let lease = client.grant(30).await?.id();
    let mut kept = client.keep_alive(lease).await?;
    let campaign_lease = client.grant(30).await?.id();
    client.campaign(format!("{prefix}election"), campaign_lease, "me").await?;
    let mut observing = client.observe(format!("{prefix}election")).await?;
    observing.message().await.ok_or("no leader observed")??;

    let started = Instant::now();
    other.close();
    assert!(client.is_closed());

    let watched = tokio::time::timeout(PATIENT, watch.message()).await?;
    let error = watched.ok_or("the watch ended without an error")?.err().ok_or("an event after close")?;
    assert_eq!(error.kind(), ErrorKind::ClientClosed, "watch: {error}");

    let renewal = loop {
        match tokio::time::timeout(PATIENT, kept.message()).await?.ok_or("the keepalive ended silently")? {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(renewal.kind(), ErrorKind::ClientClosed, "keepalive: {renewal}");

    let observed = tokio::time::timeout(PATIENT, observing.message()).await?;
    let error = observed.ok_or("the observation ended without an error")?.err().ok_or("a leader after close")?;
    assert_eq!(error.kind(), ErrorKind::ClientClosed, "observe: {error}");
    assert!(started.elapsed() < PATIENT / 2, "closing took {:?}", started.elapsed());

    for (what, result) in [
        ("get", client.get(format!("{prefix}k")).await.map(drop)),
        ("put", client.put(format!("{prefix}k"), "v").await.map(drop)),
        ("watch", client.watch(format!("{prefix}k")).await.map(drop)),
        ("grant", client.grant(5).await.map(drop)),
    ] {
        let error = result.err().ok_or(format!("{what} succeeded after close"))?;
        assert_eq!(error.kind(), ErrorKind::ClientClosed, "{what}: {error}");
        assert!(!error.outcome_unknown(), "{what} after close was never sent: {error}");
    }

    // The session's lease was not revoked by closing: it expires on its own.
    let (fresh, _) = shared_client("close-check").await?;
    assert!(fresh.time_to_live(lease).await?.ttl() > 0);
    fresh.revoke(lease).await?;
    fresh.revoke(campaign_lease).await?;
    Ok(())
}
