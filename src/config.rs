//! How a [`Client`](crate::Client) connects: endpoints, timeouts,
//! keepalive, message size limits, TLS and credentials. Names follow Go's
//! `clientv3.Config`.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::transport::endpoint::Endpoint;

/// etcd's server rejects HTTP/2 pings sent more often than this
/// (`--grpc-keepalive-min-time`, default 5 s) and closes the connection.
pub const MIN_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);

/// Connection settings. Build one with [`Config::new`] and chained setters,
/// or [`Config::from_env`] to read etcdctl's environment variables.
///
/// ```
/// use std::time::Duration;
/// let config = etcd_raw::Config::new(["127.0.0.1:2379", "http://127.0.0.1:22379"])
///     .dial_timeout(Duration::from_secs(2))
///     .request_timeout(Duration::from_secs(5));
/// assert_eq!(config.endpoints().len(), 2);
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) endpoints: Vec<String>,
    pub(crate) dial_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) keepalive_interval: Option<Duration>,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) max_send_msg_size: usize,
    pub(crate) max_recv_msg_size: usize,
    pub(crate) require_leader: bool,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) auto_sync_interval: Option<Duration>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<TlsConfig>,
}

/// A user name and its password; the password never appears in `Debug`.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) user: String,
    pub(crate) password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"<redacted>").finish()
    }
}

impl Config {
    /// Settings for these endpoints, each `host:port`, `http://host:port`
    /// or `https://host:port` as etcdctl accepts them, or a unix socket
    /// in the forms of Go's client: `unix:///abs/path/etcd.sock`,
    /// `unix:relative/path` and etcd's legacy `unix://relative/path`
    /// (relative to the working directory). `unixs://` is TLS over the
    /// socket (with `Config::tls`, feature `tls`); the server's certificate must then
    /// hold the socket file's name (`etcd.sock`) unless the TLS config sets
    /// a server name. etcd listens on a socket with
    /// `--listen-client-urls unix:///abs/path/etcd.sock` (and from 3.7 may
    /// advertise it too, so auto-sync finds it).
    ///
    /// ```
    /// let config = etcd_raw::Config::new(["unix:///run/etcd/etcd.sock", "127.0.0.1:2379"]);
    /// assert_eq!(config.endpoints()[0], "unix:///run/etcd/etcd.sock");
    /// ```
    pub fn new<I, S>(endpoints: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Config {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            dial_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_timeout: Duration::from_secs(10),
            max_send_msg_size: 2 * 1024 * 1024,
            max_recv_msg_size: i32::MAX as usize,
            require_leader: true,
            credentials: None,
            auto_sync_interval: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Settings from etcdctl's environment: `ETCDCTL_ENDPOINTS` (comma
    /// separated, default `127.0.0.1:2379`), `ETCDCTL_DIAL_TIMEOUT` and
    /// `ETCDCTL_COMMAND_TIMEOUT` (Go durations such as `2s` or `500ms`).
    pub fn from_env() -> Result<Config> {
        let endpoints = std::env::var("ETCDCTL_ENDPOINTS").unwrap_or_else(|_| "127.0.0.1:2379".into());
        let mut config = Config::new(endpoints.split(',').map(str::trim).filter(|e| !e.is_empty()));
        if let Ok(value) = std::env::var("ETCDCTL_DIAL_TIMEOUT") {
            config.dial_timeout = parse_go_duration(&value)?;
        }
        if let Ok(value) = std::env::var("ETCDCTL_COMMAND_TIMEOUT") {
            config.request_timeout = parse_go_duration(&value)?;
        }
        Ok(config)
    }

    /// The endpoints as given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// How long [`Client::new`](crate::Client::new) waits for a first
    /// connection to any endpoint (default 5 s).
    pub fn dial_timeout(mut self, timeout: Duration) -> Self {
        self.dial_timeout = timeout;
        self
    }

    /// The deadline of every call that does not set its own (default 5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Send an HTTP/2 ping this often while calls are in flight, and drop
    /// the connection when no answer comes within `timeout` (Go's
    /// `DialKeepAliveTime` and `DialKeepAliveTimeout`; default 30 s and
    /// 10 s). An interval under 5 s is refused by
    /// [`Client::new`](crate::Client::new) because etcd would close the
    /// connection.
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keepalive_interval = Some(interval);
        self.keepalive_timeout = timeout;
        self
    }

    /// Never send keepalive pings.
    pub fn no_keepalive(mut self) -> Self {
        self.keepalive_interval = None;
        self
    }

    /// Largest request message the client sends (default 2 MiB, as Go's
    /// `MaxCallSendMsgSize`); larger ones fail locally with
    /// [`ErrorKind::RequestTooLarge`](crate::ErrorKind::RequestTooLarge).
    pub fn max_send_msg_size(mut self, bytes: usize) -> Self {
        self.max_send_msg_size = bytes;
        self
    }

    /// Largest response message the client accepts (default 2 GiB - 1, as
    /// Go's `MaxCallRecvMsgSize`).
    pub fn max_recv_msg_size(mut self, bytes: usize) -> Self {
        self.max_recv_msg_size = bytes;
        self
    }

    /// Ask the server to fail calls with `NoLeader` when its member has no
    /// leader, instead of waiting (Go's `WithRequireLeader`). On by default,
    /// unlike Go: a member cut off from the others still answers pings, and
    /// without this every call it gets waits out its deadline; with it, the
    /// member answers `NoLeader` at once, leaves the rotation until it has a
    /// leader again, and the call goes to another member. Maintenance and
    /// Cluster calls (status, snapshot, member list...) never ask: they are
    /// what an operator needs when quorum is gone. Watches always ask.
    pub fn require_leader(mut self, on: bool) -> Self {
        self.require_leader = on;
        self
    }

    /// Authenticate as `user` with `password` (Go's `Username` and
    /// `Password`). The client gets a token when it connects and attaches
    /// it to every call and stream; when etcd says the token is no longer
    /// valid (expired, or from an older auth revision) the client fetches a
    /// new one, once for all calls waiting on it, and retries the refused
    /// call once. A wrong password fails [`Client::new`](crate::Client::new)
    /// with [`ErrorKind::AuthFailed`](crate::ErrorKind::AuthFailed). The
    /// password and the token never appear in `Debug` output or logs.
    pub fn auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials { user: user.into(), password: password.into() });
        self
    }

    /// Every `interval`, make the endpoint list the client URLs of the
    /// cluster's voting members, from MemberList (Go's `AutoSyncInterval`).
    /// Members that join are added, members removed are no longer used;
    /// learners are left out. Off by default; endpoints the members do not
    /// advertise (a load balancer, a proxy) are replaced when it is on.
    pub fn auto_sync_interval(mut self, interval: Duration) -> Self {
        self.auto_sync_interval = Some(interval);
        self
    }

    /// Connect with TLS (feature `tls`): every endpoint is dialed with
    /// `https`, verified against the CA of `tls`, with its client
    /// certificate if it has one. Bare `host:port` endpoints are taken as
    /// `https://`; `http://` endpoints are refused, as are `unix://` ones
    /// (use `unixs://` for TLS over a unix socket).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Whether TLS is configured.
    pub(crate) fn has_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        return false;
    }

    /// Checks everything that can be checked without a network.
    pub(crate) fn validate(&self) -> Result<Vec<Endpoint>> {
        if self.endpoints.is_empty() {
            return Err(Error::invalid_argument("no endpoints given"));
        }
        if let Some(interval) = self.keepalive_interval {
            if interval < MIN_KEEPALIVE_INTERVAL {
                return Err(Error::invalid_argument(format!(
                    "keepalive interval {interval:?} is below etcd's minimum of 5s; etcd would close the connection"
                )));
            }
        }
        if self.dial_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(Error::invalid_argument("dial and request timeouts must be above zero"));
        }
        if let Some(credentials) = &self.credentials {
            if credentials.user.is_empty() {
                return Err(Error::invalid_argument("auth: the user name is empty"));
            }
        }
        if self.auto_sync_interval.is_some_and(|i| i.is_zero()) {
            return Err(Error::invalid_argument("the auto sync interval must be above zero"));
        }
        let tls = self.has_tls();
        self.endpoints.iter().map(|e| Endpoint::parse(e, tls)).collect()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("endpoints", &self.endpoints)
            .field("dial_timeout", &self.dial_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("keepalive_timeout", &self.keepalive_timeout)
            .field("max_send_msg_size", &self.max_send_msg_size)
            .field("max_recv_msg_size", &self.max_recv_msg_size)
            .field("require_leader", &self.require_leader)
            .field("auth", &self.credentials.as_ref().map(|c| &c.user))
            .field("auto_sync_interval", &self.auto_sync_interval)
            .field("tls", &self.has_tls())
            .finish()
    }
}

/// Where a PEM text comes from.
#[cfg(feature = "tls")]
#[derive(Clone)]
pub(crate) enum PemSource {
    Bytes(bytes::Bytes),
    /// Read when the client connects.
    File(std::path::PathBuf),
}

/// TLS settings for [`Config::tls`] (feature `tls`), as etcdctl's
/// `--cacert`, `--cert`, `--key`:
///
/// ```no_run
/// # fn demo() -> Result<(), etcd_raw::Error> {
/// use etcd_raw::TlsConfig;
/// let tls = TlsConfig::new()
///     .ca_file("ca.pem")
///     .identity_files("client.pem", "client-key.pem");
/// let config = etcd_raw::Config::new(["https://127.0.0.1:2379"]).tls(tls);
/// # Ok(()) }
/// ```
///
/// Servers are verified against the CA given (never the system's roots):
/// the name checked is each endpoint's host, an IP address (the
/// certificate needs an IP SAN, as in `subjectAltName = IP:10.0.0.1`) or a
/// DNS name, unless [`server_name`](TlsConfig::server_name) sets one for
/// all. Keys may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM. Refusals, by
/// either side, fail with [`ErrorKind::Tls`](crate::ErrorKind::Tls) and a
/// message that says which certificate was refused and why. `Debug` never
/// shows key material.
#[cfg(feature = "tls")]
#[derive(Clone, Default)]
pub struct TlsConfig {
    pub(crate) ca: Vec<PemSource>,
    pub(crate) identity: Option<(PemSource, PemSource)>,
    pub(crate) server_name: Option<String>,
}

#[cfg(feature = "tls")]
impl TlsConfig {
    /// No CA and no client certificate yet.
    pub fn new() -> TlsConfig {
        TlsConfig::default()
    }

    /// Trust the CA certificates in this PEM text (may be called again to
    /// add more).
    pub fn ca_pem(mut self, pem: impl Into<bytes::Bytes>) -> Self {
        self.ca.push(PemSource::Bytes(pem.into()));
        self
    }

    /// Trust the CA certificates in this PEM file, read when the client
    /// connects (etcdctl's `--cacert`).
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca.push(PemSource::File(path.into()));
        self
    }

    /// Present this client certificate (chain) and private key, both PEM,
    /// for servers started with `--client-cert-auth`.
    pub fn identity(mut self, cert_pem: impl Into<bytes::Bytes>, key_pem: impl Into<bytes::Bytes>) -> Self {
        self.identity = Some((PemSource::Bytes(cert_pem.into()), PemSource::Bytes(key_pem.into())));
        self
    }

    /// Like [`identity`](TlsConfig::identity), from files read when the
    /// client connects (etcdctl's `--cert` and `--key`).
    pub fn identity_files(mut self, cert: impl Into<std::path::PathBuf>, key: impl Into<std::path::PathBuf>) -> Self {
        self.identity = Some((PemSource::File(cert.into()), PemSource::File(key.into())));
        self
    }

    /// Check every server's certificate for this DNS name or IP address
    /// instead of the endpoint's host (Go's `tls.Config.ServerName`).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }
}

#[cfg(feature = "tls")]
impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let describe = |s: &PemSource| match s {
            PemSource::Bytes(b) => format!("<{} bytes of PEM>", b.len()),
            PemSource::File(p) => p.display().to_string(),
        };
        f.debug_struct("TlsConfig")
            .field("ca", &self.ca.iter().map(describe).collect::<Vec<_>>())
            .field("identity", &self.identity.as_ref().map(|(cert, _)| (describe(cert), "<key redacted>")))
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// Parses the Go duration forms etcdctl users write: `5s`, `500ms`, `1m30s`.
fn parse_go_duration(text: &str) -> Result<Duration> {
    let bad = || Error::invalid_argument(format!("invalid duration {text:?} (expected e.g. 5s, 500ms, 1m30s)"));
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(number * seconds).map_err(|_| bad())?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5s").ok(), Some(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("500ms").ok(), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1m30s").ok(), Some(Duration::from_secs(90)));
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("5x").is_err());
    }

    #[test]
    fn keepalive_below_etcd_minimum_is_refused() {
        let config = Config::new(["127.0.0.1:2379"]).keepalive(Duration::from_secs(1), Duration::from_secs(1));
        let err = config.validate().err().map(|e| e.kind());
        assert_eq!(err, Some(crate::ErrorKind::InvalidArgument));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let config = Config::new(["127.0.0.1:2379"]).auth("alice", "s3cret-pa55");
        let debug = format!("{config:?}");
        assert!(debug.contains("alice"), "{debug}");
        assert!(!debug.contains("s3cret-pa55"), "{debug}");
    }

    #[test]
    fn empty_user_is_refused() {
        assert!(Config::new(["127.0.0.1:2379"]).auth("", "p").validate().is_err());
    }

    #[test]
    fn no_endpoints_is_refused() {
        let config = Config::new(Vec::<String>::new());
        assert!(config.validate().is_err());
    }
}
