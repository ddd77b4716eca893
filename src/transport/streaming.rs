//! Streaming calls (watch, lease keepalive, observe, snapshot, range
//! stream): a typed sending half and a typed receiving half over one HTTP/2
//! stream. Which endpoint and token a stream opens with, and how it
//! recovers, is the [`StreamCore`](super::stream_core::StreamCore)'s.

use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};

use super::connection::ActiveStream;
use super::grpc;
use super::http2;
use super::rpc::Rpc;
use super::unary::h2_error;
use super::Transport;
use crate::error::{Error, ErrorKind, Result};

/// The sending half: request messages go out in order.
pub(crate) struct Sink<Q> {
    stream: http2::SendStream,
    /// Messages pushed and not yet flushed.
    pending: BytesMut,
    max_send: usize,
    endpoint: String,
    _message: PhantomData<fn(Q)>,
}

impl<Q: prost::Message> Sink<Q> {
    /// Queues `message`; it goes out as flow control allows.
    pub(crate) fn send(&mut self, message: &Q) -> Result<()> {
        self.push(message)?;
        self.flush()
    }

    /// Adds `message` to what the next [`flush`](Self::flush) sends, so a
    /// burst of small messages (thousands of watch creates) goes out as a
    /// few DATA frames instead of one frame each.
    pub(crate) fn push(&mut self, message: &Q) -> Result<()> {
        grpc::encode_into(message, self.max_send, &mut self.pending)
    }

    /// Queues what was pushed.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let data = self.pending.split().freeze();
        self.stream.send_data(data, false).map_err(|e| h2_error(e, &self.endpoint))
    }

    /// Ends the request side; the server may go on answering.
    pub(crate) fn finish(&mut self) -> Result<()> {
        self.flush()?;
        self.stream.send_data(Bytes::new(), true).map_err(|e| h2_error(e, &self.endpoint))
    }
}

/// The receiving half: response messages, then the status.
pub(crate) struct Source<R> {
    state: State,
    buffered: BytesMut,
    max_recv: usize,
    endpoint: String,
    _active: ActiveStream,
    _message: PhantomData<fn() -> R>,
}

enum State {
    /// Waiting for the response headers.
    Head(http2::ResponseFuture),
    Body(http2::RecvStream),
    /// Data is over; waiting for the trailers.
    Trailers(http2::RecvStream),
    Done,
}

impl<R: prost::Message + Default> Source<R> {
    /// The next message; `Ok(None)` when the server ended the stream with
    /// success, `Err` with its status otherwise. Cancel-safe.
    pub(crate) async fn message(&mut self) -> Result<Option<R>> {
        poll_fn(|cx| self.poll_message(cx)).await
    }

    /// The endpoint this stream runs on.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(crate) fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<R>>> {
        loop {
            match &mut self.state {
                State::Head(response) => {
                    let response = ready!(Pin::new(response).poll(cx));
                    let (head, body) = match response {
                        Ok(response) => response,
                        Err(e) => return self.fail(h2_error(e, &self.endpoint.clone())),
                    };
                    if head.status != 200 {
                        let error = grpc::http_status_error(head.status).with_endpoint(self.endpoint.clone());
                        return self.fail(error);
                    }
                    // Not gRPC (a proxy's page, say), as for unary calls.
                    if let Err(error) = grpc::check_content_type(&head.fields, &self.endpoint) {
                        return self.fail(error);
                    }
                    if let Some(status) = grpc::status(&head.fields) {
                        self.state = State::Done;
                        return Poll::Ready(status.map(|()| None).map_err(|e| e.with_endpoint(self.endpoint.clone())));
                    }
                    self.state = State::Body(body);
                }
                State::Body(body) => {
                    if let Some(len) = grpc::frame_len(&self.buffered) {
                        if len - grpc::PREFIX_LEN > self.max_recv {
                            let why = format!(
                                "message of {} bytes is over the receive limit of {} bytes",
                                len - grpc::PREFIX_LEN,
                                self.max_recv
                            );
                            return self.fail(Error::new(ErrorKind::ResourceExhausted, why));
                        }
                        if self.buffered.len() >= len {
                            let frame = self.buffered.split_to(len).freeze();
                            return Poll::Ready(grpc::decode(frame).map(Some));
                        }
                    }
                    match ready!(body.poll_data(cx)) {
                        Some(Ok(chunk)) => {
                            body.release(chunk.len());
                            self.buffered.extend_from_slice(chunk.chunk());
                        }
                        Some(Err(e)) => return self.fail(h2_error(e, &self.endpoint.clone())),
                        None => {
                            let State::Body(body) = std::mem::replace(&mut self.state, State::Done) else {
                                unreachable!()
                            };
                            self.state = State::Trailers(body);
                        }
                    }
                }
                State::Trailers(body) => {
                    let trailers = ready!(body.poll_trailers(cx));
                    self.state = State::Done;
                    let trailers = match trailers {
                        Ok(trailers) => trailers,
                        Err(e) => return Poll::Ready(Err(h2_error(e, &self.endpoint))),
                    };
                    if !self.buffered.is_empty() {
                        return Poll::Ready(Err(Error::protocol("stream ended inside a message")));
                    }
                    return Poll::Ready(match trailers.as_ref().and_then(grpc::status) {
                        Some(Ok(())) => Ok(None),
                        Some(Err(e)) => Err(e.with_endpoint(self.endpoint.clone())),
                        None => Err(Error::protocol("stream ended without a grpc-status")),
                    });
                }
                State::Done => return Poll::Ready(Ok(None)),
            }
        }
    }

    fn fail(&mut self, error: Error) -> Poll<Result<Option<R>>> {
        self.state = State::Done;
        Poll::Ready(Err(error.with_endpoint(self.endpoint.clone())))
    }
}

impl Transport {
    /// Opens a stream for `rpc` on endpoint `index`, waiting at most `wait`
    /// for a connection; the [`StreamCore`](super::stream_core::StreamCore)
    /// chooses the endpoint. Nothing is sent yet.
    pub(super) async fn open_on<Q, R>(
        &self,
        index: usize,
        rpc: &'static Rpc,
        timeout: Option<Duration>,
        wait: Duration,
    ) -> Result<(Sink<Q>, Source<R>)> {
        let endpoint = self.endpoint_name(index).to_string();
        let connection = self.connection_for_stream(index, wait).await?;
        let active = connection.track();
        let token = self.token().and_then(|t| t.value);
        let (response, stream) = self
            .with_head(index, rpc.path, timeout, token.as_ref(), None, |block| {
                connection.send.send_request(block, Bytes::new(), false)
            })
            .map_err(|e| h2_error(e, &endpoint))?;
        tracing::debug!(service = rpc.service, method = rpc.method, endpoint = %endpoint, "stream opened");
        let sink = Sink {
            stream,
            pending: BytesMut::new(),
            max_send: self.shared.max_send,
            endpoint: endpoint.clone(),
            _message: PhantomData,
        };
        let source = Source {
            state: State::Head(response),
            buffered: BytesMut::new(),
            max_recv: self.shared.max_recv,
            endpoint,
            _active: active,
            _message: PhantomData,
        };
        Ok((sink, source))
    }
}
