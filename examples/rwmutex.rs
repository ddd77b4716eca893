//! A read-write lock (Go's recipe `RWMutex`) over a configuration key:
//! readers share it, the writer waits for them and then holds it alone,
//! and its write goes through only while it still holds the lock.
//!
//! ```sh
//! ETCDCTL_ENDPOINTS=http://127.0.0.1:2379 cargo run --example rwmutex
//! ```
//!
//! It works under the key prefix `example/rwmutex/` and deletes it at the
//! end.

use std::time::{Duration, Instant};

use etcd_raw::concurrency::{RwMutex, Session};
use etcd_raw::{Client, Config, Put};

const NAME: &str = "example/rwmutex/lock";
const CONFIG: &str = "example/rwmutex/config";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new(Config::from_env()?).await?;
    client.put(CONFIG, "v1").await?;
    let started = Instant::now();

    // Three readers, each on its own session (as separate processes would be).
    let mut readers = Vec::new();
    for r in 0..3 {
        let client = client.clone();
        readers.push(tokio::spawn(async move {
            let session = Session::new(&client).ttl(10).await?;
            let mut lock = RwMutex::new(&session, NAME);
            lock.read_lock().await?;
            let config = client.get(CONFIG).await?;
            let value = config.kvs().first().map(|kv| kv.value_str()).transpose()?.unwrap_or("(none)");
            println!("{:>5} ms  reader {r} reads {value}", started.elapsed().as_millis());
            tokio::time::sleep(Duration::from_millis(500)).await;
            lock.read_unlock().await?;
            session.close().await?;
            Ok::<_, etcd_raw::Error>(())
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let session = Session::new(&client).ttl(10).await?;
    let mut lock = RwMutex::new(&session, NAME);
    println!("{:>5} ms  writer waits", started.elapsed().as_millis());
    lock.lock().await?;
    println!("{:>5} ms  writer holds the lock (fencing token {:?})", started.elapsed().as_millis(), lock.revision());
    let write = client.txn().when([lock.owner_compare()]).and_then([Put::new(CONFIG, "v2")]).await?;
    println!("{:>5} ms  fenced write applied: {}", started.elapsed().as_millis(), write.succeeded());
    lock.unlock().await?;
    session.close().await?;

    for reader in readers {
        reader.await??;
    }
    client.delete("example/rwmutex/").prefix().await?;
    Ok(())
}
