//! Reads every key under a prefix page by page with `Get::stream`: etcd
//! 3.7's RangeStream, or paged gets at one revision on older servers (the
//! client picks; the code is the same). Works over any endpoint form, unix
//! sockets included.
//!
//! ```sh
//! cargo run --example range_stream -- http://127.0.0.1:2379 app/
//! cargo run --example range_stream -- unix:///run/etcd/etcd.sock app/
//! ```

use std::time::Duration;

use etcd_raw::{Client, Config};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "127.0.0.1:2379".into());
    let prefix = args.next().unwrap_or_default();
    let client = Client::new(Config::new([endpoint])).await?;

    // The deadline covers the whole stream: give a large range time.
    let mut pages = client.get(prefix).prefix().keys_only().timeout(Duration::from_secs(60)).stream();
    let mut keys = 0usize;
    while let Some(page) = pages.next_page().await {
        let page = page?;
        keys += page.kvs().len();
        if let (Some(header), Some(count)) = (page.header(), page.count()) {
            println!("{keys} of {count} keys, all as of revision {}", header.revision());
        }
    }
    Ok(())
}
