//! A hand-built RangeRequest over the raw generated stub, sharing the
//! client's connection, with the wire trace on.
//!
//! ```sh
//! RUST_LOG=etcd_raw=trace cargo run --example wire -- http://127.0.0.1:2379
//! ```

use etcd_raw::pb::etcdserverpb::{kv_client::KvClient, PutRequest, RangeRequest};
use etcd_raw::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let endpoint = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:2379".into());
    let client = Client::connect([endpoint]).await?;

    // The raw stub speaks the generated messages, over the client's connection.
    let mut kv = KvClient::new(client.raw_channel());
    kv.put(PutRequest { key: "wire/greeting".into(), value: "hello".into(), ..Default::default() }).await?;
    let request = RangeRequest { key: "wire/".into(), range_end: "wire0".into(), ..Default::default() };
    println!("request:  {request:?}");
    let response = kv.range(request).await?.into_inner();
    println!("response: {response:?}");

    // A status from the raw stub converts into the crate's typed error.
    let status = kv.range(RangeRequest::default()).await.err();
    if let Some(status) = status {
        let error = etcd_raw::Error::from_status(status.code() as i32, status.message());
        println!("empty key: {} ({:?})", error, error.kind());
    }
    Ok(())
}
