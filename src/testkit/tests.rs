//! Tests of the kit against real etcd binaries from `.etcd/` (run `scripts/install-etcd.sh`).

use std::error::Error;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

type TestResult = Result<(), Box<dyn Error>>;

fn v351() -> Result<EtcdBinary, TestkitError> {
    EtcdBinary::locate_version("3.5.1")
}

/// Whether `pid` is gone (or a zombie nobody reaped yet, which is dead all the same).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn wait_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if gone(pid) {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn single_member_answers_health_and_cleans_up() -> TestResult {
    let etcd = Etcd::start_with(Cluster::builder().binary(v351()?))?;
    assert_eq!(etcd.binary().version, "3.5.1");
    assert_eq!(etcd.endpoints(), vec![etcd.endpoint()]);
    assert!(etcd.endpoint().starts_with("http://127.0.0.1:"));
    super::health::check(etcd.member(0).client_addr(), Duration::from_secs(2))?;
    let member = etcd.member(0);
    let (pid, dir) = (member.pid().ok_or("no pid")?, member.data_dir().to_path_buf());
    assert!(member.is_running() && dir.join("member").is_dir() && member.log_path().is_file());
    drop(etcd);
    assert!(wait_gone(pid), "etcd pid {pid} still alive after drop");
    assert!(!dir.exists(), "{} not removed", dir.display());
    Ok(())
}

#[test]
fn three_members_kill_restart_pause_resume() -> TestResult {
    let mut cluster = Cluster::builder().members(3).binary(v351()?).start()?;
    assert_eq!(cluster.members().len(), 3);
    let ctl = |cluster: &Cluster, args: &[&str]| -> Result<String, Box<dyn Error>> {
        let out = cluster.etcdctl()?.args(args).output()?;
        if !out.status.success() {
            return Err(format!("etcdctl {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    ctl(&cluster, &["put", "k", "v1"])?;

    let old_pid = cluster.member(1).pid().ok_or("no pid")?;
    cluster.kill(1)?;
    assert!(!cluster.member(1).is_running() && cluster.member(1).pid().is_none());
    assert!(gone(old_pid));
    cluster.wait_healthy(Duration::from_secs(10))?; // the two live members
    assert_eq!(cluster.pause(1).map_err(|e| e.kind()), Err(TestkitErrorKind::InvalidState));
    ctl(&cluster, &["put", "k", "v2"])?;

    cluster.restart(1)?;
    assert!(cluster.member(1).is_running());
    let url = cluster.member(1).client_url();
    let got = ctl(&cluster, &["get", "k", "--print-value-only", "--consistency=s", &format!("--endpoints={url}")])?;
    assert_eq!(got.trim(), "v2", "restarted member did not catch up");
    assert_eq!(cluster.restart(1).map_err(|e| e.kind()), Err(TestkitErrorKind::InvalidState));

    cluster.pause(1)?;
    assert!(cluster.member(1).is_running(), "a paused member is still running");
    let err = cluster.wait_healthy(Duration::from_millis(800)).err().ok_or("paused member reported healthy")?;
    assert_eq!(err.kind(), TestkitErrorKind::Timeout);
    assert!(err.to_string().contains("etcd-1"), "{err}");
    cluster.resume(1)?;
    cluster.wait_healthy(Duration::from_secs(10))?;
    Ok(())
}

#[test]
fn bad_indexes_and_sizes_are_errors() -> TestResult {
    let err = Cluster::builder().members(0).start().err().ok_or("0 members started")?;
    assert_eq!(err.kind(), TestkitErrorKind::InvalidState);
    let etcd = shared()?;
    for e in [etcd.pause(7), etcd.resume(7)] {
        let e = e.err().ok_or("member 7 exists")?;
        assert_eq!(e.kind(), TestkitErrorKind::InvalidState);
        assert!(e.to_string().contains("0..1"), "{e}");
    }
    Ok(())
}

#[test]
fn shared_twice_is_the_same_server() -> TestResult {
    let (a, b) = (shared()?, shared()?);
    assert!(std::ptr::eq(a, b));
    assert_eq!(a.endpoint(), b.endpoint());
    super::health::check(a.member(0).client_addr(), Duration::from_secs(2))?;
    Ok(())
}

#[test]
fn unique_prefixes_differ() {
    let (a, b) = (unique_prefix("t"), unique_prefix("t"));
    assert_ne!(a, b);
    assert!(a.starts_with(&format!("t/{}-", std::process::id())) && a.ends_with('/'));
}

#[test]
fn etcd_3_4_starts_too() -> TestResult {
    let etcd = Etcd::start_with(Cluster::builder().binary(EtcdBinary::locate_version("3.4.23")?))?;
    assert_eq!(etcd.binary().major_minor(), (3, 4));
    super::health::check(etcd.member(0).client_addr(), Duration::from_secs(2))?;
    Ok(())
}

#[test]
fn a_failing_start_quotes_the_log() -> TestResult {
    let builder = Cluster::builder().binary(v351()?).arg("--no-such-flag");
    let err = Etcd::start_with(builder).err().ok_or("etcd accepted --no-such-flag")?;
    assert_eq!(err.kind(), TestkitErrorKind::Exited);
    assert!(err.to_string().contains("no-such-flag"), "{err}");
    Ok(())
}

/// An echo server on 127.0.0.1 for the proxy tests.
fn echo_server() -> Result<std::net::SocketAddr, Box<dyn Error>> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(addr)
}

fn round_trip(conn: &mut TcpStream, msg: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    conn.write_all(msg)?;
    let mut got = vec![0u8; msg.len()];
    conn.read_exact(&mut got)?;
    Ok(got)
}

#[test]
fn proxy_forwards_cuts_and_blocks() -> TestResult {
    let proxy = Proxy::start(echo_server()?)?;
    assert!(proxy.url().starts_with("http://127.0.0.1:"));
    let mut a = TcpStream::connect(proxy.addr())?;
    a.set_read_timeout(Some(Duration::from_secs(5)))?;
    assert_eq!(round_trip(&mut a, b"hello")?, b"hello");
    assert_eq!((proxy.connections(), proxy.active()), (1, 1));

    proxy.cut();
    let mut buf = [0u8; 8];
    assert!(matches!(a.read(&mut buf), Ok(0) | Err(_)), "cut connection still open");
    assert_eq!(proxy.active(), 0);

    let mut b = TcpStream::connect(proxy.addr())?;
    b.set_read_timeout(Some(Duration::from_secs(5)))?;
    assert_eq!(round_trip(&mut b, b"again")?, b"again");

    proxy.block(true);
    let mut c = TcpStream::connect(proxy.addr())?;
    c.set_read_timeout(Some(Duration::from_millis(300)))?;
    c.write_all(b"held")?;
    assert!(c.read(&mut buf).is_err(), "a blocked proxy forwarded bytes");
    assert_eq!(round_trip(&mut b, b"old ok")?, b"old ok", "block must not stop current connections");
    proxy.block(false);
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut got = [0u8; 4];
    c.read_exact(&mut got)?;
    assert_eq!(&got, b"held");
    assert_eq!(proxy.connections(), 3);

    let addr = proxy.addr();
    drop(proxy);
    assert!(matches!(b.read(&mut buf), Ok(0) | Err(_)), "connection survived the proxy's drop");
    assert!(TcpStream::connect(addr).is_err(), "proxy still listening after drop");
    Ok(())
}

#[test]
fn proxy_in_front_of_etcd() -> TestResult {
    let etcd = shared()?;
    let proxy = Proxy::start(etcd.member(0).client_addr())?;
    let addr = proxy.addr();
    super::health::check(addr, Duration::from_secs(2))?;
    assert_eq!(proxy.connections(), 1);
    Ok(())
}

/// Run by `etcd_dies_with_an_aborting_test_process` in a child process: starts the shared etcd,
/// prints its pid, and aborts without running any destructor.
#[test]
#[ignore = "helper, run in a child process"]
fn abort_helper() {
    if std::env::var_os("ETCD_RAW_TESTKIT_ABORT_HELPER").is_none() {
        return;
    }
    match shared().map(|etcd| (etcd.member(0).pid(), etcd.member(0).data_dir().to_path_buf())) {
        Ok((Some(pid), dir)) => println!("\nETCD_PID={pid}\nETCD_DIR={}", dir.display()),
        other => println!("\nETCD_FAILED={other:?}"),
    }
    let _ = std::io::stdout().flush();
    std::process::abort();
}

#[test]
fn etcd_dies_with_an_aborting_test_process() -> TestResult {
    let path = module_path!().split_once("::").map(|(_, rest)| rest).unwrap_or(module_path!());
    let out = Command::new(std::env::current_exe()?)
        .args(["--exact", &format!("{path}::abort_helper"), "--ignored", "--nocapture", "--test-threads=1"])
        .env("ETCD_RAW_TESTKIT_ABORT_HELPER", "1")
        .stdin(Stdio::null())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pid: u32 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ETCD_PID="))
        .ok_or_else(|| format!("helper printed no pid: {stdout} {}", String::from_utf8_lossy(&out.stderr)))?
        .trim()
        .parse()?;
    assert!(!out.status.success(), "helper was meant to abort");
    assert!(wait_gone(pid), "etcd {pid} outlived its aborted test process");
    if let Some(dir) = stdout.lines().find_map(|l| l.strip_prefix("ETCD_DIR=")) {
        let _ = std::fs::remove_dir_all(dir.trim());
    }
    Ok(())
}

#[test]
fn a_taken_port_is_reported_as_addr_in_use() -> TestResult {
    use super::member::{Launch, Member};
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let peer = super::ports::free_ports(1)?[0];
    let ports = (taken.local_addr()?.port(), peer);
    let member = Member::new("etcd-0".into(), v351()?, ports, super::dirs::fresh_dir()?);
    let initial = format!("etcd-0={}", member.peer_url());
    let launch = Launch { initial_cluster: &initial, token: "t", state: "new", extra_args: &[] };
    member.launch(&launch)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while member.is_running() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    match member.state() {
        super::member::State::Exited(status) => {
            assert_eq!(member.exited_error(&status).kind(), TestkitErrorKind::AddrInUse);
            Ok(())
        }
        other => Err(format!("etcd on a taken port: {other:?}").into()),
    }
}

#[test]
fn stale_dirs_of_dead_processes_are_removed() -> TestResult {
    let mut child = Command::new("true").spawn()?;
    let dead = child.id();
    child.wait()?;
    let stale = std::env::temp_dir().join(format!("etcd-raw-{dead}-0"));
    let ours = super::dirs::fresh_dir()?;
    std::fs::create_dir_all(stale.join("member"))?;
    super::dirs::remove_stale();
    assert!(!stale.exists(), "{} left behind", stale.display());
    assert!(ours.exists(), "removed a directory of a live process");
    std::fs::remove_dir_all(ours)?;
    Ok(())
}
