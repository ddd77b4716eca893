//! Every error kind a real etcd can be driven to, as the typed client sees
//! it; plus the ones the client finds itself before any round trip.
#![cfg(feature = "testkit")]

mod support;

use std::time::{Duration, Instant};

use etcd_raw::pb::etcdserverpb::{kv_client::KvClient, lease_client::LeaseClient, LeaseGrantRequest, RangeRequest};
use etcd_raw::{Compare, CompareOp, Error, ErrorKind, GrpcCode, Put, Txn};
use support::{key, shared_client, TestResult};

fn kind<T: std::fmt::Debug>(result: Result<T, Error>) -> (ErrorKind, Option<GrpcCode>) {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => (e.kind(), e.grpc_code()),
    }
}

#[tokio::test]
async fn empty_key_fails_before_any_round_trip() -> TestResult {
    let (client, _) = shared_client("empty_key").await?;
    assert_eq!(kind(client.get("").await), (ErrorKind::EmptyKey, None));
    assert_eq!(kind(client.put("", "v").await), (ErrorKind::EmptyKey, None));
    assert_eq!(kind(client.delete("").await), (ErrorKind::EmptyKey, None));
    let txn = client.txn().when([Compare::value("", CompareOp::Equal, "v")]);
    assert_eq!(kind(txn.await), (ErrorKind::EmptyKey, None));
    // The server says the same, and the mapping agrees.
    let mut raw = KvClient::new(client.raw_channel());
    let status = raw.range(RangeRequest::default()).await.err().ok_or("server accepted an empty key")?;
    let error = Error::from_status(status.code() as i32, status.message());
    assert_eq!((error.kind(), error.grpc_code()), (ErrorKind::EmptyKey, Some(GrpcCode::InvalidArgument)));
    Ok(())
}

#[tokio::test]
async fn put_ignore_options_errors() -> TestResult {
    let (client, p) = shared_client("ignore_errors").await?;
    assert_eq!(kind(client.put(key(&p, "missing"), "").ignore_value().await).0, ErrorKind::KeyNotFound);
    assert_eq!(kind(client.put(key(&p, "missing"), "v").ignore_lease().await).0, ErrorKind::KeyNotFound);
    client.put(key(&p, "k"), "v").await?;
    assert_eq!(kind(client.put(key(&p, "k"), "value").ignore_value().await).0, ErrorKind::ValueProvided);
    assert_eq!(kind(client.put(key(&p, "k"), "v").ignore_lease().lease(7).await).0, ErrorKind::LeaseProvided);
    Ok(())
}

#[tokio::test]
async fn txn_too_many_ops_and_duplicate_key() -> TestResult {
    let (client, p) = shared_client("txn_errors").await?;
    // etcd's default --max-txn-ops is 128.
    let ops: Vec<Put> = (0..129).map(|i| Put::new(key(&p, &format!("{i}")), "v")).collect();
    let (too_many, code) = kind(client.txn().and_then(ops).await);
    assert_eq!((too_many, code), (ErrorKind::TooManyOps, Some(GrpcCode::InvalidArgument)));
    let twice = client.txn().and_then([Put::new(key(&p, "same"), "1"), Put::new(key(&p, "same"), "2")]);
    assert_eq!(kind(twice.await).0, ErrorKind::DuplicateKey);
    // A nested txn writing the same key as its parent is a duplicate too.
    let nested = client.txn().and_then([
        Put::new(key(&p, "n"), "1").into(),
        etcd_raw::TxnOp::from(Txn::new().and_then([Put::new(key(&p, "n"), "2")])),
    ]);
    assert_eq!(kind(nested.await).0, ErrorKind::DuplicateKey);
    Ok(())
}

#[tokio::test]
async fn compacted_and_future_revisions() -> TestResult {
    let (client, p) = shared_client("compaction").await?;
    let first = client.put(key(&p, "k"), "1").await?.header().revision();
    let latest = client.put(key(&p, "k"), "2").await?.header().revision();
    let compacted = client.compact(latest).physical().await?;
    assert!(compacted.header().revision() >= latest);
    let (old, code) = kind(client.get(key(&p, "k")).revision(first).await);
    assert_eq!((old, code), (ErrorKind::Compacted, Some(GrpcCode::OutOfRange)));
    assert_eq!(kind(client.compact(first).await).0, ErrorKind::Compacted);
    let (future, code) = kind(client.get(key(&p, "k")).revision(latest + 1_000_000).await);
    assert_eq!((future, code), (ErrorKind::FutureRev, Some(GrpcCode::OutOfRange)));
    assert_eq!(kind(client.compact(latest + 1_000_000).await).0, ErrorKind::FutureRev);
    Ok(())
}

#[tokio::test]
async fn lease_errors() -> TestResult {
    let (client, p) = shared_client("lease_errors").await?;
    let (missing, code) = kind(client.put(key(&p, "k"), "v").lease(0x7eed_beef).await);
    assert_eq!((missing, code), (ErrorKind::LeaseNotFound, Some(GrpcCode::NotFound)));
    let mut lease = LeaseClient::new(client.raw_channel());
    let too_long =
        lease.lease_grant(LeaseGrantRequest { ttl: 9_000_000_001, id: 0 }).await.err().ok_or("huge TTL accepted")?;
    assert_eq!(Error::from_status(too_long.code() as i32, too_long.message()).kind(), ErrorKind::LeaseTtlTooLarge);
    let id = lease.lease_grant(LeaseGrantRequest { ttl: 30, id: 0 }).await?.into_inner().id;
    let again =
        lease.lease_grant(LeaseGrantRequest { ttl: 30, id }).await.err().ok_or("duplicate lease id accepted")?;
    assert_eq!(Error::from_status(again.code() as i32, again.message()).kind(), ErrorKind::LeaseExist);
    Ok(())
}

#[tokio::test]
async fn request_too_large_on_server_and_client() -> TestResult {
    let (client, p) = shared_client("too_large").await?;
    // Over etcd's 1.5 MiB --max-request-bytes, under our 2 MiB send limit.
    let server_side = client.put(key(&p, "big"), vec![0u8; 1_700_000]).await;
    let error = server_side.err().ok_or("1.7 MB put accepted")?;
    assert_eq!(error.kind(), ErrorKind::RequestTooLarge);
    assert!(error.grpc_code().is_some(), "the server should have said it: {error}");
    // Over our own send limit: refused locally, nothing sent.
    let client_side = client.put(key(&p, "huge"), vec![0u8; 3 * 1024 * 1024]).await;
    assert_eq!(kind(client_side), (ErrorKind::RequestTooLarge, None));
    Ok(())
}

#[tokio::test]
async fn response_over_receive_limit_is_resource_exhausted() -> TestResult {
    let etcd = etcd_raw::testkit::shared()?;
    let client = etcd_raw::Client::new(etcd_raw::Config::new([etcd.endpoint()]).max_recv_msg_size(1024)).await?;
    let p = etcd_raw::testkit::unique_prefix("recv_limit");
    client.put(key(&p, "k"), vec![1u8; 4096]).await?;
    assert_eq!(kind(client.get(key(&p, "k")).await).0, ErrorKind::ResourceExhausted);
    // The connection survives a refused response.
    client.put(key(&p, "small"), "x").await?;
    Ok(())
}

#[tokio::test]
async fn rpc_the_server_lacks_is_unimplemented_not_a_hang() -> TestResult {
    let (client, p) = shared_client("unimplemented").await?;
    if support::etcd_version() >= (3, 7) {
        return Ok(());
    }
    let mut raw = KvClient::new(client.raw_channel());
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(5), async {
        let mut stream =
            raw.range_stream(RangeRequest { key: key(&p, "k").into(), ..Default::default() }).await?.into_inner();
        stream.message().await
    })
    .await?;
    let status = outcome.err().ok_or("RangeStream answered on a server without it")?;
    let error = Error::from_status(status.code() as i32, status.message());
    assert_eq!(error.kind(), ErrorKind::Unimplemented, "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
    Ok(())
}

#[tokio::test]
async fn bad_configuration_is_invalid_argument() -> TestResult {
    let bad = [
        etcd_raw::Config::new(Vec::<String>::new()),
        etcd_raw::Config::new(["127.0.0.1"]),
        etcd_raw::Config::new(["ftp://127.0.0.1:2379"]),
        etcd_raw::Config::new(["https://127.0.0.1:2379"]),
        etcd_raw::Config::new(["127.0.0.1:2379"]).keepalive(Duration::from_secs(1), Duration::from_secs(1)),
        etcd_raw::Config::new(["127.0.0.1:2379"]).request_timeout(Duration::ZERO),
    ];
    for config in bad {
        let shown = format!("{config:?}");
        let started = Instant::now();
        let error = etcd_raw::Client::new(config).await.err().ok_or_else(|| format!("accepted {shown}"))?;
        assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{shown}: {error}");
        assert!(started.elapsed() < Duration::from_millis(100), "{shown} went to the network");
    }
    Ok(())
}
