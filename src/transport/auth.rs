//! The auth token: fetched with the credentials when the client connects,
//! attached to every call and stream, and fetched again when etcd refuses
//! it. A refresh is single-flight: concurrent calls refused with the same
//! token wait for one Authenticate and share its outcome, and a refused
//! password is remembered for a moment so that a wave of calls cannot turn
//! into a wave of Authenticate requests.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use http::HeaderValue;

use super::rpc;
use super::unary::Target;
use super::Transport;
use crate::config::Credentials;
use crate::error::{Error, ErrorKind, Result};
use crate::pb::etcdserverpb::{AuthenticateRequest, AuthenticateResponse};

/// How long a failed refresh answers for every call refused with the same
/// token, instead of a new Authenticate.
const FAILED_REFRESH_HOLD: Duration = Duration::from_secs(1);

/// The token a call was sent with.
#[derive(Clone)]
pub(crate) struct Token {
    /// `None` while auth is off on the server.
    pub(crate) value: Option<HeaderValue>,
    /// Bumped by every refresh, so a refresh asked for with an old token
    /// finds it already replaced.
    pub(crate) generation: u64,
}

pub(crate) struct TokenState {
    credentials: Credentials,
    current: RwLock<Token>,
    /// Held by the one refresh in flight; remembers the last failure.
    refresh: tokio::sync::Mutex<Option<(u64, Instant, Error)>>,
}

impl TokenState {
    pub(crate) fn new(credentials: Credentials) -> TokenState {
        TokenState {
            credentials,
            current: RwLock::new(Token { value: None, generation: 0 }),
            refresh: tokio::sync::Mutex::new(None),
        }
    }
}

impl Transport {
    /// The current token, when the client has credentials: a clone of a
    /// reference-counted header value under a read lock.
    pub(crate) fn token(&self) -> Option<Token> {
        let auth = self.shared.auth.as_ref()?;
        auth.current.read().ok().map(|t| t.clone())
    }

    /// Replaces the token that had `stale` as its generation. Returns at
    /// once if another call already did; shares a recent failure.
    pub(crate) async fn refresh_token(&self, stale: u64) -> Result<()> {
        let Some(auth) = self.shared.auth.as_ref() else {
            return Ok(());
        };
        let mut last_failure = auth.refresh.lock().await;
        if self.token().is_some_and(|t| t.generation != stale) {
            return Ok(());
        }
        if let Some((generation, at, error)) = last_failure.as_ref() {
            if *generation == stale && at.elapsed() < FAILED_REFRESH_HOLD {
                return Err(error.clone());
            }
        }
        // Boxed: Authenticate is itself a call, and calls refresh tokens.
        match Box::pin(self.authenticate(&auth.credentials)).await {
            Ok(value) => {
                if let Ok(mut current) = auth.current.write() {
                    current.value = value;
                    current.generation = stale.wrapping_add(1);
                }
                *last_failure = None;
                Ok(())
            }
            Err(e) => {
                *last_failure = Some((stale, Instant::now(), e.clone()));
                Err(e)
            }
        }
    }

    /// One Authenticate, sent without a token (an old, refused token on it
    /// made servers before 3.4.15 refuse the Authenticate too). `None`
    /// when auth is not enabled on the server.
    async fn authenticate(&self, credentials: &Credentials) -> Result<Option<HeaderValue>> {
        let request = AuthenticateRequest { name: credentials.user.clone(), password: credentials.password.clone() };
        let response: Result<AuthenticateResponse> =
            self.call(&rpc::AUTHENTICATE, &request, None, Target::Any, false).await;
        match response {
            Ok(response) => {
                let mut value = HeaderValue::from_str(&response.token)
                    .map_err(|_| Error::protocol("the server sent an auth token that is not a valid header value"))?;
                // Never indexed by HPACK, and printed as "Sensitive" by Debug.
                value.set_sensitive(true);
                tracing::debug!(user = %credentials.user, "authenticated");
                Ok(Some(value))
            }
            Err(e) if e.kind() == ErrorKind::AuthNotEnabled => Ok(None),
            Err(e) => Err(e),
        }
    }
}
