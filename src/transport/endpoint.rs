//! Endpoint strings as etcdctl accepts them, parsed once at connect time.

use http::uri::{Authority, Scheme};

use crate::error::{Error, Result};

/// One etcd member's client URL, ready to put into request URIs.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// As the user wrote it, for messages.
    pub(crate) original: String,
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    /// The host name or IP; for a unix socket, the socket's path.
    pub(crate) host: String,
    /// 0 for a unix socket.
    pub(crate) port: u16,
    /// Whether `host` is the path of a unix socket to dial.
    pub(crate) unix: bool,
}

impl Endpoint {
    /// Accepts `host:port`, `http://host:port` and `https://host:port`
    /// (a trailing `/` is allowed; any other path is not). With `tls`, a
    /// bare `host:port` means https and `http://` is refused; without it,
    /// `https://` is refused. Unix sockets are accepted in Go's client
    /// forms, see [`Endpoint::parse_unix`].
    pub(crate) fn parse(text: &str, tls: bool) -> Result<Endpoint> {
        let bad = |why: &str| Error::invalid_argument(format!("invalid endpoint {text:?}: {why}"));
        let trimmed = text.trim();
        if trimmed.starts_with("unix:") || trimmed.starts_with("unixs:") {
            return Endpoint::parse_unix(text, tls);
        }
        let (scheme, rest) = if let Some(rest) = trimmed.strip_prefix("http://") {
            (Scheme::HTTP, rest)
        } else if let Some(rest) = trimmed.strip_prefix("https://") {
            (Scheme::HTTPS, rest)
        } else if trimmed.contains("://") {
            return Err(bad("only http://, https://, unix:// and unixs:// are supported"));
        } else if tls {
            (Scheme::HTTPS, trimmed)
        } else {
            (Scheme::HTTP, trimmed)
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('@') {
            // Config takes credentials out of endpoints; never echo one here.
            return Err(Error::invalid_argument("invalid endpoint: a user:password@ part is not allowed here"));
        }
        if rest.contains('/') {
            return Err(bad("a path is not allowed"));
        }
        let authority: Authority = rest.parse().map_err(|_| bad("expected host:port"))?;
        let port = authority.port_u16().ok_or_else(|| bad("a port is required"))?;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
        if host.is_empty() {
            return Err(bad("a host is required"));
        }
        if scheme == Scheme::HTTPS && !tls {
            let why = if cfg!(feature = "tls") {
                "this client has no TLS configuration (set one with Config::tls)"
            } else {
                "this client was built without TLS (enable the `tls` feature and set Config::tls)"
            };
            return Err(Error::invalid_argument(format!("endpoint {text:?} uses https:// but {why}")));
        }
        if scheme == Scheme::HTTP && tls {
            return Err(Error::invalid_argument(format!(
                "endpoint {text:?} uses http:// but the client has a TLS configuration; use https:// (or a bare host:port)"
            )));
        }
        Ok(Endpoint { original: text.to_string(), scheme, authority, host, port, unix: false })
    }

    /// A unix socket, in the forms Go's client accepts: `unix:///abs/path`,
    /// `unix://relative/path` (etcd's legacy form; `unix://localhost:2379`
    /// is the file `localhost:2379`), and `unix:path`; `unixs` instead of
    /// `unix` means TLS over the socket. Relative paths are taken from the
    /// process's working directory when dialing. As with `http`/`https`,
    /// `unixs` needs a TLS configuration and `unix` refuses one (etcd
    /// serves plain gRPC on a `unix` listener even when it has
    /// certificates).
    fn parse_unix(text: &str, tls: bool) -> Result<Endpoint> {
        let trimmed = text.trim();
        let (secure, rest) = match trimmed.strip_prefix("unixs:") {
            Some(rest) => (true, rest),
            None => (false, trimmed.strip_prefix("unix:").unwrap_or(trimmed)),
        };
        // `unix:///abs` and `unix://rel` drop the `//`; `unix:path` is the path.
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() || path.ends_with('/') {
            return Err(Error::invalid_argument(format!(
                "invalid endpoint {text:?}: a socket file path is required, as in unix:///run/etcd/etcd.sock"
            )));
        }
        if secure && !tls {
            let why = if cfg!(feature = "tls") {
                "this client has no TLS configuration (set one with Config::tls)"
            } else {
                "this client was built without TLS (enable the `tls` feature and set Config::tls)"
            };
            return Err(Error::invalid_argument(format!("endpoint {text:?} uses unixs:// but {why}")));
        }
        if !secure && tls {
            return Err(Error::invalid_argument(format!(
                "endpoint {text:?} uses unix:// but the client has a TLS configuration; use unixs:// for TLS over the socket"
            )));
        }
        Ok(Endpoint {
            original: text.to_string(),
            scheme: if secure { Scheme::HTTPS } else { Scheme::HTTP },
            // What gRPC sends for a unix target; etcd does not look at it.
            authority: Authority::from_static("localhost"),
            host: path.to_string(),
            port: 0,
            unix: true,
        })
    }

    /// The name the server's certificate must hold: the host, or for a
    /// unix socket the base name of its file, as Go's client checks it
    /// (`unixs:///run/etcd/etcd.sock` needs a certificate for `etcd.sock`).
    #[cfg_attr(not(feature = "tls"), allow(dead_code, reason = "only TLS checks the name"))]
    pub(crate) fn tls_name(&self) -> &str {
        if !self.unix {
            return &self.host;
        }
        self.host.rsplit('/').next().unwrap_or(&self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_etcdctl_forms() {
        for (text, host, port) in [
            ("127.0.0.1:2379", "127.0.0.1", 2379),
            ("http://127.0.0.1:2379", "127.0.0.1", 2379),
            ("http://localhost:22379/", "localhost", 22379),
            ("[::1]:2379", "::1", 2379),
        ] {
            let endpoint = Endpoint::parse(text, false).map_err(|e| e.to_string());
            let endpoint = endpoint.as_ref().map(|e| (e.host.as_str(), e.port));
            assert_eq!(endpoint, Ok((host, port)), "{text}");
        }
    }

    #[test]
    fn refuses_bad_forms() {
        for text in [
            "",
            "127.0.0.1",
            "unix://",
            "unix:",
            "unix:///",
            "unix:///tmp/",
            "http://h:1/path",
            "http://:2379",
            "h:notaport",
        ] {
            assert!(Endpoint::parse(text, false).is_err(), "{text}");
        }
    }

    #[test]
    fn accepts_go_unix_socket_forms() {
        for (text, path, name) in [
            ("unix:///tmp/etcd/etcd.sock", "/tmp/etcd/etcd.sock", "etcd.sock"),
            ("unix://etcd.sock", "etcd.sock", "etcd.sock"),
            ("unix://localhost:2379", "localhost:2379", "localhost:2379"),
            ("unix:run/etcd.sock", "run/etcd.sock", "etcd.sock"),
            ("unix:/run/etcd.sock", "/run/etcd.sock", "etcd.sock"),
        ] {
            let endpoint = Endpoint::parse(text, false).map_err(|e| e.to_string());
            let parsed = endpoint.as_ref().map(|e| (e.unix, e.host.as_str(), e.port, e.tls_name()));
            assert_eq!(parsed, Ok((true, path, 0, name)), "{text}");
            let scheme = endpoint.map(|e| (e.scheme, e.authority.to_string()));
            assert_eq!(scheme, Ok((Scheme::HTTP, "localhost".to_string())), "{text}");
        }
        let secure = Endpoint::parse("unixs:///var/run/etcd-client.sock", true).map_err(|e| e.to_string());
        let secure = secure.as_ref().map(|e| (e.unix, e.scheme.clone(), e.host.as_str(), e.tls_name()));
        assert_eq!(secure, Ok((true, Scheme::HTTPS, "/var/run/etcd-client.sock", "etcd-client.sock")));
        let tcp = Endpoint::parse("http://etcd.example:2379", false).map(|e| (e.unix, e.tls_name().to_string()));
        assert_eq!(tcp.ok(), Some((false, "etcd.example".to_string())));
    }

    #[test]
    fn unix_schemes_and_tls_configuration_must_agree() {
        let kind = |text, tls| Endpoint::parse(text, tls).err().map(|e| e.kind());
        assert_eq!(kind("unixs:///tmp/etcd.sock", false), Some(crate::ErrorKind::InvalidArgument));
        assert_eq!(kind("unix:///tmp/etcd.sock", true), Some(crate::ErrorKind::InvalidArgument));
        assert!(Endpoint::parse("unixs:///tmp/etcd.sock", true).is_ok());
    }

    #[test]
    fn https_without_tls_is_a_configuration_error() {
        let err = Endpoint::parse("https://127.0.0.1:2379", false).err().map(|e| e.kind());
        assert_eq!(err, Some(crate::ErrorKind::InvalidArgument));
    }

    #[test]
    fn http_with_tls_is_a_configuration_error() {
        let err = Endpoint::parse("http://127.0.0.1:2379", true).err().map(|e| e.kind());
        assert_eq!(err, Some(crate::ErrorKind::InvalidArgument));
        let bare = Endpoint::parse("127.0.0.1:2379", true).map(|e| e.scheme);
        assert_eq!(bare.ok(), Some(Scheme::HTTPS));
        assert!(Endpoint::parse("https://localhost:2379", true).is_ok());
    }
}
