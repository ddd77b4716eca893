//! [`Config::from_env`]: etcdctl's environment variables, read through a
//! lookup function so that the parsing is tested without touching the
//! process environment.

use std::ffi::OsString;
use std::time::Duration;

use super::Config;
use crate::error::{Error, Result};

const ENDPOINTS: &str = "ETCDCTL_ENDPOINTS";
const DIAL_TIMEOUT: &str = "ETCDCTL_DIAL_TIMEOUT";
const COMMAND_TIMEOUT: &str = "ETCDCTL_COMMAND_TIMEOUT";
const USER: &str = "ETCDCTL_USER";
const PASSWORD: &str = "ETCDCTL_PASSWORD";
const CACERT: &str = "ETCDCTL_CACERT";
const CERT: &str = "ETCDCTL_CERT";
const KEY: &str = "ETCDCTL_KEY";

/// etcdctl's default endpoint.
const DEFAULT_ENDPOINT: &str = "127.0.0.1:2379";

/// The variables' values, through `lookup`; an empty value counts as unset,
/// as it does for etcdctl.
struct Vars<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<OsString>> Vars<F> {
    fn text(&self, name: &str) -> Result<Option<String>> {
        match (self.lookup)(name) {
            None => Ok(None),
            Some(value) if value.is_empty() => Ok(None),
            Some(value) => value.into_string().map(Some).map_err(|_| invalid(name, "is not valid UTF-8")),
        }
    }

    #[cfg_attr(not(feature = "tls"), allow(dead_code, reason = "only TLS takes file names"))]
    fn path(&self, name: &str) -> Option<std::path::PathBuf> {
        (self.lookup)(name).filter(|value| !value.is_empty()).map(Into::into)
    }

    #[cfg_attr(feature = "tls", allow(dead_code, reason = "without TLS, certificate variables are refused"))]
    fn is_set(&self, name: &str) -> bool {
        (self.lookup)(name).is_some_and(|value| !value.is_empty())
    }
}

/// A bad setting, said with the variable's name.
fn invalid(name: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("{name} {why}"))
}

/// A bad value, said with the variable's name and the value.
fn invalid_value(name: &str, value: &str, why: &str) -> Error {
    Error::invalid_argument(format!("{name}={value:?} {why}"))
}

/// The config etcdctl would use with these variables.
pub(super) fn config_from(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Config> {
    let vars = Vars { lookup };
    let endpoints = match vars.text(ENDPOINTS)? {
        None => vec![DEFAULT_ENDPOINT.to_string()],
        Some(list) => {
            let endpoints: Vec<String> =
                list.split(',').map(str::trim).filter(|e| !e.is_empty()).map(String::from).collect();
            if endpoints.is_empty() {
                return Err(invalid_value(ENDPOINTS, &list, "names no endpoint"));
            }
            endpoints
        }
    };
    let mut config = Config::new(endpoints);
    if let Some(value) = vars.text(DIAL_TIMEOUT)? {
        config.dial_timeout = timeout(DIAL_TIMEOUT, &value)?;
    }
    if let Some(value) = vars.text(COMMAND_TIMEOUT)? {
        config.request_timeout = timeout(COMMAND_TIMEOUT, &value)?;
    }
    if let Some((user, password)) = credentials(vars.text(USER)?, vars.text(PASSWORD)?)? {
        config = config.auth(user, password);
    }
    tls(&vars, config)
}

/// `ETCDCTL_USER` as etcdctl reads it: `name:password`, or the whole value
/// as the name when `ETCDCTL_PASSWORD` is set.
fn credentials(user: Option<String>, password: Option<String>) -> Result<Option<(String, String)>> {
    let (user, password) = match (user, password) {
        (None, None) => return Ok(None),
        (None, Some(_)) => {
            return Err(invalid(PASSWORD, format!("is set but {USER} is not: set the user name in {USER}")))
        }
        (Some(user), Some(password)) => (user, password),
        (Some(user), None) => match user.split_once(':') {
            Some((name, password)) => (name.to_string(), password.to_string()),
            // etcdctl would prompt for it; a library cannot.
            None => {
                return Err(invalid(
                    USER,
                    format!("names the user {user:?} but no password: write {USER}=name:password or set {PASSWORD}"),
                ))
            }
        },
    };
    if user.is_empty() {
        return Err(invalid(USER, "has an empty user name: write it as name:password"));
    }
    Ok(Some((user, password)))
}

/// A timeout variable: a Go duration above zero.
fn timeout(name: &str, value: &str) -> Result<Duration> {
    let Some(duration) = parse_go_duration(value) else {
        return Err(invalid_value(name, value, "is not a duration: write it as Go does, e.g. 5s, 500ms or 1m30s"));
    };
    if duration.is_zero() {
        return Err(invalid_value(name, value, "must be above zero"));
    }
    Ok(duration)
}

/// TLS as etcdctl sets it up: with any of the certificate variables, or
/// with `https://` endpoints (then trusting the system's roots).
#[cfg(feature = "tls")]
fn tls<F: Fn(&str) -> Option<OsString>>(vars: &Vars<F>, config: Config) -> Result<Config> {
    let (ca, cert, key) = (vars.path(CACERT), vars.path(CERT), vars.path(KEY));
    let secure_endpoint = config.endpoints.iter().any(|e| e.starts_with("https://") || e.starts_with("unixs:"));
    if ca.is_none() && cert.is_none() && key.is_none() && !secure_endpoint {
        return Ok(config);
    }
    let mut tls = super::TlsConfig::new();
    if let Some(ca) = ca {
        tls = tls.ca_file(ca);
    }
    match (cert, key) {
        (Some(cert), Some(key)) => tls = tls.identity_files(cert, key),
        (Some(_), None) => {
            return Err(invalid(CERT, format!("is set but {KEY} is not: a client certificate needs its key")))
        }
        (None, Some(_)) => return Err(invalid(KEY, format!("is set but {CERT} is not: a key needs its certificate"))),
        (None, None) => {}
    }
    Ok(config.tls(tls))
}

#[cfg(not(feature = "tls"))]
fn tls<F: Fn(&str) -> Option<OsString>>(vars: &Vars<F>, config: Config) -> Result<Config> {
    match [CACERT, CERT, KEY].into_iter().find(|name| vars.is_set(name)) {
        Some(name) => Err(invalid(name, "is set but etcd-raw was built without its `tls` feature")),
        None => Ok(config),
    }
}

/// Parses the Go duration forms etcdctl users write: `5s`, `500ms`,
/// `1m30s`, `1.5h`, and a bare `0`.
pub(super) fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(Duration::try_from_secs_f64(number * seconds).ok()?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::ErrorKind;

    fn from(vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, OsString> = vars.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        config_from(|name| map.get(name).cloned())
    }

    /// The error's message, checked to be an InvalidArgument.
    fn refused(vars: &[(&str, &str)]) -> String {
        match from(vars) {
            Ok(config) => panic!("accepted: {config:?}"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
                e.message().to_string()
            }
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        for bad in ["", "5", "5x", "1m30", "-5s", "s", ".s", "99999999999999999999h"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn nothing_set_is_etcdctls_default() -> Result<()> {
        let config = from(&[])?;
        assert_eq!(config.endpoints(), ["127.0.0.1:2379"]);
        assert_eq!((config.dial_timeout, config.request_timeout), (Duration::from_secs(5), Duration::from_secs(5)));
        assert!(config.credentials.is_none());
        assert!(!config.has_tls());
        Ok(())
    }

    #[test]
    fn endpoints_are_comma_separated() -> Result<()> {
        let config = from(&[(ENDPOINTS, "http://10.0.0.1:2379, 10.0.0.2:2379,,")])?;
        assert_eq!(config.endpoints(), ["http://10.0.0.1:2379", "10.0.0.2:2379"]);
        assert!(refused(&[(ENDPOINTS, " , ")]).contains(ENDPOINTS));
        Ok(())
    }

    #[test]
    fn timeouts_are_go_durations_and_bad_ones_name_the_variable() -> Result<()> {
        let config = from(&[(DIAL_TIMEOUT, "1m30s"), (COMMAND_TIMEOUT, "500ms")])?;
        assert_eq!(config.dial_timeout, Duration::from_secs(90));
        assert_eq!(config.request_timeout, Duration::from_millis(500));
        let message = refused(&[(DIAL_TIMEOUT, "5")]);
        assert!(message.starts_with("ETCDCTL_DIAL_TIMEOUT=\"5\" is not a duration"), "{message}");
        let message = refused(&[(COMMAND_TIMEOUT, "0s")]);
        assert!(message.starts_with("ETCDCTL_COMMAND_TIMEOUT=\"0s\" must be above zero"), "{message}");
        Ok(())
    }

    #[test]
    fn user_takes_etcdctls_two_forms() -> Result<()> {
        let credentials = |config: Config| config.credentials.map(|c| (c.user, c.password));
        let pair = |user: &str, password: &str| Some((user.to_string(), password.to_string()));
        assert_eq!(credentials(from(&[(USER, "alice:pa:ss")])?), pair("alice", "pa:ss"));
        assert_eq!(credentials(from(&[(USER, "alice"), (PASSWORD, "pw")])?), pair("alice", "pw"));
        // With ETCDCTL_PASSWORD the whole value is the name, as in etcdctl.
        assert_eq!(credentials(from(&[(USER, "a:b"), (PASSWORD, "pw")])?), pair("a:b", "pw"));
        assert_eq!(credentials(from(&[(USER, "alice:")])?), pair("alice", ""));
        assert!(refused(&[(USER, "alice")]).contains("no password"));
        assert!(refused(&[(USER, ":pw")]).starts_with("ETCDCTL_USER has an empty user name"));
        assert!(refused(&[(PASSWORD, "pw")]).starts_with("ETCDCTL_PASSWORD is set but ETCDCTL_USER is not"));
        Ok(())
    }

    #[test]
    fn the_password_never_shows_in_debug() -> Result<()> {
        let config = from(&[(USER, "alice:s3cret-pa55")])?;
        assert!(!format!("{config:?}").contains("s3cret-pa55"));
        Ok(())
    }

    #[cfg(feature = "tls")]
    #[test]
    fn certificate_variables_make_a_tls_config() -> Result<()> {
        let config = from(&[(CACERT, "/etc/etcd/ca.pem"), (CERT, "/etc/etcd/c.pem"), (KEY, "/etc/etcd/k.pem")])?;
        let shown = format!("{:?}", config.tls);
        assert!(shown.contains("/etc/etcd/ca.pem") && shown.contains("/etc/etcd/c.pem"), "{shown}");
        // https:// endpoints alone mean TLS with the system's roots.
        let config = from(&[(ENDPOINTS, "https://10.0.0.1:2379")])?;
        assert!(config.tls.as_ref().is_some_and(|tls| tls.ca.is_empty() && tls.identity.is_none()));
        assert!(!from(&[(ENDPOINTS, "http://10.0.0.1:2379")])?.has_tls());
        assert!(refused(&[(CERT, "c.pem")]).starts_with("ETCDCTL_CERT is set but ETCDCTL_KEY is not"));
        assert!(refused(&[(KEY, "k.pem")]).starts_with("ETCDCTL_KEY is set but ETCDCTL_CERT is not"));
        Ok(())
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn certificate_variables_need_the_tls_feature() {
        assert!(refused(&[(CACERT, "ca.pem")]).starts_with("ETCDCTL_CACERT is set but etcd-raw was built without"));
    }
}
