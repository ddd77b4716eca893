//! The hub: one task per client that owns the gRPC Watch stream, creates
//! and cancels watches on it, routes responses to their watches, and
//! re-creates every watch from where it stopped when the stream fails.
//!
//! Watch ids are chosen here (etcd takes client ids since 3.4), so creates
//! are pipelined; the server answers creates in the order it received
//! them, which also places a refusal that carries no id.

use std::collections::{HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::response::{Notice, WatchResponse};
use super::stream::{WatchShared, WatchStream};
use super::Event;
use crate::error::{Error, ErrorKind, Result};
use crate::kv::ResponseHeader;
use crate::pb::etcdserverpb::watch_request::RequestUnion;
use crate::pb::etcdserverpb::{
    WatchCancelRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse as RawResponse,
};
use crate::transport::rpc;
use crate::transport::streaming::{Sink, Source};
use crate::transport::Transport;

/// First and longest pause between attempts to reopen the stream.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

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
pub(crate) struct HubSlot(Arc<Mutex<Option<mpsc::UnboundedSender<Command>>>>);

impl HubSlot {
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

/// One watch, as the hub tracks it.
struct WatchState {
    request: WatchCreateRequest,
    created_notify: bool,
    queue: mpsc::Sender<WatchResponse>,
    shared: Arc<WatchShared>,
    /// Pending until the server first confirms the watch.
    created: Option<oneshot::Sender<Result<()>>>,
    /// Its id on the current stream, if created (or being created) there.
    id: Option<i64>,
    /// Where a re-create starts: the first revision not yet delivered;
    /// 0 until a watch "from now" is first confirmed.
    next_rev: i64,
    /// The highest revision delivered: nothing at or below it is
    /// delivered again, whatever a member sends.
    delivered_rev: i64,
    /// Its queue was full: cancelled on the server until drained.
    paused: bool,
    fragments: Vec<Event>,
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
    transport: Transport,
    watches: HashMap<u64, WatchState>,
    by_id: HashMap<i64, u64>,
    conn: Option<Conn>,
    next_id: i64,
    failures: u32,
    retry_at: Option<Instant>,
    /// The auth token generation the current stream was opened with, and a
    /// refusal of it that must be answered with a fresh token.
    token_generation: u64,
    stale_token: Option<Error>,
    last_refresh: Option<Instant>,
}

/// A re-create refused for permission soon after a token refresh is a
/// real refusal, not a stale token.
const REFRESH_HOLD: Duration = Duration::from_secs(5);

impl Hub {
    fn new(transport: Transport) -> Hub {
        Hub {
            transport,
            watches: HashMap::new(),
            by_id: HashMap::new(),
            conn: None,
            next_id: 1,
            failures: 0,
            retry_at: None,
            token_generation: 0,
            stale_token: None,
            last_refresh: None,
        }
    }

    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Command>) {
        loop {
            if self.conn.is_none() && self.wants_stream() && self.retry_at.is_none_or(|at| Instant::now() >= at) {
                self.connect().await;
            }
            match self.wake(&mut inbox).await {
                // Every handle, and the client, are gone.
                Wake::Command(None) => return,
                Wake::Command(Some(command)) => self.command(command),
                Wake::Response(Ok(Some(response))) => self.response(response),
                Wake::Response(Ok(None)) => {
                    self.lost(Error::new(ErrorKind::Unavailable, "the server ended the watch stream"))
                }
                Wake::Response(Err(e)) => self.lost(e),
                Wake::RetryDue => {}
            }
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
        self.watches.values().any(|w| !w.paused)
    }

    async fn connect(&mut self) {
        if self.stale_token.take().is_some() {
            // Shared with every other call of the client: one Authenticate.
            self.last_refresh = Some(Instant::now());
            if let Err(e) = self.transport.refresh_token(self.token_generation).await {
                self.schedule_retry(&e);
                return;
            }
        }
        self.token_generation = self.transport.token().map_or(0, |t| t.generation);
        match self.transport.open_stream::<WatchRequest, RawResponse>(&rpc::WATCH).await {
            Ok((sink, source)) => {
                tracing::debug!(endpoint = source.endpoint(), watches = self.watches.len(), "watch stream opened");
                self.conn = Some(Conn { sink, source, pending_creates: VecDeque::new(), answered: false });
                self.retry_at = None;
                let active: Vec<u64> =
                    self.watches.iter().filter(|(_, w)| !w.paused).map(|(local, _)| *local).collect();
                for local in active {
                    self.send_create(local);
                }
            }
            Err(e) => self.schedule_retry(&e),
        }
    }

    fn schedule_retry(&mut self, error: &Error) {
        self.failures = self.failures.saturating_add(1);
        let backoff = BACKOFF_FIRST.saturating_mul(1 << self.failures.min(8).saturating_sub(1)).min(BACKOFF_MAX);
        tracing::debug!(error = %error, ?backoff, "watch stream unavailable; retrying");
        self.retry_at = Some(Instant::now() + backoff);
    }

    /// The stream failed: every watch will be re-created on a new one,
    /// unless the failure is one no retry can fix.
    fn lost(&mut self, error: Error) {
        if error.wants_token_refresh() && self.transport.token().is_some() {
            self.stale_token = Some(error.clone());
        }
        self.conn = None;
        self.by_id.clear();
        for watch in self.watches.values_mut() {
            watch.id = None;
            watch.fragments.clear();
        }
        let halting =
            matches!(error.kind(), ErrorKind::Unimplemented | ErrorKind::PermissionDenied | ErrorKind::AuthFailed);
        if halting && self.stale_token.is_none() {
            let locals: Vec<u64> = self.watches.keys().copied().collect();
            for local in locals {
                self.end(local, error.clone());
            }
            return;
        }
        self.schedule_retry(&error);
    }

    fn send(&mut self, request: RequestUnion) {
        let Some(conn) = self.conn.as_mut() else { return };
        if let Err(e) = conn.sink.send(&WatchRequest { request_union: Some(request) }) {
            self.lost(e);
        }
    }

    fn send_create(&mut self, local: u64) {
        let Some(watch) = self.watches.get_mut(&local) else { return };
        let Some(conn) = self.conn.as_mut() else { return };
        let id = self.next_id;
        self.next_id += 1;
        let mut request = watch.request.clone();
        request.watch_id = id;
        if watch.next_rev > 0 {
            request.start_revision = watch.next_rev;
        }
        watch.id = Some(id);
        self.by_id.insert(id, local);
        conn.pending_creates.push_back(id);
        self.send(RequestUnion::CreateRequest(request));
    }

    fn send_cancel(&mut self, id: i64) {
        self.by_id.remove(&id);
        self.send(RequestUnion::CancelRequest(WatchCancelRequest { watch_id: id }));
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Create(new) => {
                let NewWatch { local, request, created_notify, queue, shared, created } = *new;
                let next_rev = request.start_revision;
                self.watches.insert(
                    local,
                    WatchState {
                        request,
                        created_notify,
                        queue,
                        shared,
                        created: Some(created),
                        id: None,
                        next_rev,
                        delivered_rev: 0,
                        paused: false,
                        fragments: Vec::new(),
                    },
                );
                // Without a stream, the next turn of the loop connects and
                // creates every watch.
                self.send_create(local);
            }
            Command::Cancel(local) => {
                if let Some(id) = self.watches.remove(&local).and_then(|w| w.id) {
                    self.send_cancel(id);
                }
                self.close_if_idle();
            }
            Command::Resume(local) => {
                if let Some(watch) = self.watches.get_mut(&local) {
                    if watch.paused {
                        watch.paused = false;
                        self.send_create(local);
                    }
                }
            }
            Command::Progress => self.send(RequestUnion::ProgressRequest(WatchProgressRequest {})),
        }
    }

    /// With no watch left, the stream goes too: the server drops every
    /// watcher it had on it.
    fn close_if_idle(&mut self) {
        if self.watches.is_empty() {
            if let Some(mut conn) = self.conn.take() {
                let _ = conn.sink.finish();
            }
            self.by_id = HashMap::new();
            self.watches = HashMap::new();
        }
    }

    /// Ends a watch: its stream yields `error` after what is queued.
    fn end(&mut self, local: u64, error: Error) {
        let Some(mut watch) = self.watches.remove(&local) else { return };
        if let Some(id) = watch.id {
            self.send_cancel(id);
        }
        match watch.created.take() {
            Some(created) => {
                let _ = created.send(Err(error));
            }
            None => {
                if let Ok(mut slot) = watch.shared.error.lock() {
                    *slot = Some(error);
                }
            }
        }
        self.close_if_idle();
    }

    fn response(&mut self, response: RawResponse) {
        if let Some(conn) = self.conn.as_mut() {
            if !conn.answered {
                conn.answered = true;
                self.failures = 0;
            }
        }
        let header = response.header.unwrap_or_default();
        if response.created {
            // Creates are answered in order; a refusal may carry id -1.
            let id = self.conn.as_mut().and_then(|c| c.pending_creates.pop_front());
            let Some(&local) = id.and_then(|id| self.by_id.get(&id)) else { return };
            if response.canceled {
                let error = cancel_error(&response);
                if self.stale_token_refused(local, &error) {
                    return;
                }
                self.end(local, error);
            } else {
                self.created(local, &header);
            }
            return;
        }
        if response.watch_id == -1 {
            self.broadcast_progress(&header);
            return;
        }
        let Some(&local) = self.by_id.get(&response.watch_id) else { return };
        if response.canceled {
            let error = cancel_error(&response);
            if self.stale_token_refused(local, &error) {
                return;
            }
            self.end(local, error);
            return;
        }
        let Some(watch) = self.watches.get_mut(&local) else { return };
        if response.fragment {
            watch.fragments.extend(response.events);
            return;
        }
        let events = if watch.fragments.is_empty() {
            response.events
        } else {
            let mut joined = std::mem::take(&mut watch.fragments);
            joined.extend(response.events);
            joined
        };
        if events.is_empty() {
            // A per-watch progress notification: the server sends those only
            // to watchers that are caught up, so it is a safe resume point.
            watch.next_rev = watch.next_rev.max(header.revision + 1);
            watch.delivered_rev = watch.delivered_rev.max(header.revision);
            let _ = watch.queue.try_send(WatchResponse { header, events, notice: Notice::Progress });
            return;
        }
        self.deliver(local, header, events);
    }

    /// A create refused because the stream's token went stale: the stream
    /// is reopened with a fresh token instead of ending the watch. etcd
    /// reports an expired token on a re-create as PermissionDenied (it sees
    /// no user), so that counts too unless a refresh just happened.
    fn stale_token_refused(&mut self, local: u64, error: &Error) -> bool {
        let recreate = self.watches.get(&local).is_some_and(|w| w.created.is_none());
        let suspect = error.wants_token_refresh()
            || (recreate
                && error.kind() == ErrorKind::PermissionDenied
                && self.last_refresh.is_none_or(|at| at.elapsed() > REFRESH_HOLD));
        if !suspect || self.transport.token().is_none() || self.stale_token.is_some() {
            return false;
        }
        self.stale_token = Some(error.clone());
        self.lost(error.clone());
        true
    }

    fn created(&mut self, local: u64, header: &ResponseHeader) {
        let Some(watch) = self.watches.get_mut(&local) else { return };
        if watch.next_rev == 0 {
            watch.next_rev = header.revision + 1;
        }
        let Some(created) = watch.created.take() else { return };
        if watch.request.start_revision > header.revision + 1 {
            let error = Error::new(
                ErrorKind::FutureRev,
                format!(
                    "watch start revision {} is past the current revision {}",
                    watch.request.start_revision, header.revision
                ),
            );
            let _ = created.send(Err(error));
            if let Some(id) = watch.id {
                self.send_cancel(id);
            }
            self.watches.remove(&local);
            self.close_if_idle();
            return;
        }
        if watch.created_notify {
            let notice = WatchResponse { header: *header, events: Vec::new(), notice: Notice::Created };
            let _ = watch.queue.try_send(notice);
        }
        let _ = created.send(Ok(()));
    }

    /// Progress asked for with `request_progress`. On the etcd versions we
    /// serve it may arrive before a catching-up watcher's events, so it is
    /// passed on but never used as a resume point.
    fn broadcast_progress(&mut self, header: &ResponseHeader) {
        for watch in self.watches.values() {
            if watch.id.is_some() && watch.created.is_none() {
                let notice = WatchResponse { header: *header, events: Vec::new(), notice: Notice::Progress };
                let _ = watch.queue.try_send(notice);
            }
        }
    }

    /// Hands over the events, one response per revision, skipping what was
    /// delivered before or precedes the requested start. A full queue
    /// pauses the watch at the first revision it could not take.
    fn deliver(&mut self, local: u64, header: ResponseHeader, mut events: Vec<Event>) {
        let Some(watch) = self.watches.get_mut(&local) else { return };
        let (floor, start) = (watch.delivered_rev, watch.request.start_revision);
        events.retain(|e| e.revision() > floor && e.revision() >= start);
        while !events.is_empty() {
            let revision = events[0].revision();
            let split = events.iter().position(|e| e.revision() != revision).unwrap_or(events.len());
            let rest = events.split_off(split);
            let batch = std::mem::replace(&mut events, rest);
            match watch.queue.try_send(WatchResponse { header, events: batch, notice: Notice::Events }) {
                Ok(()) => {
                    watch.delivered_rev = revision;
                    watch.next_rev = revision + 1;
                }
                Err(TrySendError::Full(_)) => {
                    watch.next_rev = revision;
                    watch.paused = true;
                    watch.shared.fell_behind.fetch_add(1, Ordering::Relaxed);
                    watch.shared.paused.store(true, Ordering::Release);
                    tracing::debug!(revision, "watch consumer fell behind; paused on the server");
                    if let Some(id) = watch.id.take() {
                        self.send_cancel(id);
                    }
                    return;
                }
                // The handle is gone; its cancel is on the way.
                Err(TrySendError::Closed(_)) => return,
            }
        }
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
