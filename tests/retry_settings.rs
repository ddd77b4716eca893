//! `Config::max_unary_retries` and `Config::backoff` (Go's
//! `MaxUnaryRetries` and `BackoffWaitBetween`): a fail-fast client gives
//! up after its attempts instead of retrying until the deadline.
#![cfg(feature = "testkit")]

mod support;

use std::time::{Duration, Instant};

use etcd_raw::testkit::Cluster;
use etcd_raw::{Client, Config, ErrorKind};
use support::TestResult;

const DEADLINE: Duration = Duration::from_secs(3);

#[tokio::test]
async fn a_fail_fast_client_stops_after_its_attempts() -> TestResult {
    let mut cluster = Cluster::start(1)?;
    let endpoint = cluster.endpoints()[0].clone();
    let patient = Client::new(Config::new([endpoint.clone()]).request_timeout(DEADLINE)).await?;
    let fail_fast = Client::new(
        Config::new([endpoint])
            .request_timeout(DEADLINE)
            .max_unary_retries(1)
            .backoff(Duration::from_millis(10), Duration::from_millis(20)),
    )
    .await?;
    patient.put("retry/k", "v").await?;
    cluster.kill(0)?;

    let started = Instant::now();
    let error = fail_fast.get("retry/k").await.err().ok_or("a killed member answered")?;
    let fast = started.elapsed();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(fast < DEADLINE / 3, "two attempts took {fast:?}");

    let started = Instant::now();
    let error = patient.get("retry/k").await.err().ok_or("a killed member answered")?;
    assert!(started.elapsed() >= DEADLINE / 2, "the default retried for only {:?}: {error}", started.elapsed());
    Ok(())
}
