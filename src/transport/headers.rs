//! The header block of every request, encoded straight into HPACK.
//!
//! Each field goes out as a literal that the server's table never keeps
//! (RFC 7541, 6.2.2), so a block is valid on any connection at any time
//! and costs a copy, not a table lookup. The fields every call sends are
//! encoded once per client; a call adds its path, authority and the values
//! that change (the deadline, when it sends one, and the token).

use std::cell::Cell;
use std::time::Duration;

use bytes::BytesMut;
use http::uri::Scheme;
use http::{HeaderMap, HeaderValue};

use super::endpoint::Endpoint;
use super::grpc;
use super::http2::hpack;

/// etcd's auth token header.
pub(super) const TOKEN_HEADER: &str = "token";

/// Static-table entries (RFC 7541, appendix A) and names we use.
const METHOD_POST: usize = 3;
const SCHEME_HTTP: usize = 6;
const SCHEME_HTTPS: usize = 7;

/// Names the client sets itself: a raw stub's metadata of the same name
/// is dropped, and HTTP/2 forbids the connection-specific ones.
const OURS: [&str; 12] = [
    "content-type",
    "te",
    "user-agent",
    "grpc-timeout",
    TOKEN_HEADER,
    "hasleader",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
];

thread_local! {
    /// Where a call's block is built; kept per thread so no call allocates.
    static SCRATCH: Cell<BytesMut> = Cell::new(BytesMut::with_capacity(512));
}

/// What one call's header block holds beyond the constant fields.
pub(super) struct Head<'a> {
    pub(super) endpoint: &'a Endpoint,
    pub(super) path: &'a str,
    /// Send `hasleader: true` (etcd then refuses without a leader).
    pub(super) leader: bool,
    pub(super) timeout: Option<Duration>,
    pub(super) token: Option<&'a HeaderValue>,
    /// A raw stub's own metadata.
    pub(super) extra: Option<&'a HeaderMap>,
}

/// The constant fields, encoded once.
pub(super) struct HeadEncoder {
    constant: BytesMut,
}

impl HeadEncoder {
    pub(super) fn new() -> HeadEncoder {
        let mut constant = BytesMut::new();
        hpack::encode_literal(&mut constant, b"content-type", b"application/grpc", false);
        hpack::encode_literal(&mut constant, b"te", b"trailers", false);
        let agent = concat!("etcd-raw/", env!("CARGO_PKG_VERSION"));
        hpack::encode_literal(&mut constant, b"user-agent", agent.as_bytes(), false);
        HeadEncoder { constant }
    }

    /// Encodes `head` and hands the block to `send`.
    pub(super) fn with_block<R>(&self, head: &Head<'_>, send: impl FnOnce(&[u8]) -> R) -> R {
        // Taken out while in use: a thread that is ending (or a call made
        // inside `send`) simply starts from an empty buffer.
        let mut block = SCRATCH.try_with(Cell::take).unwrap_or_default();
        block.clear();
        self.encode(head, &mut block);
        let sent = send(&block);
        let _ = SCRATCH.try_with(|scratch| scratch.set(block));
        sent
    }

    fn encode(&self, head: &Head<'_>, out: &mut BytesMut) {
        hpack::encode_indexed(out, METHOD_POST);
        let https = head.endpoint.scheme == Scheme::HTTPS;
        hpack::encode_indexed(out, if https { SCHEME_HTTPS } else { SCHEME_HTTP });
        hpack::encode_literal(out, b":authority", head.endpoint.authority.as_str().as_bytes(), false);
        hpack::encode_literal(out, b":path", head.path.as_bytes(), false);
        out.extend_from_slice(&self.constant);
        if head.leader {
            hpack::encode_literal(out, b"hasleader", b"true", false);
        }
        if let Some(timeout) = head.timeout {
            hpack::encode_literal(out, b"grpc-timeout", grpc::timeout_header(timeout).as_bytes(), false);
        }
        if let Some(token) = head.token {
            // Never indexed anywhere on the way: it is a credential.
            hpack::encode_literal(out, TOKEN_HEADER.as_bytes(), token.as_bytes(), true);
        }
        for (name, value) in head.extra.into_iter().flatten() {
            if !OURS.contains(&name.as_str()) {
                hpack::encode_literal(out, name.as_str().as_bytes(), value.as_bytes(), value.is_sensitive());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn decode(block: &[u8]) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        let decoded = hpack::Decoder::new(4096).decode(&Bytes::copy_from_slice(block), 1 << 20, &mut fields);
        assert!(decoded.is_ok(), "{decoded:?}");
        fields
            .iter()
            .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    fn names(fields: &[(String, String)]) -> Vec<&str> {
        fields.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn blocks_hold_the_request_line_the_constant_fields_and_only_the_optional_ones_asked_for() {
        let endpoint = Endpoint::parse("http://127.0.0.1:2379", false).map_err(|e| e.to_string());
        let Ok(endpoint) = endpoint else { panic!("{endpoint:?}") };
        let encoder = HeadEncoder::new();
        let token = HeaderValue::from_static("abc.1");
        let full = Head {
            endpoint: &endpoint,
            path: "/etcdserverpb.KV/Range",
            leader: true,
            timeout: Some(Duration::from_millis(1500)),
            token: Some(&token),
            extra: None,
        };
        let fields = encoder.with_block(&full, decode);
        assert_eq!(
            names(&fields),
            [
                ":method",
                ":scheme",
                ":authority",
                ":path",
                "content-type",
                "te",
                "user-agent",
                "hasleader",
                "grpc-timeout",
                "token"
            ]
        );
        assert_eq!(fields[0].1, "POST");
        assert_eq!(fields[1].1, "http");
        assert_eq!(fields[2].1, "127.0.0.1:2379");
        assert_eq!(fields[3].1, "/etcdserverpb.KV/Range");
        assert_eq!(fields[8].1, "1500m");
        assert_eq!(fields[9].1, "abc.1");
        let bare = Head { leader: false, timeout: None, token: None, ..full };
        let fields = encoder.with_block(&bare, decode);
        assert_eq!(names(&fields), [":method", ":scheme", ":authority", ":path", "content-type", "te", "user-agent"]);
    }

    #[test]
    fn a_stubs_metadata_is_kept_except_where_the_client_sets_its_own() {
        let endpoint = Endpoint::parse("https://etcd.example:2379", true).map_err(|e| e.to_string());
        let Ok(endpoint) = endpoint else { panic!("{endpoint:?}") };
        let mut extra = HeaderMap::new();
        extra.insert("x-trace", HeaderValue::from_static("t1"));
        extra.insert("content-type", HeaderValue::from_static("application/grpc+proto"));
        extra.insert("te", HeaderValue::from_static("trailers"));
        let head =
            Head { endpoint: &endpoint, path: "/p", leader: false, timeout: None, token: None, extra: Some(&extra) };
        let fields = HeadEncoder::new().with_block(&head, decode);
        assert_eq!(fields[1].1, "https");
        assert_eq!(fields.iter().filter(|(n, _)| n == "content-type").count(), 1);
        assert_eq!(fields.iter().filter(|(n, _)| n == "te").count(), 1);
        assert_eq!(fields.last().map(|(n, v)| (n.as_str(), v.as_str())), Some(("x-trace", "t1")));
    }
}
