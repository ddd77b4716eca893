//! The hub: one task per client that owns the gRPC Watch stream, creates
//! and cancels watches on it, routes responses to their watches, and
//! re-creates every watch from where it stopped when the stream fails.
//!
//! Watch ids are chosen here (etcd takes client ids since 3.4), so creates
//! are pipelined; the server answers creates in the order it received
//! them, which also places a refusal that carries no id.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::groups::{Groups, Subscriber};
use super::response::WatchResponse;
use super::stream::{WatchShared, WatchStream};
use super::Event;
use crate::error::{Error, ErrorKind, Result};
use crate::kv::ResponseHeader;
use crate::pb::etcdserverpb::watch_request::RequestUnion;
use crate::pb::etcdserverpb::{
    WatchCancelRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse as RawResponse,
};
use crate::transport::rpc;
use crate::transport::stream_core::{Recovery, StreamCore};
use crate::transport::streaming::{Sink, Source};
use crate::transport::Transport;

/// Commands handled before queued requests are sent.
const COMMAND_BURST: usize = 512;

/// Local names of watches, unique in the process.
static NEXT_LOCAL: AtomicU64 = AtomicU64::new(1);

/// What watch handles ask of the hub.
pub(crate) enum Command {
    Create(Box<NewWatch>),
    Cancel(u64),
    Resume(u64),
    Progress,
}

pub(crate) struct NewWatch {
    local: u64,
    request: WatchCreateRequest,
    created_notify: bool,
    queue: mpsc::Sender<WatchResponse>,
    shared: Arc<WatchShared>,
    created: oneshot::Sender<Result<()>>,
}

/// Where a client keeps its hub: started by the first watch.
#[derive(Clone, Default)]
pub(crate) struct HubHandle(Arc<Mutex<Option<mpsc::UnboundedSender<Command>>>>);

impl HubHandle {
    fn commands(&self, transport: &Transport) -> Result<mpsc::UnboundedSender<Command>> {
        let mut slot = self.0.lock().map_err(|_| Error::new(ErrorKind::Internal, "watch hub lock poisoned"))?;
        if let Some(commands) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(commands.clone());
        }
        let (commands, inbox) = mpsc::unbounded_channel();
        tokio::spawn(Hub::new(transport.clone()).run(inbox));
        *slot = Some(commands.clone());
        Ok(commands)
    }

    /// Registers a watch and waits (up to `timeout`) for the server to
    /// create it.
    pub(crate) async fn create(
        &self,
        transport: &Transport,
        request: WatchCreateRequest,
        created_notify: bool,
        buffer: usize,
        timeout: Duration,
    ) -> Result<WatchStream> {
        // Refused here: on the stream it would fail every reconnect.
        transport.check_send(&WatchRequest { request_union: Some(RequestUnion::CreateRequest(request.clone())) })?;
        // A deadline already passed creates nothing, as for a unary call.
        if timeout.is_zero() {
            return Err(Error::new(ErrorKind::DeadlineExceeded, "the watch was not created: its deadline had passed"));
        }
        let commands = self.commands(transport)?;
        let local = NEXT_LOCAL.fetch_add(1, Ordering::Relaxed);
        let (queue, queue_rx) = mpsc::channel(buffer);
        let shared = Arc::new(WatchShared::default());
        let (created, created_rx) = oneshot::channel();
        // Built first, so that any early return cancels the watch.
        let stream = WatchStream {
            local,
            queue: queue_rx,
            capacity: buffer,
            shared: shared.clone(),
            commands: commands.clone(),
            finished: false,
            namespace: Default::default(),
        };
        let new = NewWatch { local, request, created_notify, queue, shared, created };
        commands
            .send(Command::Create(Box::new(new)))
            .map_err(|_| Error::new(ErrorKind::Unavailable, "the watch task has stopped"))?;
        match tokio::time::timeout(timeout, created_rx).await {
            Ok(Ok(Ok(()))) => Ok(stream),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => {
                Err(Error::new(ErrorKind::Unavailable, "the watch task stopped before the watch was created"))
            }
            Err(_) => {
                Err(Error::new(ErrorKind::DeadlineExceeded, format!("the watch was not created within {timeout:?}")))
            }
        }
    }

    pub(crate) fn request_progress(&self, _transport: &Transport) -> Result<()> {
        let slot = self.0.lock().map_err(|_| Error::new(ErrorKind::Internal, "watch hub lock poisoned"))?;
        if let Some(commands) = slot.as_ref() {
            let _ = commands.send(Command::Progress);
        }
        Ok(())
    }
}

/// The current gRPC stream.
struct Conn {
    sink: Sink<WatchRequest>,
    source: Source<RawResponse>,
    /// Ids of creates sent and not yet answered, in sending order.
    pending_creates: VecDeque<i64>,
    answered: bool,
}

enum Wake {
    Command(Option<Command>),
    Response(Result<Option<RawResponse>>),
    RetryDue,
}

struct Hub {
    /// Opens the stream, and says when to open it again.
    core: StreamCore,
    groups: Groups,
    conn: Option<Conn>,
    next_id: i64,
    retry_at: Option<Instant>,
}

impl Hub {
    fn new(transport: Transport) -> Hub {
        Hub {
            core: StreamCore::new(transport, &rpc::WATCH),
            groups: Groups::default(),
            conn: None,
            next_id: 1,
            retry_at: None,
        }
    }

    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Command>) {
        loop {
            if self.conn.is_none() && self.wants_stream() && self.retry_at.is_none_or(|at| Instant::now() >= at) {
                self.connect().await;
                self.flush();
            }
            match self.wake(&mut inbox).await {
                // Every handle, and the client, are gone.
                Wake::Command(None) => return,
                Wake::Command(Some(command)) => {
                    self.command(command);
                    // A burst (many watches created or dropped at once)
                    // goes out in a few frames.
                    for _ in 0..COMMAND_BURST {
                        let Ok(command) = inbox.try_recv() else { break };
                        self.command(command);
                    }
                }
                Wake::Response(Ok(Some(response))) => self.response(response),
                Wake::Response(Ok(None)) => {
                    self.lost(Error::new(ErrorKind::Unavailable, "the server ended the watch stream"))
                }
                Wake::Response(Err(e)) => self.lost(e),
                Wake::RetryDue => {}
            }
            self.flush();
        }
    }

    /// Waits for a command, a response, or the time to reconnect.
    async fn wake(&mut self, inbox: &mut mpsc::UnboundedReceiver<Command>) -> Wake {
        let retry_at = if self.conn.is_none() && self.wants_stream() { self.retry_at } else { None };
        let mut retry = retry_at.map(|at| Box::pin(tokio::time::sleep_until(at)));
        let conn = &mut self.conn;
        poll_fn(|cx| {
            if let Poll::Ready(command) = inbox.poll_recv(cx) {
                return Poll::Ready(Wake::Command(command));
            }
            if let Some(conn) = conn.as_mut() {
                if let Poll::Ready(response) = conn.source.poll_message(cx) {
                    return Poll::Ready(Wake::Response(response));
                }
            }
            if let Some(sleep) = retry.as_mut() {
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::RetryDue);
                }
            }
            Poll::Pending
        })
        .await
    }

    fn wants_stream(&self) -> bool {
        self.groups.wants_stream()
    }

    /// Opens a stream and creates every watch on it again, each from its
    /// own resume point (the groups know it).
    async fn connect(&mut self) {
        match self.core.open::<WatchRequest, RawResponse>(Duration::ZERO, None).await {
            Ok((sink, source)) => {
                tracing::debug!(endpoint = source.endpoint(), watches = self.groups.handles(), "watch stream opened");
                self.conn = Some(Conn { sink, source, pending_creates: VecDeque::new(), answered: false });
                self.retry_at = None;
                for group in self.groups.group_ids() {
                    self.send_create(group);
                }
            }
            Err(e) => self.lost(e),
        }
    }

    /// The stream failed (or did not open): every watch is re-created on a
    /// new one, unless the stream core says no reopening can help.
    fn lost(&mut self, error: Error) {
        self.conn = None;
        self.groups.stream_lost();
        match self.core.failed(error) {
            Recovery::Reopen(pause) => self.retry_at = Some(Instant::now() + pause),
            Recovery::Stop(e) => {
                tracing::debug!(error = %e, "watch stream cannot be reopened; ending its watches");
                self.retry_at = None;
                self.groups.end_all(&e);
            }
        }
    }

    /// Queues a request; [`flush`](Self::flush) sends what is queued.
    fn send(&mut self, request: RequestUnion) {
        let Some(conn) = self.conn.as_mut() else { return };
        if let Err(e) = conn.sink.push(&WatchRequest { request_union: Some(request) }) {
            self.lost(e);
        }
    }

    fn flush(&mut self) {
        let Some(conn) = self.conn.as_mut() else { return };
        if let Err(e) = conn.sink.flush() {
            self.lost(e);
        }
    }

    /// Creates a group's server watch on the current stream, if there is
    /// one; without, the next connect creates every group.
    fn send_create(&mut self, group: u64) {
        let Some(conn) = self.conn.as_mut() else { return };
        let id = self.next_id;
        let Some(request) = self.groups.create_request(group, id) else { return };
        self.next_id += 1;
        conn.pending_creates.push_back(id);
        self.send(RequestUnion::CreateRequest(request));
    }

    fn send_cancel(&mut self, id: Option<i64>) {
        if let Some(id) = id {
            self.send(RequestUnion::CancelRequest(WatchCancelRequest { watch_id: id }));
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Create(new) => {
                let NewWatch { local, request, created_notify, queue, shared, created } = *new;
                let member = Subscriber::new(request, created_notify, queue, shared, created);
                if let Some(group) = self.groups.add(local, member) {
                    self.send_create(group);
                }
            }
            Command::Cancel(local) => {
                let (_, cancel) = self.groups.remove(local);
                self.send_cancel(cancel);
                self.close_if_idle();
            }
            Command::Resume(local) => {
                if let Some(group) = self.groups.resume(local) {
                    self.send_create(group);
                }
            }
            Command::Progress => self.send(RequestUnion::ProgressRequest(WatchProgressRequest {})),
        }
    }

    /// With no watch left, the stream goes too: the server drops every
    /// watcher it had on it.
    fn close_if_idle(&mut self) {
        if self.groups.is_empty() {
            if let Some(mut conn) = self.conn.take() {
                let _ = conn.sink.finish();
            }
            self.groups = Groups::default();
        }
    }

    fn response(&mut self, response: RawResponse) {
        if let Some(conn) = self.conn.as_mut() {
            if !conn.answered {
                conn.answered = true;
                self.core.answered();
            }
        }
        let header = ResponseHeader::of(&response.header);
        if response.created {
            // Creates are answered in order; a refusal may carry id -1.
            let id = self.conn.as_mut().and_then(|c| c.pending_creates.pop_front());
            let Some(group) = id.and_then(|id| self.groups.group_of(id)) else { return };
            if response.canceled {
                self.server_cancelled(group, &response);
            } else {
                let cancel = self.groups.created(group, header);
                self.send_cancel(cancel);
                self.close_if_idle();
            }
            return;
        }
        if response.watch_id == -1 {
            self.groups.broadcast_progress(header);
            return;
        }
        let Some(group) = self.groups.group_of(response.watch_id) else { return };
        if response.canceled {
            self.server_cancelled(group, &response);
            return;
        }
        // etcd sends every event with its pair; one without has no
        // revision to be delivered at, so it is dropped.
        let events = response.events.into_iter().filter(|e| e.kv.is_some()).map(Event::from).collect();
        let cancel = self.groups.events(group, header, events, response.fragment);
        self.send_cancel(cancel);
    }

    /// The server refused or cancelled a group's watch: its handles end,
    /// unless the refusal is of a stale token.
    fn server_cancelled(&mut self, group: u64, response: &RawResponse) {
        let error = cancel_error(response);
        if self.stale_token_refused(group, &error) {
            return;
        }
        self.groups.cancelled(group, &error);
        self.close_if_idle();
    }

    /// A create refused because the stream's token went stale: the stream
    /// is reopened with a fresh token instead of ending the watch. etcd
    /// reports an expired token on a re-create as PermissionDenied (it sees
    /// no user), so that counts too, unless the token is fresh (the core
    /// then declines).
    fn stale_token_refused(&mut self, group: u64, error: &Error) -> bool {
        let suspect = error.wants_token_refresh()
            || (self.groups.is_recreate(group) && error.kind() == ErrorKind::PermissionDenied);
        if !suspect || !self.core.stale_token(error) {
            return false;
        }
        self.lost(error.clone());
        true
    }
}

fn cancel_error(response: &RawResponse) -> Error {
    if response.compact_revision > 0 {
        return Error::new(
            ErrorKind::Compacted,
            format!(
                "etcdserver: mvcc: required revision has been compacted (oldest available: {})",
                response.compact_revision
            ),
        )
        .with_compact_revision(response.compact_revision);
    }
    if !response.cancel_reason.is_empty() {
        return Error::from_watch_cancel_reason(&response.cancel_reason);
    }
    Error::new(ErrorKind::WatchCanceled, "the server cancelled the watch")
}
