//! Streaming calls (watch, lease keepalive, observe, snapshot, range
//! stream): a typed sending half and a typed receiving half over one HTTP/2
//! stream, opened through the same endpoint choice, metadata and failover as
//! unary calls; and [`DeadlineStream`], a server-streaming read under one
//! deadline.

use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};

use super::connection::ActiveStream;
use super::grpc;
use super::rpc::Rpc;
use super::unary::{at_deadline, h2_error};
use super::Transport;
use crate::error::{Error, ErrorKind, Result};

/// The sending half: request messages go out in order.
pub(crate) struct Sink<Q> {
    stream: h2::SendStream<Bytes>,
    /// Messages pushed and not yet flushed.
    pending: BytesMut,
    max_send: usize,
    endpoint: String,
    _message: PhantomData<fn(Q)>,
}

impl<Q: prost::Message> Sink<Q> {
    /// Queues `message`; h2 sends it as flow control allows.
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
    Head(h2::client::ResponseFuture),
    Body(h2::RecvStream),
    /// Data is over; waiting for the trailers.
    Trailers(h2::RecvStream),
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
                    let response = match response {
                        Ok(response) => response,
                        Err(e) => return self.fail(h2_error(e, &self.endpoint.clone())),
                    };
                    if response.status() != http::StatusCode::OK {
                        let error = grpc::http_status_error(response.status()).with_endpoint(self.endpoint.clone());
                        return self.fail(error);
                    }
                    if let Some(status) = grpc::status(response.headers()) {
                        self.state = State::Done;
                        return Poll::Ready(status.map(|()| None).map_err(|e| e.with_endpoint(self.endpoint.clone())));
                    }
                    self.state = State::Body(response.into_body());
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
                            let _ = body.flow_control().release_capacity(chunk.len());
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
                        return Poll::Ready(Err(grpc::protocol("stream ended inside a message")));
                    }
                    return Poll::Ready(match trailers.as_ref().and_then(grpc::status) {
                        Some(Ok(())) => Ok(None),
                        Some(Err(e)) => Err(e.with_endpoint(self.endpoint.clone())),
                        None => Err(grpc::protocol("stream ended without a grpc-status")),
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
    /// Opens a stream for `rpc` on the first endpoint that takes it, trying
    /// each once. Nothing is sent yet, so failing over is always safe.
    pub(crate) async fn open_stream<Q, R>(&self, rpc: &'static Rpc) -> Result<(Sink<Q>, Source<R>)> {
        self.open_any(rpc, None).await
    }

    /// [`open_stream`](Self::open_stream), telling the server the stream's
    /// deadline (`grpc-timeout`) when there is one.
    async fn open_any<Q, R>(&self, rpc: &'static Rpc, timeout: Option<Duration>) -> Result<(Sink<Q>, Source<R>)> {
        let slots = self.shared.slots.len();
        let first = self.pick();
        let mut last = None;
        for step in 0..slots {
            match self.open_on((first + step) % slots, rpc, timeout).await {
                Ok(pair) => return Ok(pair),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorKind::Unavailable, "no endpoint available")))
    }

    /// Opens a stream for `rpc` on endpoint `index`.
    pub(crate) async fn open_stream_on<Q, R>(&self, index: usize, rpc: &'static Rpc) -> Result<(Sink<Q>, Source<R>)> {
        self.open_on(index, rpc, None).await
    }

    async fn open_on<Q, R>(
        &self,
        index: usize,
        rpc: &'static Rpc,
        timeout: Option<Duration>,
    ) -> Result<(Sink<Q>, Source<R>)> {
        let endpoint = self.endpoint_name(index).to_string();
        let connection = self.connection(index).await?;
        let active = connection.track();
        let mut send = connection.send.clone().ready().await.map_err(|e| h2_error(e, &endpoint))?;
        let head = self.head(index, http::uri::PathAndQuery::from_static(rpc.path), timeout)?;
        let (response, stream) = send.send_request(head, false).map_err(|e| h2_error(e, &endpoint))?;
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

    /// A server-streaming call: sends `request`, closes the sending side,
    /// and returns the responses.
    pub(crate) async fn server_stream<Q, R>(&self, rpc: &'static Rpc, request: &Q) -> Result<Source<R>>
    where
        Q: prost::Message,
        R: prost::Message + Default,
    {
        self.server_stream_with(rpc, request, None).await
    }

    async fn server_stream_with<Q, R>(
        &self,
        rpc: &'static Rpc,
        request: &Q,
        timeout: Option<Duration>,
    ) -> Result<Source<R>>
    where
        Q: prost::Message,
        R: prost::Message + Default,
    {
        let (mut sink, source) = self.open_any::<Q, R>(rpc, timeout).await?;
        sink.send(request)?;
        sink.finish()?;
        Ok(source)
    }

    /// How many endpoints the client has.
    pub(crate) fn endpoint_count(&self) -> usize {
        self.shared.slots.len()
    }
}

/// Pause before reopening once every endpoint failed in a row, per round.
const REOPEN_BACKOFF: Duration = Duration::from_millis(50);

type Opening<R> = Pin<Box<dyn Future<Output = Result<Source<R>>> + Send>>;

/// A server-streaming read under one deadline, counted from the first
/// poll: the server is told it (`grpc-timeout`) and the client keeps it
/// too, so a member that stops answering ends the stream with
/// `DeadlineExceeded` at the deadline rather than never.
///
/// Until the first response arrives, a failure is treated as a unary read's
/// would be: a retryable one opens the stream again on the next endpoint
/// (with a pause after each full round), a refused token is refreshed once.
/// After that a failure ends the stream: what was already delivered cannot
/// be resumed without repeats or gaps.
pub(crate) struct DeadlineStream<Q, R> {
    transport: Transport,
    rpc: &'static Rpc,
    request: Q,
    timeout: Duration,
    /// Set by the first poll.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    phase: Phase<R>,
    received: bool,
    reopened: u32,
    refreshed: bool,
    /// The token's generation the current stream opened with, set by the
    /// opening future after any refresh.
    token_generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

enum Phase<R> {
    Idle,
    Opening(Opening<R>),
    Open(Source<R>),
    Done,
}

impl<Q, R> DeadlineStream<Q, R>
where
    Q: prost::Message + Clone + Send + Sync + 'static,
    R: prost::Message + Default + Send + 'static,
{
    /// Nothing happens until the first poll.
    pub(crate) fn new(transport: Transport, rpc: &'static Rpc, request: Q, timeout: Duration) -> Self {
        DeadlineStream {
            transport,
            rpc,
            request,
            timeout,
            deadline: None,
            phase: Phase::Idle,
            received: false,
            reopened: 0,
            refreshed: false,
            token_generation: Default::default(),
        }
    }

    /// The next message; `Ok(None)` once the server ended the stream with
    /// success, then for ever.
    pub(crate) fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<R>>> {
        if matches!(self.phase, Phase::Done) {
            return Poll::Ready(Ok(None));
        }
        let timeout = self.timeout;
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if deadline.as_mut().poll(cx).is_ready() {
            // Dropping the stream resets it, so the server stops too.
            self.phase = Phase::Done;
            return Poll::Ready(Err(Error::new(
                ErrorKind::DeadlineExceeded,
                format!("{} did not complete within its deadline of {timeout:?}", self.rpc.path),
            )));
        }
        loop {
            match &mut self.phase {
                Phase::Idle => self.open(Duration::ZERO, None),
                Phase::Opening(opening) => match ready!(opening.as_mut().poll(cx)) {
                    Ok(source) => self.phase = Phase::Open(source),
                    Err(e) => self.failed(e)?,
                },
                Phase::Open(source) => match ready!(source.poll_message(cx)) {
                    Ok(Some(message)) => {
                        self.received = true;
                        return Poll::Ready(Ok(Some(message)));
                    }
                    Ok(None) => {
                        self.phase = Phase::Done;
                        return Poll::Ready(Ok(None));
                    }
                    Err(e) => self.failed(e)?,
                },
                Phase::Done => return Poll::Ready(Ok(None)),
            }
        }
    }

    /// Opens again after `e` if the rule allows, else ends with `e`.
    fn failed(&mut self, e: Error) -> Result<()> {
        let e = match &self.deadline {
            Some(sleep) => at_deadline(e, sleep.deadline()),
            None => e,
        };
        if self.received {
            self.phase = Phase::Done;
            return Err(e);
        }
        if e.wants_token_refresh() && !self.refreshed && self.transport.token().is_some() {
            self.refreshed = true;
            tracing::debug!(error = %e, "stream refused the token; refreshing it");
            self.open(Duration::ZERO, Some(e));
            return Ok(());
        }
        if !e.is_retryable() {
            self.phase = Phase::Done;
            return Err(e);
        }
        self.reopened += 1;
        let rounds = self.reopened as usize / self.transport.endpoint_count().max(1);
        let pause = REOPEN_BACKOFF * (rounds.min(10) as u32);
        tracing::debug!(error = %e, ?pause, "stream failed before its first message; opening it again");
        self.open(pause, None);
        Ok(())
    }

    fn open(&mut self, pause: Duration, refused: Option<Error>) {
        let transport = self.transport.clone();
        let (rpc, request) = (self.rpc, self.request.clone());
        let used = std::sync::atomic::Ordering::Relaxed;
        let generation = self.token_generation.load(used);
        let opened_with = self.token_generation.clone();
        // What is left of the deadline: the first poll set it.
        let left = self
            .deadline
            .as_ref()
            .map_or(self.timeout, |d| d.deadline().saturating_duration_since(tokio::time::Instant::now()));
        self.phase = Phase::Opening(Box::pin(async move {
            if let Some(refused) = refused {
                transport.refresh_token_after(&refused, generation).await?;
            }
            opened_with.store(transport.token().map_or(0, |t| t.generation), used);
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            let left = left.saturating_sub(pause).max(Duration::from_millis(1));
            transport.server_stream_with(rpc, &request, Some(left)).await
        }));
    }

    /// The endpoint the stream runs on, once open.
    pub(crate) fn endpoint(&self) -> Option<&str> {
        match &self.phase {
            Phase::Open(source) => Some(source.endpoint()),
            _ => None,
        }
    }
}
