//! The future that runs one connection: it reads frames and hands them to
//! the shared state, and writes whatever the state has queued, all that
//! has gathered since the last write in one `write`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::Error;
use super::handles::{SendRequest, Shared};
use super::state::{Config, State};

/// Bytes taken from the socket per read.
const READ_SIZE: usize = 32 * 1024;
/// Buffers that a burst grew beyond these are let go once empty: a client
/// that once created thousands of watches at a time keeps no trace of it.
const KEEP_WRITE: usize = 16 * 1024;
const KEEP_READ: usize = 32 * 1024;

/// Starts a client connection over `io`: our preface and settings are
/// queued at once (requests may follow them before the server's settings
/// arrive, as the protocol allows). The connection runs while the
/// returned future is polled.
pub(crate) fn handshake<T>(io: T, config: Config) -> (SendRequest, Connection<T>) {
    let shared = Arc::new(Shared::new(State::new(config)));
    let connection = Connection {
        io,
        shared: shared.clone(),
        input: BytesMut::new(),
        scratch: vec![0; READ_SIZE].into_boxed_slice(),
        writing: BytesMut::new(),
        unflushed: false,
    };
    (SendRequest::new(shared), connection)
}

/// Runs the connection; ends with `Ok` once it is done (every handle and
/// stream gone, or the server went away and its streams ended), with the
/// failure otherwise. Dropping it fails every stream still open.
pub(crate) struct Connection<T> {
    io: T,
    shared: Arc<Shared>,
    /// Read and not yet a whole frame.
    input: BytesMut,
    /// Where reads land: zeroed once, so no read has to zero memory.
    scratch: Box<[u8]>,
    /// Taken from the state, being written.
    writing: BytesMut,
    /// Bytes were written and not yet flushed: a TLS stream may still hold
    /// them when its socket was full.
    unflushed: bool,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Connection<T> {
    /// Reads until the socket has nothing more; `Err` ends the connection.
    fn read(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        loop {
            let mut buf = ReadBuf::new(&mut self.scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Pending => return Ok(()),
                Poll::Ready(Err(e)) => return Err(self.ended(Error::io(e))),
                Poll::Ready(Ok(())) => {
                    let n = buf.filled().len();
                    if n == 0 {
                        return Err(self.ended(Error::eof()));
                    }
                    self.input.extend_from_slice(&self.scratch[..n]);
                    let mut state = self.shared.lock();
                    let received = state.receive(&mut self.input);
                    self.shared.note_accepting(&state);
                    received?;
                    if self.input.is_empty() && self.input.capacity() > KEEP_READ {
                        self.input = BytesMut::new();
                    }
                }
            }
        }
    }

    /// Fails every stream with `error`, and returns it.
    fn ended(&self, error: Error) -> Error {
        let mut state = self.shared.lock();
        state.fail(error.clone());
        self.shared.note_accepting(&state);
        error
    }

    /// Writes what the state has queued until it is all out or the
    /// socket is full. Registers the task for the next batch.
    fn write(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        loop {
            if self.writing.is_empty() {
                let mut state = self.shared.lock();
                state.register_driver(cx.waker());
                state.take_out(&mut self.writing);
                if self.writing.is_empty() {
                    break;
                }
            }
            match Pin::new(&mut self.io).poll_write(cx, &self.writing) {
                Poll::Pending => return Ok(()),
                Poll::Ready(Ok(0)) => {
                    return Err(self.ended(Error::io(std::io::ErrorKind::WriteZero.into())));
                }
                Poll::Ready(Ok(n)) => {
                    self.writing.advance(n);
                    self.unflushed = true;
                    if self.writing.is_empty() && self.writing.capacity() > KEEP_WRITE {
                        self.writing = BytesMut::new();
                    }
                }
                Poll::Ready(Err(e)) => return Err(self.ended(Error::io(e))),
            }
        }
        if self.unflushed {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Err(self.ended(Error::io(e))),
                Poll::Pending => {}
            }
        }
        Ok(())
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Future for Connection<T> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let read = this.read(cx);
        // Written even after a failure: a GOAWAY may say why.
        let written = this.write(cx);
        if let Err(e) = read.and(written) {
            return Poll::Ready(Err(e));
        }
        let state = this.shared.lock();
        if let Some(failed) = &state.failed {
            return Poll::Ready(Err(failed.clone()));
        }
        if state.is_done() && this.writing.is_empty() && state.out.is_empty() && !this.unflushed {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }
}

impl<T> Drop for Connection<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.fail(Error::io(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "the connection was closed")));
        self.shared.note_accepting(&state);
    }
}
