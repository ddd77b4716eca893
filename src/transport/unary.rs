//! Unary calls: one request message, one response message. Retries and
//! failover follow one rule: a request that cannot have reached a server may
//! go to the next endpoint; once it may have, only repeatable RPCs are sent
//! again, and a write's failure says its outcome is unknown.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tracing::Instrument;

use super::connection::Connection;
use super::grpc;
use super::rpc::Rpc;
use super::Transport;
use crate::error::{Error, ErrorKind, Result};

/// How one attempt failed, which decides whether another may follow.
enum Failure {
    /// The request never left (no connection, refused stream): always
    /// safe to try elsewhere.
    NotSent(Error),
    /// The request may have been processed.
    MaybeSent(Error),
    /// The server answered with an error status.
    Status(Error),
}

/// Pause after every endpoint failed once, before the next round.
const ROUND_BACKOFF: Duration = Duration::from_millis(50);

impl Transport {
    /// Sends `request` and returns the decoded response, within `timeout`
    /// (the client's request timeout when `None`).
    pub(crate) async fn unary<Q, R>(&self, rpc: &'static Rpc, request: &Q, timeout: Option<Duration>) -> Result<R>
    where
        Q: prost::Message + std::fmt::Debug,
        R: prost::Message + Default + std::fmt::Debug,
    {
        let timeout = timeout.unwrap_or(self.shared.request_timeout);
        let body = grpc::encode(request, self.shared.max_send)?;
        let span = tracing::debug_span!(
            "etcd_rpc",
            service = rpc.service,
            method = rpc.method,
            endpoint = tracing::field::Empty
        );
        if tracing::enabled!(tracing::Level::TRACE) {
            tracing::trace!(parent: &span, request = ?request, "send");
        }
        let started = Instant::now();
        let attempts = self.attempts::<R>(rpc, body, timeout, started).instrument(span.clone());
        let result = match tokio::time::timeout(timeout, attempts).await {
            Ok(result) => result,
            Err(_) => {
                let err = Error::new(
                    ErrorKind::DeadlineExceeded,
                    format!("{} did not complete within its deadline of {timeout:?}", rpc.path),
                );
                Err(if rpc.repeatable { err } else { err.with_outcome_unknown() })
            }
        };
        let elapsed_us = started.elapsed().as_micros() as u64;
        match &result {
            Ok(response) => {
                tracing::debug!(parent: &span, elapsed_us, outcome = "ok", "rpc done");
                if tracing::enabled!(tracing::Level::TRACE) {
                    tracing::trace!(parent: &span, response = ?response, "received");
                }
            }
            Err(e) => tracing::debug!(parent: &span, elapsed_us, outcome = e.kind().as_str(), error = %e, "rpc failed"),
        }
        result
    }

    async fn attempts<R>(&self, rpc: &'static Rpc, body: Bytes, timeout: Duration, started: Instant) -> Result<R>
    where
        R: prost::Message + Default + std::fmt::Debug,
    {
        let slots = self.shared.slots.len();
        let first = self.pick();
        let mut round = 0usize;
        loop {
            let mut last = None;
            for step in 0..slots {
                let index = (first + step) % slots;
                tracing::Span::current().record("endpoint", self.endpoint_name(index));
                let remaining = timeout.saturating_sub(started.elapsed());
                let failure = match self.connection(index).await {
                    Ok(connection) => match self.attempt(index, &connection, rpc, body.clone(), remaining).await {
                        Ok(response) => return Ok(response),
                        Err(failure) => failure,
                    },
                    Err(e) => Failure::NotSent(e),
                };
                let err = match failure {
                    Failure::NotSent(e) => e,
                    Failure::MaybeSent(e) if rpc.repeatable => e,
                    Failure::MaybeSent(e) => return Err(e.with_outcome_unknown()),
                    Failure::Status(e) if rpc.repeatable && e.is_retryable() => e,
                    Failure::Status(e) if !rpc.repeatable && e.write_may_have_applied() => {
                        return Err(e.with_outcome_unknown())
                    }
                    Failure::Status(e) => return Err(e),
                };
                tracing::debug!(endpoint = self.endpoint_name(index), error = %err, "attempt failed; trying the next endpoint");
                last = Some(err);
            }
            round += 1;
            // Every endpoint failed; wait a little (longer each round) and
            // go round again until the deadline ends the call.
            let pause = ROUND_BACKOFF * (round.min(10) as u32);
            if started.elapsed() + pause >= timeout {
                return Err(last.unwrap_or_else(|| Error::new(ErrorKind::Unavailable, "no endpoint available")));
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// One try on one connection.
    async fn attempt<R>(
        &self,
        index: usize,
        connection: &Connection,
        rpc: &'static Rpc,
        body: Bytes,
        remaining: Duration,
    ) -> Result<R, Failure>
    where
        R: prost::Message + Default + std::fmt::Debug,
    {
        let endpoint = self.endpoint_name(index);
        let _active = connection.track();
        let mut send = connection.send.clone().ready().await.map_err(|e| Failure::NotSent(h2_error(e, endpoint)))?;
        let head = self
            .head(index, http::uri::PathAndQuery::from_static(rpc.path), Some(remaining))
            .map_err(Failure::NotSent)?;
        let (response, mut stream) =
            send.send_request(head, false).map_err(|e| Failure::NotSent(h2_error(e, endpoint)))?;
        // The message goes with end-of-stream set: one DATA frame, no empty
        // trailing frame.
        stream.send_data(body, true).map_err(|e| Failure::MaybeSent(h2_error(e, endpoint)))?;
        let response = response.await.map_err(|e| classify(e, endpoint))?;
        read_response(response, self.shared.max_recv, endpoint).await
    }
}

/// Reads a unary response: headers, one message, trailers with the status.
async fn read_response<R>(
    response: http::Response<h2::RecvStream>,
    max_recv: usize,
    endpoint: &str,
) -> Result<R, Failure>
where
    R: prost::Message + Default,
{
    let (head, mut body) = response.into_parts();
    if head.status != http::StatusCode::OK {
        let err = Error::new(ErrorKind::Protocol, format!("HTTP status {} from {endpoint}", head.status))
            .with_endpoint(endpoint);
        return Err(Failure::MaybeSent(err));
    }
    // A trailers-only response carries its status in the headers.
    if let Some(status) = grpc::status(&head.headers) {
        return Err(match status {
            Err(e) => Failure::Status(e.with_endpoint(endpoint)),
            Ok(()) => Failure::MaybeSent(grpc::protocol("response without a message")),
        });
    }
    let mut first: Option<Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| classify(e, endpoint))?;
        let _ = body.flow_control().release_capacity(chunk.len());
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
            if let Some(joined) = rest.as_mut() {
                if buffered < expected {
                    joined.reserve(expected - buffered);
                }
            }
        }
    }
    let trailers = body.trailers().await.map_err(|e| classify(e, endpoint))?;
    match trailers.as_ref().and_then(grpc::status) {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(Failure::Status(e.with_endpoint(endpoint))),
        None => {
            return Err(Failure::MaybeSent(
                grpc::protocol("response ended without a grpc-status").with_endpoint(endpoint),
            ))
        }
    }
    let frame = match (first, rest) {
        (Some(frame), _) => frame,
        (None, Some(joined)) => joined.freeze(),
        (None, None) => {
            return Err(Failure::MaybeSent(grpc::protocol("response without a message").with_endpoint(endpoint)))
        }
    };
    grpc::decode(frame).map_err(|e| Failure::MaybeSent(e.with_endpoint(endpoint)))
}

/// An h2 failure after the request was handed over. Only a refused stream
/// proves the server never processed it; a GOAWAY or a dropped socket
/// leaves the outcome open.
fn classify(e: h2::Error, endpoint: &str) -> Failure {
    let unprocessed = e.is_remote() && e.reason() == Some(h2::Reason::REFUSED_STREAM);
    let err = h2_error(e, endpoint);
    if unprocessed {
        Failure::NotSent(err)
    } else {
        Failure::MaybeSent(err)
    }
}

pub(crate) fn h2_error(e: h2::Error, endpoint: &str) -> Error {
    let kind = match e.reason() {
        Some(h2::Reason::CANCEL) => ErrorKind::Canceled,
        _ => ErrorKind::Unavailable,
    };
    Error::new(kind, format!("connection to {endpoint}: {e}")).with_endpoint(endpoint).with_source(e)
}
