//! Two tenants of one cluster, each in its own namespace
//! (`Client::with_namespace`, Go's `clientv3/namespace`): they use the same
//! key names without meeting, a prefix read or a watch of everything stays
//! inside the tenant, and a plain client sees the full keys.
//!
//! ```sh
//! ETCDCTL_ENDPOINTS=http://127.0.0.1:2379 cargo run --example namespace
//! ```
//!
//! It works under the key prefix `example/namespace/` and deletes it at the end.

use etcd_raw::{Client, Config};

const ROOT: &str = "example/namespace/";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new(Config::from_env()?).await?;
    let root = client.with_namespace(ROOT);
    let (red, blue) = (root.with_namespace("red/"), root.with_namespace("blue/"));

    // A watch of every key of the red tenant, and only those.
    let mut changes = red.watch("").prefix().await?;

    red.put("config/rate", "7").await?;
    blue.put("config/rate", "9").await?;
    red.put("config/region", "eu").await?;

    for (name, tenant) in [("red", &red), ("blue", &blue)] {
        let config = tenant.get("config/").prefix().await?;
        for kv in config.kvs() {
            println!("{name}: {} = {}", kv.key_str()?, kv.value_str()?);
        }
    }

    for _ in 0..2 {
        if let Some(response) = changes.message().await {
            for event in response?.events() {
                println!("red saw {} {}", event.kind(), event.kv().key_str()?);
            }
        }
    }

    // Locks and elections are named inside the tenant too.
    let lease = red.grant(10).await?;
    let lock = red.lock("jobs/nightly", lease.id()).await?;
    let held = String::from_utf8_lossy(lock.key());
    println!("red holds the lock {held} (stored as {ROOT}red/{held})");
    red.unlock(lock.key().clone()).await?;
    red.revoke(lease.id()).await?;

    // The plain client sees where everything went.
    for kv in client.get(ROOT).prefix().await?.kvs() {
        println!("stored: {} = {}", kv.key_str()?, kv.value_str()?);
    }
    root.delete("").prefix().await?;
    Ok(())
}
