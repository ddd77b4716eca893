//! A walk through etcd-raw, in the order a Go `clientv3` user knows.
//!
//! ```sh
//! scripts/tour.sh                                            # starts a local etcd for the tour
//! ETCDCTL_ENDPOINTS=http://127.0.0.1:2379 cargo run --example tour   # your own etcd
//! cargo run --example tour -- http://127.0.0.1:2379                 # the same, as arguments
//! ```
//!
//! With an etcd given (arguments, or etcdctl's variables as
//! [`Config::from_env`] reads them: `ETCDCTL_ENDPOINTS`, `ETCDCTL_CACERT`,
//! `ETCDCTL_USER`...), the tour talks to that etcd only: it skips, saying
//! so, the sections that need an etcd of their own (TLS, auth) and the
//! compaction (it would drop your etcd's history), and it deletes the
//! `tour/` keys it wrote, even when a step fails. With none given it starts
//! a throwaway etcd on 127.0.0.1 (feature `testkit`; the binary
//! `scripts/install-etcd.sh` installed) and stops it at the end. Set
//! `RUST_LOG=etcd_raw=trace` to watch every message go by on the wire.

use std::time::Duration;

use etcd_raw::concurrency::{Election, Mutex, Session};
use etcd_raw::{Client, Compare, CompareOp, Config, ErrorKind, Put, SortOrder, SortTarget};

type TourResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> TourResult {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();

    // 1. Connect, with a dial timeout (clientv3.New with DialTimeout): to
    //    the etcd given, or to one started for the tour.
    let given: Vec<String> = std::env::args().skip(1).collect();
    let from_env = std::env::var_os("ETCDCTL_ENDPOINTS").is_some_and(|v| !v.is_empty());
    let (config, local) = if !given.is_empty() {
        (Config::new(given).dial_timeout(Duration::from_secs(5)), None)
    } else if from_env {
        (Config::from_env()?, None)
    } else {
        let (config, etcd) = start_local_etcd()?;
        (config, Some(etcd))
    };
    let client = Client::new(config).await?;
    println!("connected to {:?}", client.endpoints());

    let walked = walk(&client, local.is_some()).await;
    // 13. Clean up, also after a failed step: the tour leaves no keys behind.
    let deleted = client.delete("tour/").prefix().await?;
    println!("deleted {} keys under tour/", deleted.deleted());
    walked // a local etcd stops here, as `local` is dropped
}

#[cfg(feature = "testkit")]
type LocalEtcd = etcd_raw::testkit::Etcd;
#[cfg(not(feature = "testkit"))]
type LocalEtcd = std::convert::Infallible;

/// An etcd for the tour alone, and the settings to reach it.
#[cfg(feature = "testkit")]
fn start_local_etcd() -> Result<(Config, LocalEtcd), Box<dyn std::error::Error>> {
    let etcd = etcd_raw::testkit::Etcd::start()?;
    println!("started etcd {} at {}", etcd.binary().version, etcd.endpoint());
    Ok((Config::new([etcd.endpoint()]).dial_timeout(Duration::from_secs(5)), etcd))
}

#[cfg(not(feature = "testkit"))]
fn start_local_etcd() -> Result<(Config, LocalEtcd), Box<dyn std::error::Error>> {
    Err("no etcd given: set ETCDCTL_ENDPOINTS (or pass endpoints), or run scripts/tour.sh to start one".into())
}

/// Sections 2 to 12; `local`: whether the etcd is the tour's own, so that
/// it may compact it and start others beside it.
async fn walk(client: &Client, local: bool) -> TourResult {
    // 2. Put with a timeout (context.WithTimeout around cli.Put).
    let put = client.put("tour/sample_key", "sample_value").timeout(Duration::from_secs(1)).await?;
    println!("put at revision {}", put.header().revision());

    // 3. Get it back; every field of the stored pair is there.
    let got = client.get("tour/sample_key").await?;
    for kv in got.kvs() {
        println!(
            "get {} = {} (created at {}, modified at {}, version {})",
            kv.key_str()?,
            kv.value_str()?,
            kv.create_revision(),
            kv.mod_revision(),
            kv.version()
        );
    }

    // 4. Ranges: a prefix, sorted, limited.
    for (name, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
        client.put(format!("tour/list/{name}"), value).await?;
    }
    let page = client.get("tour/list/").prefix().sort(SortTarget::Key, SortOrder::Descend).limit(2).await?;
    let keys: Vec<&str> = page.kvs().iter().filter_map(|kv| kv.key_str().ok()).collect();
    println!("first {} of {} keys under tour/list/, descending: {keys:?}", page.kvs().len(), page.count());

    // 5. A transaction: compare-and-swap.
    let swap = client
        .txn()
        .when([Compare::value("tour/sample_key", CompareOp::Equal, "sample_value")])
        .and_then([Put::new("tour/sample_key", "swapped")])
        .await?;
    println!("compare-and-swap succeeded: {}", swap.succeeded());

    //    A namespace is a view of the client under a key prefix (Go's
    //    namespace package): its keys, ranges and answers are its own.
    let billing = client.with_namespace("tour/apps/billing/");
    billing.put("rate", "7").await?;
    let inside = billing.get("").prefix().await?;
    let keys: Vec<&str> = inside.kvs().iter().filter_map(|kv| kv.key_str().ok()).collect();
    let stored = client.get("tour/apps/billing/rate").count_only().await?.count();
    println!("namespace tour/apps/billing/ holds {keys:?}; stored under the full key: {}", stored == 1);

    // 6. Watch: a stream of changes, one response per revision. It resumes
    //    by itself after a lost connection, without gaps or repeats.
    let mut watch = client.watch("tour/watched/").prefix().prev_kv().await?;
    client.put("tour/watched/light", "on").await?;
    client.put("tour/watched/light", "off").await?;
    client.delete("tour/watched/light").await?;
    for _ in 0..3 {
        let Some(response) = watch.message().await else { break };
        for event in response?.events() {
            let kv = event.kv();
            let before = event.prev_kv().map(|p| String::from_utf8_lossy(p.value()).into_owned());
            println!(
                "watch: {} {} = {:?} (was {:?}) at revision {}",
                event.kind(),
                kv.key_str()?,
                String::from_utf8_lossy(kv.value()),
                before,
                event.revision()
            );
        }
    }
    // An identical watch shares the first one's watch on the server: etcd
    // sends each revision once, and both streams get it.
    let mut twin = client.watch("tour/watched/").prefix().prev_kv().await?;
    let revision = client.put("tour/watched/light", "on").await?.header().revision();
    let mut seen = Vec::new();
    for stream in [&mut watch, &mut twin] {
        if let Some(response) = stream.message().await {
            seen.push(response?.revision());
        }
    }
    println!("watch: put at revision {revision}; the two identical watches saw {seen:?}");
    drop((watch, twin)); // cancels the watch on the server

    // 7. Errors, handled by kind.
    match client.get("").await {
        Err(e) if e.kind() == ErrorKind::EmptyKey => println!("an empty key is refused before sending: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    if local {
        let old = put.header().revision();
        let now = client.put("tour/sample_key", "latest").await?.header().revision();
        client.compact(now).await?;
        match client.get("tour/sample_key").revision(old).await {
            Err(e) if e.kind() == ErrorKind::Compacted => println!("revision {old} is compacted away: {e}"),
            other => println!("unexpected: {other:?}"),
        }
    } else {
        println!("compaction: skipped on your etcd (it would drop the history of every key in it)");
    }
    match client.put("tour/leased", "v").lease(0x1234).await {
        Err(e) if e.kind() == ErrorKind::LeaseNotFound => println!("no such lease: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    // Every error says whether a retry is safe and whether a write may
    // have been applied anyway.
    if let Err(e) = client.put("tour/huge", vec![0u8; 1_700_000]).await {
        println!("{:?}: retry safe: {}, outcome unknown: {}", e.kind(), e.is_retryable(), e.outcome_unknown());
    }

    // 8. Leases: keys that live as long as their lease. One lease is left
    //    to expire, the other is kept alive in the background.
    let dying = client.grant(5).await?;
    let kept = client.grant(5).await?;
    println!("granted leases {:x} and {:x} for {}s", dying.id(), kept.id(), dying.ttl());
    client.put("tour/lease/dying", "v").lease(dying.id()).await?;
    client.put("tour/lease/kept", "v").lease(kept.id()).await?;
    let mut alive = client.keep_alive(kept.id()).await?;
    let left = client.time_to_live(dying.id()).keys().await?;
    println!("lease {:x}: {}s left, keys {:?}", left.id(), left.ttl(), left.keys());
    tokio::time::sleep(Duration::from_secs(6)).await;
    for key in ["tour/lease/dying", "tour/lease/kept"] {
        println!("after 6 s, {key} exists: {}", client.get(key).count_only().await?.count() == 1);
    }
    if let Some(renewal) = alive.message().await {
        println!("keep_alive renewed lease {:x} for {}s", kept.id(), renewal?.ttl());
    }
    match client.time_to_live(dying.id()).await {
        Err(e) if e.kind() == ErrorKind::LeaseNotFound => println!("the expired lease is gone: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    drop(alive); // stops renewing
    client.revoke(kept.id()).await?; // ends the lease and deletes its key now

    // 9. Locks: a session is a lease kept alive in the background; a mutex
    //    on it is held until unlocked or until the session is lost.
    let session = Session::new(client).ttl(5).await?;
    let mut mutex = Mutex::new(&session, "tour/lock");
    mutex.lock().await?;
    println!("holding {} with fencing token {:?}", String::from_utf8_lossy(mutex.key()), mutex.revision());
    // A write guarded by the lock goes through only while the lock is held.
    let guarded = client
        .txn()
        .when([mutex.owner_compare()])
        .and_then([Put::new("tour/protected", "written under the lock")])
        .await?;
    println!("guarded write succeeded: {}", guarded.succeeded());
    let rival = Session::new(client).ttl(5).await?;
    match Mutex::new(&rival, "tour/lock").try_lock().await {
        Err(e) if e.kind() == ErrorKind::Locked => println!("another session finds it locked: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    mutex.unlock().await?;
    // The Lock service does the same on the server, for a lease of yours.
    let held = client.lock("tour/lock", rival.lease()).await?;
    println!("the Lock service granted {}", String::from_utf8_lossy(held.key()));
    client.unlock(held.key().clone()).await?;

    // 10. Elections: campaign, proclaim, observe, resign.
    let mut changes = client.observe("tour/election").await?;
    let mut candidate = Election::new(&session, "tour/election");
    candidate.campaign("node-1").await?;
    candidate.proclaim("node-1: ready").await?;
    let leader = candidate.leader().await?;
    println!("leader says {:?}", leader.kv().map(|kv| String::from_utf8_lossy(kv.value())));
    for _ in 0..2 {
        if let Some(change) = changes.message().await {
            println!("observed: {:?}", change?.kv().map(|kv| String::from_utf8_lossy(kv.value()).into_owned()));
        }
    }
    candidate.resign().await?;
    session.close().await?; // revokes the lease: every lock and leadership of it ends
    rival.close().await?;

    // 11. TLS (features `tls` and `testkit`): a CA, a server certificate
    //     for 127.0.0.1 (an IP SAN) and a client certificate, made for the
    //     demo, and an etcd started with them.
    if !local {
        println!("tls: skipped on your etcd: it starts a TLS member of its own from a local etcd binary (run the tour without ETCDCTL_ENDPOINTS)");
    } else if cfg!(all(feature = "tls", feature = "testkit")) {
        #[cfg(all(feature = "tls", feature = "testkit"))]
        tls_section().await?;
    } else {
        println!("tls: skipped: it needs the `tls` and `testkit` features (scripts/tour.sh turns them on)");
    }

    // 12. Auth: users, roles, a password login; tokens refresh by themselves.
    //     Enabling auth changes a server for good, so it gets its own.
    if !local {
        println!("auth: skipped on your etcd: enabling auth changes a server for good, so it starts one of its own from a local etcd binary (run the tour without ETCDCTL_ENDPOINTS)");
    } else {
        #[cfg(feature = "testkit")]
        auth_section().await?;
    }
    Ok(())
}

#[cfg(all(feature = "tls", feature = "testkit"))]
async fn tls_section() -> TourResult {
    use etcd_raw::testkit::{Cluster, Etcd};
    use etcd_raw::TlsConfig;
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "etcd-raw tour CA");
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let leaf = |sans: Vec<String>| -> Result<(String, String), rcgen::Error> {
        let mut params = CertificateParams::new(sans)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        Ok((params.signed_by(&key, &ca, &ca_key)?.pem(), key.serialize_pem()))
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into()])?;
    let (client_cert, client_key) = leaf(Vec::new())?;
    let dir = std::env::temp_dir().join(format!("etcd-raw-tour-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for (name, pem) in [("ca.pem", ca.pem()), ("server.pem", server_cert), ("server-key.pem", server_key)] {
        std::fs::write(dir.join(name), pem)?;
    }
    let secure = Etcd::start_with(Cluster::builder().https(true).args([
        format!("--cert-file={}", dir.join("server.pem").display()),
        format!("--key-file={}", dir.join("server-key.pem").display()),
        format!("--trusted-ca-file={}", dir.join("ca.pem").display()),
        "--client-cert-auth".to_string(),
    ]))?;
    let tls = TlsConfig::new().ca_pem(ca.pem()).identity(client_cert, client_key);
    let client = Client::new(Config::new([secure.endpoint()]).tls(tls)).await?;
    client.put("tour/tls", "over TLS").await?;
    println!("tls: put over {} with a client certificate", secure.endpoint());
    // Without the client certificate the server refuses, and the error says why.
    let no_cert = TlsConfig::new().ca_pem(ca.pem());
    match Client::new(Config::new([secure.endpoint()]).tls(no_cert).dial_timeout(Duration::from_secs(2))).await {
        Err(e) if e.kind() == ErrorKind::Tls => println!("tls: refused as expected: {e}"),
        other => println!("tls: unexpected {other:?}"),
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[cfg(feature = "testkit")]
async fn auth_section() -> TourResult {
    use etcd_raw::auth::PermissionType;
    // Enabling auth changes the server for good: use a throwaway one.
    let etcd = etcd_raw::testkit::Etcd::start()?;
    let admin = Client::connect([etcd.endpoint()]).await?;
    admin.user_add("root", "root-password").await?;
    admin.user_grant_role("root", "root").await?;
    admin.role_add("tour").await?;
    admin.role_grant_permission("tour", "tour/", PermissionType::Readwrite).prefix().await?;
    admin.user_add("alice", "alice-password").await?;
    admin.user_grant_role("alice", "tour").await?;
    admin.auth_enable().await?;

    let config = Config::new([etcd.endpoint()]).auth("alice", "alice-password");
    println!("auth: {config:?}"); // the password is never shown
    let alice = Client::new(config).await?;
    alice.put("tour/auth", "written by alice").await?;
    match alice.put("elsewhere", "x").await {
        Err(e) if e.kind() == ErrorKind::PermissionDenied => println!("auth: alice may not write there: {e}"),
        other => println!("auth: unexpected {other:?}"),
    }
    match Client::new(Config::new([etcd.endpoint()]).auth("alice", "wrong")).await {
        Err(e) if e.kind() == ErrorKind::AuthFailed => println!("auth: wrong password: {e}"),
        other => println!("auth: unexpected {other:?}"),
    }
    let root = Client::new(Config::new([etcd.endpoint()]).auth("root", "root-password")).await?;
    println!("auth: users {:?}, roles {:?}", root.user_list().await?.users(), root.role_list().await?.roles());
    root.auth_disable().await?;
    Ok(())
}
