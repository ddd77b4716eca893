use bytes::Bytes;

use super::Namespace;
use crate::kv::RangeEnd;
use crate::ErrorKind;

fn ns(prefix: &'static [u8]) -> Namespace {
    Namespace::default().join(Bytes::from_static(prefix))
}

/// The wire `(key, range_end)` of `key` with `range` in `namespace`.
fn wire(namespace: &Namespace, range: RangeEnd, key: &'static [u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut key, mut end) = (Bytes::from_static(key), Bytes::new());
    namespace.fill(&range, &mut key, &mut end).expect("a valid range");
    (key.to_vec(), end.to_vec())
}

fn pair(key: &[u8], end: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (key.to_vec(), end.to_vec())
}

#[test]
fn a_single_key_stays_single() {
    assert_eq!(wire(&ns(b"ns/"), RangeEnd::Single, b"k"), pair(b"ns/k", b""));
    assert_eq!(wire(&ns(b"ns/"), RangeEnd::End(Bytes::new()), b"k"), pair(b"ns/k", b""));
}

#[test]
fn a_prefix_is_the_prefix_of_the_full_key() {
    assert_eq!(wire(&ns(b"ns/"), RangeEnd::Prefix, b"a/"), pair(b"ns/a/", b"ns/a0"));
    // A key of 0xff bytes reaches the end of the namespace, not past it.
    assert_eq!(wire(&ns(b"ns/"), RangeEnd::Prefix, b"\xff"), pair(b"ns/\xff", b"ns0"));
}

#[test]
fn an_empty_key_with_a_prefix_or_from_key_is_the_whole_namespace() {
    // The key equal to the namespace is not in it (Go's rule): the view
    // could delete it but never write it.
    assert_eq!(wire(&ns(b"ns/"), RangeEnd::Prefix, b""), pair(b"ns/\0", b"ns0"));
    assert_eq!(wire(&ns(b"ns/"), RangeEnd::FromKey, b""), pair(b"ns/\0", b"ns0"));
}

#[test]
fn from_key_stops_at_the_end_of_the_namespace() {
    assert_eq!(wire(&ns(b"ns/"), RangeEnd::FromKey, b"m"), pair(b"ns/m", b"ns0"));
    assert_eq!(wire(&ns(b"ns/"), RangeEnd::End(Bytes::from_static(&[0])), b"m"), pair(b"ns/m", b"ns0"));
    // A namespace of 0xff bytes ends where the keyspace does.
    assert_eq!(wire(&ns(b"\xff"), RangeEnd::FromKey, b"m"), pair(b"\xffm", &[0]));
}

#[test]
fn an_explicit_end_is_under_the_namespace() {
    assert_eq!(wire(&ns(b"ns/"), RangeEnd::End(Bytes::from_static(b"m")), b"a"), pair(b"ns/a", b"ns/m"));
}

#[test]
fn an_empty_key_without_a_range_is_refused_as_without_a_namespace() {
    for range in [RangeEnd::Single, RangeEnd::End(Bytes::from_static(b"m"))] {
        let (mut key, mut end) = (Bytes::new(), Bytes::new());
        let refused = ns(b"ns/").fill(&range, &mut key, &mut end).err().map(|e| e.kind());
        assert_eq!(refused, Some(ErrorKind::EmptyKey));
    }
}

#[test]
fn no_namespace_changes_nothing() {
    for range in [RangeEnd::Single, RangeEnd::Prefix, RangeEnd::FromKey, RangeEnd::End(Bytes::from_static(b"z"))] {
        let (key, end) = range.resolve(Bytes::from_static(b"k"));
        assert_eq!(wire(&Namespace::default(), range, b"k"), (key.to_vec(), end.to_vec()));
    }
    assert_eq!(wire(&Namespace::default(), RangeEnd::Prefix, b""), pair(&[0], &[0]));
}

#[test]
fn namespaces_nest() {
    let inner = ns(b"a/").join(Bytes::from_static(b"b/"));
    assert_eq!(inner.as_bytes(), b"a/b/");
    assert_eq!(wire(&inner, RangeEnd::Prefix, b""), pair(b"a/b/\0", b"a/b0"));
}

#[test]
fn answers_lose_the_prefix_and_keys_outside_stay_whole() {
    use crate::pb::mvccpb::KeyValue;
    let kv = |key: &'static [u8]| KeyValue { key: Bytes::from_static(key), ..Default::default() };
    let stripped = ns(b"ns/").strip(vec![kv(b"ns/a"), kv(b"other")]);
    assert_eq!(stripped, vec![kv(b"a"), kv(b"other")]);
    assert_eq!(Namespace::default().strip(vec![kv(b"ns/a")]), vec![kv(b"ns/a")]);
}

#[test]
fn lease_keys_outside_the_namespace_are_left_out() {
    let keys = [&b"ns/a"[..], b"ns0", b"n", b"ns/"].map(Bytes::from_static).to_vec();
    assert_eq!(ns(b"ns/").keys_within(keys), [&b"a"[..], b""].map(Bytes::from_static).to_vec());
}

#[test]
fn nested_txn_answers_lose_the_prefix() {
    use crate::pb::etcdserverpb::{response_op::Response, RangeResponse, ResponseOp, TxnResponse};
    let kv = crate::pb::mvccpb::KeyValue { key: Bytes::from_static(b"ns/k"), ..Default::default() };
    let get =
        ResponseOp { response: Some(Response::ResponseRange(RangeResponse { kvs: vec![kv], ..Default::default() })) };
    let nested = TxnResponse { responses: vec![get], ..Default::default() };
    let outer = TxnResponse {
        responses: vec![ResponseOp { response: Some(Response::ResponseTxn(nested)) }],
        ..Default::default()
    };
    let outer = ns(b"ns/").strip(outer);
    let Some(Response::ResponseTxn(nested)) = &outer.responses[0].response else { panic!("a nested txn") };
    let Some(Response::ResponseRange(get)) = &nested.responses[0].response else { panic!("a get") };
    assert_eq!(get.kvs[0].key, "k");
}
