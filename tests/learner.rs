//! A client whose endpoints include a learner (a non-voting member that
//! refuses writes, linearizable reads and streams): writes go to a voter,
//! and a client that reaches only learners is told so at once instead of
//! retrying until its deadline.
#![cfg(feature = "testkit")]

mod support;

use std::time::{Duration, Instant};

use etcd_raw::testkit::Cluster;
use etcd_raw::{Client, Config, ErrorKind};
use support::TestResult;

/// Long enough that a call retrying until its deadline is told apart
/// from one that ends at the first answer of the learner.
const PATIENT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn learners_refusals_go_to_a_voter_or_end_at_once() -> TestResult {
    let mut cluster = Cluster::start(1)?;
    let learner = cluster.add_learner()?;
    let learner_url = cluster.member(learner).client_url();
    let voter_url = cluster.member(0).client_url();

    // Both members in the list, the learner first: every write and
    // linearizable read lands, none reports the learner's refusal.
    let both = Client::new(Config::new([learner_url.clone(), voter_url]).request_timeout(PATIENT)).await?;
    for i in 0..20 {
        let key = format!("learner/mixed/{i}");
        both.put(key.clone(), "v").await?;
        assert_eq!(both.get(key).await?.kvs().len(), 1);
    }
    let mut watch = both.watch("learner/mixed/").prefix().timeout(PATIENT).await?;
    both.put("learner/mixed/after", "w").await?;
    let response = watch.message().await.ok_or("the watch ended")??;
    assert_eq!(response.events().len(), 1);

    // Only the learner: serializable reads work; what it refuses ends at
    // once with NotSupportedForLearner, not at the deadline.
    let only = Client::new(Config::new([learner_url]).request_timeout(PATIENT)).await?;
    assert_eq!(only.get("learner/mixed/0").serializable().await?.kvs().len(), 1);
    let refused = |what: &str, result: Result<(), etcd_raw::Error>, started: Instant| -> TestResult {
        let error = result.err().ok_or(format!("{what} succeeded on a learner"))?;
        assert_eq!(error.kind(), ErrorKind::NotSupportedForLearner, "{what}: {error}");
        assert!(!error.outcome_unknown(), "{what}: a learner's refusal is definite: {error}");
        assert!(started.elapsed() < PATIENT / 2, "{what} took {:?}: it retried the learner", started.elapsed());
        Ok(())
    };
    let started = Instant::now();
    refused("put", only.put("learner/only/put", "v").await.map(drop), started)?;
    let started = Instant::now();
    refused("linearizable get", only.get("learner/only/get").await.map(drop), started)?;
    let started = Instant::now();
    refused("watch", only.watch("learner/only/").prefix().timeout(PATIENT).await.map(drop), started)?;
    let started = Instant::now();
    refused("sync", only.sync().await, started)?;
    let lease = both.grant(30).await?;
    let started = Instant::now();
    refused("keep_alive_once", only.keep_alive_once(lease.id()).timeout(PATIENT).await.map(drop), started)?;
    Ok(())
}
