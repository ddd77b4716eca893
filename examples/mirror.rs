//! Keeps a copy of every key under a prefix, as a service keeps its
//! configuration: a snapshot read in pages at one revision, then every
//! change after it, without gap or repeat. After a compaction forces a new
//! snapshot, the copy is rebuilt.
//!
//! ```sh
//! cargo run --example mirror -- http://127.0.0.1:2379 config/
//! ```

use std::collections::BTreeMap;

use etcd_raw::{Client, Config, MirrorEvent};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "127.0.0.1:2379".into());
    let prefix = args.next().unwrap_or_else(|| "config/".into());
    let client = Client::new(Config::new([endpoint])).await?;

    let mut config = BTreeMap::new();
    let mut mirror = client.sync_prefix(prefix);
    while let Some(event) = mirror.next_event().await {
        let event = event?;
        event.apply(&mut config);
        match event {
            MirrorEvent::Synced { revision } => println!("loaded {} keys as of revision {revision}", config.len()),
            MirrorEvent::Changes { revision, events } => {
                for event in &events {
                    let key = String::from_utf8_lossy(event.kv().key()).into_owned();
                    println!("revision {revision}: {} {key}", event.kind());
                }
                println!("{} keys", config.len());
            }
            MirrorEvent::Restarted { reason } => println!("history compacted ({reason}); loading again"),
            _ => {}
        }
    }
    Ok(())
}
