//! `Client::snapshot_to_file` against a real etcd: the file it writes
//! restores (etcdutl, or etcdctl before 3.5) into a data directory that a
//! new member starts from with the keys; failures leave nothing behind.
#![cfg(feature = "testkit")]

mod support;

use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use etcd_raw::testkit::{Etcd, EtcdBinary};
use etcd_raw::{Client, Config, ErrorKind, Put};
use support::scratch::{etcd_command, free_url, Scratch};
use support::{shared_client, TestResult};

fn part_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Restores `snapshot` into `data_dir` as the one member `name` at `peer`:
/// with etcdutl where the release has it (3.5+), else `etcdctl snapshot
/// restore` (3.4, and 3.5.1 whose etcdutl is not installed here).
fn restore(binary: &EtcdBinary, snapshot: &Path, data_dir: &Path, name: &str, peer: &str) -> TestResult {
    let mut command = match (binary.etcdutl(), &binary.etcdctl) {
        (Some(utl), _) => etcd_command(&utl),
        (None, Some(ctl)) => {
            let mut command = etcd_command(ctl);
            command.env("ETCDCTL_API", "3");
            command
        }
        (None, None) => return Err("neither etcdutl nor etcdctl beside the etcd binary".into()),
    };
    let output = command
        .args(["snapshot", "restore"])
        .arg(snapshot)
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg(format!("--name={name}"))
        .arg(format!("--initial-cluster={name}={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .output()?;
    if !output.status.success() {
        return Err(format!("restore failed: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(())
}

#[tokio::test]
async fn a_saved_snapshot_restores_and_a_member_started_from_it_has_the_keys() -> TestResult {
    let etcd = Etcd::start()?;
    let client = Client::new(Config::new([etcd.endpoint()])).await?;
    for i in 0..50 {
        client.put(format!("snap/k{i:02}"), format!("v{i}")).await?;
    }
    let mut scratch = Scratch::new("snapfile-restore")?;
    let path = scratch.dir.join("backup.db");

    let saved = client.snapshot_to_file(&path).endpoint(etcd.endpoint()).await?;
    assert_eq!(saved.path(), path.as_path());
    assert_eq!(saved.size(), std::fs::metadata(&path)?.len());
    assert_eq!(saved.size() % 512, 32, "the database and its checksum");
    assert_eq!(saved.endpoint(), etcd.endpoint());
    assert!(saved.version().starts_with("3."), "{saved:?}");
    assert!(!part_of(&path).exists());

    // Restore it and start a new member from it.
    let (peer, url) = (free_url()?, free_url()?);
    let data_dir = scratch.dir.join("restored");
    restore(etcd.binary(), &path, &data_dir, "restored", &peer)?;
    let log = std::fs::File::create(scratch.dir.join("etcd.log"))?;
    let child = etcd_command(&etcd.binary().etcd)
        .arg("--name=restored")
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg(format!("--listen-client-urls={url}"))
        .arg(format!("--advertise-client-urls={url}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=restored={peer}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    scratch.child = Some(child);
    let give_up = Instant::now() + Duration::from_secs(20);
    let found = loop {
        let read = async { Client::new(Config::new([url.clone()])).await?.get("snap/").prefix().await };
        match read.await {
            Ok(found) => break found,
            Err(e) if Instant::now() < give_up => {
                eprintln!("waiting for the restored member: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(format!("{e}; the restored member's log:\n{}", scratch.log()).into());
            }
        }
    };
    assert_eq!(found.kvs().len(), 50);
    assert_eq!(found.kvs()[7].key_str()?, "snap/k07");
    assert_eq!(found.kvs()[7].value_str()?, "v7");
    Ok(())
}

#[tokio::test]
async fn a_failed_save_leaves_an_existing_file_alone_and_no_part() -> TestResult {
    let (client, prefix) = shared_client("snapshot_file_failures").await?;
    let scratch = Scratch::new("snapfile-failures")?;
    let path = scratch.dir.join("backup.db");
    std::fs::write(&path, "the previous backup")?;

    // Not one of the client's endpoints.
    let error = client.snapshot_to_file(&path).endpoint("http://127.0.0.1:1").await.err().ok_or("saved")?;
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    assert_eq!(std::fs::read_to_string(&path)?, "the previous backup");
    assert!(!part_of(&path).exists());

    // A deadline that passes mid-transfer. Two more MiB in the database
    // keep the transfer going past 1 ms even on a loaded machine: a whole
    // small snapshot could be received, and its commit begun, before the
    // timer was seen to fire.
    for batch in 0..4 {
        let puts = (0..4).map(|i| Put::new(format!("{prefix}big/{batch}-{i}"), vec![b'x'; 128 * 1024]));
        client.txn().and_then(puts).await?;
    }
    let error = client.snapshot_to_file(&path).timeout(Duration::from_millis(1)).await.err().ok_or("saved")?;
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
    assert_eq!(std::fs::read_to_string(&path)?, "the previous backup");
    assert!(!part_of(&path).exists());

    // A directory that does not exist.
    let nowhere = scratch.dir.join("missing").join("backup.db");
    let error = client.snapshot_to_file(&nowhere).await.err().ok_or("saved")?;
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");
    assert!(error.message().contains("backup.db.part"), "{error}");
    let source = std::error::Error::source(&error).and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(source.map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound), "{error}");

    // And a whole one replaces the file.
    let saved = client.snapshot_to_file(&path).await?;
    assert_eq!(std::fs::metadata(&path)?.len(), saved.size());
    assert!(!part_of(&path).exists());
    Ok(())
}

#[tokio::test]
async fn a_snapshot_interrupted_mid_stream_leaves_no_file_and_no_part() -> TestResult {
    let mut etcd = Etcd::start()?;
    let client = Client::new(Config::new([etcd.endpoint()])).await?;
    // 20 MB of values, so the transfer is under way when the member dies.
    for batch in 0..50 {
        let puts = (0..100).map(|i| Put::new(format!("big/{batch:02}-{i:03}"), vec![b'x'; 4096]));
        client.txn().and_then(puts).await?;
    }
    let scratch = Scratch::new("snapfile-interrupted")?;
    let path = scratch.dir.join("backup.db");
    let part = part_of(&path);
    let saving = tokio::spawn(client.snapshot_to_file(&path).into_future());

    // Once the first megabyte is on disk, stop the member and kill it.
    let give_up = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < 1024 * 1024 {
        assert!(!saving.is_finished(), "the snapshot ended before 1 MiB was written");
        assert!(Instant::now() < give_up, "no snapshot bytes after 20 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    etcd.pause(0)?;
    etcd.kill(0)?;

    let error = saving.await?.err().ok_or("a snapshot of a killed member was saved")?;
    assert!(matches!(error.kind(), ErrorKind::Unavailable | ErrorKind::Canceled), "{error:?}");
    assert!(!path.exists(), "a partial snapshot under the final name");
    assert!(!part.exists(), "the .part file was left behind");
    Ok(())
}
