//! Namespaces against a real etcd: a `with_namespace` view writes and reads
//! under its prefix, never outside it, and answers without the prefix.
//! Each test's unique prefix is the root its namespaces live in.
#![cfg(feature = "testkit")]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_raw::concurrency::{Mutex, Session, Stm, StmTx};
use etcd_raw::{
    Client, Compare, CompareOp, Delete, ErrorKind, Get, MirrorEvent, Put, Txn, TxnOp, TxnOpResponse, WatchStream,
};
use support::{key, shared_client, TestResult};

/// The keys of `kvs`, as text.
fn keys(kvs: &[etcd_raw::KeyValue]) -> Vec<String> {
    kvs.iter().map(|kv| String::from_utf8_lossy(kv.key()).into_owned()).collect()
}

/// The keys of the next watch response's events.
async fn next_keys(watch: &mut WatchStream) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let response = tokio::time::timeout(Duration::from_secs(10), watch.message()).await?.ok_or("watch ended")??;
    Ok(response.events().iter().map(|e| String::from_utf8_lossy(e.kv().key()).into_owned()).collect())
}

fn kind<T>(result: Result<T, etcd_raw::Error>) -> Option<ErrorKind> {
    result.err().map(|e| e.kind())
}

#[tokio::test]
async fn writes_land_under_the_full_key_and_come_back_without_it() -> TestResult {
    let (plain, p) = shared_client("ns_both_ways").await?;
    let ns = plain.with_namespace(key(&p, "app/"));
    assert_eq!(ns.namespace(), key(&p, "app/").as_slice());
    assert!(plain.namespace().is_empty());

    ns.put("k", "1").await?;
    let seen = plain.get(key(&p, "app/k")).await?;
    assert_eq!(seen.kvs()[0].value(), b"1");
    let replaced = ns.put("k", "2").prev_kv().await?;
    assert_eq!(replaced.prev_kv().map(|kv| kv.key()), Some(&b"k"[..]));

    plain.put(key(&p, "app/j"), "3").await?;
    let got = ns.get("j").await?;
    assert_eq!((keys(got.kvs()), got.kvs()[0].value()), (vec!["j".to_string()], &b"3"[..]));

    assert_eq!(kind(ns.get("").await), Some(ErrorKind::EmptyKey));
    assert_eq!(kind(ns.put("", "v").await), Some(ErrorKind::EmptyKey));
    assert_eq!(kind(ns.delete("").await), Some(ErrorKind::EmptyKey));
    Ok(())
}

/// Keys inside `<p>ns/a/` and just outside it, written by a plain client.
async fn siblings(plain: &Client, p: &str) -> TestResult {
    for name in ["ns/a/", "ns/a/x", "ns/a/y/z", "ns/a0", "ns/b/x", "ns/a", "ns/"] {
        plain.put(key(p, name), name).await?;
    }
    Ok(())
}

#[tokio::test]
async fn ranges_stop_at_the_end_of_the_namespace() -> TestResult {
    let (plain, p) = shared_client("ns_ranges").await?;
    siblings(&plain, &p).await?;
    let ns = plain.with_namespace(key(&p, "ns/a/"));
    let all = ["x", "y/z"].map(String::from).to_vec();

    // An empty key with a prefix or from_key is the whole namespace, and
    // nothing around it: not even the key equal to the namespace (as in Go;
    // the view cannot write that key, an empty key being refused).
    assert_eq!(keys(ns.get("").prefix().await?.kvs()), all);
    assert_eq!(ns.get("").prefix().count_only().await?.count(), 2);
    assert_eq!(keys(ns.get("").from_key().await?.kvs()), all);
    // From a key: up to the end of the namespace, never past it.
    assert_eq!(keys(ns.get("x").from_key().await?.kvs()), ["x", "y/z"]);
    assert_eq!(keys(ns.get("x").range_end(vec![0u8]).await?.kvs()), ["x", "y/z"]);
    assert_eq!(keys(ns.get("y").prefix().await?.kvs()), ["y/z"]);
    assert_eq!(keys(ns.get("x").range_end("y").await?.kvs()), ["x"]);
    assert_eq!(keys(ns.get("\u{7f}").prefix().await?.kvs()), Vec::<String>::new());

    // The same range as pages.
    let mut pages = ns.get("").prefix().stream();
    let mut streamed = Vec::new();
    while let Some(page) = pages.next_page().await {
        streamed.extend(keys(page?.kvs()));
    }
    assert_eq!(streamed, all);

    // A delete of the whole namespace leaves its neighbours.
    let deleted = ns.delete("").prefix().prev_kv().await?;
    assert_eq!((deleted.deleted(), keys(deleted.prev_kvs())), (2, all));
    let left = plain.get(key(&p, "")).prefix().await?;
    let expected: Vec<String> = ["ns/", "ns/a", "ns/a/", "ns/a0", "ns/b/x"].iter().map(|n| format!("{p}{n}")).collect();
    assert_eq!(keys(left.kvs()), expected);
    Ok(())
}

#[tokio::test]
async fn a_from_key_delete_stops_at_the_end_of_the_namespace() -> TestResult {
    let (plain, p) = shared_client("ns_delete_from").await?;
    siblings(&plain, &p).await?;
    let ns = plain.with_namespace(key(&p, "ns/a/"));
    assert_eq!(keys(ns.delete("x").from_key().prev_kv().await?.prev_kvs()), ["x", "y/z"]);
    assert_eq!(plain.get(key(&p, "")).prefix().count_only().await?.count(), 5);
    Ok(())
}

#[tokio::test]
async fn a_txn_compares_and_operates_inside_and_answers_without_the_prefix() -> TestResult {
    let (plain, p) = shared_client("ns_txn").await?;
    let ns = plain.with_namespace(key(&p, "ns/"));
    ns.put("a", "1").await?;
    // The same key outside the namespace holds another value.
    plain.put(key(&p, "a"), "outside").await?;
    plain.put(key(&p, "ns0"), "outside").await?;

    let response = ns
        .txn()
        .when([Compare::value("a", CompareOp::Equal, "1"), Compare::version("", CompareOp::Greater, 0).prefix()])
        .and_then([
            TxnOp::from(Put::new("b", "2").prev_kv()),
            Get::new("").prefix().into(),
            Txn::new().and_then([TxnOp::from(Get::new("b")), Delete::new("a").prev_kv().into()]).into(),
        ])
        .await?;
    assert!(response.succeeded());
    let answers = response.op_responses()?;
    let [TxnOpResponse::Put(_), TxnOpResponse::Get(all), TxnOpResponse::Txn(nested)] = answers.as_slice() else {
        panic!("unexpected answers: {answers:?}");
    };
    assert_eq!(keys(all.kvs()), ["a", "b"]);
    let nested = nested.op_responses()?;
    let [TxnOpResponse::Get(b), TxnOpResponse::Delete(a)] = nested.as_slice() else {
        panic!("unexpected nested answers: {nested:?}");
    };
    assert_eq!((keys(b.kvs()), keys(a.prev_kvs())), (vec!["b".to_string()], vec!["a".to_string()]));
    let stored = plain.get(key(&p, "")).prefix().await?;
    assert_eq!(keys(stored.kvs()), [format!("{p}a"), format!("{p}ns/b"), format!("{p}ns0")]);

    // A compare on a key outside the namespace cannot be written: "a" is <p>ns/a, now gone.
    let missed = ns.txn().when([Compare::value("a", CompareOp::Equal, "outside")]).await?;
    assert!(!missed.succeeded());
    Ok(())
}

#[tokio::test]
async fn watches_see_only_the_namespace_and_without_the_prefix() -> TestResult {
    let (plain, p) = shared_client("ns_watch").await?;
    let ns = plain.with_namespace(key(&p, "ns/"));
    let mut everything = ns.watch("").prefix().prev_kv().await?;
    let mut single = ns.watch("k").await?;
    // The same watch as `single`, on the wire: the two share one server watch.
    let mut plain_single = plain.watch(key(&p, "ns/k")).await?;

    plain.put(key(&p, "ns0"), "outside").await?;
    plain.put(key(&p, "n"), "outside").await?;
    plain.put(key(&p, "ns/k"), "1").await?;
    ns.put("k", "2").await?;
    ns.put("z", "3").await?;

    assert_eq!(next_keys(&mut everything).await?, ["k"]);
    let second = tokio::time::timeout(Duration::from_secs(10), everything.message()).await?.ok_or("ended")??;
    let event = &second.events()[0];
    assert_eq!((event.kv().key(), event.prev_kv().map(|kv| kv.key())), (&b"k"[..], Some(&b"k"[..])));
    assert_eq!(next_keys(&mut everything).await?, ["z"]);
    assert_eq!(next_keys(&mut single).await?, ["k"]);
    assert_eq!(next_keys(&mut single).await?, ["k"]);
    assert_eq!(next_keys(&mut plain_single).await?, [format!("{p}ns/k")]);

    ns.delete("k").await?;
    assert_eq!(next_keys(&mut single).await?, ["k"]);
    assert_eq!(next_keys(&mut everything).await?, ["k"]);
    Ok(())
}

#[tokio::test]
async fn a_lease_lists_only_its_keys_in_the_namespace() -> TestResult {
    let (plain, p) = shared_client("ns_lease").await?;
    let ns = plain.with_namespace(key(&p, "ns/"));
    let lease = ns.grant(30).await?;
    ns.put("a", "1").lease(lease.id()).await?;
    plain.put(key(&p, "outside"), "1").lease(lease.id()).await?;

    let inside = ns.time_to_live(lease.id()).keys().await?;
    assert_eq!(inside.keys(), [bytes::Bytes::from_static(b"a")]);
    let mut everywhere: Vec<Vec<u8>> =
        plain.time_to_live(lease.id()).keys().await?.keys().iter().map(|k| k.to_vec()).collect();
    everywhere.sort();
    assert_eq!(everywhere, [key(&p, "ns/a"), key(&p, "outside")]);
    plain.revoke(lease.id()).await?;
    Ok(())
}

#[tokio::test]
async fn a_lock_is_named_inside_the_namespace() -> TestResult {
    let (plain, p) = shared_client("ns_lock").await?;
    let ns = plain.with_namespace(key(&p, "ns/"));
    let lease = ns.grant(30).await?;
    let lock = ns.lock("job", lease.id()).await?;
    assert!(lock.key().starts_with(b"job/"), "{:?}", lock.key());
    let stored = plain.get(key(&p, "ns/job/")).prefix().await?;
    assert_eq!(stored.kvs()[0].key(), [key(&p, "ns/").as_slice(), lock.key()].concat());

    let guarded = ns
        .txn()
        .when([Compare::create_revision(lock.key().clone(), CompareOp::Equal, lock.revision())])
        .and_then([Put::new("state", "running")])
        .await?;
    assert!(guarded.succeeded());
    ns.unlock(lock.key().clone()).await?;
    assert_eq!(plain.get(key(&p, "ns/job/")).prefix().count_only().await?.count(), 0);
    assert_eq!(kind(ns.unlock(lock.key().clone()).await), Some(ErrorKind::LockReleased));
    plain.revoke(lease.id()).await?;
    Ok(())
}

#[tokio::test]
async fn an_election_is_named_inside_the_namespace() -> TestResult {
    let (plain, p) = shared_client("ns_election").await?;
    let ns = plain.with_namespace(key(&p, "ns/"));
    let lease = ns.grant(30).await?;
    let elected = ns.campaign("pool", lease.id(), "v1").await?;
    let leader = elected.leader();
    assert_eq!(leader.name(), b"pool");
    assert!(leader.key().starts_with(b"pool/"), "{:?}", leader.key());

    let current = ns.leader("pool").await?;
    assert_eq!(current.kv().map(|kv| kv.key()), Some(leader.key()));
    let mut observed = ns.observe("pool").await?;
    let first = tokio::time::timeout(Duration::from_secs(10), observed.message()).await?.ok_or("ended")??;
    assert_eq!(first.kv().map(|kv| kv.key()), Some(leader.key()));

    ns.proclaim(leader, "v2").await?;
    let proclaimed = tokio::time::timeout(Duration::from_secs(10), observed.message()).await?.ok_or("ended")??;
    assert_eq!(proclaimed.kv().map(|kv| (kv.key(), kv.value())), Some((leader.key(), &b"v2"[..])));
    let seen_plainly = plain.leader(key(&p, "ns/pool")).await?;
    let full = [key(&p, "ns/").as_slice(), leader.key()].concat();
    assert_eq!(seen_plainly.kv().map(|kv| (kv.key().to_vec(), kv.value().to_vec())), Some((full, b"v2".to_vec())));

    ns.resign(leader).await?;
    assert_eq!(kind(ns.leader("pool").await), Some(ErrorKind::ElectionNoLeader));
    plain.revoke(lease.id()).await?;
    Ok(())
}

#[tokio::test]
async fn recipes_work_inside_the_namespace() -> TestResult {
    let (plain, p) = shared_client("ns_recipes").await?;
    let ns = plain.with_namespace(key(&p, "ns/"));

    // A mutex through the namespace excludes one taken on the full name.
    let (inside, outside) = (Session::new(&ns).ttl(30).await?, Session::new(&plain).ttl(30).await?);
    let mut mutex = Mutex::new(&inside, "m");
    mutex.lock().await?;
    assert!(mutex.key().starts_with(b"m/"), "{:?}", mutex.key());
    let mut rival = Mutex::new(&outside, key(&p, "ns/m"));
    assert_eq!(kind(rival.try_lock().await), Some(ErrorKind::Locked));
    mutex.unlock().await?;
    rival.try_lock().await?;
    rival.unlock().await?;

    // The STM reads and writes inside.
    plain.put(key(&p, "ns/from"), "5").await?;
    plain.put(key(&p, "from"), "outside").await?;
    let committed = Stm::new(&ns)
        .run(async |tx: &mut StmTx| {
            let value = tx.get("from").await?;
            tx.put("to", value.clone().unwrap_or_default());
            Ok::<_, etcd_raw::Error>(value)
        })
        .await?;
    assert_eq!(committed.value.as_deref(), Some(&b"5"[..]));
    assert_eq!(plain.get(key(&p, "ns/to")).await?.kvs()[0].value(), b"5");

    // A mirror of the whole namespace holds its keys, without the prefix.
    let mut mirror = ns.sync_prefix("");
    let mut state = BTreeMap::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), mirror.next_event()).await?.ok_or("ended")??;
        event.apply(&mut state);
        if matches!(event, MirrorEvent::Synced { .. }) {
            break;
        }
    }
    let mirrored: Vec<&[u8]> = state.keys().map(|k| k.as_ref()).collect();
    assert_eq!(mirrored, [&b"from"[..], b"to"]);
    inside.close().await?;
    outside.close().await?;
    Ok(())
}

#[tokio::test]
async fn namespaces_nest() -> TestResult {
    let (plain, p) = shared_client("ns_nested").await?;
    let outer = plain.with_namespace(key(&p, "a/"));
    let inner = outer.with_namespace("b/");
    assert_eq!(inner.namespace(), key(&p, "a/b/").as_slice());
    inner.put("k", "1").await?;
    assert_eq!(keys(outer.get("").prefix().await?.kvs()), ["b/k"]);
    assert_eq!(keys(plain.get(key(&p, "")).prefix().await?.kvs()), [format!("{p}a/b/k")]);
    assert_eq!(keys(inner.get("").prefix().await?.kvs()), ["k"]);
    Ok(())
}
