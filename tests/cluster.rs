//! The Cluster service against a real 3-member cluster: list, add a
//! learner (a real etcd process joins), promote it, update and remove
//! members, and the membership errors.
#![cfg(feature = "testkit")]

mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_raw::testkit::Cluster;
use etcd_raw::{Client, Config, ErrorKind};
use support::TestResult;

/// An etcd process started by the test to join the cluster; killed (and
/// its directory removed) on drop.
struct Joiner {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Joiner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[tokio::test]
async fn add_a_learner_promote_it_update_and_remove_members() -> TestResult {
    let cluster = Cluster::start(3)?;
    let client = Client::new(Config::new(cluster.endpoints())).await?;

    let listed = client.member_list().await?;
    assert_eq!(listed.members().len(), 3);
    let mut names: Vec<&str> = listed.members().iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["etcd-0", "etcd-1", "etcd-2"]);
    for member in listed.members() {
        assert!(!member.is_learner);
        assert!(cluster.endpoints().contains(&member.client_ur_ls[0]), "{member:?}");
    }
    if support::etcd_version() >= (3, 5) {
        assert_eq!(client.member_list().linearizable().await?.members().len(), 3);
    }

    // A learner joins: added first, then started with the cluster's view.
    let peer = format!("http://127.0.0.1:{}", free_port()?);
    let client_url = format!("http://127.0.0.1:{}", free_port()?);
    let added = when_healthy!(client.member_add_as_learner([peer.clone()]))?;
    let learner = added.member().ok_or("no member in the answer")?.clone();
    assert!(learner.is_learner && learner.name.is_empty(), "{learner:?}");
    assert_eq!(added.members().len(), 4);
    let initial: Vec<String> = added
        .members()
        .iter()
        .map(|m| format!("{}={}", if m.id == learner.id { "learner" } else { &m.name }, m.peer_ur_ls[0]))
        .collect();
    let dir = std::env::temp_dir().join(format!("etcd-raw-learner-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let log = std::fs::File::create(dir.join("etcd.log"))?;
    let mut command = Command::new(&cluster.binary().etcd);
    // etcd reads ETCD_* variables as flags (ETCD_VERSION among them).
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCD") {
            command.env_remove(name);
        }
    }
    command
        .arg("--name=learner")
        .arg(format!("--data-dir={}", dir.join("data").display()))
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
    let joiner = Joiner { child: command.spawn()?, dir };

    // Promotion waits until the learner has caught up.
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        match client.member_promote(learner.id).await {
            Ok(promoted) => {
                assert!(promoted.members().iter().all(|m| !m.is_learner));
                break;
            }
            Err(e) if e.kind() == ErrorKind::LearnerNotReady && Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                let log = std::fs::read_to_string(joiner.dir.join("etcd.log")).unwrap_or_default();
                return Err(format!("{e}; the learner's log:\n{log}").into());
            }
        }
    }
    // A member list is the answering member's own view, which may not have
    // applied the promotion yet.
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = client.member_list().await?;
        assert_eq!(listed.members().len(), 4);
        let joined = listed.members().iter().find(|m| m.id == learner.id).ok_or("learner gone")?;
        assert_eq!(joined.name, "learner");
        if !joined.is_learner {
            break;
        }
        assert!(Instant::now() < give_up, "still a learner in the member list 10 s after its promotion");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Updating peer URLs (to the same ones) and the errors of promote and remove.
    let updated = when_healthy!(client.member_update(learner.id, [peer.clone()]))?;
    assert_eq!(updated.members().len(), 4);
    // etcd checks that the member is in sync before that it is a learner,
    // so a voter that lags the leader is refused as LearnerNotReady first.
    let give_up = Instant::now() + Duration::from_secs(30);
    let not_learner = loop {
        let error = client.member_promote(learner.id).await.err().ok_or("promoted a voter")?;
        if error.kind() != ErrorKind::LearnerNotReady || Instant::now() >= give_up {
            break error;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(not_learner.kind(), ErrorKind::MemberNotLearner, "{not_learner}");
    assert!(!not_learner.outcome_unknown());
    let bad_urls = when_healthy!(client.member_add(["not a url"])).err().ok_or("added a bad URL")?;
    assert_eq!(bad_urls.kind(), ErrorKind::MemberBadUrls, "{bad_urls}");
    let exists = when_healthy!(client.member_add([peer.clone()])).err().ok_or("added a member twice")?;
    assert_eq!(exists.kind(), ErrorKind::PeerUrlExist, "{exists}");

    // Remove the member that joined.
    let removed = when_healthy!(client.member_remove(learner.id))?;
    assert_eq!(removed.members().len(), 3);
    assert!(removed.members().iter().all(|m| m.id != learner.id));
    drop(joiner);
    let missing = when_healthy!(client.member_remove(learner.id)).err().ok_or("removed a member twice")?;
    assert_eq!(missing.kind(), ErrorKind::MemberNotFound, "{missing}");
    assert_eq!(client.member_list().await?.members().len(), 3);
    client.put("after/removal", "v").await?;
    Ok(())
}
