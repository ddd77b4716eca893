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
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Endpoint {
    /// Accepts `host:port`, `http://host:port` and `https://host:port`
    /// (a trailing `/` is allowed; any other path is not). With `tls`, a
    /// bare `host:port` means https and `http://` is refused; without it,
    /// `https://` is refused.
    pub(crate) fn parse(text: &str, tls: bool) -> Result<Endpoint> {
        let bad = |why: &str| Error::invalid_argument(format!("invalid endpoint {text:?}: {why}"));
        let trimmed = text.trim();
        let (scheme, rest) = if let Some(rest) = trimmed.strip_prefix("http://") {
            (Scheme::HTTP, rest)
        } else if let Some(rest) = trimmed.strip_prefix("https://") {
            (Scheme::HTTPS, rest)
        } else if trimmed.contains("://") {
            return Err(bad("only http:// and https:// are supported"));
        } else if tls {
            (Scheme::HTTPS, trimmed)
        } else {
            (Scheme::HTTP, trimmed)
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
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
        Ok(Endpoint { original: text.to_string(), scheme, authority, host, port })
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
        for text in ["", "127.0.0.1", "unix:///tmp/etcd.sock", "http://h:1/path", "http://:2379", "h:notaport"] {
            assert!(Endpoint::parse(text, false).is_err(), "{text}");
        }
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
