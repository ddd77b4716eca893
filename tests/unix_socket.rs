//! `unix://` and `unixs://` endpoints against a real etcd that listens on
//! a TCP URL (to tell when it is up) and on a unix socket in a directory of
//! its own. The test starts etcd itself: the kit's `--listen-client-urls`
//! cannot be extended, since etcd keeps only the last of a repeated flag.
#![cfg(all(feature = "testkit", feature = "tls", unix))]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use etcd_raw::auth::TlsConfig;
use etcd_raw::testkit::EtcdBinary;
use etcd_raw::{Client, Config, ErrorKind};
use support::ca::Ca;
use support::scratch::{etcd_command, free_url, Scratch};
use support::TestResult;

type BoxError = Box<dyn std::error::Error>;

const UNIX_CA: &str = "etcd-raw unix test CA";

/// An etcd process started by the test; killed, and its directory
/// removed, on drop.
struct Server {
    scratch: Scratch,
    pid: u32,
    /// The plain TCP client URL.
    tcp: String,
    /// The unix URL etcd was given (`unix://...` or `unixs://...`).
    listen: String,
    socket: PathBuf,
    version: (u32, u32, u32),
}

impl Server {
    /// The client endpoint for the socket: `unix:///abs/path` (or `unixs`).
    fn endpoint(&self) -> String {
        let scheme = self.listen.split(':').next().unwrap_or("unix");
        format!("{scheme}://{}", self.socket.display())
    }
}

/// Starts etcd listening on `http://127.0.0.1:PORT` and on a socket in a
/// fresh directory, with `args` added. From 3.5.13 the socket URL is
/// `unix:///<dir>/etcd.sock`; older servers take only `unix://host:port`,
/// which names a file (`localhost:2379`) in their working directory.
/// From 3.7 the socket is advertised too.
fn start(secure: bool, args: &[String]) -> Result<Server, BoxError> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let binary = EtcdBinary::locate()?;
    let version = binary.release();
    let mut scratch = Scratch::new(&format!("unix-{}", NEXT.fetch_add(1, Ordering::Relaxed)))?;
    let dir = scratch.dir.clone();
    let scheme = if secure { "unixs" } else { "unix" };
    let (listen, socket) = if version >= (3, 5, 13) {
        let socket = dir.join("etcd.sock");
        (format!("{scheme}://{}", socket.display()), socket)
    } else {
        (format!("{scheme}://localhost:2379"), dir.join("localhost:2379"))
    };
    let tcp = free_url()?;
    let peer = free_url()?;
    let advertise = if version >= (3, 7, 0) { format!("{tcp},{listen}") } else { tcp.clone() };
    let log = std::fs::File::create(dir.join("etcd.log"))?;
    let mut command = etcd_command(&binary.etcd);
    command
        .current_dir(&dir)
        .arg("--name=unix")
        .arg(format!("--data-dir={}", dir.join("data").display()))
        .arg(format!("--listen-client-urls={tcp},{listen}"))
        .arg(format!("--advertise-client-urls={advertise}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=unix={peer}"))
        .args(["--logger=zap", "--log-level=error"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let child = command.spawn()?;
    let pid = child.id();
    scratch.child = Some(child);
    Ok(Server { scratch, pid, tcp, listen, socket, version })
}

/// Waits until the server answers over TCP and its socket file exists.
async fn ready(server: &mut Server) -> TestResult {
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.scratch.child.as_mut().ok_or("no etcd process")?.try_wait()? {
            return Err(format!("etcd exited with {status}; its log:\n{}", server.scratch.log()).into());
        }
        if server.socket.exists() {
            let config = Config::new([server.tcp.clone()]).dial_timeout(Duration::from_secs(1));
            if let Ok(client) = Client::new(config).await {
                if client.get("ready").await.is_ok() {
                    return Ok(());
                }
            }
        }
        if Instant::now() > give_up {
            return Err(format!("etcd not ready after 20 s; its log:\n{}", server.scratch.log()).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn put_get_watch_and_status_over_a_unix_socket() -> TestResult {
    let mut server = start(false, &[])?;
    ready(&mut server).await?;
    let endpoint = server.endpoint();
    assert!(endpoint.starts_with("unix:///"), "{endpoint}");
    let client = Client::new(Config::new([endpoint.clone()])).await?;
    assert_eq!(client.endpoints(), std::slice::from_ref(&endpoint));

    let put = client.put("u/a", "1").timeout(Duration::from_secs(2)).await?;
    assert!(put.header().revision() > 0);
    let got = client.get("u/a").await?;
    assert_eq!(got.kvs()[0].value(), b"1");
    // The same store as over TCP.
    let tcp = Client::new(Config::new([server.tcp.clone()])).await?;
    assert_eq!(tcp.get("u/a").await?.kvs()[0].value(), b"1");

    // A watch over the socket sees a write made over TCP.
    let mut watch = client.watch("u/").prefix().await?;
    tcp.put("u/b", "2").await?;
    let response = tokio::time::timeout(Duration::from_secs(5), watch.message()).await?.ok_or("watch ended")??;
    let event = response.events().first().ok_or("no event")?;
    assert_eq!(event.kv().key(), b"u/b");

    // Range streams too: RangeStream from 3.7, paged gets before.
    assert_eq!(client.get("u/").prefix().stream().into_response().await?.kvs().len(), 2);

    // Maintenance calls name the socket endpoint.
    let status = client.status(&endpoint).await?;
    let (major, minor, patch) = server.version;
    assert_eq!(status.version(), format!("{major}.{minor}.{patch}"));

    // Go's other form, `unix:<path>`.
    let short = Client::new(Config::new([format!("unix:{}", server.socket.display())])).await?;
    assert_eq!(short.get("u/b").await?.kvs().len(), 1);

    // 3.7 advertises the socket, and the URL it lists dials.
    let members = client.member_list().await?;
    let urls = members.members().first().ok_or("no member")?.client_urls();
    if server.version >= (3, 7, 0) {
        let advertised = urls.iter().find(|u| u.starts_with("unix:")).ok_or(format!("no unix URL in {urls:?}"))?;
        assert_eq!(advertised, &server.listen);
        let listed = Client::new(Config::new([advertised.clone()])).await?;
        assert_eq!(listed.get("u/a").await?.kvs().len(), 1);
    } else {
        assert_eq!(urls, &[server.tcp.clone()], "only 3.7 advertises a unix URL");
    }
    Ok(())
}

#[tokio::test]
async fn a_missing_socket_fails_over_to_a_live_one() -> TestResult {
    let mut server = start(false, &[])?;
    ready(&mut server).await?;
    let missing = format!("unix://{}", server.scratch.dir.join("missing.sock").display());
    let client = Client::new(Config::new([missing.clone(), server.endpoint()])).await?;
    // Round robin lands on the missing socket too; reads and writes go on.
    for i in 0..6 {
        client.put(format!("f/{i}"), "v").await?;
        assert_eq!(client.get(format!("f/{i}")).await?.kvs().len(), 1);
    }
    // A call aimed at the missing endpoint says why it cannot go there.
    let error = client.status(&missing).await.err().ok_or("status of a missing socket")?;
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(error.message().contains("missing.sock"), "{error}");
    Ok(())
}

/// Sends `signal` to the server's process.
fn signal(server: &Server, signal: libc::c_int) -> TestResult {
    let pid = libc::pid_t::try_from(server.pid)?;
    // SAFETY: kill has no memory effects; the pid is our unreaped child.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

/// Waits until every thread of the server is stopped: a SIGSTOP is
/// delivered to each thread on its own, and a Go thread that is running
/// may still answer a request just after `kill` returns. Reads
/// `/proc/<pid>/task/*/stat`; where there is no `/proc`, waits a little.
async fn wait_stopped(server: &Server) -> TestResult {
    let tasks = PathBuf::from(format!("/proc/{}/task", server.pid));
    if !tasks.exists() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        return Ok(());
    }
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        let mut all = true;
        for task in std::fs::read_dir(&tasks)? {
            let stat = std::fs::read_to_string(task?.path().join("stat")).unwrap_or_default();
            // The state follows the parenthesized command name.
            let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next());
            all &= matches!(state, Some("T") | Some("t"));
        }
        if all {
            return Ok(());
        }
        if Instant::now() > give_up {
            return Err("etcd's threads did not all stop within 5 s of SIGSTOP".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn deadlines_hold_over_a_socket_whose_server_hangs() -> TestResult {
    let mut server = start(false, &[])?;
    ready(&mut server).await?;
    let client = Client::new(Config::new([server.endpoint()])).await?;
    client.put("d/a", "1").await?;
    signal(&server, libc::SIGSTOP)?;
    wait_stopped(&server).await?;
    let started = Instant::now();
    let read = client.get("d/a").timeout(Duration::from_millis(500)).await;
    let write = client.put("d/a", "2").timeout(Duration::from_millis(500)).await;
    let elapsed = started.elapsed();
    signal(&server, libc::SIGCONT)?;
    let read = read.err().ok_or("a stopped server answered a read")?;
    assert_eq!(read.kind(), ErrorKind::DeadlineExceeded, "{read}");
    let write = write.err().ok_or("a stopped server answered a write")?;
    assert_eq!(write.kind(), ErrorKind::DeadlineExceeded, "{write}");
    assert!(write.outcome_unknown());
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    // And it answers again once resumed.
    assert_eq!(client.get("d/a").timeout(Duration::from_secs(5)).await?.kvs().len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_missing_socket_is_unavailable_and_named_at_once() -> TestResult {
    let path = std::env::temp_dir().join(format!("etcd-raw-no-such-dir-{}", std::process::id())).join("etcd.sock");
    let endpoint = format!("unix://{}", path.display());
    let started = Instant::now();
    let error = Client::new(Config::new([endpoint])).await.err().ok_or("connected to a missing socket")?;
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(error.message().contains(&path.display().to_string()), "{error}");
    assert!(error.message().contains("no unix socket at"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    Ok(())
}

#[tokio::test]
async fn forms_and_tls_configuration_are_checked_before_dialing() -> TestResult {
    let refused = |config: Config| async move {
        let error = Client::new(config).await.err().ok_or("a bad endpoint was accepted")?;
        assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
        Ok::<_, BoxError>(error.message().to_string())
    };
    assert!(refused(Config::new(["unix://"])).await?.contains("socket file path is required"));
    assert!(refused(Config::new(["unixs:///tmp/etcd.sock"])).await?.contains("uses unixs:// but"));
    let tls = TlsConfig::new().ca_pem(Ca::new(UNIX_CA)?.pem());
    let message = refused(Config::new(["unix:///tmp/etcd.sock"]).tls(tls)).await?;
    assert!(message.contains("use unixs:// for TLS over the socket"), "{message}");
    Ok(())
}

/// A server certificate from `ca` for `sans`, written to PEM files in
/// `dir`; returns their paths.
fn server_files(ca: &Ca, dir: &Path, sans: &[&str]) -> Result<(PathBuf, PathBuf), BoxError> {
    let leaf = ca.leaf("etcd", sans, false)?;
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server-key.pem"));
    std::fs::write(&cert_path, leaf.cert)?;
    std::fs::write(&key_path, leaf.key)?;
    Ok((cert_path, key_path))
}

#[tokio::test]
async fn unixs_is_tls_over_the_socket_checked_against_the_file_name() -> TestResult {
    let ca = Ca::new(UNIX_CA)?;
    let certs = Scratch::new("unix-certs")?;
    // The socket file's name is what the certificate must hold.
    let (cert, key) = server_files(&ca, &certs.dir, &["etcd.sock", "localhost"])?;
    let args = [format!("--cert-file={}", cert.display()), format!("--key-file={}", key.display())];
    let mut server = start(true, &args)?;
    ready(&mut server).await?;
    let endpoint = server.endpoint();
    assert!(endpoint.starts_with("unixs:///"), "{endpoint}");
    let mut tls = TlsConfig::new().ca_pem(ca.pem());
    if server.version < (3, 5, 13) {
        // The socket is the file `localhost:2379`, not a name a certificate holds.
        tls = tls.server_name("localhost");
    }
    let client = Client::new(Config::new([endpoint.clone()]).tls(tls)).await?;
    client.put("s/a", "1").await?;
    assert_eq!(client.get("s/a").await?.kvs()[0].value(), b"1");

    // The name checked is the file's: through a link named `other.sock`
    // the same server's certificate does not match, and the error says so.
    let link = server.scratch.dir.join("other.sock");
    std::os::unix::fs::symlink(&server.socket, &link)?;
    let tls = TlsConfig::new().ca_pem(ca.pem());
    let config = Config::new([format!("unixs://{}", link.display())]).tls(tls).dial_timeout(Duration::from_secs(2));
    let error = Client::new(config).await.err().ok_or("a certificate for another name was accepted")?;
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert!(error.message().contains("other.sock"), "{error}");
    Ok(())
}
