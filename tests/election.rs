//! Elections against real etcd: the Election service and the
//! `concurrency::Election` recipe: campaign, proclaim, leader, observe,
//! resign; candidates whose lease expires are never elected; at most one
//! leader at a time while members are killed.
#![cfg(feature = "testkit")]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_raw::concurrency::{Election, Session};
use etcd_raw::election::{LeaderKey, ObserveStream};
use etcd_raw::testkit::{Cluster, Etcd, Proxy};
use etcd_raw::{Client, Compare, CompareOp, Config, ErrorKind, Put};
use support::{kind, shared_client, TestResult};

/// The next `n` values an observation delivers.
async fn observed(stream: &mut ObserveStream, n: usize) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut values = Vec::new();
    while values.len() < n {
        let change =
            tokio::time::timeout(Duration::from_secs(5), stream.message()).await?.ok_or("observation ended")??;
        values.push(change.kv().ok_or("no leader in the change")?.value_str()?.to_string());
    }
    Ok(values)
}

#[tokio::test]
async fn service_campaign_proclaim_leader_observe_resign() -> TestResult {
    let (client, p) = shared_client("election_service").await?;
    let name = format!("{p}election");
    let (a, b) = (client.grant(10).await?.id(), client.grant(10).await?.id());
    let _alive = (client.keep_alive(a).await?, client.keep_alive(b).await?);
    let mut changes = client.observe(name.clone()).await?;
    assert_eq!(kind(client.leader(name.clone()).await), Some(ErrorKind::ElectionNoLeader));

    let first = client.campaign(name.clone(), a, "a0").await?;
    let leader = first.leader();
    assert_eq!(leader.key(), format!("{name}/{a:x}").as_bytes());
    assert_eq!((leader.name(), leader.lease()), (name.as_bytes(), a));
    let current = client.leader(name.clone()).await?;
    assert_eq!(current.kv().map(|kv| (kv.key(), kv.create_revision())), Some((leader.key(), leader.rev())));
    client.proclaim(leader, "a1").await?;
    client.proclaim(leader, "a2").await?;

    let second = {
        let (client, name) = (client.clone(), name.clone());
        tokio::spawn(async move { client.campaign(name, b, "b0").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "elected while another leads");
    client.resign(leader).await?;
    let second = tokio::time::timeout(Duration::from_secs(3), second).await???;
    assert!(second.leader().rev() > leader.rev(), "terms' revisions increase");
    assert_eq!(observed(&mut changes, 4).await?, ["a0", "a1", "a2", "b0"]);

    // The old leader can no longer proclaim.
    assert_eq!(kind(client.proclaim(leader, "late").await), Some(ErrorKind::ElectionNotLeader));
    client.resign(second.leader()).await?;
    assert_eq!(kind(client.leader(name).await), Some(ErrorKind::ElectionNoLeader));
    Ok(())
}

#[tokio::test]
async fn service_bad_input() -> TestResult {
    let (client, p) = shared_client("election_bad").await?;
    let name = format!("{p}election");
    let unknown = 0x7a00_0000_0000_0000 | i64::from(std::process::id());
    let campaign = client.campaign(name.clone(), unknown, "v").timeout(Duration::from_secs(5)).await;
    assert_eq!(kind(campaign), Some(ErrorKind::LeaseNotFound));
    assert_eq!(kind(client.campaign(name.clone(), 0, "v").await), Some(ErrorKind::InvalidArgument));
    let fake = LeaderKey::from(etcd_raw::pb::v3electionpb::LeaderKey {
        name: name.clone().into(),
        key: format!("{name}/1").into(),
        rev: 1,
        lease: 1,
    });
    assert_eq!(kind(client.proclaim(&fake, "v").await), Some(ErrorKind::ElectionNotLeader));
    assert_eq!(kind(client.leader(name).await), Some(ErrorKind::ElectionNoLeader));
    Ok(())
}

#[tokio::test]
async fn service_never_elects_a_candidate_whose_lease_expired_while_waiting() -> TestResult {
    let (client, p) = shared_client("election_expired").await?;
    let name = format!("{p}election");
    let holder = client.grant(10).await?.id();
    let _alive = client.keep_alive(holder).await?;
    let leading = client.campaign(name.clone(), holder, "a").await?;
    let doomed = client.grant(2).await?.id(); // never kept alive
    let waiting = {
        let (client, name) = (client.clone(), name.clone());
        tokio::spawn(async move { client.campaign(name, doomed, "b").timeout(Duration::from_secs(15)).await })
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    client.resign(leading.leader()).await?;
    assert_eq!(kind(waiting.await?), Some(ErrorKind::SessionExpired));
    assert_eq!(kind(client.leader(name).await), Some(ErrorKind::ElectionNoLeader));
    Ok(())
}

#[tokio::test]
async fn recipe_campaign_proclaim_observe_and_hand_over_in_order() -> TestResult {
    let (client, p) = shared_client("election_recipe").await?;
    let name = format!("{p}election");
    let (one, two) = (Session::new(&client).ttl(10).await?, Session::new(&client).ttl(10).await?);
    let mut first = Election::new(&one, name.clone());
    let second = Election::new(&two, name.clone());
    let mut changes = first.observe().await?;
    assert_eq!(kind(first.leader().await), Some(ErrorKind::ElectionNoLeader));
    assert_eq!(kind(first.proclaim("not yet").await), Some(ErrorKind::ElectionNotLeader));
    first.resign().await?; // nothing to resign: fine

    first.campaign("a0").await?;
    let term = first.revision().ok_or("no term")?;
    assert_eq!(first.key().map(|k| k.to_vec()), Some(format!("{name}/{:x}", one.lease()).into_bytes()));
    first.proclaim("a1").await?;
    first.campaign("a2").await?; // campaigning as leader proclaims
    assert_eq!(first.leader().await?.kv().map(|kv| kv.value()), Some(&b"a2"[..]));

    let mut second = second;
    let handover = tokio::spawn(async move { second.campaign("b0").await.map(|()| second) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!handover.is_finished(), "elected while another leads");
    first.resign().await?;
    assert_eq!(first.revision(), None);
    let mut second = tokio::time::timeout(Duration::from_secs(3), handover).await???;
    assert!(second.revision() > Some(term));
    assert_eq!(kind(first.proclaim("late").await), Some(ErrorKind::ElectionNotLeader));
    assert_eq!(observed(&mut changes, 4).await?, ["a0", "a1", "a2", "b0"]);
    second.resign().await?;
    one.close().await?;
    two.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_whose_session_is_lost_is_never_elected() -> TestResult {
    let etcd = Etcd::start()?;
    let proxy = Proxy::start(etcd.member(0).client_addr())?;
    let direct = Client::connect([etcd.endpoint()]).await?;
    let behind = Client::new(Config::new([proxy.url()])).await?;
    let leader_session = Session::new(&direct).ttl(10).await?;
    let mut leader = Election::new(&leader_session, "cut/election");
    leader.campaign("leader").await?;

    // Cut off while waiting: its session is lost within the TTL.
    let doomed = Session::new(&behind).ttl(2).await?;
    let mut candidate = Election::new(&doomed, "cut/election");
    let waiting = tokio::spawn(async move { candidate.campaign("candidate").await });
    while direct.get("cut/election/").prefix().count_only().await?.count() < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.block(true);
    proxy.cut();
    let cut = Instant::now();
    assert_eq!(kind(tokio::time::timeout(Duration::from_secs(5), waiting).await??), Some(ErrorKind::SessionExpired));
    // Lost at most a TTL (2 s) after the last renewal, which came before the
    // cut; the rest is this task being scheduled.
    assert!(cut.elapsed() <= Duration::from_millis(2300), "noticed after {:?}", cut.elapsed());
    proxy.block(false);

    // Revoked while waiting: the same.
    let revoked = Session::new(&direct).ttl(10).await?;
    let mut candidate = Election::new(&revoked, "cut/election");
    let waiting = tokio::spawn(async move { candidate.campaign("candidate").await.map(|()| candidate) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    direct.revoke(revoked.lease()).await?;
    leader.resign().await?;
    assert_eq!(kind(tokio::time::timeout(Duration::from_secs(3), waiting).await??), Some(ErrorKind::SessionExpired));

    // Dropped while waiting: the candidacy is withdrawn.
    leader.campaign("leader").await?;
    let patient = Session::new(&direct).ttl(10).await?;
    let mut candidate = Election::new(&patient, "cut/election");
    assert!(tokio::time::timeout(Duration::from_millis(300), candidate.campaign("c")).await.is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(direct.get("cut/election/").prefix().count_only().await?.count(), 1);
    assert_eq!(leader.leader().await?.kv().map(|kv| kv.value()), Some(&b"leader"[..]));
    Ok(())
}

/// One term: when the candidate learnt it leads, and when it stopped
/// acting as leader (just before resigning).
struct Term {
    revision: i64,
    start: Instant,
    end: Instant,
}

/// Campaigns, acts as leader for a moment (a write guarded by the term),
/// resigns, and again, until told to stop.
async fn candidate(
    endpoints: Vec<String>,
    name: String,
    id: usize,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Term>, etcd_raw::Error> {
    let client = Client::new(Config::new(endpoints).request_timeout(Duration::from_secs(2))).await?;
    let mut terms = Vec::new();
    let mut session = Session::new(&client).ttl(5).await?;
    let mut election = Election::new(&session, name.clone());
    while !stop.load(Ordering::Relaxed) {
        if session.is_expired() {
            session = Session::new(&client).ttl(5).await?;
            election = Election::new(&session, name.clone());
        }
        match tokio::time::timeout(Duration::from_secs(1), election.campaign(id.to_string())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.kind() == ErrorKind::SessionExpired || e.is_retryable() || e.outcome_unknown() => continue,
            Ok(Err(e)) => return Err(e),
            Err(_) => continue, // not elected yet; withdraw and campaign again
        }
        let start = Instant::now();
        let revision = election.revision().unwrap_or(0);
        let key = election.key().cloned().unwrap_or_default();
        let term = Compare::create_revision(key, CompareOp::Equal, revision);
        let _ =
            client.txn().when([term]).and_then([Put::new(format!("{name}-terms/{revision}"), id.to_string())]).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let end = Instant::now();
        terms.push(Term { revision, start, end });
        while let Err(e) = election.resign().await {
            if !(e.is_retryable() || e.outcome_unknown() || e.kind() == ErrorKind::DeadlineExceeded) {
                return Err(e);
            }
        }
    }
    Ok(terms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_one_leader_at_a_time_while_members_are_killed() -> TestResult {
    let mut cluster = Cluster::start(3)?;
    let name = "kills/election".to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let candidates: Vec<_> =
        (0..4).map(|id| tokio::spawn(candidate(cluster.endpoints(), name.clone(), id, Arc::clone(&stop)))).collect();
    // An observer sees every leader, in term order.
    let observer_client = Client::connect(cluster.endpoints()).await?;
    let mut changes = observer_client.observe(name.clone()).await?;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let observer = {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some(change) = changes.message().await {
                let Some(kv) = change?.kv().cloned() else { continue };
                seen.lock().map(|mut seen| seen.push(kv.create_revision())).unwrap_or(());
            }
            Ok::<_, etcd_raw::Error>(())
        })
    };

    tokio::time::sleep(Duration::from_secs(2)).await;
    for member in [0, 1, 2] {
        tokio::task::block_in_place(|| cluster.kill(member))?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tokio::task::block_in_place(|| cluster.restart(member))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut terms = Vec::new();
    for task in candidates {
        terms.extend(tokio::time::timeout(Duration::from_secs(20), task).await???);
    }
    assert!(!observer.is_finished(), "the observation ended: {:?}", observer.await);
    observer.abort();
    let seen = seen.lock().map_err(|_| "poisoned")?.clone();
    assert!(!seen.is_empty(), "observed no leader in {} terms", terms.len());
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "leaders observed out of order: {seen:?}");

    assert!(terms.len() >= 10, "only {} terms", terms.len());
    terms.sort_by_key(|t| t.start);
    let overlaps = terms.windows(2).filter(|w| w[1].start < w[0].end).count();
    assert!(terms.windows(2).all(|w| w[0].revision < w[1].revision), "terms out of revision order");
    eprintln!("{} terms under member kills, {overlaps} overlapping", terms.len());
    assert_eq!(overlaps, 0);
    // The guarded writes of every term went through, and no other.
    let written = observer_client.get(format!("{name}-terms/")).prefix().count_only().await?.count();
    assert!(written as usize <= terms.len() && written > 0, "{written} guarded writes for {} terms", terms.len());
    support::assert_members_agree(&cluster).await?;
    Ok(())
}
