//! A rolling upgrade under load, run against real etcd processes on 127.0.0.1:
//! 3 members on the newest etcd 3.5 patch are upgraded one by one to 3.6 and then to 3.7,
//! and downgraded back to 3.6 through the Downgrade API, while 8 writers, a watch, a
//! kept-alive lease and two holders of one `Mutex` run through the client. It prints what
//! it counted; every failure count should be 0.
//!
//! ```sh
//! scripts/install-etcd.sh      # builds 3.5, 3.6 and 3.7 from etcd's Go modules
//! cargo run --features testkit --example rolling_upgrade
//! ```

mod scenario;

use scenario::{run, BoxError, Releases};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let releases = Releases::installed()?;
    println!(
        "rolling upgrade: etcd {} -> {} -> {}, then the downgrade to {}",
        releases.from.version, releases.via.version, releases.to.version, releases.via.version
    );
    let figures = run(releases, |line| println!("{line}")).await?;
    println!("\n{}", figures.table());
    for member in &figures.diverged_members {
        println!("diverged: {member}");
    }
    if figures.clean() {
        println!("every failure count is 0");
        Ok(())
    } else {
        Err("some failure counts are not 0".into())
    }
}
