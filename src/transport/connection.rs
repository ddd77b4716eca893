//! One HTTP/2 connection to one etcd member, driven by its own task.
//!
//! Requests are written by the callers' tasks straight into the HTTP/2
//! state (`http2`); the connection task flushes whatever has queued up in one socket
//! write. That is where batching under concurrency comes from, and why no
//! request crosses a channel or a second task on its way out.
//!
//! The same task watches the member: while streams are open and nothing
//! arrives, it pings, and a ping left unanswered ends the connection, which
//! fails every stream on it at once. That is how a hung (SIGSTOPped) member
//! is found within a call's deadline instead of at the keepalive interval.
//!
//! A dial that the member cuts without a word may be plain gRPC sent to a
//! TLS member, or the reverse; `misdial.rs` asks the member which.

mod held_wakes;
mod misdial;
mod socket;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub(super) use self::held_wakes::CallWaker;
use self::socket::PacedSocket;
use super::endpoint::Endpoint;
use super::http2::{self, SendRequest};
use super::tls::Tls;
use crate::config::MIN_KEEPALIVE_INTERVAL;
use crate::error::{Error, ErrorKind, Result};

/// HTTP/2 windows: large enough that multi-MiB ranges stream at full speed.
const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// How often the connection task looks for a stall while streams are open.
const WATCH_TICK: Duration = Duration::from_millis(250);
/// How long a live member may take to answer a probing ping. Go's HTTP/2
/// server answers pings from its read loop, however busy its handlers are.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Pings without data from the server in between must be further apart than
/// etcd's `--grpc-keepalive-min-time` (5 s), or the server counts strikes and
/// closes the connection with `too_many_pings`.
const QUIET_PING_SPACING: Duration = MIN_KEEPALIVE_INTERVAL.saturating_add(Duration::from_millis(500));

/// Settings a connection needs from the client's config.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionSettings {
    /// How long the server has to answer the first ping.
    pub(crate) dial_timeout: Duration,
    pub(crate) keepalive_interval: Option<Duration>,
    pub(crate) keepalive_timeout: Duration,
    /// Probe a stalled connection and drop it when the member hangs. Only
    /// with other endpoints to fail over to: with one, the call's deadline
    /// ends the wait, and a member that is only slow (a long fsync, a GC
    /// pause) keeps its connection.
    pub(crate) probe_stalls: bool,
}

/// A live connection; clones share it.
///
/// The request handle sits behind its own `Arc`: every call clones the
/// connection out of its slot, and cloning or dropping a request handle
/// takes the lock that the connection task and every other caller contend
/// for. It is not kept in `ConnectionState`, which the connection task
/// holds: a connection ends only when its last handle is gone.
#[derive(Clone)]
pub(crate) struct Connection {
    pub(crate) send: Arc<SendRequest>,
    state: Arc<ConnectionState>,
}

struct ConnectionState {
    closed: AtomicBool,
    /// Set when the member stopped answering pings: it is hung, not gone.
    hung: AtomicBool,
    /// Streams in flight; pings are only sent while there are some (or
    /// unary calls), because etcd counts pings on an idle connection as abuse.
    active: AtomicUsize,
    /// Unary calls in flight: the write side defers its flush while others
    /// are waiting (see `PacedSocket`).
    unary: AtomicUsize,
    /// Reads from the socket that returned data: progress, as the watchdog sees it.
    reads: AtomicU64,
    /// The first bytes the server sent, kept to say what answered when the
    /// connection fails during setup (an HTTP/1 server, a TLS one).
    first_bytes: std::sync::OnceLock<Vec<u8>>,
    /// Ends the connection when the client is closed.
    shutdown: tokio::sync::Notify,
}

impl ConnectionState {
    fn new() -> Self {
        ConnectionState {
            closed: AtomicBool::new(false),
            hung: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            unary: AtomicUsize::new(0),
            reads: AtomicU64::new(0),
            first_bytes: std::sync::OnceLock::new(),
            shutdown: tokio::sync::Notify::new(),
        }
    }
}

/// Counts a stream as active while it lives.
pub(crate) struct ActiveStream(Arc<ConnectionState>);

impl Drop for ActiveStream {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a unary call as in flight while it lives.
pub(crate) struct UnaryInFlight<'a>(&'a AtomicUsize);

impl Drop for UnaryInFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connection {
    /// Whether the connection has ended, or takes no new requests (the
    /// server sent GOAWAY): either way the next call dials again.
    pub(crate) fn is_closed(&self) -> bool {
        self.state.closed.load(Ordering::Acquire) || !self.send.accepts_streams()
    }

    /// Whether the connection ended because the member stopped answering.
    pub(crate) fn was_hung(&self) -> bool {
        self.state.hung.load(Ordering::Acquire)
    }

    /// Ends the connection now: every stream on it fails.
    pub(crate) fn shutdown(&self) {
        self.state.shutdown.notify_one();
    }

    pub(crate) fn track(&self) -> ActiveStream {
        self.state.active.fetch_add(1, Ordering::Relaxed);
        ActiveStream(self.state.clone())
    }

    /// Counts a unary call as in flight until the guard drops. Borrowed, not
    /// shared: the call holds its connection for as long.
    pub(crate) fn track_unary(&self) -> UnaryInFlight<'_> {
        self.state.unary.fetch_add(1, Ordering::Relaxed);
        UnaryInFlight(&self.state.unary)
    }

    /// Dials `endpoint` (with TLS when `tls` is given), performs the HTTP/2
    /// handshake, waits for a first ping to be answered and spawns the task
    /// that drives the connection until it fails or every handle is gone.
    pub(crate) async fn open(
        endpoint: &Endpoint,
        settings: ConnectionSettings,
        tls: Option<&Tls>,
    ) -> Result<Connection> {
        let (mut outcome, mut state) = Connection::open_once(endpoint, settings, tls).await;
        // A server that answers the preface in HTTP/1 and closes at once (an
        // etcd 3.6+ peer port) can have its answer lost to the reset that
        // follows; once more is enough to read it and say what it is.
        if outcome.as_ref().is_err_and(was_cut) && state.first_bytes.get().is_none() {
            (outcome, state) = Connection::open_once(endpoint, settings, tls).await;
        }
        match outcome {
            // A TLS member closes on the HTTP/2 preface without a word.
            Err(e) if tls.is_none() && state.first_bytes.get().is_none() && was_cut_or_closed(&e) => {
                match misdial::answers_tls(endpoint, settings.dial_timeout).await {
                    true => Err(misdial::speaks_tls(endpoint)),
                    false => Err(e),
                }
            }
            other => other,
        }
    }

    async fn open_once(
        endpoint: &Endpoint,
        settings: ConnectionSettings,
        tls: Option<&Tls>,
    ) -> (Result<Connection>, Arc<ConnectionState>) {
        let state = Arc::new(ConnectionState::new());
        (Connection::dial(endpoint, settings, tls, state.clone()).await, state)
    }

    async fn dial(
        endpoint: &Endpoint,
        settings: ConnectionSettings,
        tls: Option<&Tls>,
        state: Arc<ConnectionState>,
    ) -> Result<Connection> {
        let unavailable =
            |what: String| Error::new(ErrorKind::Unavailable, what).with_endpoint(endpoint.original.clone());
        if endpoint.unix {
            let socket = dial_unix(endpoint).await.map_err(unavailable)?;
            return over(socket, endpoint, settings, state, tls).await;
        }
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| unavailable(format!("connecting to {}: {e}", endpoint.original)))?;
        // Requests are small and latency matters more than packet count.
        tcp.set_nodelay(true).map_err(|e| unavailable(format!("configuring socket to {}: {e}", endpoint.original)))?;
        over(tcp, endpoint, settings, state, tls).await
    }
}

/// HTTP/2 over a dialed socket, with TLS first when `tls` is given.
async fn over<S>(
    socket: S,
    endpoint: &Endpoint,
    settings: ConnectionSettings,
    state: Arc<ConnectionState>,
    tls: Option<&Tls>,
) -> Result<Connection>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match tls {
        None => start(PacedSocket::new(socket, state.clone()), endpoint, settings, state, None).await,
        Some(tls) => {
            let stream = match tls.connect(socket, endpoint).await {
                Ok(stream) => stream,
                // A plain member closes on the ClientHello without a word.
                Err(e) if e.kind() == ErrorKind::Unavailable => {
                    return Err(match misdial::answers_plain_http2(endpoint, settings.dial_timeout).await {
                        true => tls.not_tls(endpoint),
                        false => e,
                    });
                }
                Err(e) => return Err(e),
            };
            let identity = Some(tls.has_identity());
            start(PacedSocket::new(stream, state.clone()), endpoint, settings, state, identity).await
        }
    }
}

/// Connects to the unix socket at the endpoint's path; the error says
/// which path, and that nothing is there when the file is missing.
#[cfg(unix)]
async fn dial_unix(endpoint: &Endpoint) -> std::result::Result<tokio::net::UnixStream, String> {
    let path = &endpoint.host;
    tokio::net::UnixStream::connect(path).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("connecting to {}: no unix socket at {path} ({e}); is etcd listening there?", endpoint.original)
        }
        _ => format!("connecting to {}: unix socket {path}: {e}", endpoint.original),
    })
}

#[cfg(not(unix))]
async fn dial_unix(endpoint: &Endpoint) -> std::result::Result<tokio::net::TcpStream, String> {
    Err(format!("{}: unix sockets are not available on this platform", endpoint.original))
}

async fn start<T>(
    io: PacedSocket<T>,
    endpoint: &Endpoint,
    settings: ConnectionSettings,
    state: Arc<ConnectionState>,
    tls_identity: Option<bool>,
) -> Result<Connection>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let windows = http2::Config { stream_window: STREAM_WINDOW, connection_window: CONNECTION_WINDOW };
    let (send, connection) = http2::handshake(io, windows);
    let pinger = send.pinger();
    let task_state = state.clone();
    let name = endpoint.original.clone();
    let for_task = endpoint.clone();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    // Shared so the task can report a failure that ends the connection
    // before the first ping is answered (a TLS alert, say).
    let ready = Arc::new(Mutex::new(Some(ready_tx)));
    let for_watchdog = ready.clone();
    tokio::spawn(async move {
        let watchdog = watchdog(pinger, settings, task_state.clone(), for_watchdog);
        let closing = task_state.clone();
        let watchdog = async move {
            let mut watchdog = std::pin::pin!(watchdog);
            let mut shutdown = std::pin::pin!(closing.shutdown.notified());
            std::future::poll_fn(|cx| {
                if let Poll::Ready(why) = watchdog.as_mut().poll(cx) {
                    return Poll::Ready(why);
                }
                shutdown.as_mut().poll(cx).map(|()| "the client was closed".to_string())
            })
            .await
        };
        let outcome = FirstOf { a: connection, b: Box::pin(watchdog) }.await;
        let setting_up = ready.lock().ok().and_then(|mut r| r.take());
        let why = match outcome {
            Ok(()) => {
                tracing::debug!(endpoint = %name, "connection closed");
                Error::new(ErrorKind::Unavailable, format!("connection to {name} closed"))
            }
            Err(Ended::Connection(e)) => {
                tracing::debug!(endpoint = %name, error = %e, "connection lost");
                setup_error(e, &for_task, tls_identity, setting_up.is_some())
            }
            Err(Ended::Watchdog(why)) => {
                tracing::debug!(endpoint = %name, error = %why, "member stopped answering; connection dropped");
                task_state.hung.store(true, Ordering::Release);
                Error::new(ErrorKind::Unavailable, format!("{name} did not answer: {why}"))
            }
        };
        task_state.closed.store(true, Ordering::Release);
        if let Some(ready) = setting_up {
            let _ = ready.send(Err(why.with_endpoint(name)));
        }
    });
    // The handshake only wrote our preface; a ping answered proves a live
    // HTTP/2 server (a stopped one accepts TCP and says nothing).
    match ready_rx.await {
        Ok(Ok(())) => Ok(Connection { send: Arc::new(send), state }),
        Ok(Err(why)) => Err(misdialed(&state, endpoint).unwrap_or(why)),
        Err(_) => {
            Err(Error::new(ErrorKind::Unavailable, format!("connection to {} closed during setup", endpoint.original))
                .with_endpoint(endpoint.original.clone()))
        }
    }
}

/// Whether a setup failure is the socket cut under us (reset, broken pipe).
fn was_cut(e: &Error) -> bool {
    let text = e.message();
    e.kind() == ErrorKind::Unavailable && (text.contains("reset") || text.contains("broken pipe"))
}

/// Whether a setup failure is the socket cut or closed under us, rather
/// than a refused dial or a member that does not answer.
fn was_cut_or_closed(e: &Error) -> bool {
    let text = e.message();
    was_cut(e) || (e.kind() == ErrorKind::Unavailable && (text.contains("closed") || text.contains("end of file")))
}

/// What answered instead of an HTTP/2 gRPC server, judged by the first bytes
/// it sent, when that says more than the HTTP/2 error does. etcd 3.6 and newer
/// answer on the peer port in HTTP/1 only (3.5 also served gRPC there).
fn misdialed(state: &ConnectionState, endpoint: &Endpoint) -> Option<Error> {
    let first = state.first_bytes.get()?;
    let url = &endpoint.original;
    if endpoint.scheme == http::uri::Scheme::HTTP && misdial::is_tls_record(first) {
        return Some(misdial::speaks_tls(endpoint));
    }
    if !first.starts_with(b"HTTP/") {
        return None;
    }
    let message = format!(
        "{url} answered in HTTP/1, not gRPC over HTTP/2: it is not an etcd client URL. \
         Is it a peer URL (etcd 3.6 and newer serve no client calls on the peer port, 2380 by default)? \
         Use the member's --advertise-client-urls"
    );
    Some(Error::new(ErrorKind::Protocol, message).with_endpoint(url.clone()))
}

/// An HTTP/2 failure while setting up or running a connection: a TLS refusal
/// says which, anything else is Unavailable. `tls_identity` is given for a
/// TLS connection (whether it has a client certificate): a server that
/// drops the session right after the handshake (`setting_up`) has refused
/// the client's certificate, or its absence.
fn setup_error(e: http2::Error, endpoint: &Endpoint, tls_identity: Option<bool>, setting_up: bool) -> Error {
    if let (Some(io), Some(has_identity)) = (e.get_io(), tls_identity) {
        if let Some(tls) = super::tls::classify_io(io, endpoint, has_identity) {
            return tls;
        }
        if setting_up {
            if let Some(tls) = super::tls::closed_after_handshake(io, endpoint, has_identity) {
                return tls;
            }
        }
    }
    Error::new(ErrorKind::Unavailable, format!("HTTP/2 with {}: {e}", endpoint.original))
        .with_endpoint(endpoint.original.clone())
        .with_source(e)
}

/// Pings once to learn the server is there (reporting on `ready`), then
/// watches the connection while streams are open: a ping when the
/// keepalive interval is due, or at once when nothing has arrived for a
/// tick. Returns (ending the connection) when a ping goes unanswered.
async fn watchdog(
    pinger: http2::Pinger,
    settings: ConnectionSettings,
    state: Arc<ConnectionState>,
    ready: Arc<Mutex<Option<tokio::sync::oneshot::Sender<Result<()>>>>>,
) -> String {
    let report = |result: Result<()>| {
        if let Some(ready) = ready.lock().ok().and_then(|mut r| r.take()) {
            let _ = ready.send(result);
        }
    };
    match tokio::time::timeout(settings.dial_timeout, pinger.ping()).await {
        Ok(Ok(_pong)) => report(Ok(())),
        // The connection's own error says more (a TLS alert, a reset); the
        // task reports it when the connection future ends.
        Ok(Err(_)) => return std::future::pending().await,
        Err(_) => return format!("no answer to a ping within {:?}", settings.dial_timeout),
    }
    let mut last_ping = Instant::now();
    let mut reads_at_ping = state.reads.load(Ordering::Relaxed);
    let mut reads_at_tick = reads_at_ping;
    // One probe may come sooner than etcd's minimum ping spacing without
    // traffic from the server in between: etcd tolerates two such pings
    // (its strikes are reset by the data it sends), the third closes the
    // connection.
    let mut early_probe_left = true;
    loop {
        tokio::time::sleep(WATCH_TICK).await;
        let reads = state.reads.load(Ordering::Relaxed);
        let stalled = reads == reads_at_tick;
        reads_at_tick = reads;
        if state.active.load(Ordering::Relaxed) == 0 && state.unary.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let since_ping = last_ping.elapsed();
        let traffic_since_ping = reads != reads_at_ping;
        if traffic_since_ping {
            early_probe_left = true;
        }
        let keepalive_due = settings.keepalive_interval.is_some_and(|interval| since_ping >= interval);
        let spaced = since_ping >= QUIET_PING_SPACING || traffic_since_ping;
        let probe_due = settings.probe_stalls && stalled && (spaced || early_probe_left);
        if !keepalive_due && !probe_due {
            continue;
        }
        if probe_due && !spaced {
            early_probe_left = false;
        }
        let wait = if probe_due { PROBE_TIMEOUT.min(settings.keepalive_timeout) } else { settings.keepalive_timeout };
        match tokio::time::timeout(wait, pinger.ping()).await {
            Ok(Ok(_pong)) => {
                last_ping = Instant::now();
                // Counted after the pong, so the pong is not taken for traffic.
                reads_at_ping = state.reads.load(Ordering::Relaxed);
                reads_at_tick = reads_at_ping;
            }
            Ok(Err(e)) => return format!("ping failed: {e}"),
            Err(_) => return format!("no answer to a ping within {wait:?} while requests were waiting"),
        }
    }
}

enum Ended {
    Connection(http2::Error),
    Watchdog(String),
}

/// Runs the connection until it ends, or until the watchdog gives up.
struct FirstOf<A, B> {
    a: A,
    b: Pin<Box<B>>,
}

impl<A, B> Future for FirstOf<A, B>
where
    A: Future<Output = std::result::Result<(), http2::Error>> + Unpin,
    B: Future<Output = String>,
{
    type Output = std::result::Result<(), Ended>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let a = &mut self.a;
        if let Poll::Ready(result) = held_wakes::holding(|| Pin::new(a).poll(cx)) {
            return Poll::Ready(result.map_err(Ended::Connection));
        }
        self.b.as_mut().poll(cx).map(|why| Err(Ended::Watchdog(why)))
    }
}
