//! The Cluster service against a real 3-member cluster: list, add a
//! learner (a real etcd process joins), promote it, update and remove
//! members, and the membership errors.
#![cfg(feature = "testkit")]

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use etcd_raw::testkit::Cluster;
use etcd_raw::{Client, Config, ErrorKind};
use support::scratch::{etcd_command, free_url, Scratch};
use support::TestResult;

/// etcd refuses membership changes until every member has been connected
/// for 5 s (`--strict-reconfig-check`), with Unhealthy: nothing applied,
/// so the test tries again.
macro_rules! when_healthy {
    ($call:expr) => {{
        let give_up = Instant::now() + Duration::from_secs(20);
        loop {
            match $call.await {
                Err(e) if e.kind() == ErrorKind::Unhealthy && Instant::now() < give_up => {
                    assert!(!e.outcome_unknown(), "{e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => break other,
            }
        }
    }};
}

/// Seconds since the Unix epoch on this machine, which etcd's clock shares.
fn unix_second() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[tokio::test]
async fn add_a_learner_promote_it_update_and_remove_members() -> TestResult {
    let cluster = Cluster::start(3)?;
    let client = Client::new(Config::new(cluster.endpoints())).await?;

    let listed = client.member_list().await?;
    assert_eq!(listed.members().len(), 3);
    let mut names: Vec<&str> = listed.members().iter().map(|m| m.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["etcd-0", "etcd-1", "etcd-2"]);
    for member in listed.members() {
        assert!(!member.is_learner());
        assert!(cluster.endpoints().contains(&member.client_urls()[0]), "{member:?}");
    }
    assert_eq!(client.member_list().serializable().await?.members().len(), 3);

    // A learner joins: added first, then started with the cluster's view.
    let peer = free_url()?;
    let client_url = free_url()?;
    let added = when_healthy!(client.member_add_as_learner([peer.clone()]))?;
    let added_at = unix_second();
    let learner = added.member().ok_or("no member in the answer")?.clone();
    assert!(learner.is_learner() && learner.name().is_empty(), "{learner:?}");
    assert_eq!(added.members().len(), 4);
    let initial: Vec<String> = added
        .members()
        .iter()
        .map(|m| format!("{}={}", if m.id() == learner.id() { "learner" } else { m.name() }, m.peer_urls()[0]))
        .collect();
    // An etcd process of the test's own joins; killed on drop.
    let mut joiner = Scratch::new("learner")?;
    let log = std::fs::File::create(joiner.dir.join("etcd.log"))?;
    let mut command = etcd_command(&cluster.binary().etcd);
    command
        .arg("--name=learner")
        .arg(format!("--data-dir={}", joiner.dir.join("data").display()))
        .arg(format!("--listen-client-urls={client_url}"))
        .arg(format!("--advertise-client-urls={client_url}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster={}", initial.join(",")))
        .arg("--initial-cluster-state=existing")
        .args(["--logger=zap", "--log-level=error"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    joiner.child = Some(command.spawn()?);

    // Promotion waits until the learner has caught up.
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        match client.member_promote(learner.id()).await {
            Ok(promoted) => {
                assert!(promoted.members().iter().all(|m| !m.is_learner()));
                break;
            }
            Err(e) if e.kind() == ErrorKind::LearnerNotReady && Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(format!("{e}; the learner's log:\n{}", joiner.log()).into());
            }
        }
    }
    // A linearizable member list (the default) shows the promotion at once,
    // whichever member answers; etcd 3.4 ignores the option and answers
    // from the member's own view, which may not have applied it yet.
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = client.member_list().await?;
        assert_eq!(listed.members().len(), 4);
        let joined = listed.members().iter().find(|m| m.id() == learner.id()).ok_or("learner gone")?;
        assert_eq!(joined.name(), "learner");
        if !joined.is_learner() {
            break;
        }
        assert!(support::etcd_version() < (3, 5), "a linearizable member list missed the promotion");
        assert!(Instant::now() < give_up, "still a learner in the member list 10 s after its promotion");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Updating peer URLs (to the same ones) and the errors of promote and remove.
    let updated = when_healthy!(client.member_update(learner.id(), [peer.clone()]))?;
    assert_eq!(updated.members().len(), 4);
    // etcd checks that the member is in sync before that it is a learner,
    // so a voter that lags the leader is refused as LearnerNotReady first.
    let give_up = Instant::now() + Duration::from_secs(30);
    let not_learner = loop {
        let error = client.member_promote(learner.id()).await.err().ok_or("promoted a voter")?;
        if error.kind() != ErrorKind::LearnerNotReady || Instant::now() >= give_up {
            break error;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(not_learner.kind(), ErrorKind::MemberNotLearner, "{not_learner}");
    assert!(!not_learner.outcome_unknown());
    let bad_urls = when_healthy!(client.member_add(["not a url"])).err().ok_or("added a bad URL")?;
    assert_eq!(bad_urls.kind(), ErrorKind::MemberBadUrls, "{bad_urls}");
    // etcd names a new member hash(peer URLs, Unix second of the request)
    // and checks the id before the URLs: the same URLs again within the
    // same second are MemberExist, later ones PeerUrlExist, in every
    // version. (A fast server, 3.7 here, gets this far within the second
    // the learner was added in.)
    while unix_second() <= added_at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exists = when_healthy!(client.member_add([peer.clone()])).err().ok_or("added a member twice")?;
    assert_eq!(exists.kind(), ErrorKind::PeerUrlExist, "{exists}");
    let other_peer = free_url()?;
    let started = unix_second();
    let other = when_healthy!(client.member_add_as_learner([other_peer.clone()]))?;
    let other = other.member().ok_or("no member in the answer")?.id();
    let again = client.member_add_as_learner([other_peer]).await.err().ok_or("added a learner twice")?;
    if unix_second() == started {
        assert_eq!(again.kind(), ErrorKind::MemberExist, "{again}");
    } else {
        assert!(matches!(again.kind(), ErrorKind::MemberExist | ErrorKind::PeerUrlExist), "{again}");
    }
    assert!(!again.outcome_unknown());
    when_healthy!(client.member_remove(other))?;

    // Remove the member that joined.
    let removed = when_healthy!(client.member_remove(learner.id()))?;
    assert_eq!(removed.members().len(), 3);
    assert!(removed.members().iter().all(|m| m.id() != learner.id()));
    drop(joiner);
    let missing = when_healthy!(client.member_remove(learner.id())).err().ok_or("removed a member twice")?;
    assert_eq!(missing.kind(), ErrorKind::MemberNotFound, "{missing}");
    assert_eq!(client.member_list().await?.members().len(), 3);
    client.put("after/removal", "v").await?;
    Ok(())
}

#[tokio::test]
async fn member_list_asks_the_leader_unless_serializable() -> TestResult {
    let cluster = Cluster::builder().members(3).peer_proxies(true).start()?;
    let endpoint = cluster.member(2).client_url();
    let client = Client::new(Config::new([endpoint.clone()]).request_timeout(Duration::from_secs(3))).await?;
    assert_eq!(client.member_list().await?.members().len(), 3);
    // Cut the member off from its peers: a linearizable list needs the
    // leader to confirm the read, the member's own view does not.
    cluster.isolate(2)?;
    let started = Instant::now();
    let local = client.member_list().serializable().await?;
    assert_eq!(local.members().len(), 3);
    assert_eq!(local.header().member_id(), client.status(&endpoint).await?.member_id());
    let linearizable = client.member_list().await;
    if support::etcd_version() >= (3, 5) {
        let error = linearizable.err().ok_or("a linearizable member list without a quorum")?;
        // The member waits for the leader until the call's deadline. Which
        // side gives up first is a race: the client's own timer
        // (DeadlineExceeded), or the server's, which resets the stream
        // with CANCEL (Canceled).
        assert!(matches!(error.kind(), ErrorKind::DeadlineExceeded | ErrorKind::Canceled), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    } else {
        // 3.4 does not know the option: the member's own view.
        assert_eq!(linearizable?.members().len(), 3);
    }
    cluster.heal(2)?;
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        match client.member_list().await {
            Ok(listed) => {
                assert_eq!(listed.members().len(), 3);
                break;
            }
            Err(_) if Instant::now() < give_up => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
