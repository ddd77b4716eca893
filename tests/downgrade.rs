//! Cluster downgrade (Maintenance.Downgrade: validate, enable, cancel)
//! against a real 3-member cluster, and the 3.6 Status and HashKV fields
//! that show it. Each etcd line answers differently; every branch asserts
//! what its line does:
//!
//! - 3.4 does not know the RPC: Unimplemented.
//! - 3.5 validates and refuses like later lines, but refuses a cancel with
//!   nothing to cancel (NoInflightDowngrade), answers the validation with
//!   the full cluster version (`3.5.0`), never reports the downgrade in
//!   Status, and never answers an enable or a real cancel: the change is
//!   applied, but the member hands no result back for it and answers
//!   `etcdserver: request timed out` after its request timeout (or the
//!   caller's deadline comes first).
//! - 3.6 and 3.7 answer with `major.minor`, accept a cancel with nothing to
//!   cancel, and lower the cluster version (and each member's storage
//!   version) to the target a few seconds after the enable, after which
//!   the same target is no longer valid.
#![cfg(feature = "testkit")]

mod support;

use std::time::{Duration, Instant};

use etcd_raw::maintenance::Downgrade;
use etcd_raw::testkit::Cluster;
use etcd_raw::{Client, Config, ErrorKind, GrpcCode};
use support::{etcd_release, TestResult};

/// Waits until every member's status passes `check`.
async fn until_every_member<F>(client: &Client, what: &str, check: F) -> TestResult
where
    F: Fn(&etcd_raw::maintenance::StatusResponse) -> bool,
{
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all = true;
        let mut seen = Vec::new();
        for endpoint in client.endpoints() {
            let status = client.status(&endpoint).await?;
            all &= check(&status);
            seen.push((status.storage_version().to_string(), status.downgrade_info().cloned()));
        }
        if all {
            return Ok(());
        }
        if Instant::now() > give_up {
            return Err(format!("not every member {what} within 30 s: {seen:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn downgrade_validate_enable_and_cancel() -> TestResult {
    let cluster = Cluster::start(3)?;
    let client = Client::new(Config::new(cluster.endpoints())).await?;
    let (major, minor, _) = etcd_release();
    let endpoint = &cluster.endpoints()[0];
    let revision = client.put("d/k", "v").await?.header().revision();

    if (major, minor) < (3, 5) {
        for action in [Downgrade::Validate, Downgrade::Enable, Downgrade::Cancel] {
            let missing = client.downgrade(action, "3.3").await.err().ok_or("3.4 answered Downgrade")?;
            assert_eq!(missing.kind(), ErrorKind::Unimplemented, "{missing}");
            assert_eq!(missing.grpc_code(), Some(GrpcCode::Unimplemented), "{missing}");
            assert!(missing.message().contains("needs etcd 3.5 or newer"), "{missing}");
        }
    }

    // The 3.6 fields: filled in from 3.6, empty before.
    let own = format!("{major}.{minor}.0");
    let status = client.status(endpoint).await?;
    let hashed = client.hash_kv(endpoint, 0).await?;
    if (major, minor) >= (3, 6) {
        assert_eq!(status.db_size_quota(), 2 * 1024 * 1024 * 1024, "etcd's default quota");
        let info = status.downgrade_info().ok_or("no downgrade info from 3.6+")?;
        assert!(!info.enabled && info.target_version.is_empty(), "{info:?}");
        assert!(hashed.hash_revision() >= revision, "{}", hashed.hash_revision());
        // A new member's data has no storage version until the cluster
        // version is agreed (CI saw "" on 3.6.16), then the 3.5 format
        // for a moment, and then its own version.
        assert!(["", "3.5.0", own.as_str()].contains(&status.storage_version()), "{}", status.storage_version());
        until_every_member(&client, "stores its own format", |s| s.storage_version() == own).await?;
    } else {
        assert_eq!(status.storage_version(), "");
        assert_eq!(status.db_size_quota(), 0);
        assert!(status.downgrade_info().is_none());
        assert_eq!(hashed.hash_revision(), 0);
    }
    if (major, minor) < (3, 5) {
        return Ok(());
    }

    let current = format!("{major}.{minor}");
    let target = format!("{major}.{}", minor - 1);
    let too_far = format!("{major}.{}", minor - 2);
    let cluster_version = if minor >= 6 { current.clone() } else { format!("{current}.0") };

    // Nothing to cancel: an error on 3.5, a success from 3.6.
    let cancel = client.downgrade(Downgrade::Cancel, "").await;
    if minor >= 6 {
        assert_eq!(cancel?.version(), cluster_version);
    } else {
        let error = cancel.err().ok_or("3.5 cancelled nothing")?;
        assert_eq!(error.kind(), ErrorKind::NoInflightDowngrade, "{error}");
        assert_eq!(error.grpc_code(), Some(GrpcCode::FailedPrecondition));
        assert!(!error.outcome_unknown());
    }

    // Validation: only one minor version down.
    let bad = client.downgrade(Downgrade::Validate, "three").await.err().ok_or("bad version accepted")?;
    assert_eq!(bad.kind(), ErrorKind::WrongDowngradeVersionFormat, "{bad}");
    assert_eq!(bad.grpc_code(), Some(GrpcCode::InvalidArgument));
    for invalid in [too_far.as_str(), current.as_str(), "3.9"] {
        let error = client.downgrade(Downgrade::Validate, invalid).await.err().ok_or("invalid target accepted")?;
        assert_eq!(error.kind(), ErrorKind::InvalidDowngradeTargetVersion, "{invalid}: {error}");
        assert_eq!(error.grpc_code(), Some(GrpcCode::InvalidArgument));
    }
    assert_eq!(client.downgrade(Downgrade::Validate, target.as_str()).await?.version(), cluster_version);
    // A patch number is accepted and dropped.
    assert_eq!(client.downgrade(Downgrade::Validate, format!("{target}.9")).await?.version(), cluster_version);
    let refused = client.downgrade(Downgrade::Enable, too_far.as_str()).await.err().ok_or("enabled too far")?;
    assert_eq!(refused.kind(), ErrorKind::InvalidDowngradeTargetVersion, "{refused}");

    if minor >= 6 {
        assert_eq!(client.downgrade(Downgrade::Enable, target.as_str()).await?.version(), cluster_version);
        // At once: a second downgrade is refused as in progress (or, if the
        // cluster version already went down, its target is no longer one
        // below).
        let again = client.downgrade(Downgrade::Validate, target.as_str()).await.err().ok_or("validated twice")?;
        assert!(
            matches!(again.kind(), ErrorKind::DowngradeInProcess | ErrorKind::InvalidDowngradeTargetVersion),
            "{again}"
        );
        // Every member reports it, and soon stores the target's format.
        let wanted = format!("{target}.0");
        until_every_member(&client, "reports the downgrade and stores the target's format", |s| {
            s.downgrade_info().is_some_and(|d| d.enabled && d.target_version == wanted) && s.storage_version() == wanted
        })
        .await?;
        // The cluster version is the target now: one further down is the
        // valid next target, and it is refused as in progress.
        let in_progress = client.downgrade(Downgrade::Validate, too_far.as_str()).await.err().ok_or("validated")?;
        assert_eq!(in_progress.kind(), ErrorKind::DowngradeInProcess, "{in_progress}");
        assert_eq!(in_progress.grpc_code(), Some(GrpcCode::FailedPrecondition));
        assert!(!in_progress.outcome_unknown());
        let stale = client.downgrade(Downgrade::Validate, target.as_str()).await.err().ok_or("validated")?;
        assert_eq!(stale.kind(), ErrorKind::InvalidDowngradeTargetVersion, "{stale}");

        assert_eq!(client.downgrade(Downgrade::Cancel, "").await?.version(), target);
        until_every_member(&client, "reports the downgrade cancelled", |s| {
            s.downgrade_info().is_some_and(|d| !d.enabled && d.target_version.is_empty())
        })
        .await?;
        client.downgrade(Downgrade::Cancel, "").await?;
        // The members go back to their own version.
        until_every_member(&client, "is back to its own storage version", |s| s.storage_version() == own).await?;
        assert_eq!(client.downgrade(Downgrade::Validate, target.as_str()).await?.version(), cluster_version);
    } else {
        // 3.5 applies the enable but never answers it: the member gives up
        // after its request timeout (5 s + 2 election timeouts), which a
        // longer deadline lets us see.
        let patient = Duration::from_secs(20);
        let enable = client.downgrade(Downgrade::Enable, target.as_str()).timeout(patient).await;
        let lost = enable.err().ok_or("3.5 answered an enable")?;
        assert_eq!((lost.kind(), lost.grpc_code()), (ErrorKind::Timeout, Some(GrpcCode::Unavailable)), "{lost}");
        assert!(lost.outcome_unknown(), "{lost}");
        let again = client.downgrade(Downgrade::Validate, target.as_str()).await.err().ok_or("validated twice")?;
        assert_eq!(again.kind(), ErrorKind::DowngradeInProcess, "{again}");
        assert_eq!(again.grpc_code(), Some(GrpcCode::FailedPrecondition));
        let twice = client.downgrade(Downgrade::Enable, target.as_str()).await.err().ok_or("enabled twice")?;
        assert_eq!(twice.kind(), ErrorKind::DowngradeInProcess, "{twice}");
        // Status does not show it, and the cluster version stays.
        assert!(client.status(endpoint).await?.downgrade_info().is_none());
        // The cancel is applied but not answered either.
        let cancel = client.downgrade(Downgrade::Cancel, "").timeout(patient).await;
        let lost = cancel.err().ok_or("3.5 answered a cancel")?;
        assert_eq!((lost.kind(), lost.grpc_code()), (ErrorKind::Timeout, Some(GrpcCode::Unavailable)), "{lost}");
        assert!(lost.outcome_unknown(), "{lost}");
        let nothing = client.downgrade(Downgrade::Cancel, "").await.err().ok_or("cancelled twice")?;
        assert_eq!(nothing.kind(), ErrorKind::NoInflightDowngrade, "{nothing}");
        assert_eq!(client.downgrade(Downgrade::Validate, target.as_str()).await?.version(), cluster_version);
    }
    Ok(())
}
