//! A walk through etcd-raw, in the order a Go `clientv3` user knows.
//!
//! ```sh
//! scripts/tour.sh                                  # starts a local etcd for the tour
//! cargo run --features testkit --example tour -- http://127.0.0.1:2379   # your own etcd
//! ```
//!
//! With no endpoint given it starts a throwaway etcd on 127.0.0.1 (the
//! test kit finds the binary `scripts/install-etcd.sh` installed) and stops
//! it at the end. Set `RUST_LOG=etcd_raw=trace` to watch every message go
//! by on the wire.

use std::time::Duration;

use etcd_raw::{Client, Compare, CompareOp, Config, ErrorKind, Put, SortOrder, SortTarget};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();

    // Use the endpoints given, or start a local etcd for the tour.
    let given: Vec<String> = std::env::args().skip(1).collect();
    let local = if given.is_empty() { Some(etcd_raw::testkit::Etcd::start()?) } else { None };
    let endpoints = match &local {
        Some(etcd) => {
            println!("started etcd {} at {}", etcd.binary().version, etcd.endpoint());
            vec![etcd.endpoint()]
        }
        None => given,
    };

    // 1. Connect, with a dial timeout (clientv3.New with DialTimeout).
    let client = Client::new(Config::new(endpoints).dial_timeout(Duration::from_secs(5))).await?;
    println!("connected to {:?}", client.endpoints());

    // 2. Put with a timeout (context.WithTimeout around cli.Put).
    let put = client.put("tour/sample_key", "sample_value").timeout(Duration::from_secs(1)).await?;
    println!("put at revision {}", put.header().revision);

    // 3. Get it back; every field of the stored pair is there.
    let got = client.get("tour/sample_key").await?;
    for kv in got.kvs() {
        println!(
            "get {} = {} (created at {}, modified at {}, version {})",
            kv.key_str()?,
            kv.value_str()?,
            kv.create_revision,
            kv.mod_revision,
            kv.version
        );
    }

    // 4. Ranges: a prefix, sorted, limited.
    for (name, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
        client.put(format!("tour/list/{name}"), value).await?;
    }
    let page = client.get("tour/list/").prefix().sort(SortTarget::Key, SortOrder::Descend).limit(2).await?;
    let keys: Vec<&str> = page.kvs().iter().filter_map(|kv| kv.key_str().ok()).collect();
    println!("first {} of {} keys under tour/list/, descending: {keys:?}", page.kvs().len(), page.count());

    // 5. A transaction: compare-and-swap.
    let swap = client
        .txn()
        .when([Compare::value("tour/sample_key", CompareOp::Equal, "sample_value")])
        .and_then([Put::new("tour/sample_key", "swapped")])
        .await?;
    println!("compare-and-swap succeeded: {}", swap.succeeded());

    // 6. Errors, handled by kind.
    match client.get("").await {
        Err(e) if e.kind() == ErrorKind::EmptyKey => println!("an empty key is refused before sending: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    let old = put.header().revision;
    let now = client.put("tour/sample_key", "latest").await?.header().revision;
    client.compact(now).await?;
    match client.get("tour/sample_key").revision(old).await {
        Err(e) if e.kind() == ErrorKind::Compacted => println!("revision {old} is compacted away: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    match client.put("tour/leased", "v").lease(0x1234).await {
        Err(e) if e.kind() == ErrorKind::LeaseNotFound => println!("no such lease: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    // Every error says whether a retry is safe and whether a write may
    // have been applied anyway.
    if let Err(e) = client.put("tour/huge", vec![0u8; 1_700_000]).await {
        println!("{:?}: retry safe: {}, outcome unknown: {}", e.kind(), e.is_retryable(), e.outcome_unknown());
    }

    // 7. Clean up.
    let deleted = client.delete("tour/").prefix().await?;
    println!("deleted {} keys", deleted.deleted());
    drop(local);
    Ok(())
}
