//! What callers hold: a handle that opens streams, and each stream's
//! sending half, response future and body. Every operation is one short
//! turn of the connection's lock; a turn that queued frames wakes the
//! driver, once per batch.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use super::error::Error;
use super::fields::{Fields, Head};
use super::state::State;

/// The state of one connection, shared by its driver and its handles.
pub(super) struct Shared {
    state: Mutex<State>,
    /// Whether new streams may open: read by callers choosing a
    /// connection without taking the lock.
    accepting: AtomicBool,
}

impl Shared {
    pub(super) fn new(state: State) -> Shared {
        Shared { state: Mutex::new(state), accepting: AtomicBool::new(true) }
    }

    /// Called by the driver after it changed the state: a GOAWAY, a
    /// failure or used-up ids close the connection to new streams.
    pub(super) fn note_accepting(&self, state: &State) {
        if !state.accepts_streams() {
            self.accepting.store(false, Ordering::Release);
        }
    }

    /// The lock; a panic elsewhere while holding it leaves bookkeeping that
    /// is still consistent enough to fail streams with.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `change` under the lock, then wakes the driver if it queued
    /// frames and the driver was not already asked to write.
    fn with<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let (result, driver) = {
            let mut state = self.lock();
            let result = change(&mut state);
            (result, state.ask_flush())
        };
        wake(driver);
        result
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Opens streams on one connection. Clones share it; the connection ends
/// once every clone and every stream is gone.
pub(crate) struct SendRequest {
    shared: Arc<Shared>,
}

impl SendRequest {
    pub(super) fn new(shared: Arc<Shared>) -> SendRequest {
        SendRequest { shared }
    }

    /// Sends a request: the header `block` (HPACK, see [`super::hpack`]),
    /// then `body`, ending the request side when `end`. An empty body with
    /// `end` ends the stream on its HEADERS frame.
    pub(crate) fn send_request(
        &self,
        block: &[u8],
        body: Bytes,
        end: bool,
    ) -> Result<(ResponseFuture, SendStream), Error> {
        let id = self.shared.with(|state| {
            let opened = state.open(block, body, end);
            self.shared.note_accepting(state);
            opened
        })?;
        let response = ResponseFuture { stream: Some(StreamRef { shared: self.shared.clone(), id }) };
        let send = SendStream { stream: StreamRef { shared: self.shared.clone(), id } };
        Ok((response, send))
    }

    /// Whether new requests can go out on this connection (not after a
    /// GOAWAY, a failure, or with its stream ids used up).
    pub(crate) fn accepts_streams(&self) -> bool {
        self.shared.accepting.load(Ordering::Acquire)
    }

    /// A handle that pings the server. It does not keep the connection
    /// open: that is for request handles and streams.
    pub(crate) fn pinger(&self) -> Pinger {
        Pinger { shared: self.shared.clone() }
    }
}

/// Sends PINGs on one connection.
pub(crate) struct Pinger {
    shared: Arc<Shared>,
}

impl Pinger {
    /// Sends a PING and waits for its answer.
    pub(crate) async fn ping(&self) -> Result<(), Error> {
        let count = self.shared.with(State::start_ping)?;
        std::future::poll_fn(|cx| self.shared.lock().poll_ping(count, cx)).await
    }
}

impl Clone for SendRequest {
    fn clone(&self) -> SendRequest {
        self.shared.lock().handles += 1;
        SendRequest { shared: self.shared.clone() }
    }
}

impl Drop for SendRequest {
    fn drop(&mut self) {
        let driver = {
            let mut state = self.shared.lock();
            state.handles -= 1;
            state.after_release()
        };
        wake(driver);
    }
}

/// One handle's share of a stream; the stream is released (and reset, if
/// unfinished) when the last share goes.
struct StreamRef {
    shared: Arc<Shared>,
    id: u32,
}

impl Drop for StreamRef {
    fn drop(&mut self) {
        let driver = {
            let mut state = self.shared.lock();
            state.drop_ref(self.id);
            state.after_release()
        };
        wake(driver);
    }
}

/// The response to a request: ready with its head.
pub(crate) struct ResponseFuture {
    /// Handed on to the body with the head.
    stream: Option<StreamRef>,
}

impl Future for ResponseFuture {
    type Output = Result<(Head, RecvStream), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(stream) = self.stream.as_ref() else {
            return Poll::Ready(Err(Error::protocol(super::reason::Reason::INTERNAL_ERROR, "response already taken")));
        };
        let head = std::task::ready!(stream.shared.lock().poll_head(stream.id, cx))?;
        match self.get_mut().stream.take() {
            Some(stream) => Poll::Ready(Ok((head, RecvStream { stream }))),
            None => Poll::Ready(Err(Error::protocol(super::reason::Reason::INTERNAL_ERROR, "response already taken"))),
        }
    }
}

/// A response's body and trailers.
pub(crate) struct RecvStream {
    stream: StreamRef,
}

impl RecvStream {
    /// The next chunk of the body; `None` at its end. Each chunk's bytes
    /// count against the windows until [`release`](Self::release)d, or
    /// until the stream is dropped.
    pub(crate) fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        self.stream.shared.lock().poll_data(self.stream.id, cx)
    }

    /// The trailers, once the body has ended; `None` if the stream ended
    /// without them.
    pub(crate) fn poll_trailers(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Fields>, Error>> {
        self.stream.shared.lock().poll_trailers(self.stream.id, cx)
    }

    /// Gives `n` read bytes back to the server's windows.
    pub(crate) fn release(&mut self, n: usize) {
        let id = self.stream.id;
        self.stream.shared.with(|state| state.release(id, n));
    }
}

/// A stream's sending half.
pub(crate) struct SendStream {
    stream: StreamRef,
}

impl SendStream {
    /// Queues `data`, ending the request side when `end`; it goes out as
    /// flow control allows.
    pub(crate) fn send_data(&mut self, data: Bytes, end: bool) -> Result<(), Error> {
        let id = self.stream.id;
        self.stream.shared.with(|state| state.send_data(id, data, end))
    }

    /// Ready when little enough is queued that sending more is reasonable.
    pub(crate) fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.stream.shared.lock().poll_send_room(self.stream.id, cx)
    }
}
