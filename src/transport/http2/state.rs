//! The state of one connection: its streams, both directions' flow
//! control, and the frames waiting to be written. Pure bookkeeping, no
//! I/O: the driver feeds it what it read and writes what it queued, and
//! the handles change it under the same lock.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

use super::error::Error;
use super::fields::{Fields, Head};
use super::frame;
use super::hpack;
use super::reason::Reason;

mod receive;

/// The highest stream id a client may open.
const MAX_STREAM_ID: u32 = (1 << 31) - 1;
/// Header blocks (with their CONTINUATIONs) larger than this end the
/// connection: no gRPC answer comes near it.
pub(super) const MAX_HEADER_LIST: usize = 1 << 20;
/// Queued DATA a sender may leave before it waits (see `poll_send_room`).
pub(super) const SEND_ROOM: usize = 256 * 1024;

/// Our side's settings, fixed for the connection's life.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// What each stream may receive before we release it.
    pub(crate) stream_window: u32,
    /// What the whole connection may receive before we release it.
    pub(crate) connection_window: u32,
}

/// Stream ids are unique and odd; a multiplicative hash spreads them over
/// the table's buckets and control bytes without SipHash's cost.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type StreamMap = HashMap<u32, Stream, BuildHasherDefault<IdHasher>>;

/// One stream, from the client's side.
#[derive(Default)]
struct Stream {
    /// Its HEADERS went out (else it waits in `queued`).
    opened: bool,
    /// The header block of a stream waiting for the server's concurrency
    /// limit, and whether it ends the stream.
    queued_block: Option<(Bytes, bool)>,
    /// Counted against the server's MAX_CONCURRENT_STREAMS.
    counted: bool,
    /// The response head, until the response future takes it.
    head: Option<Head>,
    got_head: bool,
    data: VecDeque<Bytes>,
    trailers: Option<Fields>,
    /// END_STREAM (or a reset) came: nothing more will arrive.
    recv_closed: bool,
    error: Option<Error>,
    /// What the server may still send on this stream.
    recv_window: i64,
    /// Data received and not yet released by the reader (including what
    /// is still queued); the connection's window had it back on receipt.
    unreleased: usize,
    /// Released, not yet announced in a WINDOW_UPDATE.
    released: u32,
    recv_waker: Option<Waker>,
    send_window: i64,
    pending: VecDeque<Bytes>,
    pending_len: usize,
    /// The last queued chunk ends the stream.
    end_queued: bool,
    /// END_STREAM went out (or the stream was reset).
    send_closed: bool,
    send_waker: Option<Waker>,
    /// Waiting in `conn_blocked` for connection window.
    blocked: bool,
    /// Handles alive: the response side and the send side.
    refs: u8,
}

/// The server's settings, as far as they matter to a client.
struct Peer {
    max_concurrent: usize,
    initial_window: i64,
    max_frame: u32,
}

/// A ping of ours and whether its answer came.
struct UserPing {
    payload: [u8; 8],
    answered: bool,
    waker: Option<Waker>,
}

/// A header block still waiting for its CONTINUATION frames.
struct Partial {
    stream: u32,
    end_stream: bool,
    block: BytesMut,
}

pub(crate) struct State {
    /// Frames waiting for the driver to write them.
    pub(super) out: BytesMut,
    /// Set when the driver has been woken to write `out` and has not
    /// taken it yet: callers that append meanwhile need not wake it again.
    flush_asked: bool,
    driver: Option<Waker>,
    streams: StreamMap,
    next_id: u32,
    /// Streams counted against the server's concurrency limit.
    open: usize,
    queued: VecDeque<u32>,
    peer: Peer,
    got_settings: bool,
    /// What we may still send on the connection.
    send_window: i64,
    conn_blocked: VecDeque<u32>,
    /// What the server may still send on the connection.
    recv_window: i64,
    /// Released by readers, not yet announced.
    recv_released: u32,
    config: Config,
    partial: Option<Partial>,
    decoder: hpack::Decoder,
    fields_scratch: Vec<(Bytes, Bytes)>,
    goaway: Option<(u32, Reason, Bytes)>,
    /// The connection's end, once it has ended.
    pub(super) failed: Option<Error>,
    /// `SendRequest` handles alive.
    pub(super) handles: usize,
    ping: Option<UserPing>,
    ping_count: u64,
}

impl State {
    /// A connection's state with our preface, SETTINGS and connection
    /// window already queued.
    pub(crate) fn new(config: Config) -> State {
        let mut out = BytesMut::with_capacity(4096);
        out.extend_from_slice(frame::PREFACE);
        frame::put_settings(
            &mut out,
            &[
                (frame::ENABLE_PUSH, 0),
                (frame::INITIAL_WINDOW_SIZE, config.stream_window),
                (frame::MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST as u32),
            ],
        );
        let default_window = 65_535;
        if config.connection_window > default_window {
            frame::put_window_update(&mut out, 0, config.connection_window - default_window);
        }
        State {
            out,
            flush_asked: false,
            driver: None,
            streams: StreamMap::default(),
            next_id: 1,
            open: 0,
            queued: VecDeque::new(),
            peer: Peer { max_concurrent: usize::MAX, initial_window: 65_535, max_frame: frame::DEFAULT_MAX_FRAME_SIZE },
            got_settings: false,
            send_window: 65_535,
            conn_blocked: VecDeque::new(),
            recv_window: i64::from(config.connection_window.max(default_window)),
            recv_released: 0,
            config,
            partial: None,
            decoder: hpack::Decoder::new(4096),
            fields_scratch: Vec::new(),
            goaway: None,
            failed: None,
            handles: 1,
            ping: None,
            ping_count: 0,
        }
    }

    /// Whether new streams can still be opened here.
    pub(crate) fn accepts_streams(&self) -> bool {
        self.failed.is_none() && self.goaway.is_none() && self.next_id <= MAX_STREAM_ID
    }

    /// Asks the driver to write what is queued. Returns the waker to wake
    /// once the lock is released, if the driver has not been asked yet.
    #[must_use]
    pub(super) fn ask_flush(&mut self) -> Option<Waker> {
        if self.flush_asked || self.out.is_empty() {
            return None;
        }
        self.flush_asked = true;
        self.driver.take()
    }

    /// The driver's turn: registers it for the next wake and hands it
    /// what is queued.
    pub(super) fn take_out(&mut self, into: &mut BytesMut) {
        self.flush_asked = false;
        if into.is_empty() {
            std::mem::swap(&mut self.out, into);
        } else if !self.out.is_empty() {
            into.extend_from_slice(&self.out);
            self.out.clear();
        }
    }

    pub(super) fn register_driver(&mut self, waker: &Waker) {
        match &self.driver {
            Some(known) if known.will_wake(waker) => {}
            _ => self.driver = Some(waker.clone()),
        }
    }

    /// After a handle went: the driver to wake, if frames were queued or
    /// the connection may now be done.
    #[must_use]
    pub(super) fn after_release(&mut self) -> Option<Waker> {
        if self.is_done() {
            self.flush_asked = true;
            return self.driver.take();
        }
        self.ask_flush()
    }

    /// Whether the connection has nothing left to do: no handle can open a
    /// stream and none is open, or the server is going away and every
    /// stream it took has ended.
    pub(super) fn is_done(&self) -> bool {
        self.streams.is_empty() && (self.handles == 0 || self.goaway.is_some())
    }

    /// Opens a stream with the header `block`, then `body` (ending the
    /// stream when `end`). Returns its id; the stream has two handles.
    pub(crate) fn open(&mut self, block: &[u8], body: Bytes, end: bool) -> Result<u32, Error> {
        if let Some(failed) = &self.failed {
            return Err(Error::not_sent(format!("the connection has ended: {failed}")));
        }
        if let Some((_, code, debug)) = &self.goaway {
            return Err(Error::go_away(*code, debug.clone(), true));
        }
        if self.next_id > MAX_STREAM_ID {
            return Err(Error::not_sent("the connection has used up its stream ids"));
        }
        let id = self.next_id;
        self.next_id += 2;
        let headers_end = end && body.is_empty();
        let mut stream = Stream {
            recv_window: i64::from(self.config.stream_window),
            send_window: self.peer.initial_window,
            refs: 2,
            send_closed: headers_end,
            ..Stream::default()
        };
        if !headers_end {
            stream.pending_len = body.len();
            stream.pending.push_back(body);
            stream.end_queued = end;
        }
        let now = self.queued.is_empty() && self.open < self.peer.max_concurrent;
        if now {
            frame::put_headers(&mut self.out, id, block, headers_end, self.peer.max_frame);
            stream.opened = true;
            stream.counted = true;
            self.open += 1;
        } else {
            stream.queued_block = Some((Bytes::copy_from_slice(block), headers_end));
            self.queued.push_back(id);
        }
        self.streams.insert(id, stream);
        if now {
            self.drain(id);
        }
        Ok(id)
    }

    /// Sends what flow control allows of stream `id`'s queued data.
    fn drain(&mut self, id: u32) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if !stream.opened || stream.send_closed {
            return;
        }
        loop {
            let last_chunk = stream.pending.len() == 1;
            let Some(front) = stream.pending.front_mut() else { break };
            if front.is_empty() {
                if last_chunk && stream.end_queued {
                    frame::put_data(&mut self.out, id, &[], true);
                    stream.send_closed = true;
                }
                stream.pending.pop_front();
                continue;
            }
            let allowed = stream.send_window.min(self.send_window).min(i64::from(self.peer.max_frame));
            if allowed <= 0 {
                if self.send_window <= 0 && stream.send_window > 0 && !stream.blocked {
                    stream.blocked = true;
                    self.conn_blocked.push_back(id);
                }
                break;
            }
            let n = (allowed as usize).min(front.len());
            let chunk = front.split_to(n);
            let ends = last_chunk && front.is_empty() && stream.end_queued;
            frame::put_data(&mut self.out, id, &chunk, ends);
            stream.send_window -= n as i64;
            self.send_window -= n as i64;
            stream.pending_len -= n;
            if front.is_empty() {
                stream.pending.pop_front();
            }
            if ends {
                stream.send_closed = true;
            }
        }
        if stream.pending_len < SEND_ROOM {
            if let Some(waker) = stream.send_waker.take() {
                waker.wake();
            }
        }
        self.maybe_closed(id);
    }

    /// Queues more data on stream `id`.
    pub(crate) fn send_data(&mut self, id: u32, data: Bytes, end: bool) -> Result<(), Error> {
        let stream = self.stream(id)?;
        if let Some(error) = &stream.error {
            return Err(error.clone());
        }
        if stream.end_queued || stream.send_closed {
            return Err(Error::protocol(Reason::STREAM_CLOSED, "data sent after the stream's end"));
        }
        stream.pending_len += data.len();
        stream.pending.push_back(data);
        stream.end_queued = end;
        self.drain(id);
        Ok(())
    }

    /// Ready when stream `id` has less than [`SEND_ROOM`] queued, so a
    /// producer cannot buffer without bound.
    pub(crate) fn poll_send_room(&mut self, id: u32, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let stream = match self.stream(id) {
            Ok(stream) => stream,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Some(error) = &stream.error {
            return Poll::Ready(Err(error.clone()));
        }
        if stream.pending_len < SEND_ROOM {
            return Poll::Ready(Ok(()));
        }
        stream.send_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn stream(&mut self, id: u32) -> Result<&mut Stream, Error> {
        self.streams.get_mut(&id).ok_or_else(|| Error::protocol(Reason::INTERNAL_ERROR, "stream already released"))
    }

    /// The response head of stream `id`, once it came.
    pub(crate) fn poll_head(&mut self, id: u32, cx: &mut Context<'_>) -> Poll<Result<Head, Error>> {
        let stream = match self.stream(id) {
            Ok(stream) => stream,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Some(head) = stream.head.take() {
            return Poll::Ready(Ok(head));
        }
        if let Some(error) = &stream.error {
            return Poll::Ready(Err(error.clone()));
        }
        if stream.got_head || stream.recv_closed {
            return Poll::Ready(Err(Error::protocol(Reason::PROTOCOL_ERROR, "stream ended without a response")));
        }
        register(&mut stream.recv_waker, cx);
        Poll::Pending
    }

    /// The next chunk of stream `id`'s body; `None` at its end.
    pub(crate) fn poll_data(&mut self, id: u32, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        let stream = match self.stream(id) {
            Ok(stream) => stream,
            Err(e) => return Poll::Ready(Some(Err(e))),
        };
        if let Some(chunk) = stream.data.pop_front() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        if let Some(error) = &stream.error {
            return Poll::Ready(Some(Err(error.clone())));
        }
        if stream.recv_closed {
            return Poll::Ready(None);
        }
        register(&mut stream.recv_waker, cx);
        Poll::Pending
    }

    /// Stream `id`'s trailers, once its body has ended.
    pub(crate) fn poll_trailers(&mut self, id: u32, cx: &mut Context<'_>) -> Poll<Result<Option<Fields>, Error>> {
        let stream = match self.stream(id) {
            Ok(stream) => stream,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Some(trailers) = stream.trailers.take() {
            return Poll::Ready(Ok(Some(trailers)));
        }
        if let Some(error) = &stream.error {
            return Poll::Ready(Err(error.clone()));
        }
        if stream.recv_closed {
            return Poll::Ready(Ok(None));
        }
        register(&mut stream.recv_waker, cx);
        Poll::Pending
    }

    /// The reader of stream `id` is done with `n` bytes: the server may
    /// send as much again.
    pub(crate) fn release(&mut self, id: u32, n: usize) {
        let half_stream = self.config.stream_window / 2;
        let Some(stream) = self.streams.get_mut(&id) else { return };
        let n = n.min(stream.unreleased);
        stream.unreleased -= n;
        if !stream.recv_closed && stream.error.is_none() {
            stream.released += n as u32;
            if stream.released >= half_stream {
                frame::put_window_update(&mut self.out, id, stream.released);
                stream.recv_window += i64::from(stream.released);
                stream.released = 0;
            }
        }
    }

    fn release_connection(&mut self, n: u32) {
        self.recv_released = self.recv_released.saturating_add(n);
        if self.recv_released >= self.config.connection_window / 4 {
            frame::put_window_update(&mut self.out, 0, self.recv_released);
            self.recv_window += i64::from(self.recv_released);
            self.recv_released = 0;
        }
    }

    /// A handle of stream `id` is gone; with the last one the stream goes,
    /// reset if it had not ended.
    pub(crate) fn drop_ref(&mut self, id: u32) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        stream.refs = stream.refs.saturating_sub(1);
        if stream.refs > 0 {
            return;
        }
        let Some(stream) = self.streams.remove(&id) else { return };
        let ended = stream.recv_closed && stream.send_closed || stream.error.is_some();
        if stream.opened && !ended && self.failed.is_none() {
            frame::put_rst_stream(&mut self.out, id, Reason::CANCEL);
        }
        if stream.queued_block.is_some() {
            self.queued.retain(|queued| *queued != id);
        }
        if stream.counted {
            self.open -= 1;
            self.promote();
        }
    }

    /// Opens queued streams while the server's limit allows.
    fn promote(&mut self) {
        // Nothing new goes out on a connection that is ending (RFC 9113, 6.8).
        if self.failed.is_some() || self.goaway.is_some() {
            return;
        }
        while self.open < self.peer.max_concurrent {
            let Some(id) = self.queued.pop_front() else { return };
            let Some(stream) = self.streams.get_mut(&id) else { continue };
            let Some((block, end)) = stream.queued_block.take() else { continue };
            frame::put_headers(&mut self.out, id, &block, end, self.peer.max_frame);
            stream.opened = true;
            stream.counted = true;
            self.open += 1;
            self.drain(id);
        }
    }

    /// Once both sides of stream `id` have ended, it no longer counts
    /// against the server's limit.
    fn maybe_closed(&mut self, id: u32) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if stream.counted && stream.recv_closed && stream.send_closed {
            stream.counted = false;
            self.open -= 1;
            self.promote();
        }
    }

    /// Ends stream `id` with `error`, waking its handles.
    fn end_stream(&mut self, id: u32, error: Option<Error>) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if let Some(error) = error {
            stream.error.get_or_insert(error);
        }
        stream.queued_block = None;
        stream.recv_closed = true;
        stream.send_closed = true;
        stream.pending.clear();
        stream.pending_len = 0;
        wake(&mut stream.recv_waker);
        wake(&mut stream.send_waker);
        self.maybe_closed(id);
    }

    /// Resets stream `id` for a fault of the server's on it.
    fn reset(&mut self, id: u32, code: Reason, what: &'static str) {
        let Some(stream) = self.streams.get(&id) else { return };
        if stream.opened && !(stream.recv_closed && stream.send_closed) {
            frame::put_rst_stream(&mut self.out, id, code);
        }
        self.end_stream(id, Some(Error::protocol(code, what)));
    }

    /// A connection error of ours: GOAWAY to the server, and every stream fails.
    fn fail_with(&mut self, code: Reason, what: &'static str) -> Error {
        frame::put_goaway(&mut self.out, 0, code, what.as_bytes());
        let error = Error::protocol(code, format!("the server broke HTTP/2: {what}"));
        self.fail(error.clone());
        error
    }

    /// The connection has ended with `error`: every stream still waiting
    /// for its answer gets it; finished answers stay readable.
    pub(crate) fn fail(&mut self, error: Error) {
        if self.failed.is_some() {
            return;
        }
        self.failed = Some(error.clone());
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            let Some(stream) = self.streams.get_mut(&id) else { continue };
            if stream.recv_closed && stream.error.is_none() {
                // A finished answer stays readable; only sending ends.
                self.end_stream(id, None);
                continue;
            }
            let error = if stream.opened { error.clone() } else { error.clone().into_unprocessed() };
            self.end_stream(id, Some(error));
        }
        if let Some(ping) = &mut self.ping {
            wake(&mut ping.waker);
        }
    }

    /// Sends a ping of ours; a previous one is forgotten.
    pub(crate) fn start_ping(&mut self) -> Result<u64, Error> {
        if let Some(failed) = &self.failed {
            return Err(failed.clone());
        }
        self.ping_count += 1;
        let payload = self.ping_count.to_be_bytes();
        frame::put_ping(&mut self.out, false, payload);
        self.ping = Some(UserPing { payload, answered: false, waker: None });
        Ok(self.ping_count)
    }

    /// Ready when ping `count` has been answered.
    pub(crate) fn poll_ping(&mut self, count: u64, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(failed) = &self.failed {
            return Poll::Ready(Err(failed.clone()));
        }
        match &mut self.ping {
            Some(ping) if ping.payload == count.to_be_bytes() => {
                if ping.answered {
                    return Poll::Ready(Ok(()));
                }
                register(&mut ping.waker, cx);
                Poll::Pending
            }
            _ => Poll::Ready(Err(Error::protocol(Reason::CANCEL, "a newer ping replaced this one"))),
        }
    }
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(known) if known.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

fn wake(slot: &mut Option<Waker>) {
    if let Some(waker) = slot.take() {
        waker.wake();
    }
}
