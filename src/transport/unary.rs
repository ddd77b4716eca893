//! Unary calls: one request message, one response message. Retries and
//! failover follow one rule: a request that cannot have reached a server may
//! go to the next endpoint; once it may have, only repeatable RPCs are sent
//! again, and a write's failure says its outcome is unknown.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::connection::{CallWaker, Connection};
use super::grpc;
use super::health::Reason;
use super::http2;
use super::policy::{self, Decision, Failure, LearnerPass, Rule};
use super::rpc::{self, Rpc};
use super::{deadline_after, later, EndpointId, Transport};
use crate::error::{Error, ErrorKind, Result};

/// Pause after every endpoint failed once, before the next round.
pub(super) const ROUND_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
/// How long a call waits for a dial to an endpoint before it tries the
/// next one (the dial goes on in the background).
const DIAL_WAIT: Duration = Duration::from_secs(1);

/// Which endpoints a call may use.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// Any, round robin, failing over.
    Any,
    /// Only this one (etcdctl's per-endpoint maintenance calls).
    One(usize),
}

/// The span of one call. Its fields are what a metrics or tracing layer
/// exports: `service`, `method`, the `endpoint` of the last attempt, and at
/// the end `latency_us`, `outcome` (`ok` or the error kind) and `retries`
/// (attempts after the first).
pub(super) fn rpc_span(service: &str, method: &str) -> tracing::Span {
    tracing::debug_span!(
        "etcd_rpc",
        service,
        method,
        endpoint = tracing::field::Empty,
        latency_us = tracing::field::Empty,
        outcome = tracing::field::Empty,
        retries = tracing::field::Empty,
    )
}

/// Fills the span's closing fields.
pub(super) fn record_end(span: &tracing::Span, latency_us: u64, error: Option<&Error>, tries: u32) {
    span.record("latency_us", latency_us);
    span.record("outcome", error.map_or("ok", |e| e.kind().as_str()));
    span.record("retries", tries.saturating_sub(1));
}

/// RPCs whose messages carry a password or a token: never traced.
pub(super) fn secret(path: &str) -> bool {
    [rpc::AUTHENTICATE.path, rpc::USER_ADD.path, rpc::USER_CHANGE_PASSWORD.path].contains(&path)
}

impl Transport {
    /// Sends `request` and returns the decoded response, within `timeout`
    /// (the client's request timeout when `None`).
    ///
    /// Not an `async fn`: the call's future is returned as it is, without
    /// one more layer around it to build, move and box.
    pub(crate) fn unary<'a, Q, R>(
        &'a self,
        rpc: &'static Rpc,
        request: &'a Q,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<R>> + Send + 'a
    where
        Q: prost::Message + std::fmt::Debug + Sync,
        R: prost::Message + Default + std::fmt::Debug + Send + 'a,
    {
        self.call(rpc, request, timeout, Target::Any, true)
    }

    /// Like [`unary`](Self::unary), to endpoint `index` only.
    pub(crate) fn unary_on<'a, Q, R>(
        &'a self,
        endpoint: EndpointId,
        rpc: &'static Rpc,
        request: &'a Q,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<R>> + Send + 'a
    where
        Q: prost::Message + std::fmt::Debug + Sync,
        R: prost::Message + Default + std::fmt::Debug + Send + 'a,
    {
        self.call(rpc, request, timeout, Target::One(endpoint.0), true)
    }

    /// One call: attempts on `target` until one succeeds, the retry rule
    /// says stop, or the deadline passes.
    pub(super) async fn call<Q, R>(
        &self,
        rpc: &'static Rpc,
        request: &Q,
        timeout: Option<Duration>,
        target: Target,
        with_token: bool,
    ) -> Result<R>
    where
        Q: prost::Message + std::fmt::Debug,
        R: prost::Message + Default + std::fmt::Debug,
    {
        let timeout = timeout.unwrap_or(self.shared.request_timeout);
        let started = Instant::now();
        let deadline = later(started, timeout);
        let body = grpc::encode(request, self.shared.max_send)?;
        let span = rpc_span(rpc.service, rpc.method);
        let traced = !secret(rpc.path) && tracing::enabled!(tracing::Level::TRACE);
        if traced {
            tracing::trace!(parent: &span, request = ?request, "send");
        }
        // Set once the request may have reached a server: only then is a
        // write that runs out of time of unknown outcome.
        let sent = AtomicBool::new(false);
        let tries = AtomicU32::new(0);
        // The endpoint of the attempt in flight: the one to blame at the deadline.
        let at = AtomicUsize::new(usize::MAX);
        // A deadline already passed sends nothing and dials nothing (Go
        // checks its context first too); a timer would poll the attempt,
        // and so send it, before noticing. The clock is read again for it:
        // a deadline of nanoseconds has passed by now.
        let now = Instant::now();
        let result = if self.is_closed() {
            Err(super::closed())
        } else if deadline <= now {
            Err(expired(rpc, timeout))
        } else {
            // Built in place and raced against the deadline here, rather
            // than wrapped in `timeout_at` and `instrument`: each wrapper
            // moved the whole attempt future once more.
            let mut attempts =
                pin!(self.attempts::<R>(rpc, body, (timeout, now, deadline), target, with_token, (&sent, &tries, &at)));
            let mut timer = pin!(tokio::time::sleep_until(deadline));
            let raced = std::future::poll_fn(|cx| {
                if let Poll::Ready(result) = span.in_scope(|| attempts.as_mut().poll(cx)) {
                    return Poll::Ready(Ok(result));
                }
                timer.as_mut().poll(cx).map(Err)
            });
            match raced.await {
                Ok(result) => result,
                Err(()) => {
                    let mut err = expired(rpc, timeout);
                    let index = at.load(Ordering::Relaxed);
                    if index < self.shared.slots.len() {
                        let name = self.endpoint_name(index);
                        err =
                            Error::new(ErrorKind::DeadlineExceeded, format!("{} (waiting for {name})", err.message()))
                                .with_endpoint(name.to_string());
                    }
                    Err(if !rpc.repeatable && sent.load(Ordering::Relaxed) { err.with_outcome_unknown() } else { err })
                }
            }
        };
        let result = result.map_err(|e| rpc.explain_missing(e));
        // The clock is read again only for a listener, once: the span's
        // fields and the events below are skipped, with their values,
        // without one.
        let elapsed = std::cell::OnceCell::new();
        let elapsed_us = || *elapsed.get_or_init(|| started.elapsed().as_micros() as u64);
        if !span.is_disabled() {
            record_end(&span, elapsed_us(), result.as_ref().err(), tries.load(Ordering::Relaxed));
        }
        match &result {
            Ok(response) => {
                tracing::debug!(parent: &span, elapsed_us = elapsed_us(), outcome = "ok", "rpc done");
                if traced {
                    tracing::trace!(parent: &span, response = ?response, "received");
                }
            }
            Err(e) => {
                tracing::debug!(parent: &span, elapsed_us = elapsed_us(), outcome = e.kind().as_str(), error = %e, "rpc failed")
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments, reason = "one private loop, called from one place")]
    async fn attempts<R>(
        &self,
        rpc: &'static Rpc,
        body: Bytes,
        (timeout, now, deadline): (Duration, Instant, Instant),
        target: Target,
        with_token: bool,
        (sent, tries, at): (&AtomicBool, &AtomicU32, &AtomicUsize),
    ) -> Result<R>
    where
        R: prost::Message + Default + std::fmt::Debug,
    {
        let slots = self.shared.slots.len();
        let (first, span) = match target {
            Target::Any => (self.pick(), slots),
            Target::One(index) => (index, 1),
        };
        let mut round = 0u32;
        let mut refreshed = false;
        let mut learners = LearnerPass::default();
        // The caller's last look at the clock serves the first attempt:
        // one clock read less on every call.
        let mut known_now = Some(now);
        loop {
            let mut last = None;
            let mut step = 0;
            while step < span {
                let index = (first + step) % slots;
                // In the first round, endpoints out of the rotation are left
                // to their prober unless every one is out.
                let skip =
                    step > 0 && (self.is_retired(index) || round == 0 && self.is_down(index) && !self.all_down());
                if skip {
                    step += 1;
                    continue;
                }
                tracing::Span::current().record("endpoint", self.endpoint_name(index));
                let now = known_now.take().unwrap_or_else(Instant::now);
                let remaining = deadline.saturating_duration_since(now);
                if remaining.is_zero() {
                    // Earlier attempts failed definitely (a write that may
                    // have been applied stops at once), so nothing is open.
                    return Err(expired(rpc, timeout));
                }
                let wait = if span == 1 { remaining } else { remaining.min(DIAL_WAIT) };
                let token = if with_token { self.token() } else { None };
                tries.fetch_add(1, Ordering::Relaxed);
                at.store(index, Ordering::Relaxed);
                // Both awaits are boxed so that their states do not add to
                // every call's future: kept small, that future is allocated
                // from malloc's per-thread cache instead of its slow path
                // (which cost more than these two allocations). A live
                // connection, the common case, needs no future at all.
                let (connection, now) = match self.live_connection(index) {
                    Some(live) => (Ok(live), Some(now)),
                    // Waiting for it took time: the attempt reads the clock.
                    None => (Box::pin(self.connection_within(index, wait)).await, None),
                };
                let failure = match connection {
                    Ok(connection) => {
                        let token_value = token.as_ref().and_then(|t| t.value.as_ref());
                        let attempt =
                            self.attempt(index, &connection, rpc, body.clone(), (now, deadline), token_value, sent);
                        match Box::pin(attempt).await {
                            Ok(response) => {
                                if self.is_down(index) {
                                    self.mark_up(index);
                                }
                                return Ok(response);
                            }
                            Err(failure) => failure,
                        }
                    }
                    Err(e) => Failure::NotSent(e),
                };
                if self.is_closed() {
                    // Whatever broke, the client's closing did: say so.
                    return Err(match failure {
                        Failure::MaybeSent(_) if !rpc.repeatable => super::closed().with_outcome_unknown(),
                        _ => super::closed(),
                    });
                }
                let err = match policy::decide(failure, Rule::unary(rpc)) {
                    Decision::Next(e) => {
                        // The rule sends a write elsewhere only when this
                        // attempt surely did nothing (a refused stream, a
                        // learner): it was not sent, as far as the outcome goes.
                        if !rpc.repeatable {
                            sent.store(false, Ordering::Relaxed);
                        }
                        e
                    }
                    Decision::Refresh(e) if with_token && !refreshed && self.shared.auth.is_some() => {
                        refreshed = true;
                        tracing::debug!(endpoint = self.endpoint_name(index), error = %e, "token refused; refreshing it");
                        // Rare; boxed for the same reason as the attempt.
                        Box::pin(self.refresh_token(token.map_or(0, |t| t.generation))).await?;
                        // The same endpoint again, with the new token.
                        continue;
                    }
                    Decision::Refresh(e) | Decision::Stop(e) => return Err(e),
                };
                if learners.all_learners(&err, if span == 1 { 1 } else { self.live_endpoint_count() }) {
                    // Only learners answer: no round will find a voter.
                    return Err(err);
                }
                if policy::leaderless(&err) {
                    self.mark_down(index, Reason::NoLeader);
                }
                if tries.load(Ordering::Relaxed) > self.shared.max_unary_retries {
                    // The user's limit on attempts (Go's MaxUnaryRetries).
                    return Err(err);
                }
                tracing::debug!(endpoint = self.endpoint_name(index), error = %err, "attempt failed; trying the next endpoint");
                last = Some(err);
                step += 1;
            }
            round += 1;
            // Every endpoint failed; wait a little (longer each round) and
            // go round again until the deadline ends the call.
            let pause = self.shared.round_backoff.pause(round);
            if later(Instant::now(), pause) >= deadline {
                return Err(last.unwrap_or_else(|| Error::new(ErrorKind::Unavailable, "no endpoint available")));
            }
            Box::pin(tokio::time::sleep(pause)).await;
        }
    }

    /// One attempt on one connection, with the current token, for the
    /// health prober: no failover, no health bookkeeping.
    pub(super) async fn once<Q, R>(
        &self,
        index: usize,
        connection: &Connection,
        rpc: &'static Rpc,
        request: &Q,
        timeout: Duration,
    ) -> Result<R>
    where
        Q: prost::Message,
        R: prost::Message + Default + std::fmt::Debug,
    {
        let body = grpc::encode(request, self.shared.max_send)?;
        let token = self.token().and_then(|t| t.value);
        let sent = AtomicBool::new(false);
        let deadline = deadline_after(timeout);
        let attempt = self.attempt(index, connection, rpc, body, (None, deadline), token.as_ref(), &sent);
        match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(Failure::NotSent(e) | Failure::MaybeSent(e) | Failure::Status(e))) => Err(e),
            Err(_) => Err(Error::new(ErrorKind::DeadlineExceeded, format!("{} timed out", rpc.path))),
        }
    }

    /// One try on one connection, until `deadline`; `now` is the time
    /// when the caller has just read it.
    #[allow(clippy::too_many_arguments, reason = "the parts of one request")]
    async fn attempt<R>(
        &self,
        index: usize,
        connection: &Connection,
        rpc: &'static Rpc,
        body: Bytes,
        (now, deadline): (Option<Instant>, Instant),
        token: Option<&HeaderValue>,
        sent: &AtomicBool,
    ) -> Result<R, Failure>
    where
        R: prost::Message + Default + std::fmt::Debug,
    {
        let endpoint = self.endpoint_name(index);
        let _in_flight = connection.track_unary();
        // Waiting for the connection may have used up the deadline: then
        // the request stays here, and the caller's timer ends the call.
        let remaining = deadline.saturating_duration_since(now.unwrap_or_else(Instant::now));
        if remaining.is_zero() {
            return Err(Failure::NotSent(Error::new(
                ErrorKind::DeadlineExceeded,
                format!("{} not sent: deadline passed", rpc.path),
            )));
        }
        // The deadline goes to the server only for calls that wait there
        // (see `rpc::waits_on_server`); the client keeps it for all.
        let told = rpc::waits_on_server(rpc.path).then_some(remaining);
        // The message goes with end-of-stream set: HEADERS and one DATA
        // frame, queued together under one turn of the connection's lock.
        let sent_request =
            self.with_head(index, rpc.path, told, token, None, |block| connection.send.send_request(block, body, true));
        let (mut response, send) = sent_request.map_err(|e| Failure::NotSent(h2_error(e, endpoint)))?;
        sent.store(true, Ordering::Relaxed);
        // The response keeps the stream; the sending half is not needed.
        drop(send);
        let wakes = CallWaker::new();
        let (head, body) = wakes
            .on(|cx| std::pin::Pin::new(&mut response).poll(cx))
            .await
            .map_err(|e| classify(e, endpoint, deadline))?;
        read_response(head, body, &wakes, self.shared.max_recv, endpoint, deadline).await
    }
}

/// Received bytes a unary response gives back to the flow-control windows
/// at a time. Most answers are far smaller and give nothing back while
/// they are read: a finished stream's bytes go back to the connection
/// window when the stream is dropped, which saves a lock per call. Well under the stream window, so a
/// large answer never stalls.
const RELEASE_AT: usize = 1024 * 1024;

/// Reads a unary response: headers, one message, trailers with the status.
async fn read_response<R>(
    head: http2::Head,
    mut body: http2::RecvStream,
    wakes: &CallWaker,
    max_recv: usize,
    endpoint: &str,
    deadline: Instant,
) -> Result<R, Failure>
where
    R: prost::Message + Default,
{
    check_head(&head, endpoint)?;
    drop(head);
    let mut first: Option<Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    let mut unreleased = 0;
    while let Some(chunk) = wakes.on(|cx| body.poll_data(cx)).await {
        let chunk = chunk.map_err(|e| classify(e, endpoint, deadline))?;
        unreleased += chunk.len();
        if unreleased >= RELEASE_AT {
            body.release(unreleased);
            unreleased = 0;
        }
        let buffered = match (&mut first, &mut rest) {
            (None, None) => {
                first = Some(chunk);
                first.as_deref().map_or(0, <[u8]>::len)
            }
            (Some(head_chunk), None) => {
                let mut joined = BytesMut::with_capacity(head_chunk.len() + chunk.len());
                joined.extend_from_slice(head_chunk);
                joined.extend_from_slice(&chunk);
                first = None;
                let len = joined.len();
                rest = Some(joined);
                len
            }
            (_, Some(joined)) => {
                joined.extend_from_slice(&chunk);
                joined.len()
            }
        };
        let sofar = first.as_deref().or(rest.as_deref()).unwrap_or(&[]);
        if let Some(expected) = grpc::frame_len(sofar) {
            if expected - grpc::PREFIX_LEN > max_recv {
                let err = Error::new(
                    ErrorKind::ResourceExhausted,
                    format!(
                        "response of {} bytes is over the client's receive limit of {max_recv} bytes",
                        expected - grpc::PREFIX_LEN
                    ),
                )
                .with_endpoint(endpoint);
                return Err(Failure::Status(err));
            }
            if buffered > expected {
                // More than one message: a unary answer has exactly one.
                let err = Error::protocol("response with more than one message").with_endpoint(endpoint);
                return Err(Failure::MaybeSent(err));
            }
            if let Some(joined) = rest.as_mut() {
                if buffered < expected {
                    joined.reserve(expected - buffered);
                }
            }
        }
    }
    let trailers = wakes.on(|cx| body.poll_trailers(cx)).await.map_err(|e| classify(e, endpoint, deadline))?;
    match trailers.as_ref().and_then(grpc::status) {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(Failure::Status(e.with_endpoint(endpoint))),
        None => {
            return Err(Failure::MaybeSent(
                Error::protocol("response ended without a grpc-status").with_endpoint(endpoint),
            ))
        }
    }
    let frame = match (first, rest) {
        (Some(frame), _) => frame,
        (None, Some(joined)) => joined.freeze(),
        (None, None) => {
            return Err(Failure::MaybeSent(Error::protocol("response without a message").with_endpoint(endpoint)))
        }
    };
    grpc::decode(frame).map_err(|e| Failure::MaybeSent(e.with_endpoint(endpoint)))
}

/// Checks a unary response's headers.
fn check_head(head: &http2::Head, endpoint: &str) -> Result<(), Failure> {
    if head.status != 200 {
        return Err(Failure::MaybeSent(grpc::http_status_error(head.status).with_endpoint(endpoint)));
    }
    // Whatever else answered (a web server, a proxy's error page), it was
    // not gRPC: its body and status cannot be trusted.
    grpc::check_content_type(&head.fields, endpoint).map_err(Failure::MaybeSent)?;
    // A trailers-only response carries its status in the headers, beside
    // the content type.
    if head.fields.len() > 1 {
        if let Some(status) = grpc::status(&head.fields) {
            return Err(match status {
                Err(e) => Failure::Status(e.with_endpoint(endpoint)),
                Ok(()) => Failure::MaybeSent(Error::protocol("response without a message")),
            });
        }
    }
    Ok(())
}

/// How early a server may reset a call for its deadline, against our clock.
const SERVER_DEADLINE_SLACK: Duration = Duration::from_millis(50);

/// The error of a call whose deadline passed.
fn expired(rpc: &Rpc, timeout: Duration) -> Error {
    Error::new(ErrorKind::DeadlineExceeded, format!("{} did not complete within its deadline of {timeout:?}", rpc.path))
}

/// An HTTP/2 failure after the request was handed over. Only a refused
/// stream, or one above a GOAWAY's last stream id, proves the server never
/// processed it; a dropped socket leaves the outcome open.
fn classify(e: http2::Error, endpoint: &str, deadline: Instant) -> Failure {
    let unprocessed = e.unprocessed();
    let err = at_deadline(h2_error(e, endpoint), deadline);
    if unprocessed {
        Failure::NotSent(err)
    } else {
        Failure::MaybeSent(err)
    }
}

/// The grpc-go of etcd 3.5.3x, 3.6 and 3.7 resets a stream with CANCEL when
/// the `grpc-timeout` we sent runs out, which can reach us just before our
/// own timer fires: a cancellation at the deadline is the deadline.
pub(crate) fn at_deadline(e: Error, deadline: Instant) -> Error {
    if e.kind() != ErrorKind::Canceled || later(Instant::now(), SERVER_DEADLINE_SLACK) < deadline {
        return e;
    }
    let message = format!("the call reached its deadline ({})", e.message());
    let error = Error::new(ErrorKind::DeadlineExceeded, message);
    match e.endpoint() {
        Some(endpoint) => error.with_endpoint(endpoint),
        None => error,
    }
}

pub(crate) fn h2_error(e: http2::Error, endpoint: &str) -> Error {
    let kind = match e.reason() {
        Some(http2::Reason::CANCEL) => ErrorKind::Canceled,
        _ => ErrorKind::Unavailable,
    };
    Error::new(kind, format!("connection to {endpoint}: {e}")).with_endpoint(endpoint).with_source(e)
}
