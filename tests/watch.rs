//! Watch against a real etcd: every option, bad input, slow consumers.
//! These share one server; each test watches its own prefix.
#![cfg(feature = "testkit")]

mod support;

use std::time::Duration;

use etcd_raw::watch::{EventType, WatchStream};
use etcd_raw::{Compare, CompareOp, ErrorKind, Put, WatchResponse};
use support::{key, shared_client, TestResult};

/// The next item, failing the test if none comes within 10 s.
async fn next(watch: &mut WatchStream) -> Result<WatchResponse, Box<dyn std::error::Error>> {
    match tokio::time::timeout(Duration::from_secs(10), watch.message()).await? {
        Some(item) => Ok(item?),
        None => Err("watch ended".into()),
    }
}

/// (type, key suffix, value) of every event of a response.
fn summary(response: &WatchResponse, p: &str) -> Vec<(EventType, String, String)> {
    response
        .events()
        .iter()
        .map(|e| {
            let kv = e.kv();
            let name = String::from_utf8_lossy(kv.key().get(p.len()..).unwrap_or_default()).into_owned();
            (e.kind(), name, String::from_utf8_lossy(kv.value()).into_owned())
        })
        .collect()
}

#[tokio::test]
async fn single_key_puts_and_deletes_with_prev_kv() -> TestResult {
    let (client, p) = shared_client("watch_single").await?;
    let mut watch = client.watch(key(&p, "k")).prev_kv().await?;
    client.put(key(&p, "other"), "x").await?;
    let first = client.put(key(&p, "k"), "1").await?.header().revision();
    client.put(key(&p, "k"), "2").await?;
    client.delete(key(&p, "k")).await?;
    let put = next(&mut watch).await?;
    assert_eq!(summary(&put, &p), [(EventType::Put, "k".into(), "1".into())]);
    assert_eq!(put.revision(), first);
    let second = next(&mut watch).await?;
    assert_eq!(second.events()[0].prev_kv().map(|kv| kv.value()), Some(&b"1"[..]));
    let deleted = next(&mut watch).await?;
    assert_eq!(deleted.events()[0].kind(), EventType::Delete);
    assert_eq!(deleted.events()[0].prev_kv().map(|kv| kv.value()), Some(&b"2"[..]));
    // Printed as etcdctl prints them; a delete's pair is the key at the
    // deletion's revision, with no value.
    assert_eq!(
        (put.events()[0].kind().to_string(), deleted.events()[0].kind().to_string()),
        ("PUT".into(), "DELETE".into())
    );
    let gone = deleted.events()[0].kv();
    assert_eq!((gone.key(), gone.value(), gone.mod_revision()), (&key(&p, "k")[..], &b""[..], deleted.revision()));
    Ok(())
}

#[tokio::test]
async fn prefix_range_and_from_key() -> TestResult {
    let (client, p) = shared_client("watch_ranges").await?;
    let mut prefix = client.watch(p.clone()).prefix().await?;
    let mut range = client.watch(key(&p, "b")).range_end(key(&p, "d")).await?;
    let mut from = client.watch(key(&p, "c")).from_key().await?;
    for name in ["a", "b", "c", "d"] {
        client.put(key(&p, name), name).await?;
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.extend(summary(&next(&mut prefix).await?, &p).into_iter().map(|(_, k, _)| k));
    }
    assert_eq!(seen, ["a", "b", "c", "d"]);
    let in_range = [next(&mut range).await?, next(&mut range).await?];
    assert_eq!(in_range.iter().map(|r| summary(r, &p)[0].1.clone()).collect::<Vec<_>>(), ["b", "c"]);
    // from_key sees every key after ours, other tests' too: ours come in order.
    let mut after = Vec::new();
    while after.len() < 2 {
        for (_, name, _) in summary(&next(&mut from).await?, &p) {
            if name == "c" || name == "d" {
                after.push(name);
            }
        }
    }
    assert_eq!(after, ["c", "d"]);
    Ok(())
}

#[tokio::test]
async fn start_revision_replays_history_and_nothing_older() -> TestResult {
    let (client, p) = shared_client("watch_history").await?;
    let r1 = client.put(key(&p, "k"), "1").await?.header().revision();
    let r2 = client.put(key(&p, "k"), "2").await?.header().revision();
    client.put(key(&p, "k"), "3").await?;
    let mut watch = client.watch(key(&p, "k")).start_revision(r2).await?;
    let first = next(&mut watch).await?;
    assert_eq!((first.revision(), summary(&first, &p)[0].2.as_str()), (r2, "2"));
    assert_eq!(summary(&next(&mut watch).await?, &p)[0].2, "3");
    assert!(first.revision() > r1);
    Ok(())
}

#[tokio::test]
async fn filters_leave_out_puts_or_deletes() -> TestResult {
    let (client, p) = shared_client("watch_filters").await?;
    let mut deletes_only = client.watch(p.clone()).prefix().filter_put().await?;
    let mut puts_only = client.watch(p.clone()).prefix().filter_delete().await?;
    client.put(key(&p, "k"), "v").await?;
    client.delete(key(&p, "k")).await?;
    client.put(key(&p, "k"), "w").await?;
    assert_eq!(next(&mut deletes_only).await?.events()[0].kind(), EventType::Delete);
    let puts = [next(&mut puts_only).await?, next(&mut puts_only).await?];
    assert!(puts.iter().all(|r| r.events()[0].kind() == EventType::Put));
    assert_eq!(summary(&puts[1], &p)[0].2, "w");
    Ok(())
}

#[tokio::test]
async fn a_multi_key_txn_arrives_as_one_response() -> TestResult {
    let (client, p) = shared_client("watch_txn").await?;
    let mut watch = client.watch(p.clone()).prefix().await?;
    let ops: Vec<Put> = (0..5).map(|i| Put::new(key(&p, &format!("k{i}")), "v")).collect();
    let revision = client
        .txn()
        .when([Compare::version(key(&p, "k0"), CompareOp::Equal, 0)])
        .and_then(ops)
        .await?
        .header()
        .revision();
    let batch = next(&mut watch).await?;
    assert_eq!((batch.events().len(), batch.revision()), (5, revision));
    Ok(())
}

#[tokio::test]
async fn large_revisions_arrive_whole_with_and_without_fragments() -> TestResult {
    let (client, p) = shared_client("watch_fragment").await?;
    // Ten 140 kB values twice over, with prev_kv: a 2.8 MB revision, over
    // etcd's 1.5 MiB request limit, so a fragmenting watch gets pieces.
    let value = |round: u8| vec![round; 140_000];
    for round in 0..2u8 {
        let ops: Vec<Put> = (0..10).map(|i| Put::new(key(&p, &format!("{i}")), value(round))).collect();
        if round == 1 {
            let mut fragmented = client.watch(p.clone()).prefix().prev_kv().fragment().await?;
            let mut whole = client.watch(p.clone()).prefix().prev_kv().await?;
            client.txn().and_then(ops).await?;
            for watch in [&mut fragmented, &mut whole] {
                let batch = next(watch).await?;
                assert_eq!(batch.events().len(), 10);
                assert!(batch.events().iter().all(|e| e.kv().value().len() == 140_000));
                assert!(batch.events().iter().all(|e| e.prev_kv().is_some_and(|kv| kv.value()[0] == 0)));
            }
        } else {
            client.txn().and_then(ops).await?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn created_and_progress_notifications() -> TestResult {
    let (client, p) = shared_client("watch_notify").await?;
    let mut watch = client.watch(key(&p, "k")).created_notify().await?;
    let created = next(&mut watch).await?;
    assert!(created.is_created_notify() && created.events().is_empty());
    let revision = client.put(key(&p, "elsewhere"), "v").await?.header().revision();
    client.request_progress()?;
    loop {
        let progress = next(&mut watch).await?;
        assert!(progress.is_progress_notify(), "{progress:?}");
        if progress.header().revision() >= revision {
            break;
        }
        client.request_progress()?;
    }
    Ok(())
}

#[tokio::test]
async fn bad_input_is_refused_with_typed_errors() -> TestResult {
    let (client, p) = shared_client("watch_bad_input").await?;
    let kind = |r: Result<WatchStream, etcd_raw::Error>| r.err().map(|e| e.kind());
    assert_eq!(kind(client.watch("").await), Some(ErrorKind::EmptyKey));
    assert_eq!(kind(client.watch(key(&p, "k")).start_revision(-1).await), Some(ErrorKind::InvalidArgument));
    assert_eq!(kind(client.watch(key(&p, "b")).range_end(key(&p, "a")).await), Some(ErrorKind::InvalidArgument));
    assert_eq!(kind(client.watch(key(&p, "k")).buffer(0).await), Some(ErrorKind::InvalidArgument));
    let now = client.put(key(&p, "k"), "v").await?.header().revision();
    assert_eq!(kind(client.watch(key(&p, "k")).start_revision(now + 1000).await), Some(ErrorKind::FutureRev));
    // The next revision is fine: it is where a watch "from now" starts.
    let mut next_rev = client.watch(key(&p, "k")).start_revision(now + 1).await?;
    client.put(key(&p, "k"), "w").await?;
    assert_eq!(summary(&next(&mut next_rev).await?, &p)[0].2, "w");
    // An empty key with a prefix means every key, as in Go.
    drop(client.watch("").prefix().await?);
    Ok(())
}

#[tokio::test]
async fn a_watcher_never_polled_does_not_delay_others_and_loses_nothing() -> TestResult {
    let (client, p) = shared_client("watch_slow").await?;
    let mut slow = client.watch(p.clone()).prefix().buffer(64).await?;
    let mut fast = client.watch(p.clone()).prefix().buffer(64).await?;
    let writer = {
        let client = client.clone();
        let p = p.clone();
        tokio::spawn(async move {
            for i in 0..5000u32 {
                client.put(format!("{p}{}", i % 50), i.to_string()).await?;
            }
            Ok::<_, etcd_raw::Error>(())
        })
    };
    // The fast watcher keeps up while the slow one is never polled.
    let mut last = 0;
    for _ in 0..5000 {
        let response = next(&mut fast).await?;
        assert!(response.revision() > last);
        last = response.revision();
    }
    writer.await??;
    assert!(slow.fell_behind() >= 1, "the slow watcher should have been paused");
    // Polled at last, it gets every revision, in order, once.
    let mut revisions = Vec::new();
    while revisions.len() < 5000 {
        revisions.push(next(&mut slow).await?.revision());
    }
    assert!(revisions.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(revisions.last(), Some(&last));
    Ok(())
}

#[tokio::test]
async fn events_adapter_yields_single_events() -> TestResult {
    use std::pin::Pin;
    let (client, p) = shared_client("watch_events").await?;
    let mut events = client.watch(p.clone()).prefix().await?.events();
    client.txn().and_then([Put::new(key(&p, "a"), "1"), Put::new(key(&p, "b"), "2")]).await?;
    let mut names = Vec::new();
    while names.len() < 2 {
        let event = std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut events), cx)).await;
        let event = event.ok_or("ended")??;
        names.push(event.kv().key().to_vec());
    }
    assert_eq!(names, [key(&p, "a"), key(&p, "b")]);
    Ok(())
}

#[tokio::test]
async fn identical_watches_share_a_server_watch_without_seeing_the_past() -> TestResult {
    let (client, p) = shared_client("watch_shared").await?;
    let mut first = client.watch(p.clone()).prefix().await?;
    let r1 = client.put(key(&p, "a"), "1").await?.header().revision();
    assert_eq!(next(&mut first).await?.revision(), r1);

    // Joins the first one's server watch where it stands: after r1.
    let mut joined = client.watch(p.clone()).prefix().created_notify().await?;
    let created = next(&mut joined).await?;
    assert!(created.is_created_notify());
    assert!(created.header().revision() >= r1, "created at {} before r1 {r1}", created.header().revision());
    let r2 = client.put(key(&p, "b"), "2").await?.header().revision();
    assert_eq!(summary(&next(&mut joined).await?, &p), [(EventType::Put, "b".into(), "2".into())]);
    assert_eq!(next(&mut first).await?.revision(), r2);

    // The watch that created the server watch goes; the other stays fed.
    drop(first);
    let r3 = client.put(key(&p, "c"), "3").await?.header().revision();
    assert_eq!(next(&mut joined).await?.revision(), r3);

    // An older start revision gets its own server watch and the history.
    let mut replay = client.watch(p.clone()).prefix().start_revision(r1).await?;
    let mut revisions = Vec::new();
    for _ in 0..3 {
        revisions.push(next(&mut replay).await?.revision());
    }
    assert_eq!(revisions, [r1, r2, r3]);
    // Other options make another server watch: no put events here.
    let mut deletes = client.watch(p.clone()).prefix().filter_put().await?;
    client.put(key(&p, "d"), "4").await?;
    let r5 = client.delete(key(&p, "d")).await?.header().revision();
    assert_eq!(next(&mut deletes).await?.revision(), r5);
    assert_eq!(summary(&next(&mut joined).await?, &p)[0].1, "d");
    assert_eq!(next(&mut joined).await?.revision(), r5);
    Ok(())
}

#[tokio::test]
async fn a_watch_from_now_never_joins_one_that_is_replaying_history() -> TestResult {
    let (client, p) = shared_client("watch_no_replay_join").await?;
    // Enough history that its replay is still arriving when the second
    // watch is made.
    let value = vec![b'x'; 100 * 1024];
    let mut written = Vec::new();
    for _ in 0..50 {
        written.push(client.put(key(&p, "k"), value.clone()).await?.header().revision());
    }
    let (first, last) = (written[0], written[49]);
    let mut replay = client.watch(key(&p, "k")).start_revision(first).await?;
    let mut fresh = client.watch(key(&p, "k")).created_notify().await?;
    let created = next(&mut fresh).await?;
    assert!(
        created.header().revision() >= last,
        "created at {}, before the history's end {last}",
        created.header().revision()
    );
    let newest = client.put(key(&p, "k"), "new").await?.header().revision();
    assert_eq!(next(&mut fresh).await?.revision(), newest);
    for revision in written {
        assert_eq!(next(&mut replay).await?.revision(), revision);
    }
    assert_eq!(next(&mut replay).await?.revision(), newest);
    Ok(())
}

#[tokio::test]
async fn a_watch_over_the_send_limit_is_refused_and_the_others_go_on() -> TestResult {
    let (_, p) = shared_client("watch_too_large").await?;
    let etcd = etcd_raw::testkit::shared()?;
    let client = etcd_raw::Client::new(etcd_raw::Config::new([etcd.endpoint()]).max_send_msg_size(1024)).await?;
    let mut fine = client.watch(key(&p, "k")).await?;
    let huge = format!("{p}{}", "x".repeat(2048));
    let refused = client.watch(huge).await.err().ok_or("a watch over the send limit was created")?;
    assert_eq!(refused.kind(), ErrorKind::RequestTooLarge, "{refused}");
    let revision = client.put(key(&p, "k"), "v").await?.header().revision();
    assert_eq!(next(&mut fine).await?.revision(), revision);
    Ok(())
}
