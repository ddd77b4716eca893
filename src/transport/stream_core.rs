//! The stream core: how every stream opens and recovers. The watch hub,
//! the lessor, election observers, single keepalives, range streams and
//! one-shot streams (snapshot) all open through a [`StreamCore`], which
//!
//! - picks the endpoint: round robin at first, the next one in the
//!   rotation after a failure, the same one after a token refresh;
//! - carries a fresh token, refreshing one the server refused (one
//!   Authenticate shared with every other call of the client);
//! - classifies each failure with the retry rule of unary calls
//!   ([`policy::decide`] with [`Rule::STREAM`]);
//! - backs off with one [`Backoff`], after one quick pass over the
//!   endpoints.
//!
//! What it does not know is where a stream resumes: after
//! [`Recovery::Reopen`] its owner opens again and states its own resume
//! point (the watch hub its revisions, the lessor its due renewals, an
//! observer the last leader it delivered).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::Backoff;
use super::health::Reason;
use super::policy::{self, Decision, Failure, LearnerPass, Rule};
use super::rpc::Rpc;
use super::slots::EndpointId;
use super::streaming::{Sink, Source};
use super::Transport;
use crate::error::{Error, ErrorKind, Result};

/// Opening a stream on one endpoint may take this long in the first pass
/// over the endpoints: a hung endpoint must not hold up the others.
const QUICK_OPEN: Duration = Duration::from_secs(1);
/// A refusal of a token fetched this recently is a real refusal: the
/// stream stops instead of authenticating again and again.
const REFRESH_HOLD: Duration = Duration::from_secs(5);

/// How streams back off by default: at once through every endpoint, then
/// 50 ms doubling to 1 s.
pub(crate) const STREAM_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));

impl Transport {
    /// For a reader above the transport that keeps going until told to
    /// stop (the mirror): after `error`, its `failures`-th failure in a row,
    /// whether to try again, and after what pause. The call or stream that
    /// failed has been through every endpoint already, so only what a
    /// member may answer differently later is worth another try: what the
    /// error table calls retryable, and a deadline. Nothing is after the
    /// client is closed. The pause is the streams' backoff, jittered so
    /// that many readers do not retry in step.
    pub(crate) fn retry_pause(&self, error: &Error, failures: u32) -> Option<Duration> {
        if self.is_closed() {
            return None;
        }
        let again = error.is_retryable() || error.kind() == ErrorKind::DeadlineExceeded;
        again.then(|| self.shared.stream_backoff.jittered().pause(failures))
    }
}

/// A stream being opened: both halves.
pub(crate) type Opening<Q, R> = Pin<Box<dyn Future<Output = Result<(Sink<Q>, Source<R>)>> + Send>>;
/// A server-streaming call being opened: its request is sent.
pub(crate) type SourceOpening<R> = Pin<Box<dyn Future<Output = Result<Source<R>>> + Send>>;

/// What a stream's owner does after a failure.
#[derive(Debug)]
pub(crate) enum Recovery {
    /// Open again after this pause, and resume.
    Reopen(Duration),
    /// End: no reopening can fix this.
    Stop(Error),
}

/// One stream's recovery state; see the module docs.
pub(crate) struct StreamCore {
    transport: Transport,
    rpc: &'static Rpc,
    /// The only endpoint to use, for calls that name one.
    pinned: Option<EndpointId>,
    /// The endpoint of the last open, and whether the next moves on.
    current: Option<usize>,
    move_on: bool,
    backoff: Backoff,
    /// Failures since the stream last answered.
    failures: u32,
    learners: LearnerPass,
    /// The token generation the current stream opened with (written by
    /// the opening future, after any refresh).
    opened_with: Arc<AtomicU64>,
    /// The server refused the token: the next open fetches a new one.
    stale: bool,
    refreshed_at: Option<Instant>,
}

impl StreamCore {
    /// Streams of `rpc` on any endpoint.
    pub(crate) fn new(transport: Transport, rpc: &'static Rpc) -> StreamCore {
        StreamCore {
            backoff: transport.shared.stream_backoff,
            transport,
            rpc,
            pinned: None,
            current: None,
            move_on: false,
            failures: 0,
            learners: LearnerPass::default(),
            opened_with: Arc::default(),
            stale: false,
            refreshed_at: None,
        }
    }

    /// Streams of `rpc` on `endpoint` only.
    pub(crate) fn on(transport: Transport, rpc: &'static Rpc, endpoint: EndpointId) -> StreamCore {
        StreamCore { pinned: Some(endpoint), ..StreamCore::new(transport, rpc) }
    }

    /// A backoff no longer than `cap` (the lessor's, for short leases).
    pub(crate) fn with_backoff_cap(self, cap: Duration) -> StreamCore {
        StreamCore { backoff: self.backoff.capped(cap), ..self }
    }

    /// Opens a stream after `pause`, on the endpoint the rule points to,
    /// with a fresh token if the last was refused. `timeout` is told to
    /// the server (`grpc-timeout`) when given.
    pub(crate) fn open<Q, R>(&mut self, pause: Duration, timeout: Option<Duration>) -> Opening<Q, R>
    where
        Q: Send + 'static,
        R: Send + 'static,
    {
        let index = self.choose();
        // Once every endpoint failed quickly, a slow one gets the dial timeout.
        let patience = if (self.failures as usize) < self.endpoints() {
            QUICK_OPEN
        } else {
            self.transport.shared.dial_timeout.max(QUICK_OPEN)
        };
        let transport = self.transport.clone();
        let rpc = self.rpc;
        let stale = std::mem::take(&mut self.stale).then(|| self.opened_with.load(Ordering::Relaxed));
        let opened_with = self.opened_with.clone();
        Box::pin(async move {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            if transport.is_closed() {
                return Err(super::closed());
            }
            if let Some(generation) = stale {
                // Single flight: a refresh another call already made counts.
                transport.refresh_token(generation).await?;
            }
            // Read after any refresh: the token this stream carries.
            opened_with.store(transport.token().map_or(0, |t| t.generation), Ordering::Relaxed);
            let name = transport.endpoint_name(index).to_string();
            match tokio::time::timeout(patience, transport.open_on(index, rpc, timeout, patience)).await {
                Ok(opened) => opened,
                Err(_) => Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("opening a {} stream on {name} took longer than {patience:?}", rpc.method),
                )
                .with_endpoint(name)),
            }
        })
    }

    /// [`open`](Self::open) for a server-streaming call: sends `request`
    /// and closes the sending side.
    pub(crate) fn open_with<Q, R>(
        &mut self,
        pause: Duration,
        timeout: Option<Duration>,
        request: &Q,
    ) -> SourceOpening<R>
    where
        Q: prost::Message + Clone + Send + 'static,
        R: Send + 'static,
    {
        let opening = self.open::<Q, R>(pause, timeout);
        let request = request.clone();
        Box::pin(async move {
            let (mut sink, source) = opening.await?;
            sink.send(&request)?;
            sink.finish()?;
            Ok(source)
        })
    }

    /// Opens a stream, trying each endpoint once (the request is not sent
    /// yet, so any endpoint may take it); for streams that cannot resume.
    pub(crate) async fn open_once<Q, R>(&mut self, timeout: Option<Duration>) -> Result<(Sink<Q>, Source<R>)>
    where
        Q: Send + 'static,
        R: Send + 'static,
    {
        let mut pause = Duration::ZERO;
        loop {
            let error = match self.open(pause, timeout).await {
                Ok(pair) => return Ok(pair),
                Err(e) => e,
            };
            match self.failed(error.clone()) {
                Recovery::Reopen(_) if self.failures as usize >= self.endpoints() => return Err(error),
                Recovery::Reopen(next) => pause = next,
                Recovery::Stop(e) => return Err(e),
            }
        }
    }

    /// The stream answered: the next failure starts a new quick pass.
    pub(crate) fn answered(&mut self) {
        self.failures = 0;
        self.learners.reset();
    }

    /// The stream, or its opening, failed with `error`: whether and when
    /// to open it again.
    pub(crate) fn failed(&mut self, error: Error) -> Recovery {
        if self.transport.is_closed() {
            return Recovery::Stop(super::closed());
        }
        if self.stale {
            // The owner saw a refused token in a message (a watch create):
            // reopen at once with a new one.
            return Recovery::Reopen(Duration::ZERO);
        }
        self.failures = self.failures.saturating_add(1);
        match policy::decide(Failure::of_stream(error), Rule::STREAM) {
            Decision::Refresh(e) if self.stale_token(&e) => Recovery::Reopen(Duration::ZERO),
            Decision::Refresh(e) | Decision::Stop(e) => {
                tracing::debug!(rpc = self.rpc.method, error = %e, "stream failed; the rule says stop");
                Recovery::Stop(e)
            }
            Decision::Next(e) => {
                if self.learners.all_learners(&e, self.endpoints()) {
                    return Recovery::Stop(e);
                }
                if let (true, Some(index)) = (policy::leaderless(&e), self.current) {
                    self.transport.mark_down(index, Reason::NoLeader);
                }
                tracing::debug!(rpc = self.rpc.method, error = %e, failures = self.failures, "stream failed; reopening");
                self.move_on = true;
                // One quick pass over the other endpoints, then back off.
                let free = self.endpoints().saturating_sub(1) as u32;
                Recovery::Reopen(self.backoff.pause(self.failures.saturating_sub(free)))
            }
        }
    }

    /// The pause the backoff gives now, for owners that go on after a
    /// [`Recovery::Stop`] (the lessor keeps its other leases alive).
    pub(crate) fn pause(&self) -> Duration {
        let free = self.endpoints().saturating_sub(1) as u32;
        self.backoff.pause(self.failures.saturating_sub(free).max(1))
    }

    /// Records that the server refused this stream's token, so the next
    /// open carries a fresh one. False (nothing recorded) when the client
    /// has no credentials, or its token was fetched moments ago: then the
    /// refusal is real.
    pub(crate) fn stale_token(&mut self, refusal: &Error) -> bool {
        if self.transport.token().is_none() || self.refreshed_at.is_some_and(|at| at.elapsed() < REFRESH_HOLD) {
            return false;
        }
        tracing::debug!(rpc = self.rpc.method, error = %refusal, "stream's token refused; refreshing it");
        self.refreshed_at = Some(Instant::now());
        self.stale = true;
        true
    }

    /// The endpoints this stream may use.
    fn endpoints(&self) -> usize {
        if self.pinned.is_some() {
            1
        } else {
            self.transport.live_endpoint_count()
        }
    }

    fn choose(&mut self) -> usize {
        let index = match (self.pinned, self.current) {
            (Some(EndpointId(index)), _) => index,
            (None, None) => self.transport.pick(),
            (None, Some(current)) if self.move_on => self.transport.next_after(current),
            (None, Some(current)) if self.transport.is_retired(current) => self.transport.next_after(current),
            (None, Some(current)) => current,
        };
        self.move_on = false;
        self.current = Some(index);
        index
    }
}
