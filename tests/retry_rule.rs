//! The retry rule against in-process HTTP/2 servers on loopback, for
//! answers a real etcd gives only in states that are hard to reach on
//! demand: a learner's refusal from every endpoint at once, a stream
//! refused before it was processed. (tests/learner.rs checks a real
//! learner; tests/malformed.rs the replies that break the protocol.)
// tests/support is built on the testkit, though no etcd is started here.
#![cfg(feature = "testkit")]

mod support;

use std::time::{Duration, Instant};

use etcd_raw::{Client, Config, ErrorKind};
use support::fake_server::{answer_ok, answer_status, refuse_stream, silent_endpoint, FakeServer};
use support::TestResult;

/// Long enough that a call retrying until its deadline is told apart from
/// one that ends at the first answer.
const PATIENT: Duration = Duration::from_secs(10);
/// Well under [`PATIENT`]: what "at once" may take on a busy machine.
const AT_ONCE: Duration = Duration::from_secs(2);

const UNAVAILABLE: u32 = 14;
const LEARNER: &str = "etcdserver: rpc not supported for learner";

async fn learner() -> Result<FakeServer, std::io::Error> {
    FakeServer::start(|incoming| answer_status(incoming, UNAVAILABLE, LEARNER)).await
}

async fn voter() -> Result<FakeServer, std::io::Error> {
    FakeServer::start(answer_ok).await
}

#[tokio::test]
async fn a_learners_refusal_sends_writes_to_the_other_endpoint() -> TestResult {
    let (learner, voter) = (learner().await?, voter().await?);
    let client = Client::new(Config::new([learner.endpoint(), voter.endpoint()]).request_timeout(PATIENT)).await?;
    for i in 0..10 {
        client.put(format!("k{i}"), "v").await.map_err(|e| format!("put {i}: {e}"))?;
    }
    // Round robin starts half of the puts at the learner; each is refused
    // once and goes on to the voter.
    assert!(learner.requests() >= 1, "no put was tried on the learner: the test proves nothing");
    assert!(learner.requests() <= 10, "the learner was asked {} times for 10 puts", learner.requests());
    assert_eq!(voter.requests(), 10, "each put lands on the voter exactly once");
    Ok(())
}

#[tokio::test]
async fn only_learners_end_a_call_at_once_after_one_request_each() -> TestResult {
    for learners in [1, 2] {
        let mut servers = Vec::new();
        for _ in 0..learners {
            servers.push(learner().await?);
        }
        let endpoints: Vec<String> = servers.iter().map(FakeServer::endpoint).collect();
        let client = Client::new(Config::new(endpoints).request_timeout(PATIENT)).await?;

        let started = Instant::now();
        let error = client.put("k", "v").await.err().ok_or("a put succeeded on learners")?;
        assert_eq!(error.kind(), ErrorKind::NotSupportedForLearner, "{learners} learners: {error}");
        assert!(!error.outcome_unknown(), "{learners} learners: a learner's refusal is definite: {error}");
        assert!(started.elapsed() < AT_ONCE, "{learners} learners: the put took {:?}", started.elapsed());
        for (i, server) in servers.iter().enumerate() {
            assert_eq!(server.requests(), 1, "{learners} learners: learner {i} was asked {:?}", server.paths());
        }

        // A linearizable read is repeatable, and still not sent round again.
        let started = Instant::now();
        let error = client.get("k").await.err().ok_or("a linearizable get succeeded on learners")?;
        assert_eq!(error.kind(), ErrorKind::NotSupportedForLearner, "{learners} learners: {error}");
        assert!(started.elapsed() < AT_ONCE, "{learners} learners: the get took {:?}", started.elapsed());
        for (i, server) in servers.iter().enumerate() {
            assert_eq!(server.requests(), 2, "{learners} learners: learner {i} was asked {:?}", server.paths());
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_watch_on_learners_only_ends_at_once() -> TestResult {
    let learner = learner().await?;
    let client = Client::new(Config::new([learner.endpoint()]).request_timeout(PATIENT)).await?;
    let started = Instant::now();
    let error = client.watch("k").prefix().timeout(PATIENT).await.err().ok_or("a watch was created on a learner")?;
    assert_eq!(error.kind(), ErrorKind::NotSupportedForLearner, "{error}");
    assert!(started.elapsed() < AT_ONCE, "the watch create took {:?}", started.elapsed());
    assert_eq!(learner.requests(), 1, "the Watch stream was opened {:?}", learner.paths());
    Ok(())
}

#[tokio::test]
async fn a_refused_stream_sends_a_write_to_the_next_endpoint() -> TestResult {
    let (refuser, voter) = (FakeServer::start(refuse_stream).await?, voter().await?);
    let client = Client::new(Config::new([refuser.endpoint(), voter.endpoint()]).request_timeout(PATIENT)).await?;
    for i in 0..10 {
        client.put(format!("k{i}"), "v").await.map_err(|e| format!("put {i}: {e}"))?;
    }
    assert!(refuser.requests() >= 1, "no put was tried on the refusing endpoint: the test proves nothing");
    assert_eq!(voter.requests(), 10, "each put lands on the voter exactly once");
    Ok(())
}

#[tokio::test]
async fn refused_streams_never_leave_a_write_unknown() -> TestResult {
    // Only refusals: the put fails, and says that nothing was applied.
    let refuser = FakeServer::start(refuse_stream).await?;
    let timeout = Duration::from_millis(600);
    let client = Client::new(Config::new([refuser.endpoint()]).request_timeout(timeout)).await?;
    for i in 0..3 {
        let error = client.put("k", "v").await.err().ok_or("a refused put succeeded")?;
        assert!(!error.outcome_unknown(), "put {i}: every stream was refused, nothing applied: {error}");
    }

    // A refusal, then an endpoint whose dial hangs past the deadline: the
    // call runs out of time while nothing is in flight.
    let refuser = FakeServer::start(refuse_stream).await?;
    let hung = silent_endpoint().await?;
    let config = Config::new([refuser.endpoint(), hung]).request_timeout(timeout).dial_timeout(PATIENT);
    let client = Client::new(config).await?;
    for i in 0..4 {
        let error = client.put("k", "v").await.err().ok_or("a put succeeded")?;
        assert!(!error.outcome_unknown(), "put {i}: the only request sent was refused: {error}");
    }
    assert!(refuser.requests() >= 1, "no put was tried on the refusing endpoint: the test proves nothing");
    Ok(())
}
