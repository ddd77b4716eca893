//! How a [`Client`](crate::Client) connects: endpoints, timeouts,
//! keepalive, message size limits, TLS and credentials. Names follow Go's
//! `clientv3.Config`.

mod env;
#[cfg(feature = "tls")]
mod tls;
mod userinfo;

use std::time::Duration;

#[cfg(feature = "tls")]
pub(crate) use tls::PemSource;
#[cfg(feature = "tls")]
pub use tls::TlsConfig;

use crate::error::{Error, ErrorKind, Result};
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
    pub(crate) max_unary_retries: u32,
    /// First and longest pause between retry rounds; `None` keeps the defaults.
    pub(crate) backoff: Option<(Duration, Duration)>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<TlsConfig>,
    /// Users found in the endpoints, kept to check they agree.
    endpoint_users: Vec<userinfo::EndpointUser>,
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
    /// A `user:password@` in an endpoint (`http://alice:pw@10.0.0.1:2379`)
    /// is taken out of it at once, so it never shows in
    /// [`endpoints`](Config::endpoints), `Debug` or an error, and the client
    /// authenticates with it as [`auth`](Config::auth) would. Endpoints with
    /// different credentials, a user without a password, or `auth` with
    /// other credentials are refused by [`Client::new`](crate::Client::new)
    /// with [`ErrorKind::InvalidArgument`].
    ///
    /// ```
    /// let config = etcd_raw::Config::new(["unix:///run/etcd/etcd.sock", "127.0.0.1:2379"]);
    /// assert_eq!(config.endpoints()[0], "unix:///run/etcd/etcd.sock");
    ///
    /// let config = etcd_raw::Config::new(["http://alice:s3cret@10.0.0.1:2379"]);
    /// assert_eq!(config.endpoints(), ["http://10.0.0.1:2379"]);
    /// assert!(!format!("{config:?}").contains("s3cret"));
    /// ```
    pub fn new<I, S>(endpoints: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut endpoint_users = Vec::new();
        let endpoints = endpoints
            .into_iter()
            .map(|endpoint| {
                let (clean, user) = userinfo::take_userinfo(endpoint.into());
                endpoint_users.extend(user);
                clean
            })
            .collect();
        Config {
            credentials: endpoint_users.first().and_then(userinfo::EndpointUser::credentials),
            endpoint_users,
            endpoints,
            dial_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_timeout: Duration::from_secs(10),
            max_send_msg_size: 2 * 1024 * 1024,
            max_recv_msg_size: i32::MAX as usize,
            require_leader: true,
            auto_sync_interval: None,
            max_unary_retries: u32::MAX,
            backoff: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Settings from etcdctl's environment, as etcdctl reads it:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `ETCDCTL_ENDPOINTS` | comma-separated endpoints (default `127.0.0.1:2379`) |
    /// | `ETCDCTL_DIAL_TIMEOUT` | [`dial_timeout`](Config::dial_timeout), a Go duration: `2s`, `500ms`, `1m30s` |
    /// | `ETCDCTL_COMMAND_TIMEOUT` | [`request_timeout`](Config::request_timeout), a Go duration |
    /// | `ETCDCTL_USER` | `name:password`, or the name alone with `ETCDCTL_PASSWORD` |
    /// | `ETCDCTL_PASSWORD` | the password of `ETCDCTL_USER` |
    /// | `ETCDCTL_CACERT` | the CA file (feature `tls`) |
    /// | `ETCDCTL_CERT`, `ETCDCTL_KEY` | the client certificate and key files (feature `tls`) |
    ///
    /// Any of the last three, or an `https://` endpoint, turns TLS on; with
    /// no `ETCDCTL_CACERT` the system's roots are trusted. Empty variables
    /// count as unset. A bad value fails with
    /// [`ErrorKind::InvalidArgument`] naming the variable; files are read
    /// when the client connects.
    ///
    /// ```no_run
    /// #[tokio::main]
    /// async fn main() -> Result<(), etcd_raw::Error> {
    ///     // ETCDCTL_ENDPOINTS=http://10.0.0.1:2379,http://10.0.0.2:2379 ETCDCTL_DIAL_TIMEOUT=2s
    ///     let client = etcd_raw::Client::new(etcd_raw::Config::from_env()?).await?;
    ///     println!("connected to {:?}", client.endpoints());
    ///     Ok(())
    /// }
    /// ```
    pub fn from_env() -> Result<Config> {
        env::config_from(|name| std::env::var_os(name))
    }

    /// The endpoints as given, less any `user:password@`.
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
    /// with [`ErrorKind::AuthFailed`](crate::ErrorKind::AuthFailed), and an
    /// empty user name, before anything is sent, with
    /// [`ErrorKind::UserEmpty`](crate::ErrorKind::UserEmpty) (what etcd
    /// answers a request without a user). The password and the token never
    /// appear in `Debug` output or logs.
    pub fn auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials { user: user.into(), password: password.into() });
        self
    }

    /// At most `retries` attempts after the first for a unary call (Go's
    /// `MaxUnaryRetries`). By default a call retries, as the retry rule
    /// allows, until its deadline; a fail-fast client sets a small number
    /// (0: one attempt, then the error).
    ///
    /// ```
    /// use std::time::Duration;
    /// let fail_fast = etcd_raw::Config::new(["127.0.0.1:2379"])
    ///     .max_unary_retries(1)
    ///     .backoff(Duration::from_millis(10), Duration::from_millis(100));
    /// # let _ = fail_fast;
    /// ```
    pub fn max_unary_retries(mut self, retries: u32) -> Self {
        self.max_unary_retries = retries;
        self
    }

    /// The pauses between retries (Go's `BackoffWaitBetween`, here doubling
    /// from `first` up to `max`): between rounds over the endpoints for a
    /// unary call, and before reopening a failed stream. The defaults are
    /// 50 ms to 500 ms for calls and 50 ms to 1 s for streams; lease
    /// keepalives never wait more than 500 ms whatever is set, since a
    /// lease may live only seconds.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = Some((first, max.max(first)));
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
    /// `https`, verified against the CA of `tls` (or the system's roots),
    /// with its client certificate if it has one. Bare `host:port` endpoints are taken as
    /// `https://`; `http://` endpoints are refused, as are `unix://` ones
    /// (use `unixs://` for TLS over a unix socket).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
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
        userinfo::check(&self.endpoint_users, self.credentials.as_ref())?;
        if self.credentials.as_ref().is_some_and(|c| c.user.is_empty()) {
            return Err(Error::new(
                ErrorKind::UserEmpty,
                "auth: the user name is empty; give Config::auth a user name",
            ));
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn an_empty_user_is_refused_as_user_empty() {
        let kind = |config: Config| config.validate().err().map(|e| e.kind());
        assert_eq!(kind(Config::new(["127.0.0.1:2379"]).auth("", "p")), Some(ErrorKind::UserEmpty));
        assert_eq!(kind(Config::new(["http://:p@127.0.0.1:2379"])), Some(ErrorKind::UserEmpty));
    }

    #[test]
    fn a_password_in_an_endpoint_is_stripped_and_used() -> Result<()> {
        let config = Config::new(["http://alice:s3cret-pa55@127.0.0.1:2379", "127.0.0.1:22379"]);
        assert_eq!(config.endpoints(), ["http://127.0.0.1:2379", "127.0.0.1:22379"]);
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret-pa55") && debug.contains("alice"), "{debug}");
        let endpoints = config.validate()?;
        assert!(endpoints.iter().all(|e| !e.original.contains('@')));
        let credentials = config.credentials.as_ref().map(|c| (c.user.as_str(), c.password.as_str()));
        assert_eq!(credentials, Some(("alice", "s3cret-pa55")));
        // The same credentials again through auth are fine; others are not.
        assert!(config.clone().auth("alice", "s3cret-pa55").validate().is_ok());
        let error = config.auth("bob", "other").validate().err().map(|e| (e.kind(), e.to_string()));
        assert!(error.as_ref().is_some_and(|(k, m)| *k == ErrorKind::InvalidArgument && !m.contains("s3cret")));
        Ok(())
    }

    #[test]
    fn no_endpoints_is_refused() {
        let config = Config::new(Vec::<String>::new());
        assert!(config.validate().is_err());
    }
}
