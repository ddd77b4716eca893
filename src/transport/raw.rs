//! The raw gRPC stubs of [`crate::pb`] over the client's own connections.
//!
//! [`RawChannel`] is a `tower` service that tonic's generated clients accept.
//! Its requests take the same request path as the typed ones: endpoint
//! choice and failover before sending, the client's metadata, a deadline
//! (the client's request timeout, or the stub's `set_timeout` if shorter),
//! and the same tracing span; errors come back to the stub as gRPC
//! statuses.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame};
use tokio::time::Instant;

use super::connection::ActiveStream;
use super::grpc;
use super::http2;
use super::rpc::is_streaming;
use super::unary::{at_deadline, h2_error, secret};
use super::{later, Transport};
use crate::error::{Error, ErrorKind, GrpcCode};

/// A channel for the raw stubs in [`crate::pb`], made by
/// [`Client::raw_channel`](crate::Client::raw_channel). Cheap to clone.
#[derive(Clone)]
pub struct RawChannel {
    pub(crate) transport: Transport,
}

impl std::fmt::Debug for RawChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawChannel").field("endpoints", &self.transport.endpoints()).finish()
    }
}

impl tower_service::Service<Request<tonic::body::Body>> for RawChannel {
    type Response = Response<RawBody>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RawBody>, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let transport = self.transport.clone();
        Box::pin(async move { Ok(transport.raw(request).await.unwrap_or_else(|e| status_response(&e))) })
    }
}

impl Transport {
    async fn raw(&self, request: Request<tonic::body::Body>) -> Result<Response<RawBody>, Error> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_string();
        let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or(("", path.as_str()));
        let span = super::unary::rpc_span(service, method);
        let trace =
            Trace { traced: !secret(&path) && tracing::enabled!(tracing::Level::TRACE), span, started: Instant::now() };
        // The stub's own deadline (tonic's `set_timeout`, sent as
        // `grpc-timeout`) counts as much as the client's: the smaller wins.
        // Streams have no client deadline, only the stub's if it set one.
        let asked = parts.headers.get("grpc-timeout").and_then(grpc::parse_timeout);
        let timeout = if is_streaming(&path) {
            asked
        } else {
            Some(asked.map_or(self.shared.request_timeout, |a| a.min(self.shared.request_timeout)))
        };
        let expired = |timeout: Duration| {
            Error::new(ErrorKind::DeadlineExceeded, format!("{path} did not answer within its deadline of {timeout:?}"))
        };
        let deadline = timeout.map(|t| (t, later(trace.started, t)));
        let result = match deadline {
            // Already passed: nothing is sent (Go checks its context first).
            Some((timeout, at)) if at <= Instant::now() => Err(expired(timeout)),
            Some((timeout, at)) => {
                let attempt = self.raw_attempts(&parts, body, Some(at), &trace);
                tokio::time::timeout_at(at, attempt).await.unwrap_or_else(|_| Err(expired(timeout)))
            }
            None => self.raw_attempts(&parts, body, None, &trace).await,
        };
        if let Err(e) = &result {
            trace.failed(e);
        }
        result
    }

    /// Sends the call to the first endpoint that takes it. Failover only
    /// before anything is sent: the body is consumed then.
    async fn raw_attempts(
        &self,
        parts: &http::request::Parts,
        mut body: tonic::body::Body,
        deadline: Option<Instant>,
        trace: &Trace,
    ) -> Result<Response<RawBody>, Error> {
        let slots = self.shared.slots.len();
        let first = self.pick();
        let mut last = None;
        for step in 0..slots {
            let index = (first + step) % slots;
            let endpoint = self.endpoint_name(index).to_string();
            trace.span.record("endpoint", endpoint.as_str());
            let connection = match self.connection_for_stream(index, self.shared.dial_timeout).await {
                Ok(connection) => connection,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let active = connection.track();
            // The server is told what is left of the deadline.
            let remaining = deadline.map(|at| at.saturating_duration_since(Instant::now()));
            if remaining.is_some_and(|r| r.is_zero()) {
                return Err(Error::new(ErrorKind::DeadlineExceeded, "deadline passed before the request was sent"));
            }
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let token = self.token().and_then(|t| t.value);
            // Ours win for the gRPC basics; the stub's metadata is kept.
            let opened = self.with_head(index, path, remaining, token.as_ref(), Some(&parts.headers), |block| {
                connection.send.send_request(block, Bytes::new(), false)
            });
            let (response, mut stream) = match opened {
                Ok(pair) => pair,
                Err(e) => {
                    last = Some(h2_error(e, &endpoint));
                    continue;
                }
            };
            let pump_trace = trace.clone();
            tokio::spawn(async move {
                if let Err(e) = pump(&mut body, &mut stream, &pump_trace).await {
                    tracing::debug!(parent: &pump_trace.span, error = %e, "raw request body ended early");
                }
            });
            let (head, recv) = response.await.map_err(|e| match deadline {
                Some(at) => at_deadline(h2_error(e, &endpoint), at),
                None => h2_error(e, &endpoint),
            })?;
            let mut raw =
                RawBody { recv: Some(recv), data_done: false, _active: Some(active), trace: Some(trace.clone()) };
            let headers = head.fields.to_header_map();
            // A trailers-only answer carries its status in the headers.
            if grpc::status(&headers).is_some() {
                raw.finish(Some(&headers));
            }
            let mut response = Response::new(raw);
            *response.status_mut() = http::StatusCode::from_u16(head.status)
                .map_err(|_| Error::protocol(format!("HTTP status {} from {endpoint}", head.status)))?;
            *response.headers_mut() = headers;
            return Ok(response);
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorKind::Unavailable, "no endpoint available")))
    }
}

/// The tracing of one raw call, as unary calls have it: a span, the
/// messages at TRACE (as bytes: the channel does not know their types),
/// and how it ended.
#[derive(Clone)]
struct Trace {
    span: tracing::Span,
    traced: bool,
    started: Instant,
}

impl Trace {
    fn elapsed_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    fn failed(&self, error: &Error) {
        let elapsed_us = self.elapsed_us();
        super::unary::record_end(&self.span, elapsed_us, Some(error), 1);
        tracing::debug!(parent: &self.span, elapsed_us, outcome = error.kind().as_str(), error = %error, "rpc failed");
    }

    /// The end of the call, from its trailers (or the headers of a
    /// trailers-only answer); `None` when the stream ended without either.
    fn ended(&self, status: Option<&HeaderMap>) {
        match status.and_then(grpc::status) {
            Some(Ok(())) => {
                super::unary::record_end(&self.span, self.elapsed_us(), None, 1);
                tracing::debug!(parent: &self.span, elapsed_us = self.elapsed_us(), outcome = "ok", "rpc done")
            }
            Some(Err(e)) => self.failed(&e),
            None => self.failed(&Error::protocol("response ended without a grpc-status")),
        }
    }
}

/// Copies the stub's request body into the HTTP/2 stream, waiting for flow
/// control capacity so a fast producer cannot buffer without bound.
async fn pump(body: &mut tonic::body::Body, stream: &mut http2::SendStream, trace: &Trace) -> Result<(), String> {
    loop {
        let frame = poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await;
        let Some(frame) = frame else {
            return stream.send_data(Bytes::new(), true).map_err(|e| e.to_string());
        };
        let frame = frame.map_err(|e| e.to_string())?;
        let Ok(data) = frame.into_data() else { continue };
        if trace.traced {
            tracing::trace!(parent: &trace.span, request = ?data, "send");
        }
        poll_fn(|cx| stream.poll_room(cx)).await.map_err(|e| e.to_string())?;
        stream.send_data(data, false).map_err(|e| e.to_string())?;
    }
}

/// A failure before the server answered, as a trailers-only gRPC response,
/// so the stub reports it with the right status code.
fn status_response(error: &Error) -> Response<RawBody> {
    let code = match error.kind() {
        ErrorKind::DeadlineExceeded => GrpcCode::DeadlineExceeded,
        ErrorKind::Canceled => GrpcCode::Cancelled,
        ErrorKind::InvalidArgument => GrpcCode::InvalidArgument,
        _ => error.grpc_code().unwrap_or(GrpcCode::Unavailable),
    };
    let mut response = Response::new(RawBody { recv: None, data_done: true, _active: None, trace: None });
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(code as i32));
    let message: String =
        error
            .message()
            .bytes()
            .map(|b| {
                if b.is_ascii_graphic() && b != b'%' || b == b' ' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
    if let Ok(value) = HeaderValue::from_str(&message) {
        headers.insert("grpc-message", value);
    }
    response
}

/// The response body of a raw call: the server's messages, then trailers.
pub struct RawBody {
    recv: Option<http2::RecvStream>,
    data_done: bool,
    _active: Option<ActiveStream>,
    /// Until the call's end is logged.
    trace: Option<Trace>,
}

impl RawBody {
    /// Logs the end of the call, once.
    fn finish(&mut self, status: Option<&HeaderMap>) {
        if let Some(trace) = self.trace.take() {
            trace.ended(status);
        }
    }

    fn fail(&mut self, error: http2::Error) -> Error {
        let error = h2_error(error, "raw stream");
        if let Some(trace) = self.trace.take() {
            trace.failed(&error);
        }
        error
    }
}

impl std::fmt::Debug for RawBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBody").field("data_done", &self.data_done).finish()
    }
}

impl Body for RawBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let Some(recv) = this.recv.as_mut() else { return Poll::Ready(None) };
        if !this.data_done {
            match recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    recv.release(data.len());
                    if let Some(trace) = this.trace.as_ref().filter(|t| t.traced) {
                        tracing::trace!(parent: &trace.span, response = ?data, "received");
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(this.fail(e)))),
                Poll::Ready(None) => this.data_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
        match recv.poll_trailers(cx) {
            Poll::Ready(Ok(Some(trailers))) => {
                this.recv = None;
                let trailers = trailers.to_header_map();
                this.finish(Some(&trailers));
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Poll::Ready(Ok(None)) => {
                this.recv = None;
                this.finish(None);
                Poll::Ready(None)
            }
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(this.fail(e)))),
            Poll::Pending => Poll::Pending,
        }
    }
}
