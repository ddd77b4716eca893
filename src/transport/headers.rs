//! The headers of every request, prebuilt once per client.
//!
//! A call copies a template and overwrites the values that change: the
//! deadline and the token. The templates already hold those names, so the
//! copy is the map's final size: adding a name to a copied map would grow
//! it (a reallocation and a rehash), which cost more than the rest of the
//! request line.

use std::time::Duration;

use http::header::{HeaderName, CONTENT_TYPE, TE, USER_AGENT};
use http::{HeaderMap, HeaderValue};

use super::grpc;

/// etcd's auth token header.
pub(super) const TOKEN_HEADER: HeaderName = HeaderName::from_static("token");

/// The header maps a call starts from.
pub(super) struct HeaderTemplates {
    /// Content type, `te`, user agent, and slots for the deadline and,
    /// with credentials, the token.
    plain: HeaderMap,
    /// The same with `hasleader`, for calls that need a member with a leader.
    leader: HeaderMap,
    with_token: bool,
}

impl HeaderTemplates {
    /// Templates for a client that sends a token (`with_token`) or not.
    pub(super) fn new(with_token: bool) -> HeaderTemplates {
        // Only overwritten, never sent: every call sets or removes them.
        let placeholder = HeaderValue::from_static("0");
        let mut plain = HeaderMap::with_capacity(6);
        plain.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        plain.insert(TE, HeaderValue::from_static("trailers"));
        plain.insert(USER_AGENT, HeaderValue::from_static(concat!("etcd-raw/", env!("CARGO_PKG_VERSION"))));
        plain.insert(grpc::GRPC_TIMEOUT, placeholder.clone());
        if with_token {
            plain.insert(TOKEN_HEADER, placeholder);
        }
        let mut leader = plain.clone();
        leader.insert(grpc::HAS_LEADER, HeaderValue::from_static("true"));
        HeaderTemplates { plain, leader, with_token }
    }

    /// The headers of one call: with `hasleader` when `leader`, a
    /// `grpc-timeout` when `timeout` is given and the token when there is one.
    pub(super) fn fill(&self, leader: bool, timeout: Option<Duration>, token: Option<&HeaderValue>) -> HeaderMap {
        let mut headers = if leader { self.leader.clone() } else { self.plain.clone() };
        match timeout {
            Some(timeout) => {
                headers.insert(grpc::GRPC_TIMEOUT, grpc::timeout_header(timeout));
            }
            None => {
                headers.remove(grpc::GRPC_TIMEOUT);
            }
        }
        match token {
            Some(token) => {
                headers.insert(TOKEN_HEADER, token.clone());
            }
            None if self.with_token => {
                headers.remove(TOKEN_HEADER);
            }
            None => {}
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(headers: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn placeholders_are_filled_or_removed_never_sent() {
        let templates = HeaderTemplates::new(true);
        let token = HeaderValue::from_static("abc.1");
        let full = templates.fill(true, Some(Duration::from_millis(1500)), Some(&token));
        assert_eq!(names(&full), ["content-type", "grpc-timeout", "hasleader", "te", "token", "user-agent"]);
        assert_eq!(full[grpc::GRPC_TIMEOUT], "1500m");
        assert_eq!(full[TOKEN_HEADER], "abc.1");
        let bare = templates.fill(false, None, None);
        assert_eq!(names(&bare), ["content-type", "te", "user-agent"]);
        let no_auth = HeaderTemplates::new(false).fill(false, Some(Duration::from_secs(2)), None);
        assert_eq!(names(&no_auth), ["content-type", "grpc-timeout", "te", "user-agent"]);
        assert_eq!(no_auth[grpc::GRPC_TIMEOUT], "2000m");
    }
}
