//! Saves a snapshot of one member's database to a file, as `etcdctl
//! snapshot save` does: checked against etcd's checksum, synced, and only
//! then renamed into place. Restore it with `etcdutl snapshot restore`.
//!
//! ```sh
//! cargo run --example snapshot_to_file -- http://127.0.0.1:2379 backup.db
//! ```

use std::time::Duration;

use etcd_raw::{Client, Config};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "127.0.0.1:2379".into());
    let path = args.next().unwrap_or_else(|| "backup.db".into());
    let client = Client::new(Config::new([endpoint.clone()])).await?;

    let saved = client.snapshot_to_file(&path).endpoint(endpoint).timeout(Duration::from_secs(600)).await?;
    println!(
        "saved {} ({} bytes) from {}, made by etcd {}",
        saved.path().display(),
        saved.size(),
        saved.endpoint(),
        saved.version()
    );
    Ok(())
}
