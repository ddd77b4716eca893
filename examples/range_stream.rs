//! Reads every key under a prefix page by page with `Get::stream` (etcd
//! 3.7's RangeStream), and falls back to paged gets on older servers.
//! Works over any endpoint form, unix sockets included.
//!
//! ```sh
//! cargo run --example range_stream -- http://127.0.0.1:2379 app/
//! cargo run --example range_stream -- unix:///run/etcd/etcd.sock app/
//! ```

use std::time::Duration;

use etcd_raw::{Client, Config, ErrorKind};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "127.0.0.1:2379".into());
    let prefix = args.next().unwrap_or_default();
    let client = Client::new(Config::new([endpoint])).await?;

    // The deadline covers the whole stream: give a large range time.
    let mut pages = client.get(prefix.clone()).prefix().keys_only().timeout(Duration::from_secs(60)).stream();
    let mut keys = 0usize;
    while let Some(page) = pages.next_page().await {
        let page = match page {
            Ok(page) => page,
            // Before 3.7 the member does not know RangeStream.
            Err(e) if e.kind() == ErrorKind::Unimplemented && keys == 0 => {
                println!("{e}");
                return paged(&client, &prefix).await;
            }
            Err(e) => return Err(e.into()),
        };
        keys += page.kvs().len();
        if let (Some(header), Some(count)) = (page.header(), page.count()) {
            println!("{keys} of {count} keys, all as of revision {}", header.revision());
        }
    }
    Ok(())
}

/// The same read as pages of 1,000 keys, each page a get from the key
/// after the last one, pinned to the first page's revision.
async fn paged(client: &Client, prefix: &str) -> Result<(), Box<dyn std::error::Error>> {
    let end = etcd_raw::prefix_end(prefix.as_bytes());
    // The empty prefix is every key: from `\0`, etcd's lowest key.
    let mut from = if prefix.is_empty() { vec![0] } else { prefix.as_bytes().to_vec() };
    let (mut keys, mut revision) = (0usize, 0);
    loop {
        let page = client.get(from.clone()).range_end(end.clone()).keys_only().limit(1000).revision(revision).await?;
        revision = page.header().revision();
        keys += page.kvs().len();
        match page.kvs().last() {
            Some(last) if page.more() => from = [last.key(), &[0]].concat(),
            _ => {
                println!("{keys} keys, all as of revision {revision} (paged get)");
                return Ok(());
            }
        }
    }
}
