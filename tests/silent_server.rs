//! A server that accepts connections and never says a word (a hung
//! process, a firewall that swallows packets after the handshake): the
//! client names it, and says the same thing every time.
// tests/support is built on the testkit, though no etcd is started here.
#![cfg(feature = "testkit")]

mod support;

use std::time::Duration;

use etcd_raw::{Client, Config, ErrorKind};
use support::fake_server::silent_endpoint;
use support::TestResult;

#[tokio::test]
async fn a_silent_server_gets_the_same_words_every_time_and_is_named() -> TestResult {
    // Accepts and holds every connection, reading nothing, answering nothing.
    let endpoint = silent_endpoint().await?;
    let mut messages = Vec::new();
    for _ in 0..4 {
        let config = Config::new([endpoint.clone()]).dial_timeout(Duration::from_millis(300));
        let error = Client::new(config).await.err().ok_or("a silent server was taken for etcd")?;
        assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
        assert_eq!(error.endpoint(), Some(endpoint.as_str()), "{error}");
        messages.push(error.to_string());
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "different words for one failure: {messages:#?}");
    Ok(())
}
