//! A cluster of etcd processes on 127.0.0.1, and its builder.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::binary::{scrub_env, EtcdBinary};
use super::error::{TestkitError, TestkitErrorKind};
use super::member::{Launch, Member, State};
use super::proxy::Proxy;
use super::{dirs, ports};

/// How long `start` and `restart` wait for health unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a start is tried with fresh ports when a port was taken meanwhile.
const START_ATTEMPTS: usize = 4;
const POLL: Duration = Duration::from_millis(100);
/// How long a graceful stop waits before it kills.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Options for a [`Cluster`]: `Cluster::builder().members(3).arg("--auth-token-ttl=2").start()`.
#[derive(Clone, Debug)]
#[must_use = "a ClusterBuilder starts nothing until start()"]
pub struct ClusterBuilder {
    members: usize,
    binary: Option<EtcdBinary>,
    member_binaries: Vec<(usize, EtcdBinary)>,
    args: Vec<String>,
    timeout: Duration,
    https: bool,
    peer_proxies: bool,
}

impl ClusterBuilder {
    /// The number of members (default 1).
    pub fn members(mut self, n: usize) -> Self {
        self.members = n;
        self
    }

    /// The etcd binary to run (default [`EtcdBinary::locate`]).
    pub fn binary(mut self, binary: EtcdBinary) -> Self {
        self.binary = Some(binary);
        self
    }

    /// A different etcd binary for member `i`: a mixed-version cluster, as in the middle of
    /// a rolling upgrade. Members not named run [`binary`](Self::binary).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), etcd_raw::testkit::TestkitError> {
    /// use etcd_raw::testkit::{Cluster, EtcdBinary};
    /// let mixed = Cluster::builder()
    ///     .members(3)
    ///     .binary(EtcdBinary::locate_version("3.5")?)
    ///     .member_binary(2, EtcdBinary::locate_version("3.6")?)
    ///     .start()?;
    /// assert_eq!(mixed.member(2).binary().major_minor(), (3, 6));
    /// # Ok(()) }
    /// ```
    pub fn member_binary(mut self, i: usize, binary: EtcdBinary) -> Self {
        self.member_binaries.push((i, binary));
        self
    }

    /// One extra etcd flag for every member, e.g. `--auth-token-ttl=2`. The renamed
    /// `--experimental-*` flags of etcd 3.5 and their 3.6+ names (and `--feature-gates`) may
    /// be given in either spelling: each member gets the one its release accepts.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Extra etcd flags for every member.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Serve clients over `https://` (default plain `http://`); give the
    /// certificate flags with [`args`](Self::args): `--cert-file`,
    /// `--key-file`, and `--trusted-ca-file` with `--client-cert-auth` to
    /// require client certificates. Each member also listens on a plain
    /// http port of its own, which only the kit's health check uses.
    pub fn https(mut self, on: bool) -> Self {
        self.https = on;
        self
    }

    /// Route the traffic between members through a proxy per member, so
    /// that [`Cluster::isolate`] can cut one off from the others while its
    /// clients still reach it (default off).
    pub fn peer_proxies(mut self, on: bool) -> Self {
        self.peer_proxies = on;
        self
    }

    /// How long `start` and `restart` wait for the members to be healthy (default 20 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Starts the members and waits until every one is healthy.
    pub fn start(self) -> Result<Cluster, TestkitError> {
        if self.members == 0 {
            return Err(TestkitError::state(
                "testkit: a cluster needs at least one member; call members(n) with n >= 1",
            ));
        }
        let binary = match self.binary {
            Some(binary) => binary,
            None => EtcdBinary::locate()?,
        };
        if let Some((i, _)) = self.member_binaries.iter().find(|(i, _)| *i >= self.members) {
            return Err(TestkitError::state(format!(
                "testkit: member_binary({i}, ..) names no member; the cluster has members 0..{}",
                self.members
            )));
        }
        let default_binary = binary.clone();
        let binary_of = |i: usize| {
            let chosen = self.member_binaries.iter().rev().find(|(m, _)| *m == i).map(|(_, b)| b);
            chosen.unwrap_or(&default_binary).clone()
        };
        let mut cluster = Cluster {
            binary,
            members: Vec::new(),
            peer_proxies: Vec::new(),
            token: format!("etcd-raw-{}-{}", std::process::id(), dirs::next_id()),
            initial_cluster: String::new(),
            args: self.args,
            timeout: self.timeout,
        };
        let mut attempt = 1;
        loop {
            // Dropping the previous members kills them and removes their directories.
            cluster.members = Vec::new();
            cluster.peer_proxies = Vec::new();
            (cluster.members, cluster.peer_proxies) =
                new_members(self.members, &binary_of, self.https, self.peer_proxies)?;
            cluster.initial_cluster = initial_cluster(&cluster.members);
            let all: Vec<usize> = (0..self.members).collect();
            let started = cluster.launch(&all, "new").and_then(|()| cluster.wait_for(&all, cluster.timeout));
            match started {
                Ok(()) => return Ok(cluster),
                Err(e) if e.kind() == TestkitErrorKind::AddrInUse && attempt < START_ATTEMPTS => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Running etcd processes on 127.0.0.1; dropping it kills them and removes their data.
#[derive(Debug)]
pub struct Cluster {
    binary: EtcdBinary,
    members: Vec<Member>,
    /// With [`ClusterBuilder::peer_proxies`]: member i's peers reach it through proxy i.
    peer_proxies: Vec<Proxy>,
    token: String,
    initial_cluster: String,
    args: Vec<String>,
    timeout: Duration,
}

impl Cluster {
    /// Options for a cluster; see [`ClusterBuilder`].
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            members: 1,
            binary: None,
            member_binaries: Vec::new(),
            args: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            https: false,
            peer_proxies: false,
        }
    }

    /// Starts `members` members with the located binary and waits until all are healthy.
    pub fn start(members: usize) -> Result<Cluster, TestkitError> {
        Cluster::builder().members(members).start()
    }

    /// Every member's client URL, `http://127.0.0.1:PORT` (or `https://`).
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// All members, in start order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Member `i`.
    ///
    /// # Panics
    /// If `i` is not below the number of members, like slice indexing; use
    /// [`members`](Self::members)`().get(i)` to check instead.
    pub fn member(&self, i: usize) -> &Member {
        match self.get(i) {
            Ok(member) => member,
            Err(e) => panic!("{e}"),
        }
    }

    /// Kills member `i` with SIGKILL and reaps it; its data stays for [`restart`](Self::restart).
    pub fn kill(&mut self, i: usize) -> Result<(), TestkitError> {
        self.get(i)?.kill()
    }

    /// Stops member `i` with SIGSTOP: its sockets stay open, it answers nothing. Returns once
    /// every thread of the process has stopped, so nothing is answered after it.
    pub fn pause(&self, i: usize) -> Result<(), TestkitError> {
        self.get(i)?.signal(libc::SIGSTOP)
    }

    /// Continues a paused member `i` with SIGCONT.
    pub fn resume(&self, i: usize) -> Result<(), TestkitError> {
        self.get(i)?.signal(libc::SIGCONT)
    }

    /// Cuts member `i` off from the other members, both ways, while its
    /// clients still reach it: a network partition of raft traffic. Peer
    /// requests that name no sender (a follower forwarding a lease renewal
    /// or promotion to the leader, version probes) still pass, which ends
    /// once the member notices it has no leader. Needs a cluster built with
    /// [`peer_proxies`](ClusterBuilder::peer_proxies).
    pub fn isolate(&self, i: usize) -> Result<(), TestkitError> {
        let (own, id) = self.peer_proxy(i)?;
        own.block(true);
        own.cut();
        for (j, proxy) in self.peer_proxies.iter().enumerate() {
            if j != i {
                proxy.refuse_sender(&id, true);
            }
        }
        Ok(())
    }

    /// Ends [`isolate`](Self::isolate): member `i` reaches its peers again.
    pub fn heal(&self, i: usize) -> Result<(), TestkitError> {
        let (own, id) = self.peer_proxy(i)?;
        for proxy in &self.peer_proxies {
            proxy.refuse_sender(&id, false);
        }
        own.block(false);
        Ok(())
    }

    /// Member `i`'s peer proxy and the member id its peers address it by.
    fn peer_proxy(&self, i: usize) -> Result<(&Proxy, String), TestkitError> {
        self.get(i)?;
        let proxy = self.peer_proxies.get(i).ok_or_else(|| {
            TestkitError::state("testkit: isolate and heal need a cluster built with peer_proxies(true)")
        })?;
        let id = proxy.peer_target().ok_or_else(|| {
            TestkitError::state(format!("testkit: no peer has reached member {i} yet, so its id is unknown"))
        })?;
        Ok((proxy, id))
    }

    /// Stops member `i` gracefully with SIGTERM (etcd hands leadership away first), waiting
    /// up to 10 s before it SIGKILLs; its data stays for [`restart`](Self::restart).
    pub fn stop(&mut self, i: usize) -> Result<(), TestkitError> {
        self.get(i)?.stop(STOP_GRACE)
    }

    /// Replaces member `i`'s binary the way an operator upgrades or downgrades a member:
    /// stops it gracefully, starts `binary` on the same data directory, name, ports and
    /// flags, and waits until it is healthy.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), etcd_raw::testkit::TestkitError> {
    /// use etcd_raw::testkit::{Cluster, EtcdBinary};
    /// let mut cluster = Cluster::builder().members(3).binary(EtcdBinary::locate_version("3.5")?).start()?;
    /// let next = EtcdBinary::locate_version("3.6")?;
    /// for i in 0..3 {
    ///     cluster.swap_binary(i, next.clone())?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn swap_binary(&mut self, i: usize, binary: EtcdBinary) -> Result<(), TestkitError> {
        self.stop(i)?;
        self.members[i].set_binary(binary);
        self.restart(i)
    }

    /// Adds a learner (a non-voting member, `etcdctl member add --learner`), starts it
    /// with the cluster's binary and waits until it is healthy; returns its index among
    /// [`members`](Self::members). Its client URL serves only what etcd lets a learner
    /// serve (status, serializable reads), so clients can be tested against one.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), etcd_raw::testkit::TestkitError> {
    /// use etcd_raw::testkit::Cluster;
    /// let mut cluster = Cluster::start(1)?;
    /// let learner = cluster.add_learner()?;
    /// println!("learner at {}", cluster.member(learner).client_url());
    /// # Ok(()) }
    /// ```
    pub fn add_learner(&mut self) -> Result<usize, TestkitError> {
        if self.members.iter().any(|m| m.client_url().starts_with("https")) || !self.peer_proxies.is_empty() {
            return Err(TestkitError::state(
                "testkit: add_learner supports plain clusters only (no https, no peer proxies)",
            ));
        }
        let index = self.members.len();
        let ports = ports::free_ports(2)?;
        let member =
            Member::new(format!("etcd-{index}"), self.binary.clone(), (ports[0], ports[1]), dirs::fresh_dir()?);
        let mut add = self.etcdctl()?;
        add.args(["member", "add", member.name(), "--learner"]).arg(format!("--peer-urls={}", member.peer_url()));
        let output = add.output().map_err(|e| TestkitError::io("run etcdctl member add --learner", e))?;
        if !output.status.success() {
            return Err(TestkitError::state(format!(
                "testkit: etcdctl member add --learner failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        self.initial_cluster = format!("{},{}={}", self.initial_cluster, member.name(), member.peer_url());
        self.members.push(member);
        self.launch(&[index], "existing")?;
        self.wait_for(&[index], self.timeout)?;
        Ok(index)
    }

    /// Starts a killed or stopped member again with the same name, data and ports, and
    /// waits until it is healthy.
    pub fn restart(&mut self, i: usize) -> Result<(), TestkitError> {
        if self.get(i)?.is_running() {
            return Err(TestkitError::state(format!(
                "testkit: member {i} is still running; kill({i}) it before restart({i})"
            )));
        }
        let mut attempt = 1;
        loop {
            match self.launch(&[i], "existing").and_then(|()| self.wait_for(&[i], self.timeout)) {
                // The old ports must be reused; wait a little for whoever holds one to let go.
                Err(e) if e.kind() == TestkitErrorKind::AddrInUse && attempt < START_ATTEMPTS => {
                    attempt += 1;
                    sleep(Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }

    /// Waits until every member that was not killed reports healthy on `/health`.
    pub fn wait_healthy(&self, timeout: Duration) -> Result<(), TestkitError> {
        let live: Vec<usize> = (0..self.members.len()).filter(|&i| self.members[i].state() != State::Killed).collect();
        if live.is_empty() {
            return Err(TestkitError::state(
                "testkit: every member is killed; restart(i) one before waiting for health",
            ));
        }
        self.wait_for(&live, timeout)
    }

    /// The etcd binary the members run unless [`ClusterBuilder::member_binary`] or
    /// [`swap_binary`](Self::swap_binary) gave one another; see [`Member::binary`].
    pub fn binary(&self) -> &EtcdBinary {
        &self.binary
    }

    /// An `etcdctl` command with `ETCDCTL_API=3` and `--endpoints` set to every member.
    pub fn etcdctl(&self) -> Result<Command, TestkitError> {
        let Some(ctl) = &self.binary.etcdctl else {
            return Err(TestkitError::new(
                TestkitErrorKind::BinaryNotFound,
                format!(
                    "testkit: no etcdctl beside {}; set ETCDCTL_BIN, or run `scripts/install-etcd.sh` from the etcd-raw repo",
                    self.binary.etcd.display()
                ),
            ));
        };
        let mut cmd = Command::new(ctl);
        scrub_env(&mut cmd);
        cmd.env("ETCDCTL_API", "3").arg(format!("--endpoints={}", self.endpoints().join(",")));
        Ok(cmd)
    }

    fn get(&self, i: usize) -> Result<&Member, TestkitError> {
        self.members.get(i).ok_or_else(|| {
            TestkitError::state(format!("testkit: no member {i}; the cluster has members 0..{}", self.members.len()))
        })
    }

    fn launch(&self, which: &[usize], state: &str) -> Result<(), TestkitError> {
        let launch =
            Launch { initial_cluster: &self.initial_cluster, token: &self.token, state, extra_args: &self.args };
        which.iter().try_for_each(|&i| self.members[i].launch(&launch))
    }

    /// Polls `/health` of the members `which` until all answered healthy once.
    fn wait_for(&self, which: &[usize], timeout: Duration) -> Result<(), TestkitError> {
        // A caller's timeout may be as large as Duration::MAX: then wait without end.
        let now = Instant::now();
        let deadline = now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
        let mut pending: Vec<(usize, String)> = which.iter().map(|&i| (i, "not asked yet".to_string())).collect();
        loop {
            for (i, reason) in pending.iter_mut() {
                let member = &self.members[*i];
                match member.state() {
                    State::Running => {}
                    State::Exited(status) => return Err(member.exited_error(&status)),
                    State::Killed => {
                        return Err(TestkitError::state(format!(
                            "testkit: member {i} was killed while waiting for it; restart({i}) it first"
                        )))
                    }
                }
                let left = deadline.saturating_duration_since(Instant::now());
                match member.probe(left.clamp(Duration::from_millis(50), Duration::from_secs(1))) {
                    Ok(()) => reason.clear(),
                    Err(why) => *reason = why,
                }
            }
            pending.retain(|(_, reason)| !reason.is_empty());
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.timeout_error(&pending, timeout));
            }
            sleep(POLL);
        }
    }

    fn timeout_error(&self, pending: &[(usize, String)], timeout: Duration) -> TestkitError {
        let mut msg = format!(
            "testkit: etcd not healthy after {timeout:?}; read the logs below, or allow more time \
             with ClusterBuilder::timeout / wait_healthy (a paused member is never healthy)"
        );
        for (i, reason) in pending {
            let m = &self.members[*i];
            msg.push_str(&format!(
                "\n--- member {i} ({}, {}): last /health answer: {reason}\n--- log {}:\n{}",
                m.name(),
                m.client_url(),
                m.log_path().display(),
                m.startup_log()
            ));
        }
        TestkitError::new(TestkitErrorKind::Timeout, msg)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Kill all first, so no member waits on a dead peer; each Member's drop then removes its dir.
        for member in &self.members {
            let _ = member.kill();
        }
    }
}

fn new_members(
    n: usize,
    binary_of: &dyn Fn(usize) -> EtcdBinary,
    https: bool,
    proxied: bool,
) -> Result<(Vec<Member>, Vec<Proxy>), TestkitError> {
    let per_member = if https { 3 } else { 2 };
    let ports = ports::free_ports(per_member * n)?;
    let mut members = Vec::with_capacity(n);
    let mut proxies = Vec::new();
    for i in 0..n {
        let dir = dirs::fresh_dir()?;
        let at = per_member * i;
        let (client, peer) = (ports[at], ports[at + 1]);
        let member = if proxied {
            // Peers are told the proxy's port; the member listens on its own.
            let proxy = Proxy::start(SocketAddr::from((Ipv4Addr::LOCALHOST, peer)))?;
            let member = Member::new(format!("etcd-{i}"), binary_of(i), (client, proxy.addr().port()), dir)
                .behind_peer_proxy(peer);
            proxies.push(proxy);
            member
        } else {
            Member::new(format!("etcd-{i}"), binary_of(i), (client, peer), dir)
        };
        members.push(if https { member.with_https(ports[at + 2]) } else { member });
    }
    Ok((members, proxies))
}

fn initial_cluster(members: &[Member]) -> String {
    let pairs: Vec<String> = members.iter().map(|m| format!("{}={}", m.name(), m.peer_url())).collect();
    pairs.join(",")
}
