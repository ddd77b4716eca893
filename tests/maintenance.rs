//! The Maintenance service against a real 3-member cluster: status per
//! endpoint, alarms, defragment, hashes, a snapshot saved to a file and
//! checked, leader transfer, downgrade errors.
#![cfg(feature = "testkit")]

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use etcd_raw::maintenance::{AlarmType, Downgrade};
use etcd_raw::testkit::Cluster;
use etcd_raw::{Client, Config, ErrorKind};
use support::TestResult;

#[tokio::test]
async fn maintenance_calls_against_a_cluster() -> TestResult {
    let cluster = Cluster::start(3)?;
    let endpoints = cluster.endpoints();
    let client = Client::new(Config::new(endpoints.clone())).await?;
    for i in 0..50 {
        client.put(format!("m/{i}"), vec![b'x'; 1024]).await?;
    }

    // Status goes to the endpoint named, and there only.
    let mut leaders = Vec::new();
    let mut ids = Vec::new();
    for endpoint in &endpoints {
        let status = client.status(endpoint).await?;
        let binary = cluster.binary().version.clone();
        assert_eq!(status.version(), binary, "{endpoint}");
        assert!(status.db_size() > 0 && status.raft_index() > 0 && status.raft_term() > 0);
        assert!(!status.is_learner());
        leaders.push(status.leader());
        ids.push(status.member_id());
        if status.is_leader() {
            assert_eq!(status.leader(), status.member_id());
        }
    }
    assert!(leaders.iter().all(|&l| l == leaders[0] && l != 0), "{leaders:?}");
    let bare = endpoints[1].trim_start_matches("http://").to_string();
    assert_eq!(client.status(bare).await?.member_id(), ids[1], "host:port names the same endpoint");
    let unknown = client.status("127.0.0.1:1").await.err().ok_or("status of a stranger")?;
    assert_eq!(unknown.kind(), ErrorKind::InvalidArgument);

    // Alarms: none; disarming one that is not raised is fine.
    assert!(client.alarm_list().await?.alarms().is_empty());
    client.alarm_disarm(ids[0], AlarmType::Nospace).await?;

    // Defragment one member.
    client.defragment(&endpoints[0]).timeout(Duration::from_secs(20)).await?;
    let after = client.status(&endpoints[0]).await?;
    assert!(after.db_size_in_use() <= after.db_size());

    // Every member has the same key-value history.
    let revision = client.put("m/last", "v").await?.header().revision();
    let mut hashes = Vec::new();
    for endpoint in &endpoints {
        let give_up = Instant::now() + Duration::from_secs(5);
        loop {
            match client.hash_kv(endpoint, revision).await {
                Ok(hash) => {
                    hashes.push(hash.hash());
                    break;
                }
                Err(e) if e.kind() == ErrorKind::FutureRev && Instant::now() < give_up => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        assert_ne!(client.hash(endpoint).await?.hash(), 0);
    }
    assert!(hashes.iter().all(|&h| h == hashes[0]), "{hashes:?}");

    // Downgrade: errors are typed (3.5+), 3.4 does not know the RPC; a
    // cancel with nothing to cancel is an error only on 3.5 (tests/downgrade.rs
    // has the rest).
    let cancel = client.downgrade(Downgrade::Cancel, "").await;
    let bad = client.downgrade(Downgrade::Validate, "three").await.err().ok_or("bad version accepted")?;
    if support::etcd_version() >= (3, 6) {
        cancel?;
        assert_eq!(bad.kind(), ErrorKind::WrongDowngradeVersionFormat, "{bad}");
    } else if support::etcd_version() >= (3, 5) {
        let cancel = cancel.err().ok_or("cancelled nothing")?;
        assert_eq!(cancel.kind(), ErrorKind::NoInflightDowngrade, "{cancel}");
        assert_eq!(bad.kind(), ErrorKind::WrongDowngradeVersionFormat, "{bad}");
    } else {
        let cancel = cancel.err().ok_or("3.4 answered Downgrade")?;
        assert_eq!(cancel.kind(), ErrorKind::Unimplemented, "{cancel}");
        assert_eq!(bad.kind(), ErrorKind::Unimplemented, "{bad}");
    }
    Ok(())
}

#[tokio::test]
async fn a_snapshot_streams_to_a_file_that_checks_out() -> TestResult {
    let cluster = Cluster::start(3)?;
    let endpoints = cluster.endpoints();
    let client = Client::new(Config::new(endpoints.clone())).await?;
    for i in 0..200 {
        client.put(format!("s/{i:04}"), vec![b'y'; 4096]).await?;
    }
    let db_before = client.status(&endpoints[2]).await?.db_size() as u64;
    let mut snapshot = client.snapshot().endpoint(&endpoints[2]).await?;
    let path = std::env::temp_dir().join(format!("etcd-raw-snapshot-{}.db", std::process::id()));
    let mut file = std::fs::File::create(&path)?;
    let mut chunks = 0;
    while let Some(chunk) = snapshot.next_chunk().await {
        file.write_all(&chunk?)?;
        chunks += 1;
    }
    file.sync_all()?;
    drop(file);
    let bytes = std::fs::read(&path)?;
    std::fs::remove_file(&path)?;
    assert_eq!(bytes.len() as u64, snapshot.received());
    assert!(chunks > 1, "{chunks} chunks");
    // The database, then its SHA-256: what `etcdctl snapshot save` writes.
    let (db, digest) = bytes.split_at(bytes.len() - 32);
    // The member's whole backend: at least the data written, and the size
    // its status reports at the last commit before the snapshot. That size
    // only grows, and the member may still have been applying the writes
    // when first asked (its backend commits in batches).
    let db_len = db.len() as u64;
    assert!(db_len > 200 * 4096, "snapshot of {db_len} B");
    let db_after = client.status(&endpoints[2]).await?.db_size() as u64;
    assert!(db_before <= db_len && db_len <= db_after, "backend {db_before} B, snapshot {db_len} B, then {db_after} B");
    assert_eq!(ring::digest::digest(&ring::digest::SHA256, db).as_ref(), digest);
    assert_eq!(snapshot.remaining(), Some(0));

    // Any endpoint will do, too.
    let mut any = client.snapshot().await?;
    let mut total = 0u64;
    while let Some(chunk) = any.next_chunk().await {
        total += chunk?.len() as u64;
    }
    assert!(total > 200 * 4096);
    Ok(())
}

#[tokio::test]
async fn move_leader_transfers_leadership() -> TestResult {
    let cluster = Cluster::start(3)?;
    let endpoints = cluster.endpoints();
    let client = Client::new(Config::new(endpoints.clone())).await?;
    let mut leader = 0;
    let mut follower = 0;
    for endpoint in &endpoints {
        let status = client.status(endpoint).await?;
        if status.is_leader() {
            leader = status.member_id();
        } else {
            follower = status.member_id();
        }
    }
    assert!(leader != 0 && follower != 0);
    client.move_leader(follower).timeout(Duration::from_secs(10)).await?;
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let now = client.status(&endpoints[0]).await?.leader();
        if now == follower {
            break;
        }
        assert!(Instant::now() < give_up, "leader is still {now:x}, not {follower:x}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let unknown = client.move_leader(0xdead).await.err().ok_or("moved to a stranger")?;
    assert_eq!(unknown.kind(), ErrorKind::BadLeaderTransferee, "{unknown}");
    Ok(())
}
