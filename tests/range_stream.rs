//! Range streams (`Get::stream`) against a real etcd: etcd 3.7's
//! RangeStream where the member has it, paged Range requests before. Every
//! test runs the same code and expects the same pages on every version.
#![cfg(feature = "testkit")]

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use etcd_raw::testkit::{Cluster, Etcd};
use etcd_raw::{Client, Config, Error, ErrorKind, KeyValue, Put, SortOrder, SortTarget};
use support::scratch::free_url;
use support::{key, shared_client, TestResult};

/// Writes `n` keys `<p>k00000..` with values of `size` bytes, 100 per txn.
async fn fill(client: &Client, p: &str, n: usize, size: usize) -> Result<(), Error> {
    for start in (0..n).step_by(100) {
        let puts = (start..(start + 100).min(n)).map(|i| Put::new(key(p, &format!("k{i:05}")), value(i, size)));
        client.txn().and_then(puts).await?;
    }
    Ok(())
}

fn value(i: usize, size: usize) -> Vec<u8> {
    let mut value = format!("v{i}-").into_bytes();
    value.resize(size, b'.');
    value
}

#[tokio::test]
async fn pages_are_complete_ordered_and_at_one_revision_while_keys_change() -> TestResult {
    let (client, p) = shared_client("range_stream_big").await?;
    const KEYS: usize = 2500;
    fill(&client, &p, KEYS, 2048).await?;
    let mut stream = client.get(p.clone()).prefix().timeout(Duration::from_secs(30)).stream();

    // The first page fixes the revision; then a writer changes keys in the
    // range and adds new ones while the other pages are read.
    let mut first = Some(stream.next_page().await.ok_or("no page")?);
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let writer = {
        let (client, p) = (client.clone(), p.clone());
        tokio::spawn(async move {
            let mut revisions = Vec::new();
            for i in 0.. {
                if stopped.try_recv().is_ok() {
                    break;
                }
                let changed = client.put(key(&p, &format!("k{:05}", (i * 7) % KEYS)), "changed").await?;
                let added = client.put(key(&p, &format!("k{i:05}-new")), "new").await?;
                revisions.extend([changed.header().revision(), added.header().revision()]);
            }
            Ok::<_, Error>(revisions)
        })
    };

    let mut kvs = Vec::new();
    let mut pages = 0;
    let mut summary = None;
    while let Some(page) = match first.take() {
        Some(page) => Some(page),
        None => stream.next_page().await,
    } {
        let page = page?;
        pages += 1;
        assert!(summary.is_none(), "a page after the last one");
        if page.is_last() {
            summary = Some((page.header().ok_or("no header")?, page.more(), page.count()));
        } else {
            assert_eq!((page.header(), page.more(), page.count()), (None, None, None));
        }
        kvs.extend(page.into_kvs());
        // A slow reader, so the writer gets its writes in between pages.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let _ = stop.send(());
    let written = writer.await??;
    let (header, more, count) = summary.ok_or("no last page")?;
    let revision = header.revision();
    assert!(header.member_id() != 0 && header.cluster_id() != 0 && header.raft_term() > 0, "{header:?}");
    assert!(pages >= 3, "{KEYS} keys of 2 KiB came in {pages} pages");
    assert_eq!((more, count), (Some(false), Some(KEYS as i64)));
    assert!(written.iter().any(|&r| r > revision), "no write landed while the stream ran");

    // Complete, in order, no repeats, nothing newer than the revision.
    assert_eq!(kvs.len(), KEYS);
    assert!(kvs.windows(2).all(|w| w[0].key() < w[1].key()), "pages out of order or repeated");
    assert!(kvs.iter().all(|kv| kv.mod_revision() <= revision));
    for (i, kv) in kvs.iter().enumerate() {
        assert_eq!(kv.key(), key(&p, &format!("k{i:05}")).as_slice());
    }
    // Exactly what one get at that revision returns.
    let at = client.get(p.clone()).prefix().revision(revision).timeout(Duration::from_secs(30)).await?;
    assert_eq!(at.kvs(), kvs.as_slice());
    Ok(())
}

#[tokio::test]
async fn count_only_limit_keys_only_and_serializable() -> TestResult {
    let (client, p) = shared_client("range_stream_opts").await?;
    fill(&client, &p, 100, 10).await?;

    // count_only: one page, no keys, the count.
    let mut counted = client.get(p.clone()).prefix().count_only().stream();
    let page = counted.next_page().await.ok_or("no page")??;
    assert!(page.is_last() && page.kvs().is_empty(), "{page:?}");
    assert_eq!(page.count(), Some(100));
    assert!(page.header().is_some_and(|h| h.revision() > 0));
    assert!(counted.next_page().await.is_none());

    // A limit caps the keys over all pages; count ignores it.
    let limited = client.get(p.clone()).prefix().limit(25).stream().into_response().await?;
    assert_eq!((limited.kvs().len(), limited.more(), limited.count()), (25, true, 100));
    assert_eq!(limited.kvs()[24].key(), key(&p, "k00024").as_slice());

    let keys = client.get(p.clone()).prefix().keys_only().serializable().stream().into_response().await?;
    assert_eq!(keys.kvs().len(), 100);
    assert!(keys.kvs().iter().all(|kv| kv.value().is_empty()));
    assert_eq!(keys.kvs(), client.get(p.clone()).prefix().keys_only().revision(keys.header().revision()).await?.kvs());

    // One key, and a missing one.
    let one = client.get(key(&p, "k00042")).stream().into_response().await?;
    assert_eq!(one.kvs().len(), 1);
    assert_eq!(one.kvs()[0].value(), value(42, 10).as_slice());
    let none = client.get(key(&p, "missing")).stream().into_response().await?;
    assert_eq!((none.kvs().len(), none.count(), none.more()), (0, 0, false));
    Ok(())
}

#[tokio::test]
async fn sort_and_revision_filters_are_refused_on_every_version() -> TestResult {
    let (client, p) = shared_client("range_stream_refused").await?;
    client.put(key(&p, "a"), "1").await?;
    let sorted = client.get(p.clone()).prefix().sort(SortTarget::Key, SortOrder::Descend).stream();
    let filtered = client.get(p.clone()).prefix().min_mod_revision(1).stream();
    let mut seen = HashMap::new();
    for (name, mut stream) in [("sort", sorted), ("filter", filtered)] {
        let error = match stream.next_page().await {
            Some(Err(e)) => e,
            other => return Err(format!("{name}: expected Unimplemented, got {other:?}").into()),
        };
        assert_eq!(error.kind(), ErrorKind::Unimplemented, "{error}");
        assert!(!error.message().contains("3.7"), "an option refusal is not a version problem: {error}");
        assert!(stream.next_page().await.is_none());
        seen.insert(name, error.message().to_string());
    }
    assert!(seen["sort"].contains("sort"), "{seen:?}");
    assert!(seen["filter"].contains("revision filter"), "{seen:?}");
    // A sort that is the default order is not a custom one.
    let plain = client.get(p.clone()).prefix().sort(SortTarget::Key, SortOrder::Ascend).stream().into_response().await;
    assert_eq!(plain?.kvs().len(), 1);
    Ok(())
}

#[tokio::test]
async fn an_empty_key_is_refused_before_sending() -> TestResult {
    let (client, _) = shared_client("range_stream_empty").await?;
    let mut stream = client.get("").stream();
    let error = stream.next_page().await.ok_or("no item")?.err().ok_or("an empty key was accepted")?;
    assert_eq!(error.kind(), ErrorKind::EmptyKey);
    assert!(stream.next_page().await.is_none());
    Ok(())
}

#[tokio::test]
async fn the_deadline_ends_a_stream_whose_member_hangs() -> TestResult {
    let etcd = Etcd::start()?;
    let client = Client::new(Config::new([etcd.endpoint()])).await?;
    client.put("hang/a", "1").await?;
    etcd.pause(0)?;
    // SIGSTOP reaches each of etcd's threads on its own; a running one may
    // still answer for a moment after `kill` returns.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut stream = client.get("hang/").prefix().timeout(Duration::from_millis(700)).stream();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next_page()).await;
    etcd.resume(0)?;
    let error = first?.ok_or("no item")?.err().ok_or("a paused member answered")?;
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(650) && elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(stream.next_page().await.is_none());
    // The connection is fine afterwards.
    assert_eq!(client.get("hang/a").await?.kvs().len(), 1);
    Ok(())
}

#[tokio::test]
async fn the_deadline_covers_the_whole_stream() -> TestResult {
    let (client, p) = shared_client("range_stream_slow_reader").await?;
    fill(&client, &p, 300, 100).await?;
    let deadline = Duration::from_millis(1500);
    let started = Instant::now();
    let mut stream = client.get(p.clone()).prefix().timeout(deadline).stream();
    let first = stream.next_page().await.ok_or("no page")??;
    assert!(!first.is_last(), "300 keys in one page");
    // A reader that dawdles past the deadline gets DeadlineExceeded, even
    // with pages already received and buffered.
    tokio::time::sleep((deadline + Duration::from_millis(200)).saturating_sub(started.elapsed())).await;
    let error = stream.next_page().await.ok_or("no item")?.err().ok_or("a page after the deadline")?;
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
    assert!(stream.next_page().await.is_none());
    Ok(())
}

#[tokio::test]
async fn an_unreachable_endpoint_is_passed_over() -> TestResult {
    let etcd = etcd_raw::testkit::shared()?;
    let dead = free_url()?;
    let client = Client::new(Config::new([dead, etcd.endpoint()])).await?;
    let p = etcd_raw::testkit::unique_prefix("range_stream_failover");
    fill(&client, &p, 30, 10).await?;
    // Round robin sends some of these to the dead endpoint first.
    for _ in 0..4 {
        let stream = client.get(p.clone()).prefix().stream();
        let whole = stream.into_response().await?;
        assert_eq!((whole.kvs().len(), whole.count()), (30, 30));
    }
    Ok(())
}

#[tokio::test]
async fn the_token_goes_with_the_stream_and_is_refreshed_when_it_expired() -> TestResult {
    // Simple tokens expire after 2 s without use.
    let etcd = Etcd::start_with(Cluster::builder().arg("--auth-token-ttl=2"))?;
    support::enable_auth_with_alice(&etcd.endpoint()).await?;
    let alice = Client::new(Config::new([etcd.endpoint()]).auth("alice", "alice-pw")).await?;
    fill(&alice, "app/", 20, 10).await?;
    assert_eq!(alice.get("app/").prefix().stream().into_response().await?.kvs().len(), 20);
    // Outside alice's grant: refused, typed.
    let refused = alice.get("other/").prefix().stream().into_response().await.err().ok_or("read outside the grant")?;
    assert_eq!(refused.kind(), ErrorKind::PermissionDenied, "{refused}");
    // An expired token is refused by the server, refreshed, and the stream opened again.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(alice.get("app/").prefix().stream().into_response().await?.count(), 20);
    Ok(())
}

/// Reads every page of `stream`, sleeping `pause` after each; returns the
/// pairs, how many pages, and the last page's revision.
async fn read_all(
    mut stream: etcd_raw::GetStream,
    pause: Duration,
) -> Result<(Vec<KeyValue>, usize, i64), Box<dyn std::error::Error>> {
    let (mut kvs, mut pages, mut revision) = (Vec::new(), 0, None);
    while let Some(page) = stream.next_page().await {
        let page = page?;
        pages += 1;
        assert!(revision.is_none(), "a page after the last one");
        revision = page.header().map(|h| h.revision());
        kvs.extend(page.into_kvs());
        tokio::time::sleep(pause).await;
    }
    Ok((kvs, pages, revision.ok_or("no last page")?))
}

#[tokio::test]
async fn ten_thousand_small_keys_come_once_each_at_one_revision_while_a_writer_adds_keys() -> TestResult {
    let (client, p) = shared_client("range_stream_10k").await?;
    const KEYS: usize = 10_000;
    fill(&client, &p, KEYS, 8).await?;

    // The first page fixes the revision; then keys are added in the middle
    // of the range, and values changed, while the other pages are read.
    let mut stream = client.get(p.clone()).prefix().timeout(Duration::from_secs(60)).stream();
    let mut kvs = stream.next_page().await.ok_or("no page")??.into_kvs();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let writer = {
        let (client, p) = (client.clone(), p.clone());
        tokio::spawn(async move {
            let mut last = 0;
            for i in 0.. {
                if stopped.try_recv().is_ok() {
                    break;
                }
                let n = (i * 37) % KEYS;
                client.put(key(&p, &format!("k{n:05}-added")), "new").await?;
                last = client.put(key(&p, &format!("k{n:05}")), "changed").await?.header().revision();
            }
            Ok::<_, Error>(last)
        })
    };
    let (rest, pages, revision) = read_all(stream, Duration::from_millis(20)).await?;
    kvs.extend(rest);
    let _ = stop.send(());
    let last_write = writer.await??;
    assert!(last_write > revision, "no write landed while the pages were read");
    assert!(pages >= 3, "{KEYS} keys came in {} pages", pages + 1);

    // Each key exactly once, in order, none added or changed after the revision.
    assert_eq!(kvs.len(), KEYS);
    for (i, kv) in kvs.iter().enumerate() {
        assert_eq!(kv.key(), key(&p, &format!("k{i:05}")).as_slice());
        assert!(kv.mod_revision() <= revision, "{kv:?} is newer than {revision}");
    }
    let at = client.get(p.clone()).prefix().revision(revision).timeout(Duration::from_secs(30)).await?;
    assert_eq!(at.kvs(), kvs.as_slice());
    Ok(())
}

#[tokio::test]
async fn a_compaction_past_the_revision_mid_read_ends_the_stream_with_compacted() -> TestResult {
    // Compaction would break the shared server's other tests: a server of its own.
    let etcd = Etcd::start()?;
    let client = Client::new(Config::new([etcd.endpoint()])).await?;
    // 20 MB: more than the HTTP/2 windows hold, so the server is still
    // reading the range when the compaction lands.
    const KEYS: usize = 5000;
    fill(&client, "big/", KEYS, 4096).await?;
    let mut stream = client.get("big/").prefix().timeout(Duration::from_secs(60)).stream();
    let first = stream.next_page().await.ok_or("no page")??;
    assert!(!first.is_last());
    let mut received = first.kvs().len();

    let now = client.put("other", "x").await?.header().revision();
    client.compact(now).await?;
    let error = loop {
        match stream.next_page().await {
            Some(Ok(page)) => {
                assert!(!page.is_last(), "the whole range was read past a compaction");
                received += page.kvs().len();
            }
            Some(Err(e)) => break e,
            None => return Err("the stream ended without an error".into()),
        }
    };
    assert_eq!(error.kind(), ErrorKind::Compacted, "{error}");
    assert!(received < KEYS, "{received}");
    assert!(stream.next_page().await.is_none(), "the stream goes on after its error");
    // A read at the new revision is whole.
    let whole = client.get("big/").prefix().keys_only().stream().into_response().await?;
    assert_eq!(whole.kvs().len(), KEYS);
    Ok(())
}
