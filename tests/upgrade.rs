//! A rolling upgrade 3.5 -> 3.6 -> 3.7 and the downgrade back to 3.6, under load, with every
//! failure count 0 (the scenario is `examples/rolling_upgrade`, shared with the example).
//! It runs its own versions, whatever `ETCD_VERSION` says.
#![cfg(feature = "testkit")]

#[path = "../examples/rolling_upgrade/scenario.rs"]
mod scenario;

use scenario::{run, BoxError, Releases};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_and_downgrade_under_load_loses_nothing() -> Result<(), BoxError> {
    let releases = Releases::installed()
        .map_err(|e| format!("{e}\n(the upgrade test needs etcd 3.5, 3.6 and 3.7: run scripts/install-etcd.sh)"))?;
    let figures = run(releases, |line| eprintln!("{line}")).await?;
    eprintln!("{}", figures.table());
    assert!(figures.writes_acknowledged > 500, "too little load: {}", figures.writes_acknowledged);
    assert!(figures.watch_revisions > 500, "too few revisions watched: {}", figures.watch_revisions);
    assert!(figures.lock_holds > 20, "too few lock holds: {}", figures.lock_holds);
    assert!(figures.diverged_members.is_empty(), "servers diverged: {:?}", figures.diverged_members);
    assert!(figures.clean(), "failures during the upgrade:\n{}", figures.table());
    // Each call ends within its deadline, give or take the scheduler.
    assert!(
        figures.worst_past_deadline < std::time::Duration::from_millis(250),
        "a call ran {:?} past its deadline",
        figures.worst_past_deadline
    );
    Ok(())
}
