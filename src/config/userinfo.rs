//! A `user:password@` in an endpoint URL. It is taken out of the endpoint
//! as soon as the config gets it, so that no `Debug` output, no
//! `endpoints()` and no error message can show the password, and it serves
//! as the config's credentials, as [`Config::auth`](super::Config::auth)
//! would.

use super::Credentials;
use crate::error::{Error, Result};

/// The user (and password, if any) found in one endpoint.
#[derive(Clone)]
pub(crate) struct EndpointUser {
    /// The endpoint without them, for messages.
    endpoint: String,
    user: String,
    password: Option<String>,
}

impl EndpointUser {
    /// Credentials, when the endpoint has both parts.
    pub(super) fn credentials(&self) -> Option<Credentials> {
        let password = self.password.clone()?;
        Some(Credentials { user: self.user.clone(), password })
    }
}

/// Splits `user[:password]@` out of an endpoint's authority. Unix socket
/// endpoints are paths, where an `@` is only a character.
pub(super) fn take_userinfo(endpoint: String) -> (String, Option<EndpointUser>) {
    if endpoint.trim_start().starts_with("unix") {
        return (endpoint, None);
    }
    let authority_start = endpoint.find("://").map_or(0, |i| i + 3);
    let authority_end =
        endpoint[authority_start..].find(['/', '?', '#']).map_or(endpoint.len(), |i| authority_start + i);
    let Some(at) = endpoint[authority_start..authority_end].rfind('@').map(|i| authority_start + i) else {
        return (endpoint, None);
    };
    let userinfo = &endpoint[authority_start..at];
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (percent_decode(user), Some(percent_decode(password))),
        None => (percent_decode(userinfo), None),
    };
    let clean = format!("{}{}", &endpoint[..authority_start], &endpoint[at + 1..]);
    (clean.clone(), Some(EndpointUser { endpoint: clean, user, password }))
}

/// Refuses what cannot be meant: a user without a password, endpoints
/// with different credentials, or credentials that disagree with the ones
/// `auth` set (`credentials`, which the first endpoint's fill by default).
pub(super) fn check(found: &[EndpointUser], credentials: Option<&Credentials>) -> Result<()> {
    let Some(first) = found.first() else { return Ok(()) };
    if let Some(lone) = found.iter().find(|f| f.password.is_none()) {
        return Err(Error::invalid_argument(format!(
            "endpoint {} names the user {:?} but no password: write user:password@ in it, or use Config::auth",
            lone.endpoint, lone.user
        )));
    }
    if let Some(other) = found.iter().find(|f| f.user != first.user || f.password != first.password) {
        return Err(Error::invalid_argument(format!(
            "endpoints {} and {} carry different credentials: give one user and password with Config::auth",
            first.endpoint, other.endpoint
        )));
    }
    match credentials {
        Some(set) if set.user != first.user || Some(&set.password) != first.password.as_ref() => {
            Err(Error::invalid_argument(format!(
                "endpoint {} carries credentials for {:?}, and Config::auth gives others (for {:?}): give them one way",
                first.endpoint, first.user, set.user
            )))
        }
        _ => Ok(()),
    }
}

/// `%XX` escapes decoded, as URLs carry reserved characters in passwords;
/// a malformed escape is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(endpoint: &str) -> (String, Option<(String, Option<String>)>) {
        let (clean, found) = take_userinfo(endpoint.to_string());
        (clean, found.map(|f| (f.user, f.password)))
    }

    #[test]
    fn userinfo_is_taken_out_of_the_endpoint() {
        let alice = |password: Option<&str>| Some(("alice".to_string(), password.map(String::from)));
        assert_eq!(parts("http://alice:pw@10.0.0.1:2379"), ("http://10.0.0.1:2379".into(), alice(Some("pw"))));
        assert_eq!(parts("alice:p%40ss:w@10.0.0.1:2379/"), ("10.0.0.1:2379/".into(), alice(Some("p@ss:w"))));
        assert_eq!(parts("https://alice@[::1]:2379"), ("https://[::1]:2379".into(), alice(None)));
        assert_eq!(parts("http://10.0.0.1:2379"), ("http://10.0.0.1:2379".into(), None));
        assert_eq!(parts("unix:///run/a@b.sock"), ("unix:///run/a@b.sock".into(), None));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn credentials_that_disagree_are_refused_without_showing_a_password() {
        let found = |endpoint: &str| take_userinfo(endpoint.to_string()).1.into_iter().collect::<Vec<_>>();
        let alice = Credentials { user: "alice".into(), password: "pw1".into() };
        assert!(check(&found("http://alice:pw1@h:1"), Some(&alice)).is_ok());
        let mut both = found("http://alice:pw1@h:1");
        both.extend(found("http://alice:pw2@h:2"));
        let messages = [
            check(&both, Some(&alice)),
            check(&found("http://alice@h:1"), None),
            check(&found("http://bob:pw1@h:1"), Some(&alice)),
        ]
        .map(|r| r.err().map(|e| e.to_string()).unwrap_or_default());
        for message in messages {
            assert!(!message.is_empty() && !message.contains("pw1") && !message.contains("pw2"), "{message}");
        }
    }
}
