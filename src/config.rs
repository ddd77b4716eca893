//! How a [`Client`](crate::Client) connects: endpoints, timeouts,
//! keepalive and message size limits. Names follow Go's `clientv3.Config`.

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
}

impl Config {
    /// Settings for these endpoints, each `host:port`, `http://host:port`
    /// or `https://host:port` as etcdctl accepts them.
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
            require_leader: false,
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
    /// 10 s). An interval under 5 s is refused by [`Client::new`]
    /// (crate::Client::new) because etcd would close the connection.
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
    /// leader, instead of waiting (Go's `WithRequireLeader`).
    pub fn require_leader(mut self, on: bool) -> Self {
        self.require_leader = on;
        self
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
        self.endpoints.iter().map(|e| Endpoint::parse(e)).collect()
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
    fn no_endpoints_is_refused() {
        let config = Config::new(Vec::<String>::new());
        assert!(config.validate().is_err());
    }
}
