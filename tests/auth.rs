//! Auth against real etcd: tokens attached to every call and stream,
//! refreshed once (single flight) when they expire, a wrong password
//! reported as AuthFailed without a storm of Authenticate requests,
//! permission errors typed, secrets never in Debug or logs; and the Auth
//! admin service. Authenticate requests are counted in the server's own
//! metrics.
#![cfg(feature = "testkit")]

mod support;

use std::time::Duration;

use etcd_raw::pb::etcdserverpb::{
    lease_client::LeaseClient, watch_client::WatchClient, watch_request::RequestUnion, LeaseGrantRequest,
    LeaseKeepAliveRequest, WatchCreateRequest, WatchRequest,
};
use etcd_raw::testkit::{Cluster, Etcd};
use etcd_raw::{Client, Config, ErrorKind};
use support::{etcd_release, Captured, TestResult};

/// Simple tokens live this long without use (`--auth-token-ttl`).
const TOKEN_TTL: Duration = Duration::from_secs(2);
const PAST_TTL: Duration = Duration::from_millis(3500);

/// One etcd with auth on: `root`, and `alice` who may use `app/`.
async fn auth_server() -> Result<(Etcd, Client), Box<dyn std::error::Error>> {
    let etcd = Etcd::start_with(Cluster::builder().arg(format!("--auth-token-ttl={}", TOKEN_TTL.as_secs())))?;
    support::enable_auth_with_alice(&etcd.endpoint()).await?;
    let root = Client::new(Config::new([etcd.endpoint()]).auth("root", "root-pw")).await?;
    Ok((etcd, root))
}

async fn alice(etcd: &Etcd) -> etcd_raw::Result<Client> {
    Client::new(Config::new([etcd.endpoint()]).auth("alice", "alice-pw")).await
}

/// Authenticate requests the server has handled so far, from `/metrics`.
fn authenticates(etcd: &Etcd) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(etcd.member(0).metric("grpc_server_handled_total", &[("grpc_method", "Authenticate")])? as u64)
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_call_succeeds() -> TestResult {
    let (etcd, _root) = auth_server().await?;
    let alice = alice(&etcd).await?;
    alice.put("app/k", "v").await?;
    let before = authenticates(&etcd)?;
    tokio::time::sleep(PAST_TTL).await;
    assert_eq!(alice.get("app/k").await?.count(), 1);
    assert_eq!(authenticates(&etcd)? - before, 1, "exactly one re-authentication");

    // Many calls refused with the same expired token share one refresh.
    tokio::time::sleep(PAST_TTL).await;
    let before = authenticates(&etcd)?;
    let mut calls = Vec::new();
    for i in 0..20 {
        let alice = alice.clone();
        calls.push(tokio::spawn(async move {
            if i % 2 == 0 {
                alice.get("app/k").await.map(|_| ())
            } else {
                alice.put(format!("app/k{i}"), "v").await.map(|_| ())
            }
        }));
    }
    for call in calls {
        call.await??;
    }
    assert_eq!(authenticates(&etcd)? - before, 1, "one refresh for 20 concurrent calls");
    Ok(())
}

#[tokio::test]
async fn a_wrong_password_is_auth_failed_without_a_storm() -> TestResult {
    let (etcd, root) = auth_server().await?;
    let before = authenticates(&etcd)?;
    let error = Client::new(Config::new([etcd.endpoint()]).auth("alice", "wrong")).await.err().ok_or("connected")?;
    assert_eq!(error.kind(), ErrorKind::AuthFailed, "{error}");
    assert_eq!(authenticates(&etcd)? - before, 1);

    // The password changes under a running client: once its token
    // expires, 20 concurrent calls fail with AuthFailed after a single
    // Authenticate.
    let alice = alice(&etcd).await?;
    root.user_change_password("alice", "new-pw").await?;
    tokio::time::sleep(PAST_TTL).await;
    let before = authenticates(&etcd)?;
    let mut calls = Vec::new();
    for _ in 0..20 {
        let alice = alice.clone();
        calls.push(tokio::spawn(async move { alice.get("app/k").await }));
    }
    for call in calls {
        let error = call.await?.err().ok_or("read with a stale password")?;
        assert_eq!(error.kind(), ErrorKind::AuthFailed, "{error}");
    }
    assert_eq!(authenticates(&etcd)? - before, 1, "no retry storm");
    Ok(())
}

#[tokio::test]
async fn permission_denied_is_typed_and_not_retried() -> TestResult {
    let (etcd, root) = auth_server().await?;
    let alice = alice(&etcd).await?;
    let denied = alice.put("other/k", "v").await.err().ok_or("write outside app/ allowed")?;
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");
    assert!(!denied.outcome_unknown());
    let denied = alice.get("other/k").await.err().ok_or("read outside app/ allowed")?;
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");
    // Admin calls need root.
    let denied = alice.user_list().await.err().ok_or("alice listed users")?;
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");
    // Revoking the role takes effect at once (auth revision bump).
    alice.put("app/k", "v").await?;
    root.user_revoke_role("alice", "app").await?;
    let denied = alice.put("app/k", "w").await.err().ok_or("write allowed after revoke")?;
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");
    Ok(())
}

#[tokio::test]
async fn auth_enabled_after_connect_is_picked_up() -> TestResult {
    let etcd = Etcd::start()?;
    let admin = Client::connect([etcd.endpoint()]).await?;
    // Credentials given while auth is off: connect succeeds without a token.
    let bob = Client::new(Config::new([etcd.endpoint()]).auth("root", "root-pw")).await?;
    bob.put("k", "v1").await?;
    admin.user_add("root", "root-pw").await?;
    admin.user_grant_role("root", "root").await?;
    admin.auth_enable().await?;
    let refused = admin.get("k").await.err().ok_or("read without a token")?;
    assert_eq!(refused.kind(), ErrorKind::UserEmpty, "{refused}");
    // Refused as "user name is empty", the client authenticates and retries.
    bob.put("k", "v2").await?;
    assert_eq!(bob.get("k").await?.kvs()[0].value_str()?, "v2");
    if support::etcd_version() >= (3, 5) {
        assert!(bob.auth_status().await?.enabled());
    } else {
        let missing = bob.auth_status().await.err().ok_or("3.4 answered AuthStatus")?;
        assert_eq!(missing.kind(), ErrorKind::Unimplemented, "{missing}");
    }
    bob.auth_disable().await?;
    admin.get("k").await?;
    Ok(())
}

#[tokio::test]
async fn watch_and_keepalive_streams_carry_the_token_and_outlive_it() -> TestResult {
    let (etcd, _root) = auth_server().await?;
    let alice = alice(&etcd).await?;
    // Streams opened through the client's channel carry its token.
    let mut watch = WatchClient::new(alice.raw_channel());
    let (requests, outbound) = tokio::sync::mpsc::channel(4);
    let create = WatchCreateRequest { key: "app/w".into(), ..Default::default() };
    requests.send(WatchRequest { request_union: Some(RequestUnion::CreateRequest(create)) }).await?;
    let mut events = watch.watch(tokio_stream(outbound)).await?.into_inner();
    let created = events.message().await?.ok_or("watch stream ended")?;
    assert!(created.created && !created.canceled, "{created:?}");

    let mut lease = LeaseClient::new(alice.raw_channel());
    let granted = lease.lease_grant(LeaseGrantRequest { ttl: 30, id: 0 }).await?.into_inner();
    let (beats, beats_rx) = tokio::sync::mpsc::channel(4);
    beats.send(LeaseKeepAliveRequest { id: granted.id }).await?;
    let mut answers = lease.lease_keep_alive(tokio_stream(beats_rx)).await?.into_inner();
    assert!(answers.message().await?.ok_or("keepalive ended")?.ttl > 0);

    tokio::time::sleep(PAST_TTL).await;
    // The token the streams were opened with has expired; the watch goes on.
    alice.put("app/w", "after expiry").await?;
    let event = tokio::time::timeout(Duration::from_secs(5), events.message()).await??.ok_or("watch ended")?;
    assert_eq!(event.events.len(), 1, "{event:?}");
    beats.send(LeaseKeepAliveRequest { id: granted.id }).await?;
    let answer = tokio::time::timeout(Duration::from_secs(5), answers.message()).await?;
    if renewals_are_checked() {
        // The security fixes check each renewal against the stream's token:
        // the expired one ends the stream.
        let status = answer.err().ok_or("a renewal with an expired token was answered")?;
        let error = etcd_raw::Error::from_status(status.code() as i32, status.message());
        assert_eq!(error.kind(), ErrorKind::InvalidAuthToken, "{error}");
        assert_eq!(error.grpc_code(), Some(etcd_raw::GrpcCode::Unauthenticated), "{error}");
        let after = tokio::time::timeout(Duration::from_secs(5), answers.message()).await?;
        assert!(!matches!(after, Ok(Some(_))), "the keepalive stream went on: {after:?}");
    } else {
        // Older servers check the token only when the stream opens.
        let answer = answer?.ok_or("keepalive ended")?;
        assert!(answer.ttl > 0, "{answer:?}");
    }
    Ok(())
}

/// Whether the server checks the caller's permissions on every lease
/// renewal (the 2026 security fixes: 3.5.28, 3.6.9, 3.7.0).
fn renewals_are_checked() -> bool {
    match etcd_release() {
        (3, 5, patch) => patch >= 28,
        (3, 6, patch) => patch >= 9,
        (3, minor, _) => minor >= 7,
        (major, _, _) => major > 3,
    }
}

#[tokio::test]
async fn typed_keepalive_renews_past_the_token_ttl_without_a_cut() -> TestResult {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    let (etcd, root) = auth_server().await?;
    let alice = alice(&etcd).await?;
    // Renewals every 3 s, the token forgotten 2 s after each use: every
    // renewal after the first meets an expired token on newer servers.
    let lease = alice.grant(9).await?.id();
    alice.put("app/kept", "v").lease(lease).await?;
    let mut alive = alice.keep_alive(lease).await?;
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut renewals = 0;
    while let Ok(next) = tokio::time::timeout_at(until, alive.message()).await {
        let renewal =
            next.ok_or("keepalive ended")?.map_err(|e| format!("lease lost after {renewals} renewals: {e}"))?;
        assert!(renewal.ttl() > 0);
        renewals += 1;
    }
    assert!(renewals >= 2, "{renewals} renewals in 10 s");
    assert!(root.time_to_live(lease).await?.ttl() > 0, "the lease expired");
    assert_eq!(root.get("app/kept").await?.count(), 1);
    Ok(())
}

/// A `Stream` over an mpsc receiver, for the raw streaming stubs.
fn tokio_stream<T: Send + 'static>(rx: tokio::sync::mpsc::Receiver<T>) -> impl futures_core::Stream<Item = T> + Send {
    struct Rx<T>(tokio::sync::mpsc::Receiver<T>);
    impl<T> futures_core::Stream for Rx<T> {
        type Item = T;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
    Rx(rx)
}

#[test]
fn passwords_and_tokens_never_reach_debug_or_the_wire_trace() -> TestResult {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("etcd_raw=trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // Global, not scoped: a scoped subscriber can miss callsites that
    // other tests' threads registered first. Their logs land here too,
    // and must be as free of secrets.
    tracing::subscriber::set_global_default(subscriber)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    {
        runtime.block_on(async {
            let (etcd, root) = auth_server().await?;
            root.user_add("carol", "carol-secret-pw").await?;
            root.user_change_password("carol", "carol-new-secret").await?;
            let carol = Client::new(Config::new([etcd.endpoint()]).auth("carol", "carol-new-secret")).await?;
            let config = Config::new([etcd.endpoint()]).auth("carol", "carol-new-secret");
            let shown = format!("{config:?} {carol:?} {:?}", root.user_add("dave", "dave-secret-pw"));
            assert!(!shown.contains("secret"), "{shown}");
            tokio::time::sleep(PAST_TTL).await;
            let _ = carol.get("app/k").await; // refused: carol has no role; the token is refreshed first
            Ok::<(), Box<dyn std::error::Error>>(())
        })?;
    }
    let log = String::from_utf8(captured.0.lock().map_err(|_| "poisoned")?.clone())?;
    assert!(log.contains("etcd_rpc"), "nothing was traced");
    assert!(log.contains("UserAdd") && log.contains("Authenticate"), "calls missing from the trace");
    for secret in ["root-pw", "alice-pw", "carol-secret-pw", "carol-new-secret"] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
    assert!(!log.contains("AuthenticateResponse"), "a token response was traced");
    Ok(())
}

#[tokio::test]
async fn typed_watch_and_keepalive_reconnect_with_a_fresh_token_after_it_expired() -> TestResult {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    let (etcd, root) = auth_server().await?;
    let proxy = etcd_raw::testkit::Proxy::start(etcd.member(0).client_addr())?;
    let client =
        Client::new(Config::new([proxy.url()]).auth("alice", "alice-pw").dial_timeout(Duration::from_secs(1))).await?;
    let lease = client.grant(4).await?.id();
    client.put("app/leased", "v").lease(lease).await?;
    let mut alive = client.keep_alive(lease).await?;
    let mut watch = client.watch("app/").prefix().await.map_err(|e| format!("creating the watch: {e}"))?;
    // Idle past the token's life, then lose every connection: both streams
    // reopen with a token the server has forgotten.
    tokio::time::sleep(PAST_TTL).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(root.get("app/leased").await?.count(), 1, "the lease expired while its stream was refused");
    let renewal = tokio::time::timeout(Duration::from_secs(5), alive.message()).await?.ok_or("keepalive ended")??;
    assert!(renewal.ttl() > 0);
    let written = root.put("app/after", "v").await?.header().revision();
    let seen = tokio::time::timeout(Duration::from_secs(10), watch.message()).await?.ok_or("watch ended")?;
    let seen = seen.map_err(|e| format!("watch after the cut: {e}"))?;
    assert_eq!(seen.revision(), written);
    Ok(())
}
