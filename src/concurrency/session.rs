//! Session: a lease kept alive in the background, with a signal when it is
//! lost.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use crate::call::ResponseFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::lease::KeepAliveHandle;
use crate::Client;

/// The TTL of a session that sets none, in seconds (Go's default).
pub const DEFAULT_SESSION_TTL: i64 = 60;

/// A lease kept alive for as long as the session (any clone of it) lives:
/// the liveness behind a [`Mutex`](super::Mutex) or an
/// [`Election`](super::Election). Go's `concurrency.Session`.
///
/// [`done`](Session::done) resolves when the lease is lost (expired,
/// revoked, or not renewed within its TTL); the locks and leaderships of
/// the session are gone then. [`close`](Session::close) revokes the lease,
/// releasing them at once; dropping the last clone only stops renewing, so
/// they last until the TTL runs out.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    /// Renews the lease; tells when it is lost.
    kept: KeepAliveHandle,
}

impl Session {
    /// A new session of `client`: awaiting it grants a lease of
    /// [`DEFAULT_SESSION_TTL`] seconds (or the [`ttl`](NewSession::ttl)
    /// given, or adopts an existing [`lease`](NewSession::lease)) and
    /// starts keeping it alive.
    #[allow(clippy::new_ret_no_self, reason = "a builder awaited into the session, as Go's NewSession")]
    pub fn new(client: &Client) -> NewSession {
        NewSession { client: client.clone(), ttl: DEFAULT_SESSION_TTL, lease: None, timeout: None }
    }

    /// The session's lease.
    pub fn lease(&self) -> i64 {
        self.inner.kept.id()
    }

    /// The lease's TTL in seconds, as the server granted it.
    pub fn ttl(&self) -> i64 {
        self.inner.kept.ttl()
    }

    /// The client the session uses.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Whether the lease is known to be lost.
    pub fn is_expired(&self) -> bool {
        self.inner.kept.lost().is_some()
    }

    /// Resolves when the lease is lost (Go's `Done`), with an error of kind
    /// [`SessionExpired`](ErrorKind::SessionExpired) that says why.
    pub fn done(&self) -> impl Future<Output = Error> + Send + 'static {
        let lost = self.inner.kept.until_lost();
        let lease = self.lease();
        async move { expired(lease, lost.await.as_ref()) }
    }

    /// Revokes the lease (Go's `Close`): every lock and leadership of the
    /// session ends now. A lease already gone is not an error.
    pub async fn close(&self) -> Result<()> {
        match self.inner.client.revoke(self.lease()).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::LeaseNotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The error for work that needs the session once it is lost.
    pub(crate) fn expired_error(&self) -> Error {
        expired(self.lease(), self.inner.kept.lost().as_ref())
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("lease", &self.lease())
            .field("ttl", &self.ttl())
            .field("expired", &self.is_expired())
            .finish()
    }
}

/// `mutex: session is expired`, with the lease and the cause.
pub(crate) fn expired(lease: i64, cause: Option<&Error>) -> Error {
    let mut message = format!("mutex: session is expired: lease {lease:x} is lost");
    if let Some(cause) = cause {
        message.push_str(&format!(": {cause}"));
    }
    let error = Error::new(ErrorKind::SessionExpired, message);
    match cause {
        Some(cause) => error.with_source(cause.clone()),
        None => error,
    }
}

/// A session being set up, from [`Session::new`].
#[derive(Debug)]
#[must_use = "a session does nothing until awaited"]
pub struct NewSession {
    client: Client,
    ttl: i64,
    lease: Option<i64>,
    timeout: Option<Duration>,
}

impl NewSession {
    /// The TTL of the lease granted, in seconds (Go's `WithTTL`): how long
    /// the session's locks outlive a holder that stops renewing.
    pub fn ttl(mut self, ttl: i64) -> Self {
        self.ttl = ttl;
        self
    }

    /// Uses this existing lease instead of granting one (Go's
    /// `WithLease`); it fails with
    /// [`LeaseNotFound`](ErrorKind::LeaseNotFound) when the lease does not
    /// exist.
    pub fn lease(mut self, id: i64) -> Self {
        self.lease = Some(id);
        self
    }

    /// The deadline of the grant and of the first renewal, instead of the
    /// client's request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl IntoFuture for NewSession {
    type Output = Result<Session>;
    type IntoFuture = ResponseFuture<Session>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let client = self.client;
            let within = self.timeout.unwrap_or_else(|| client.transport.request_timeout());
            let (lease, granted) = match self.lease {
                Some(id) => (id, false),
                None => (client.grant(self.ttl).timeout(within).await?.id(), true),
            };
            crate::lease::check_id(lease)?;
            let kept = match client.keep_alive(lease).timeout(within).handle().await {
                Ok(kept) => kept,
                Err(e) => {
                    if granted {
                        // Nobody will use it: do not leave it for its TTL.
                        let _ = client.revoke(lease).await;
                    }
                    return Err(e);
                }
            };
            Ok(Session { inner: Arc::new(Inner { client: client.clone(), kept }) })
        })
    }
}
