//! One HTTP/2 connection to one etcd member, driven by its own task.
//!
//! Requests are written by the callers' tasks straight into h2's stream
//! state; the connection task flushes whatever has queued up in one socket
//! write. That is where batching under concurrency comes from, and why no
//! request crosses a channel or a second task on its way out.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};

/// HTTP/2 windows: large enough that multi-MiB ranges stream at full speed.
const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// Settings a connection needs from the client's config.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionSettings {
    /// How long the server has to answer the first ping.
    pub(crate) dial_timeout: Duration,
    pub(crate) keepalive_interval: Option<Duration>,
    pub(crate) keepalive_timeout: Duration,
}

/// A live connection; clones share it.
#[derive(Clone)]
pub(crate) struct Connection {
    pub(crate) send: SendRequest<Bytes>,
    state: Arc<ConnectionState>,
}

struct ConnectionState {
    closed: AtomicBool,
    /// Streams in flight; keepalive pings are only sent while there are
    /// some, because etcd counts pings on an idle connection as abuse.
    active: AtomicUsize,
}

/// Counts a stream as active while it lives.
pub(crate) struct ActiveStream(Arc<ConnectionState>);

impl Drop for ActiveStream {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connection {
    pub(crate) fn is_closed(&self) -> bool {
        self.state.closed.load(Ordering::Acquire)
    }

    pub(crate) fn track(&self) -> ActiveStream {
        self.state.active.fetch_add(1, Ordering::Relaxed);
        ActiveStream(self.state.clone())
    }

    /// Dials `endpoint`, performs the HTTP/2 handshake and spawns the task
    /// that drives the connection until it fails or every handle is gone.
    pub(crate) async fn open(endpoint: &Endpoint, settings: ConnectionSettings) -> Result<Connection> {
        let unavailable =
            |what: String| Error::new(ErrorKind::Unavailable, what).with_endpoint(endpoint.original.clone());
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| unavailable(format!("connecting to {}: {e}", endpoint.original)))?;
        // Requests are small and latency matters more than packet count.
        tcp.set_nodelay(true).map_err(|e| unavailable(format!("configuring socket to {}: {e}", endpoint.original)))?;
        let (send, mut connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .enable_push(false)
            .handshake::<_, Bytes>(ScalarWrites(tcp))
            .await
            .map_err(|e| unavailable(format!("HTTP/2 handshake with {}: {e}", endpoint.original)))?;
        let state = Arc::new(ConnectionState { closed: AtomicBool::new(false), active: AtomicUsize::new(0) });
        let pinger = connection.ping_pong();
        let task_state = state.clone();
        let name = endpoint.original.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let keepalive = keepalive(pinger, settings, task_state.clone(), ready_tx);
            let outcome = FirstOf { a: connection, b: Box::pin(keepalive) }.await;
            task_state.closed.store(true, Ordering::Release);
            match outcome {
                Ok(()) => tracing::debug!(endpoint = %name, "connection closed"),
                Err(why) => tracing::debug!(endpoint = %name, error = %why, "connection lost"),
            }
        });
        // The handshake only wrote our preface; a ping answered proves a
        // live HTTP/2 server (a stopped one accepts TCP and says nothing).
        match ready_rx.await {
            Ok(Ok(())) => Ok(Connection { send, state }),
            Ok(Err(why)) => Err(unavailable(format!("{} did not answer: {why}", endpoint.original))),
            Err(_) => Err(unavailable(format!("connection to {} closed during setup", endpoint.original))),
        }
    }
}

/// Pings once to learn the server is there (reporting on `ready`), then
/// while streams are active; returns (ending the connection) when a ping
/// goes unanswered in time.
async fn keepalive(
    pinger: Option<h2::PingPong>,
    settings: ConnectionSettings,
    state: Arc<ConnectionState>,
    ready: tokio::sync::oneshot::Sender<std::result::Result<(), String>>,
) -> String {
    let Some(mut pinger) = pinger else {
        let _ = ready.send(Ok(()));
        return std::future::pending().await;
    };
    let first = match tokio::time::timeout(settings.dial_timeout, pinger.ping(h2::Ping::opaque())).await {
        Ok(Ok(_pong)) => Ok(()),
        Ok(Err(e)) => Err(format!("ping failed: {e}")),
        Err(_) => Err(format!("no answer to a ping within {:?}", settings.dial_timeout)),
    };
    let failed = first.as_ref().err().cloned();
    let _ = ready.send(first);
    if let Some(why) = failed {
        return why;
    }
    let Some(interval) = settings.keepalive_interval else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(interval).await;
        if state.active.load(Ordering::Relaxed) == 0 {
            continue;
        }
        match tokio::time::timeout(settings.keepalive_timeout, pinger.ping(h2::Ping::opaque())).await {
            Ok(Ok(_pong)) => {}
            Ok(Err(e)) => return format!("keepalive ping failed: {e}"),
            Err(_) => return format!("no keepalive answer within {:?}", settings.keepalive_timeout),
        }
    }
}

/// Runs the connection until it ends, or until the keepalive gives up.
struct FirstOf<A, B> {
    a: A,
    b: Pin<Box<B>>,
}

impl<A, B> Future for FirstOf<A, B>
where
    A: Future<Output = std::result::Result<(), h2::Error>> + Unpin,
    B: Future<Output = String>,
{
    type Output = std::result::Result<(), String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(result) = Pin::new(&mut self.a).poll(cx) {
            return Poll::Ready(result.map_err(|e| e.to_string()));
        }
        self.b.as_mut().poll(cx).map(Err)
    }
}

/// The socket, reported as not supporting vectored writes. h2 then copies
/// small DATA frames into its write buffer instead of queueing each as its
/// own slice, so concurrent requests share one `write` call.
struct ScalarWrites(TcpStream);

impl AsyncRead for ScalarWrites {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ScalarWrites {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        // Only reached if a caller ignores is_write_vectored(); stay correct.
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &**b);
        Pin::new(&mut self.0).poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
