//! KV against a real etcd: every option of put, get, delete, txn.
//! All tests share one server and keep to their own key prefix.
#![cfg(feature = "testkit")]

mod support;

use etcd_raw::pb::etcdserverpb::{lease_client::LeaseClient, LeaseGrantRequest};
use etcd_raw::{Compare, CompareOp, Delete, Get, Put, SortOrder, SortTarget, Txn, TxnOp, TxnOpResponse};
use support::{key, shared_client, TestResult};

async fn grant(client: &etcd_raw::Client, ttl: i64) -> Result<i64, Box<dyn std::error::Error>> {
    let mut lease = LeaseClient::new(client.raw_channel());
    Ok(lease.lease_grant(LeaseGrantRequest { ttl, id: 0 }).await?.into_inner().id)
}

#[tokio::test]
async fn put_then_get_returns_every_field() -> TestResult {
    let (client, p) = shared_client("put_get").await?;
    let put = client.put(key(&p, "a"), "1").await?;
    assert!(put.header().revision() > 0);
    assert!(put.header().member_id() != 0 && put.header().cluster_id() != 0 && put.header().raft_term() > 0);
    assert!(put.prev_kv().is_none());
    let got = client.get(key(&p, "a")).await?;
    assert_eq!(got.count(), 1);
    let kv = &got.kvs()[0];
    assert_eq!((kv.key(), kv.value()), (key(&p, "a").as_slice(), &b"1"[..]));
    assert_eq!(
        (kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease()),
        (put.header().revision(), put.header().revision(), 1, 0)
    );
    assert_eq!(kv.value_str()?, "1");
    assert!(got.header().revision() >= put.header().revision());
    // A second put bumps version and mod revision, keeps create revision.
    let second = client.put(key(&p, "a"), "2").prev_kv().await?;
    assert_eq!(second.prev_kv().map(|kv| kv.value()), Some(&b"1"[..]));
    let kv = client.get(key(&p, "a")).await?.into_kvs().remove(0);
    assert_eq!(
        (kv.version(), kv.create_revision(), kv.mod_revision()),
        (2, put.header().revision(), second.header().revision())
    );
    // Conversions to and from the wire messages keep everything.
    let raw: etcd_raw::pb::etcdserverpb::RangeResponse = client.get(key(&p, "a")).await?.into();
    let back = etcd_raw::GetResponse::from(raw.clone());
    assert_eq!(back.kvs().iter().map(|kv| kv.clone().into_inner()).collect::<Vec<_>>(), raw.kvs);
    assert_eq!(etcd_raw::pb::etcdserverpb::RangeResponse::from(back), raw);
    Ok(())
}

#[tokio::test]
async fn missing_key_is_an_empty_result() -> TestResult {
    let (client, p) = shared_client("missing").await?;
    let got = client.get(key(&p, "nothing")).await?;
    assert_eq!((got.count(), got.kvs().len(), got.more()), (0, 0, false));
    Ok(())
}

#[tokio::test]
async fn put_with_lease_and_ignore_options() -> TestResult {
    let (client, p) = shared_client("lease_opts").await?;
    let first = grant(&client, 60).await?;
    let second = grant(&client, 60).await?;
    client.put(key(&p, "k"), "v1").lease(first).await?;
    assert_eq!(client.get(key(&p, "k")).await?.kvs()[0].lease(), first);
    // ignore_lease: new value, lease kept.
    client.put(key(&p, "k"), "v2").ignore_lease().await?;
    let kv = client.get(key(&p, "k")).await?.into_kvs().remove(0);
    assert_eq!((kv.value(), kv.lease()), (&b"v2"[..], first));
    // ignore_value: new lease, value kept.
    client.put(key(&p, "k"), "").ignore_value().lease(second).await?;
    let kv = client.get(key(&p, "k")).await?.into_kvs().remove(0);
    assert_eq!((kv.value(), kv.lease()), (&b"v2"[..], second));
    Ok(())
}

/// Puts `names` under the prefix in order, returning the revision of each.
async fn fill(client: &etcd_raw::Client, p: &str, names: &[&str]) -> Result<Vec<i64>, Box<dyn std::error::Error>> {
    let mut revisions = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let value = format!("{}", names.len() - i);
        revisions.push(client.put(key(p, name), value).await?.header().revision());
    }
    Ok(revisions)
}

fn names(response: &etcd_raw::GetResponse, p: &str) -> Vec<String> {
    response.kvs().iter().map(|kv| String::from_utf8_lossy(&kv.key()[p.len()..]).into_owned()).collect()
}

#[tokio::test]
async fn get_ranges_limits_and_counts() -> TestResult {
    let (client, p) = shared_client("ranges").await?;
    fill(&client, &p, &["a", "b", "c", "d"]).await?;
    assert_eq!(names(&client.get(p.clone()).prefix().await?, &p), ["a", "b", "c", "d"]);
    assert_eq!(names(&client.get(key(&p, "b")).range_end(key(&p, "d")).await?, &p), ["b", "c"]);
    let limited = client.get(p.clone()).prefix().limit(2).await?;
    assert_eq!(
        (names(&limited, &p), limited.more(), limited.count()),
        (vec!["a".to_string(), "b".to_string()], true, 4)
    );
    let counted = client.get(p.clone()).prefix().count_only().await?;
    assert_eq!((counted.kvs().len(), counted.count()), (0, 4));
    let keys = client.get(p.clone()).prefix().keys_only().await?;
    assert!(keys.kvs().iter().all(|kv| kv.value().is_empty()) && keys.kvs().len() == 4);
    let serial = client.get(p.clone()).prefix().serializable().await?;
    assert_eq!(serial.count(), 4);
    // from_key reaches past the prefix: at least our four keys, in order.
    let from = client.get(key(&p, "c")).from_key().limit(2).await?;
    assert_eq!(names(&from, &p), ["c", "d"]);
    Ok(())
}

#[tokio::test]
async fn get_sorts_by_every_target() -> TestResult {
    let (client, p) = shared_client("sort").await?;
    // Values descend as keys ascend; create order is c, a, b.
    fill(&client, &p, &["c", "a", "b"]).await?;
    let sorted = |target, order| client.get(p.clone()).prefix().sort(target, order);
    assert_eq!(names(&sorted(SortTarget::Key, SortOrder::Descend).await?, &p), ["c", "b", "a"]);
    assert_eq!(names(&sorted(SortTarget::Create, SortOrder::Ascend).await?, &p), ["c", "a", "b"]);
    assert_eq!(names(&sorted(SortTarget::Mod, SortOrder::Descend).await?, &p), ["b", "a", "c"]);
    assert_eq!(names(&sorted(SortTarget::Version, SortOrder::Ascend).await?, &p).len(), 3);
    // Values "3","2","1" for c,a,b.
    assert_eq!(names(&sorted(SortTarget::Value, SortOrder::Ascend).await?, &p), ["b", "a", "c"]);
    Ok(())
}

#[tokio::test]
async fn get_by_revision_and_revision_filters() -> TestResult {
    let (client, p) = shared_client("revisions").await?;
    let revs = fill(&client, &p, &["a", "b", "c"]).await?;
    client.put(key(&p, "a"), "again").await?;
    // As of the first put only "a" existed, with its first value.
    let old = client.get(p.clone()).prefix().revision(revs[0]).await?;
    assert_eq!((names(&old, &p), old.kvs()[0].value_str()?), (vec!["a".to_string()], "3"));
    let created_late = client.get(p.clone()).prefix().min_create_revision(revs[1]).await?;
    assert_eq!(names(&created_late, &p), ["b", "c"]);
    let created_early = client.get(p.clone()).prefix().max_create_revision(revs[1]).await?;
    assert_eq!(names(&created_early, &p), ["a", "b"]);
    let modified_late = client.get(p.clone()).prefix().min_mod_revision(revs[2] + 1).await?;
    assert_eq!(names(&modified_late, &p), ["a"]);
    let modified_early = client.get(p.clone()).prefix().max_mod_revision(revs[2]).await?;
    assert_eq!(names(&modified_early, &p), ["b", "c"]);
    Ok(())
}

#[tokio::test]
async fn delete_single_range_prefix_with_prev_kv() -> TestResult {
    let (client, p) = shared_client("delete").await?;
    fill(&client, &p, &["a", "b", "c", "d", "e"]).await?;
    let one = client.delete(key(&p, "a")).prev_kv().await?;
    assert_eq!((one.deleted(), one.prev_kvs().len()), (1, 1));
    assert_eq!(one.prev_kvs()[0].value_str()?, "5");
    let range = client.delete(key(&p, "b")).range_end(key(&p, "d")).await?;
    assert_eq!((range.deleted(), range.prev_kvs().len()), (2, 0));
    let none = client.delete(key(&p, "zzz")).await?;
    assert_eq!(none.deleted(), 0);
    let rest = client.delete(p.clone()).prefix().await?;
    assert_eq!(rest.deleted(), 2);
    assert_eq!(client.get(p.clone()).prefix().count_only().await?.count(), 0);
    Ok(())
}

#[tokio::test]
async fn txn_compares_every_target() -> TestResult {
    let (client, p) = shared_client("txn_cmp").await?;
    let lease = grant(&client, 60).await?;
    let rev = client.put(key(&p, "k"), "v").lease(lease).await?.header().revision();
    let k = || key(&p, "k");
    let holds = [
        Compare::value(k(), CompareOp::Equal, "v"),
        Compare::value(k(), CompareOp::Greater, "u"),
        Compare::value(k(), CompareOp::Less, "w"),
        Compare::value(k(), CompareOp::NotEqual, "x"),
        Compare::version(k(), CompareOp::Equal, 1),
        Compare::create_revision(k(), CompareOp::Equal, rev),
        Compare::mod_revision(k(), CompareOp::Equal, rev),
        Compare::lease(k(), CompareOp::Equal, lease),
        Compare::version(key(&p, "absent"), CompareOp::Equal, 0),
    ];
    for compare in holds {
        let response = client.txn().when([compare.clone()]).await?;
        assert!(response.succeeded(), "{compare:?} should hold");
    }
    let fails = client.txn().when([Compare::value(k(), CompareOp::Equal, "nope")]).await?;
    assert!(!fails.succeeded());
    Ok(())
}

#[tokio::test]
async fn txn_compare_over_range_and_prefix() -> TestResult {
    let (client, p) = shared_client("txn_range").await?;
    fill(&client, &p, &["a", "b", "c"]).await?;
    // Every key in the range has version 1.
    let all = client.txn().when([Compare::version(p.clone(), CompareOp::Equal, 1).prefix()]).await?;
    assert!(all.succeeded());
    client.put(key(&p, "b"), "again").await?;
    let not_all = client.txn().when([Compare::version(p.clone(), CompareOp::Equal, 1).prefix()]).await?;
    assert!(!not_all.succeeded());
    let range = Compare::version(key(&p, "a"), CompareOp::Equal, 1).range_end(key(&p, "b"));
    assert!(client.txn().when([range]).await?.succeeded());
    Ok(())
}

#[tokio::test]
async fn txn_then_else_and_nested() -> TestResult {
    let (client, p) = shared_client("txn_branches").await?;
    client.put(key(&p, "flag"), "on").await?;
    client.put(key(&p, "gone"), "x").await?;
    let response = client
        .txn()
        .when([Compare::value(key(&p, "flag"), CompareOp::Equal, "on")])
        .and_then([
            TxnOp::from(Put::new(key(&p, "then"), "1")),
            Get::new(key(&p, "flag")).into(),
            Delete::new(key(&p, "gone")).prev_kv().into(),
            // etcd evaluates every compare, nested ones too, against the
            // state before the transaction: "then" does not exist yet.
            Txn::new()
                .when([Compare::version(key(&p, "then"), CompareOp::Equal, 0)])
                .and_then([Put::new(key(&p, "nested"), "yes")])
                .into(),
        ])
        .or_else([Put::new(key(&p, "else"), "1")])
        .await?;
    assert!(response.succeeded());
    let answers = response.op_responses()?;
    assert_eq!(answers.len(), 4);
    assert!(matches!(&answers[0], TxnOpResponse::Put(_)));
    match &answers[1] {
        TxnOpResponse::Get(get) => assert_eq!(get.kvs()[0].value_str()?, "on"),
        other => panic!("expected a get answer, got {other:?}"),
    }
    match &answers[2] {
        TxnOpResponse::Delete(delete) => assert_eq!((delete.deleted(), delete.prev_kvs().len()), (1, 1)),
        other => panic!("expected a delete answer, got {other:?}"),
    }
    match &answers[3] {
        TxnOpResponse::Txn(nested) => assert!(nested.succeeded()),
        other => panic!("expected a nested txn answer, got {other:?}"),
    }
    assert_eq!(client.get(key(&p, "nested")).await?.count(), 1);
    assert_eq!(client.get(key(&p, "else")).await?.count(), 0);
    // The else branch runs when a compare fails.
    let other = client
        .txn()
        .when([Compare::value(key(&p, "flag"), CompareOp::Equal, "off")])
        .and_then([Put::new(key(&p, "then2"), "1")])
        .or_else([Put::new(key(&p, "else"), "1")])
        .await?;
    assert!(!other.succeeded());
    assert_eq!(client.get(key(&p, "else")).await?.count(), 1);
    assert_eq!(client.get(key(&p, "then2")).await?.count(), 0);
    Ok(())
}

#[tokio::test]
async fn values_and_ranges_above_four_mib_come_back_intact() -> TestResult {
    let (client, p) = shared_client("large").await?;
    // etcd takes requests up to 1.5 MiB; five values of 1.2 MiB make a
    // 6 MiB range, well past tonic's default 4 MiB receive limit.
    let mut expected = Vec::new();
    for i in 0..5u8 {
        let value: Vec<u8> = (0..1_200_000u32).map(|j| (j as u8).wrapping_mul(31).wrapping_add(i)).collect();
        client.put(key(&p, &format!("big{i}")), value.clone()).await?;
        expected.push(value);
    }
    let range = client.get(p.clone()).prefix().await?;
    let total: usize = range.kvs().iter().map(|kv| kv.value().len()).sum();
    assert!(total > 4 * 1024 * 1024, "{total}");
    for (kv, want) in range.kvs().iter().zip(&expected) {
        assert!(kv.value() == want.as_slice(), "value of {:?} changed", kv.key_str());
    }
    // Twelve at once on one connection: 72 MiB, several times the
    // connection's flow-control window, so every answer must hand its
    // window back as it goes, while the writes batch under load.
    let reads: Vec<_> = (0..12)
        .map(|_| {
            let (client, prefix) = (client.clone(), p.clone());
            tokio::spawn(async move { client.get(prefix).prefix().await })
        })
        .collect();
    for read in reads {
        let range = read.await??;
        assert_eq!(range.kvs().len(), expected.len());
        for (kv, want) in range.kvs().iter().zip(&expected) {
            assert!(kv.value() == want.as_slice(), "value of {:?} changed in a concurrent read", kv.key_str());
        }
    }
    Ok(())
}

#[tokio::test]
async fn clones_share_one_client_under_concurrency() -> TestResult {
    let (client, p) = shared_client("concurrent").await?;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let client = client.clone();
        let k = key(&p, &format!("{i:03}"));
        tasks.push(tokio::spawn(async move { client.put(k, "x").await.map(|_| ()) }));
    }
    for task in tasks {
        task.await??;
    }
    assert_eq!(client.get(p.clone()).prefix().count_only().await?.count(), 200);
    Ok(())
}
