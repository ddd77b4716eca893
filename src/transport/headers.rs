//! The headers of every request, prebuilt once per client.
//!
//! A call copies a template and overwrites the values that change: the
//! deadline, when it sends one, and the token. The templates already hold
//! those names, so the copy is the map's final size: adding a name to a
//! copied map would grow it (a reallocation and a rehash), which cost more
//! than the rest of the request line.

use std::time::Duration;

use http::header::{HeaderName, CONTENT_TYPE, TE, USER_AGENT};
use http::{HeaderMap, HeaderValue};

use super::grpc;

/// etcd's auth token header.
pub(super) const TOKEN_HEADER: HeaderName = HeaderName::from_static("token");

/// The header maps a call starts from.
pub(super) struct HeaderTemplates {
    /// Content type, `te`, user agent and, with credentials, a slot for
    /// the token; indexed by [`HeaderTemplates::slot`]: with `hasleader`
    /// or not, with a slot for the deadline or not. Most calls send no
    /// deadline, so most calls neither add nor remove a name.
    maps: [HeaderMap; 4],
    with_token: bool,
}

impl HeaderTemplates {
    /// Templates for a client that sends a token (`with_token`) or not.
    pub(super) fn new(with_token: bool) -> HeaderTemplates {
        // Only overwritten, never sent: every call sets or removes them.
        let placeholder = HeaderValue::from_static("0");
        let mut base = HeaderMap::with_capacity(6);
        base.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        base.insert(TE, HeaderValue::from_static("trailers"));
        base.insert(USER_AGENT, HeaderValue::from_static(concat!("etcd-raw/", env!("CARGO_PKG_VERSION"))));
        if with_token {
            base.insert(TOKEN_HEADER, placeholder.clone());
        }
        let maps = [(false, false), (false, true), (true, false), (true, true)].map(|(leader, timeout)| {
            let mut map = base.clone();
            if leader {
                map.insert(grpc::HAS_LEADER, HeaderValue::from_static("true"));
            }
            if timeout {
                map.insert(grpc::GRPC_TIMEOUT, placeholder.clone());
            }
            map
        });
        HeaderTemplates { maps, with_token }
    }

    fn slot(leader: bool, timeout: bool) -> usize {
        usize::from(leader) * 2 + usize::from(timeout)
    }

    /// The headers of one call: with `hasleader` when `leader`, a
    /// `grpc-timeout` when `timeout` is given and the token when there is one.
    pub(super) fn fill(&self, leader: bool, timeout: Option<Duration>, token: Option<&HeaderValue>) -> HeaderMap {
        let mut headers = self.maps[HeaderTemplates::slot(leader, timeout.is_some())].clone();
        if let Some(timeout) = timeout {
            headers.insert(grpc::GRPC_TIMEOUT, grpc::timeout_header(timeout));
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
        let leader = templates.fill(true, None, Some(&token));
        assert_eq!(names(&leader), ["content-type", "hasleader", "te", "token", "user-agent"]);
        let timed = templates.fill(false, Some(Duration::from_millis(300)), None);
        assert_eq!(names(&timed), ["content-type", "grpc-timeout", "te", "user-agent"]);
    }
}
