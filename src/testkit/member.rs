//! One etcd member: its name, ports, data directory, log, and process.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::binary::{scrub_env, EtcdBinary};
use super::error::{TestkitError, TestkitErrorKind};
use super::{flags, health, spawner};

/// How many bytes of a log the error messages quote.
const TAIL_BYTES: u64 = 3000;

/// One etcd member of a [`Cluster`](super::Cluster): name, URLs, data directory, binary and
/// process.
#[derive(Debug)]
pub struct Member {
    name: String,
    /// What the member runs; members of one cluster may run different releases.
    binary: EtcdBinary,
    client_port: u16,
    peer_port: u16,
    /// Behind a peer proxy: where the member itself listens for peers,
    /// while `peer_port` (the proxy) is what it advertises.
    listen_peer_port: Option<u16>,
    /// With https client URLs: a plain-http client listener for `/health`.
    health_port: Option<u16>,
    data_dir: PathBuf,
    proc: Mutex<Proc>,
}

#[derive(Debug, Default)]
struct Proc {
    child: Option<Child>,
    /// Set by `kill`: a member we stopped on purpose, as opposed to one that crashed.
    killed: bool,
    /// Length of the log file when the current process started.
    log_offset: u64,
}

/// What a member's process is doing, as far as the kit knows.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    Killed,
    /// Exited on its own; the text is the exit status.
    Exited(String),
}

/// Everything a member needs to start besides its own name, ports and directory.
pub(crate) struct Launch<'a> {
    pub(crate) initial_cluster: &'a str,
    pub(crate) token: &'a str,
    /// `new` or `existing`.
    pub(crate) state: &'a str,
    pub(crate) extra_args: &'a [String],
}

impl Member {
    pub(crate) fn new(name: String, binary: EtcdBinary, ports: (u16, u16), data_dir: PathBuf) -> Member {
        let (client_port, peer_port) = ports;
        Member {
            name,
            binary,
            client_port,
            peer_port,
            listen_peer_port: None,
            health_port: None,
            data_dir,
            proc: Mutex::new(Proc::default()),
        }
    }

    /// Listens for peers on `port` while advertising the peer port, where
    /// a proxy forwards to it.
    pub(crate) fn behind_peer_proxy(mut self, port: u16) -> Member {
        self.listen_peer_port = Some(port);
        self
    }

    /// Where the member itself listens for peers.
    pub(crate) fn peer_listen_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.listen_peer_port.unwrap_or(self.peer_port)))
    }

    /// Serves clients over https, with a plain-http listener on `health_port`
    /// that the kit's health probe uses (it speaks no TLS).
    pub(crate) fn with_https(mut self, health_port: u16) -> Member {
        self.health_port = Some(health_port);
        self
    }

    /// The member's name (`--name`), e.g. `etcd-0`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The etcd binary the member runs (or ran last, when stopped).
    pub fn binary(&self) -> &EtcdBinary {
        &self.binary
    }

    pub(crate) fn set_binary(&mut self, binary: EtcdBinary) {
        self.binary = binary;
    }

    /// The client URL, `http://127.0.0.1:PORT` (`https://` for a cluster
    /// built with [`https`](super::ClusterBuilder::https)).
    pub fn client_url(&self) -> String {
        let scheme = if self.health_port.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// The client address, e.g. to put a [`Proxy`](super::Proxy) in front of it.
    pub fn client_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.client_port))
    }

    /// The peer URL, `http://127.0.0.1:PORT`.
    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// The process id while the process runs (or is paused); `None` once killed or exited.
    pub fn pid(&self) -> Option<u32> {
        let mut proc = self.lock();
        let child = proc.child.as_mut()?;
        matches!(child.try_wait(), Ok(None)).then(|| child.id())
    }

    /// The data directory (`--data-dir`); removed when the cluster is dropped.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file that receives the member's stdout and stderr (`<data dir>/etcd.log`).
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("etcd.log")
    }

    /// The last few kilobytes of the member's log, for error messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log_path(), 0)
    }

    /// Whether the process is alive (a paused process counts as alive).
    pub fn is_running(&self) -> bool {
        self.state() == State::Running
    }

    pub(crate) fn state(&self) -> State {
        let mut proc = self.lock();
        let killed = proc.killed;
        match proc.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => State::Running,
            Some(Ok(Some(status))) => State::Exited(status.to_string()),
            Some(Err(e)) => State::Exited(format!("unknown status ({e})")),
            None if killed => State::Killed,
            None => State::Exited("not started".into()),
        }
    }

    /// Starts the etcd process; the caller waits for health.
    pub(crate) fn launch(&self, launch: &Launch<'_>) -> Result<(), TestkitError> {
        let mut proc = self.lock();
        if let Some(child) = proc.child.as_mut() {
            if matches!(child.try_wait(), Ok(None)) {
                return Err(TestkitError::state(format!(
                    "testkit: member {} is still running; kill it before starting it again",
                    self.name
                )));
            }
        }
        let log_path = self.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| TestkitError::io(format!("open {}", log_path.display()), e))?;
        let offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log2 = log.try_clone().map_err(|e| TestkitError::io("duplicate the log file handle", e))?;
        let mut cmd = self.command(launch);
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        let child = spawner::spawn(cmd)?;
        *proc = Proc { child: Some(child), killed: false, log_offset: offset };
        Ok(())
    }

    fn command(&self, l: &Launch<'_>) -> Command {
        let mut cmd = Command::new(&self.binary.etcd);
        scrub_env(&mut cmd);
        let (client, peer) = (self.client_url(), self.peer_url());
        let listen = match self.health_port {
            Some(port) => format!("{client},http://127.0.0.1:{port}"),
            None => client.clone(),
        };
        cmd.current_dir(&self.data_dir)
            .arg(format!("--name={}", self.name))
            .arg(format!("--data-dir={}", self.data_dir.display()))
            .arg(format!("--listen-client-urls={listen}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls=http://{}", self.peer_listen_addr()))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={}", l.initial_cluster))
            .arg(format!("--initial-cluster-token={}", l.token))
            .arg(format!("--initial-cluster-state={}", l.state))
            .args(["--logger=zap", "--log-level=error"]);
        if self.binary.major_minor() >= (3, 5) {
            cmd.arg("--unsafe-no-fsync");
        }
        cmd.args(flags::for_version(l.extra_args, self.binary.major_minor()));
        cmd
    }

    /// Stops the process with SIGTERM, as an operator would: etcd hands leadership away
    /// and closes its files. After `grace` without an exit it is SIGKILLed.
    pub(crate) fn stop(&self, grace: Duration) -> Result<(), TestkitError> {
        {
            let mut proc = self.lock();
            let Some(child) = proc.child.as_mut() else {
                return Ok(());
            };
            if matches!(child.try_wait(), Ok(None)) {
                send(child.id(), libc::SIGTERM, &self.name)?;
                let now = std::time::Instant::now();
                let give_up = now.checked_add(grace).unwrap_or(now);
                while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < give_up {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        self.kill()
    }

    /// SIGKILLs the process by pid and reaps it; nothing to do if it is not running.
    pub(crate) fn kill(&self) -> Result<(), TestkitError> {
        let mut proc = self.lock();
        let Some(mut child) = proc.child.take() else {
            return Ok(());
        };
        proc.killed = true;
        if matches!(child.try_wait(), Ok(None)) {
            // Not yet reaped, so the pid is still ours (at worst a zombie).
            send(child.id(), libc::SIGKILL, &self.name)?;
        }
        child.wait().map_err(|e| TestkitError::io(format!("wait for member {}", self.name), e))?;
        Ok(())
    }

    /// Sends `signal` to the running process.
    pub(crate) fn signal(&self, signal: libc::c_int) -> Result<(), TestkitError> {
        let mut proc = self.lock();
        // Checked under the lock, so the pid cannot be reaped and reused meanwhile.
        if let Some(child) = proc.child.as_mut() {
            if matches!(child.try_wait(), Ok(None)) {
                send(child.id(), signal, &self.name)?;
                if signal == libc::SIGSTOP {
                    wait_all_threads_stopped(child.id());
                }
                return Ok(());
            }
        }
        Err(TestkitError::state(format!("testkit: member {} is not running; restart it first", self.name)))
    }

    /// The member's Prometheus metrics (`GET /metrics` on its client port), as text.
    pub fn metrics(&self) -> Result<String, TestkitError> {
        self.http_get("/metrics")
    }

    /// The sum of every sample of metric `name` whose labels include each of `labels`
    /// (`("grpc_method", "Range")`); 0.0 when none matches.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), etcd_raw::testkit::TestkitError> {
    /// let etcd = etcd_raw::testkit::Etcd::start()?;
    /// let ranges = etcd.member(0).metric("grpc_server_handled_total", &[("grpc_method", "Range")])?;
    /// let watchers = etcd.member(0).metric("etcd_debugging_mvcc_watcher_total", &[])?;
    /// # Ok(()) }
    /// ```
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Result<f64, TestkitError> {
        let text = self.metrics()?;
        let mut total = 0.0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            if metric != name || !labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))) {
                continue;
            }
            total += value.trim().parse::<f64>().map_err(|e| {
                TestkitError::state(format!("testkit: metric line {line:?} of member {} has no number: {e}", self.name))
            })?;
        }
        Ok(total)
    }

    /// The cluster version this member reports (`etcdcluster` of `GET /version`), e.g. `3.6.0`;
    /// `not_decided` while the cluster has not agreed on one.
    pub fn cluster_version(&self) -> Result<String, TestkitError> {
        let body = self.http_get("/version")?;
        let key = "\"etcdcluster\":\"";
        let at = body.find(key).ok_or_else(|| {
            TestkitError::state(format!("testkit: /version of member {} has no etcdcluster: {body}", self.name))
        })?;
        Ok(body[at + key.len()..].split('"').next().unwrap_or_default().to_string())
    }

    fn http_get(&self, path: &str) -> Result<String, TestkitError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.health_port.unwrap_or(self.client_port)));
        health::get(addr, path, Duration::from_secs(5)).map_err(|why| {
            TestkitError::new(TestkitErrorKind::Io, format!("testkit: GET {path} of member {}: {why}", self.name))
        })
    }

    /// One `/health` probe.
    pub(crate) fn probe(&self, timeout: Duration) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.health_port.unwrap_or(self.client_port)));
        health::check(addr, timeout)
    }

    /// The log written since the current process started.
    pub(crate) fn startup_log(&self) -> String {
        let offset = self.lock().log_offset;
        tail(&self.log_path(), offset)
    }

    /// The error for a process that exited while we waited for it.
    pub(crate) fn exited_error(&self, status: &str) -> TestkitError {
        let mut log = self.startup_log();
        // On a full disk etcd may not even write its log: say so.
        if let Some(note) = low_disk_note(&self.data_dir) {
            log = format!("{log}\n{note}");
        }
        let kind =
            if log.contains("address already in use") { TestkitErrorKind::AddrInUse } else { TestkitErrorKind::Exited };
        TestkitError::new(
            kind,
            format!(
                "testkit: etcd member {} ({}) exited with {status}; fix the cause in its log {}, which ends with:\n{log}",
                self.name,
                self.client_url(),
                self.log_path().display()
            ),
        )
    }

    fn lock(&self) -> MutexGuard<'_, Proc> {
        self.proc.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = fs::remove_dir_all(&self.data_dir);
    }
}

/// Waits (up to 2 s) until every thread of `pid` is stopped. SIGSTOP stops a process's
/// threads one by one, and a Go thread already running can still answer a request
/// meanwhile; a caller that pauses a member expects silence from the moment `pause`
/// returns. Without `/proc` it returns at once.
fn wait_all_threads_stopped(pid: u32) {
    let tasks = PathBuf::from(format!("/proc/{pid}/task"));
    let give_up = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < give_up {
        let Ok(entries) = fs::read_dir(&tasks) else { return };
        let stopped = entries.filter_map(|e| e.ok()).all(|task| {
            let stat = fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // The state is the first field after the parenthesised name: T is stopped.
            stat.rsplit_once(')').is_none_or(|(_, rest)| matches!(rest.trim_start().chars().next(), Some('T' | 't')))
        });
        if stopped {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn send(pid: u32, signal: libc::c_int, name: &str) -> Result<(), TestkitError> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| TestkitError::state(format!("testkit: pid {pid} of member {name} is out of range")))?;
    // SAFETY: kill has no memory effects; pid belongs to our unreaped child.
    if unsafe { libc::kill(pid, signal) } != 0 {
        let err = std::io::Error::last_os_error();
        return Err(TestkitError::io(format!("send signal {signal} to member {name} (pid {pid})"), err));
    }
    Ok(())
}

/// Below this much free space etcd may fail to start: it preallocates
/// 64 MiB for its first WAL file.
const LOW_DISK_BYTES: u64 = 256 * 1024 * 1024;

/// A note when the disk holding `dir` (or its parent, if `dir` is gone)
/// is nearly full.
fn low_disk_note(dir: &Path) -> Option<String> {
    let existing = match dir.parent() {
        _ if dir.exists() => dir,
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        // A relative directory's parent is the working directory.
        _ => Path::new("."),
    };
    let path = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs only writes into the zeroed struct we pass; the path is NUL-terminated.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    // Some file systems leave the fragment size at 0; the block size is the unit then.
    let unit = if stat.f_frsize > 0 { stat.f_frsize } else { stat.f_bsize };
    #[allow(clippy::useless_conversion, reason = "the fields are 32 bits on some targets")]
    let free = u64::from(stat.f_bavail).saturating_mul(u64::from(unit));
    (free < LOW_DISK_BYTES).then(|| {
        format!(
            "(the disk holding {} has only {} MiB free: etcd needs more than 64 MiB to start)",
            existing.display(),
            free / (1024 * 1024)
        )
    })
}

/// The last [`TAIL_BYTES`] of `path` after `offset`, or a note that it cannot be read.
fn tail(path: &Path, offset: u64) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let start = offset.max(len.saturating_sub(TAIL_BYTES));
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::new();
        file.take(TAIL_BYTES).read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) if text.trim().is_empty() => "(empty)".to_string(),
        Ok(text) => text,
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
