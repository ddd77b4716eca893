//! Leases against real etcd: grant, revoke, time_to_live, leases,
//! keep_alive_once, and keep_alive through member kills, restarts, pauses
//! and cut connections.
#![cfg(feature = "testkit")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_raw::lease::{KeepAliveStream, MAX_LEASE_TTL};
use etcd_raw::testkit::{Cluster, Member, Proxy};
use etcd_raw::{Client, Config, ErrorKind};
use support::{key, kind, shared_client, TestResult};

#[tokio::test]
async fn grant_put_time_to_live_leases_revoke() -> TestResult {
    let (client, p) = shared_client("lease_basics").await?;
    let lease = client.grant(30).await?;
    assert!(lease.id() > 0 && lease.ttl() == 30, "{lease:?}");
    assert!(lease.header().revision() > 0);
    client.put(key(&p, "a"), "1").lease(lease.id()).await?;
    client.put(key(&p, "b"), "2").lease(lease.id()).await?;

    let ttl = client.time_to_live(lease.id()).keys().await?;
    assert_eq!((ttl.id(), ttl.granted_ttl()), (lease.id(), 30));
    assert!(ttl.ttl() > 0 && ttl.ttl() <= 30);
    let mut keys: Vec<&[u8]> = ttl.keys().iter().map(|k| k.as_ref()).collect();
    keys.sort();
    assert_eq!(keys, vec![key(&p, "a").as_slice(), key(&p, "b").as_slice()]);
    assert!(client.time_to_live(lease.id()).await?.keys().is_empty(), "keys only when asked for");
    assert!(client.leases().await?.ids().contains(&lease.id()));

    let once = client.keep_alive_once(lease.id()).await?;
    assert_eq!((once.id(), once.ttl()), (lease.id(), 30));

    client.revoke(lease.id()).await?;
    assert_eq!(client.get(key(&p, "")).prefix().count_only().await?.count(), 0, "revoke deletes the keys");
    assert!(!client.leases().await?.ids().contains(&lease.id()));
    // A lease that is gone is an error everywhere, never a silent answer.
    assert_eq!(kind(client.time_to_live(lease.id()).await), Some(ErrorKind::LeaseNotFound));
    assert_eq!(kind(client.revoke(lease.id()).await), Some(ErrorKind::LeaseNotFound));
    assert_eq!(kind(client.keep_alive_once(lease.id()).await), Some(ErrorKind::LeaseNotFound));
    assert_eq!(kind(client.keep_alive(lease.id()).await), Some(ErrorKind::LeaseNotFound));
    assert_eq!(kind(client.put(key(&p, "c"), "3").lease(lease.id()).await), Some(ErrorKind::LeaseNotFound));
    Ok(())
}

#[tokio::test]
async fn grant_with_a_chosen_id() -> TestResult {
    let (client, _) = shared_client("lease_id").await?;
    // Unlikely to collide with a server-chosen id, and unique per run.
    let id = 0x7e00_0000_0000_0000 | i64::from(std::process::id());
    let lease = client.grant(10).id(id).await?;
    assert_eq!(lease.id(), id);
    assert_eq!(kind(client.grant(10).id(id).await), Some(ErrorKind::LeaseExist));
    client.revoke(id).await?;
    Ok(())
}

#[tokio::test]
async fn bad_input_is_a_typed_error() -> TestResult {
    let (client, p) = shared_client("lease_bad_input").await?;
    assert_eq!(kind(client.grant(0).await), Some(ErrorKind::InvalidArgument));
    assert_eq!(kind(client.grant(-5).await), Some(ErrorKind::InvalidArgument));
    assert_eq!(kind(client.grant(10).id(-3).await), Some(ErrorKind::InvalidArgument));
    assert_eq!(kind(client.grant(MAX_LEASE_TTL + 1).await), Some(ErrorKind::LeaseTtlTooLarge));
    // Below the server's minimum is raised to it, and said so.
    let short = client.grant(1).await?;
    assert!(short.ttl() >= 2, "granted {}", short.ttl());
    client.revoke(short.id()).await?;

    let unknown = 0x7d00_0000_0000_0000 | i64::from(std::process::id());
    assert_eq!(kind(client.put(key(&p, "k"), "v").lease(unknown).await), Some(ErrorKind::LeaseNotFound));
    assert_eq!(kind(client.keep_alive(unknown).await), Some(ErrorKind::LeaseNotFound));
    assert_eq!(kind(client.keep_alive_once(unknown).await), Some(ErrorKind::LeaseNotFound));
    assert_eq!(kind(client.time_to_live(unknown).await), Some(ErrorKind::LeaseNotFound));
    assert_eq!(kind(client.revoke(unknown).await), Some(ErrorKind::LeaseNotFound));
    for id in [0, -1] {
        assert_eq!(kind(client.revoke(id).await), Some(ErrorKind::InvalidArgument));
        assert_eq!(kind(client.keep_alive(id).await), Some(ErrorKind::InvalidArgument));
        assert_eq!(kind(client.keep_alive_once(id).await), Some(ErrorKind::InvalidArgument));
        assert_eq!(kind(client.time_to_live(id).await), Some(ErrorKind::InvalidArgument));
    }
    Ok(())
}

#[tokio::test]
async fn keep_alive_keeps_the_key_and_dropping_it_lets_the_lease_expire() -> TestResult {
    let (client, p) = shared_client("lease_keep").await?;
    let kept = client.grant(2).await?;
    let left = client.grant(2).await?;
    client.put(key(&p, "kept"), "v").lease(kept.id()).await?;
    client.put(key(&p, "left"), "v").lease(left.id()).await?;
    let mut alive = client.keep_alive(kept.id()).await?;
    assert_eq!((alive.id(), alive.ttl()), (kept.id(), 2));

    // Renewals come every third of the TTL and reset it to the full grant.
    let started = Instant::now();
    let mut renewals = 0;
    while started.elapsed() < Duration::from_millis(3500) {
        let renewal = tokio::time::timeout(Duration::from_secs(2), alive.message()).await?.ok_or("stream ended")??;
        assert_eq!((renewal.id(), renewal.ttl()), (kept.id(), 2));
        renewals += 1;
    }
    assert!((4..=7).contains(&renewals), "{renewals} renewals in 3.5 s for a TTL of 2 s");
    assert_eq!(client.get(key(&p, "kept")).await?.count(), 1, "kept alive");
    assert_eq!(client.get(key(&p, "left")).await?.count(), 0, "not kept alive: expired");

    // Dropping the stream stops renewing.
    drop(alive);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(client.get(key(&p, "kept")).await?.count(), 0, "renewed after the stream was dropped");
    assert_eq!(kind(client.time_to_live(kept.id()).await), Some(ErrorKind::LeaseNotFound));
    Ok(())
}

#[tokio::test]
async fn a_revoked_lease_is_reported_lost_and_the_others_go_on() -> TestResult {
    let (client, _) = shared_client("lease_revoked").await?;
    let other = Client::connect(client.endpoints()).await?;
    let mut streams = Vec::new();
    for _ in 0..10 {
        let lease = client.grant(3).await?;
        streams.push(client.keep_alive(lease.id()).await?);
    }
    // Revoked elsewhere: learnt at the next renewal (a third of the TTL).
    let victim = streams.remove(0);
    let mut victim = victim;
    other.revoke(victim.id()).await?;
    let started = Instant::now();
    let lost = loop {
        match tokio::time::timeout(Duration::from_secs(3), victim.message()).await? {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => return Err("ended without saying why".into()),
        }
    };
    assert_eq!(lost.kind(), ErrorKind::LeaseNotFound, "{lost}");
    assert!(started.elapsed() < Duration::from_millis(1500), "learnt after {:?}", started.elapsed());
    assert!(victim.message().await.is_none(), "nothing after the loss");

    // Revoked through this client: learnt at once.
    let mut second = streams.remove(0);
    client.revoke(second.id()).await?;
    let lost = tokio::time::timeout(Duration::from_millis(200), async {
        // A renewal answered just before the revoke may come first.
        while let Some(item) = second.message().await {
            if let Err(e) = item {
                return Some(e.kind());
            }
        }
        None
    });
    assert_eq!(lost.await?, Some(ErrorKind::LeaseNotFound));

    // The other eight are untouched.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for stream in &mut streams {
        let renewal = tokio::time::timeout(Duration::from_secs(2), stream.message()).await?.ok_or("ended")??;
        assert_eq!(renewal.ttl(), 3);
        assert!(client.time_to_live(stream.id()).await?.ttl() > 0);
    }
    Ok(())
}

/// `grpc_server_started_total` for LeaseKeepAlive on `member`.
fn keepalive_streams_started(member: &Member) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(member.metric("grpc_server_started_total", &[("grpc_method", "LeaseKeepAlive")])? as u64)
}

#[tokio::test]
async fn all_leases_of_a_client_share_one_stream_which_ends_with_the_last() -> TestResult {
    let etcd = etcd_raw::testkit::Etcd::start()?;
    let addr = etcd.member(0);
    let client = Client::connect([etcd.endpoint()]).await?;
    let clone = client.clone();
    let before = keepalive_streams_started(addr)?;
    let mut held: Vec<KeepAliveStream> = Vec::new();
    for i in 0..5 {
        let lease = client.grant(10).await?;
        let on = if i % 2 == 0 { &client } else { &clone };
        held.push(on.keep_alive(lease.id()).await?);
    }
    // The same lease twice shares the renewals too.
    held.push(client.keep_alive(held[0].id()).await?);
    assert_eq!(keepalive_streams_started(addr)? - before, 1, "one stream for all leases of a client");
    drop(held);
    // With no lease left the task ends; the next lease opens a new stream.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let lease = client.grant(10).await?;
    let _again = client.keep_alive(lease.id()).await?;
    assert_eq!(keepalive_streams_started(addr)? - before, 2);
    Ok(())
}

/// Reads a keep-alive stream in the background: when each renewal arrived,
/// and when and why the lease was lost.
struct Recorder {
    renewals: Arc<Mutex<Vec<Instant>>>,
    lost: tokio::task::JoinHandle<Option<(Instant, etcd_raw::Error)>>,
}

fn record(mut stream: KeepAliveStream) -> Recorder {
    let renewals = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&renewals);
    let lost = tokio::spawn(async move {
        while let Some(item) = stream.message().await {
            match item {
                Ok(_) => seen.lock().map(|mut v| v.push(Instant::now())).unwrap_or(()),
                Err(e) => return Some((Instant::now(), e)),
            }
        }
        None
    });
    Recorder { renewals, lost }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_survives_member_kills_pauses_and_cuts_then_reports_loss_in_time() -> TestResult {
    const TTL: i64 = 5;
    let mut cluster = Cluster::start(3)?;
    let proxies: Vec<Proxy> =
        cluster.members().iter().map(|m| Proxy::start(m.client_addr())).collect::<Result<_, _>>()?;
    let client = Client::new(Config::new(proxies.iter().map(Proxy::url))).await?;
    let direct = Client::connect(cluster.endpoints()).await?;
    let lease = client.grant(TTL).await?;
    let created = client.put("faults/key", "v").lease(lease.id()).await?.header().revision();
    let recorder = record(client.keep_alive(lease.id()).await?);

    let pause = |d| tokio::time::sleep(Duration::from_millis(d));
    let key_is_there = || async {
        let kvs = direct.get("faults/key").timeout(Duration::from_secs(10)).await?.into_kvs();
        Ok::<bool, etcd_raw::Error>(kvs.first().is_some_and(|kv| kv.create_revision() == created))
    };
    // After a cut the stream is reopened at once: the next renewal is on time.
    let renewals = || recorder.renewals.lock().map(|r| r.len()).unwrap_or(0);
    for _ in 0..3 {
        let before = renewals();
        proxies.iter().for_each(Proxy::cut);
        let cut = Instant::now();
        while renewals() == before {
            let late = cut.elapsed();
            assert!(late < Duration::from_millis(1000 * TTL as u64 / 3 + 1000), "no renewal {late:?} after a cut");
            pause(20).await;
        }
    }
    assert!(key_is_there().await?);
    for member in [0, 1] {
        tokio::task::block_in_place(|| cluster.kill(member))?;
        pause(2500).await;
        tokio::task::block_in_place(|| cluster.restart(member))?;
        assert!(key_is_there().await?, "key deleted after member {member} was killed");
    }
    cluster.pause(2)?;
    pause(2500).await;
    cluster.resume(2)?;
    proxies.iter().for_each(Proxy::cut);
    pause(1000).await;
    assert!(key_is_there().await?, "key deleted after pause and cut");
    assert!(direct.time_to_live(lease.id()).await?.ttl() > 0);
    assert!(!recorder.lost.is_finished(), "lease reported lost while the cluster was fine");

    // Every member unreachable: the loss is reported within the TTL of the
    // last renewal.
    proxies.iter().for_each(|p| p.block(true));
    proxies.iter().for_each(Proxy::cut);
    let (lost_at, error) = tokio::time::timeout(Duration::from_secs(TTL as u64 + 2), recorder.lost)
        .await??
        .ok_or("ended without error")?;
    let last = *recorder.renewals.lock().map_err(|_| "poisoned")?.last().ok_or("no renewal")?;
    let after = lost_at - last;
    eprintln!("lease lost {after:?} after the last renewal: {error}");
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
    // The signal is due a TTL after the last answered renewal was sent,
    // before its answer was read here; the slack is scheduling only.
    let slack = Duration::from_millis(200);
    assert!(after <= Duration::from_secs(TTL as u64) + slack, "lost {after:?} after the last renewal");
    assert!(after >= Duration::from_secs(TTL as u64) - Duration::from_secs(2), "lost early: {after:?}");
    support::assert_members_agree(&cluster).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_on_a_partitioned_member_moves_and_the_lease_lives() -> TestResult {
    let cluster = Cluster::builder().members(3).peer_proxies(true).start()?;
    let client = Client::new(Config::new(cluster.endpoints()).dial_timeout(Duration::from_secs(1))).await?;
    let lease = client.grant(5).await?;
    let mut alive = client.keep_alive(lease.id()).await?;
    tokio::time::timeout(Duration::from_secs(5), alive.message()).await?.ok_or("stream ended")??;
    let serving = (0..3)
        .find(|&i| keepalive_streams_started(cluster.member(i)).is_ok_and(|n| n >= 1))
        .ok_or("no member serves the keepalive stream")?;

    // The serving member is cut off: once it notices it has no leader (an
    // election timeout) it can renew nothing.
    cluster.isolate(serving)?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        let renewal = tokio::time::timeout(Duration::from_secs(10), alive.message()).await?.ok_or("stream ended")??;
        assert_eq!(renewal.id(), lease.id());
    }
    let others: Vec<String> = (0..3).filter(|&i| i != serving).map(|i| cluster.member(i).client_url()).collect();
    let majority = Client::new(Config::new(others).request_timeout(Duration::from_secs(10))).await?;
    assert!(majority.time_to_live(lease.id()).await?.ttl() > 0, "the lease expired on the majority");
    cluster.heal(serving)?;
    support::assert_members_agree(&cluster).await?;
    Ok(())
}
