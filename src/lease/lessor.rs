//! The lessor: one task per client keeps every lease the client holds alive
//! over a single LeaseKeepAlive stream, as Go's lessor does.
//!
//! Timing rules, each lease on its own clock:
//! - a renewal is sent a third of the TTL after the last answered one was
//!   sent (the TTL is the one the server last answered, so a TTL the server
//!   raised is honoured);
//! - the lease is presumed lost once its TTL has passed since the send time
//!   of the last answered renewal: the server renewed it after that moment,
//!   so it cannot expire earlier than we say (short of a server bug);
//! - a request unanswered for a quarter of the TTL (0.5 s to 2 s) means a
//!   hung member: the stream is dropped and reopened on the next endpoint,
//!   and so is a broken one, as the stream core decides (one quick pass
//!   over the endpoints, then backoff up to 0.5 s).
//!
//! The task runs while at least one lease is held and ends by itself after
//! the last holder is dropped.

use std::collections::{HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, Sleep};

use super::not_found;
use crate::error::{Error, ErrorKind, Result};
use crate::pb::etcdserverpb::{LeaseKeepAliveRequest, LeaseKeepAliveResponse as RawLeaseKeepAliveResponse};
use crate::transport::rpc;
use crate::transport::stream_core::{Opening, Recovery, StreamCore};
use crate::transport::streaming::{Sink, Source};
use crate::transport::{later, Transport};

/// The longest pause before reopening the stream: short, since a lease's
/// TTL may be a few seconds.
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// The task looks at its holders at least this often.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// What the holders of one lease see.
#[derive(Clone, Debug)]
pub(crate) enum LeaseState {
    /// The first keepalive is not answered yet.
    Starting,
    /// The last renewal.
    Alive(RawLeaseKeepAliveResponse),
    /// Gone: expired, revoked, or not renewed within its TTL. Final.
    Lost(Error),
}

/// The slot of a client's keepalive task: empty while no lease is held.
#[derive(Clone, Default)]
pub(crate) struct Lessor {
    slot: Arc<Mutex<Option<mpsc::UnboundedSender<Command>>>>,
}

enum Command {
    /// One more holder for `id`; its state channel goes to `reply`.
    Hold { id: i64, first_answer_within: Duration, reply: oneshot::Sender<watch::Receiver<LeaseState>> },
    /// A holder went away.
    Release,
    /// `id` was revoked through this client.
    Revoked { id: i64 },
}

/// One holder of a lease: renewals go on while any holder of it lives.
pub(crate) struct Holder {
    pub(crate) id: i64,
    pub(crate) state: watch::Receiver<LeaseState>,
    // Declared after `state`, so it is dropped after it: the task then sees
    // one receiver fewer when it looks.
    pub(crate) release: Release,
}

/// Tells the task a holder is gone.
pub(crate) struct Release(mpsc::UnboundedSender<Command>);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = self.0.send(Command::Release);
    }
}

impl Holder {
    /// Waits for the first answer: the lease's TTL, or why it is gone.
    pub(crate) async fn first_answer(&self) -> Result<RawLeaseKeepAliveResponse> {
        let mut state = self.state.clone();
        let settled = state.wait_for(|s| !matches!(s, LeaseState::Starting)).await;
        match settled.as_deref() {
            Ok(LeaseState::Alive(response)) => Ok(*response),
            Ok(LeaseState::Lost(e)) => Err(e.clone()),
            Ok(LeaseState::Starting) | Err(_) => Err(task_ended()),
        }
    }
}

impl Lessor {
    /// Starts keeping `id` alive (or joins those already doing so) and
    /// returns a holder; the first answer is due within
    /// `first_answer_within`.
    pub(crate) async fn hold(&self, transport: &Transport, id: i64, first_answer_within: Duration) -> Result<Holder> {
        let (reply, answer) = oneshot::channel();
        let commands = self.send(transport, Command::Hold { id, first_answer_within, reply })?;
        let state = answer.await.map_err(|_| task_ended())?;
        Ok(Holder { id, state, release: Release(commands) })
    }

    /// Tells the holders of `id` that it was revoked.
    pub(crate) fn revoked(&self, id: i64) {
        if let Ok(slot) = self.slot.lock() {
            if let Some(commands) = slot.as_ref() {
                let _ = commands.send(Command::Revoked { id });
            }
        }
    }

    /// Sends to the running task, starting one if there is none. Under the
    /// slot's lock, so a task deciding to end cannot miss a holder.
    fn send(&self, transport: &Transport, command: Command) -> Result<mpsc::UnboundedSender<Command>> {
        let mut slot = self.slot.lock().map_err(|_| Error::new(ErrorKind::Internal, "keepalive slot poisoned"))?;
        let command = match slot.as_ref() {
            Some(commands) => match commands.send(command) {
                Ok(()) => return Ok(commands.clone()),
                Err(mpsc::error::SendError(command)) => command,
            },
            None => command,
        };
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::new(ErrorKind::Internal, "lease keepalive needs a Tokio runtime"))?;
        let (commands, inbox) = mpsc::unbounded_channel();
        let _ = commands.send(command);
        *slot = Some(commands.clone());
        runtime.spawn(Task::new(transport.clone(), inbox, Arc::clone(&self.slot)).run());
        Ok(commands)
    }
}

fn task_ended() -> Error {
    Error::new(ErrorKind::Internal, "the lease keepalive task ended (was the runtime shut down?)")
}

/// One lease's clock.
struct Entry {
    state: watch::Sender<LeaseState>,
    /// The TTL of the last answer; `None` before the first.
    ttl: Option<Duration>,
    /// How long the first answer may take.
    first_answer_within: Duration,
    next_send: Instant,
    /// When the lease must be presumed gone.
    deadline: Instant,
    /// Send times of the requests on the current stream that have no answer
    /// yet, oldest first (etcd answers in order).
    in_flight: VecDeque<Instant>,
}

impl Entry {
    fn new(now: Instant, first_answer_within: Duration) -> Entry {
        Entry {
            state: watch::Sender::new(LeaseState::Starting),
            ttl: None,
            first_answer_within,
            next_send: now,
            // Saturates: a caller's `Duration::MAX` must not panic the task
            // that keeps every lease of the client.
            deadline: later(now, first_answer_within),
            in_flight: VecDeque::new(),
        }
    }

    /// Renewal period: a third of the TTL (Go's rule).
    fn period(&self) -> Duration {
        self.ttl.map_or(Duration::from_secs(1), |ttl| ttl / 3)
    }

    /// How long an answer may take before the member is taken for hung.
    fn answer_within(&self) -> Duration {
        self.ttl
            .map_or(Duration::from_secs(2), |ttl| (ttl / 4).clamp(Duration::from_millis(500), Duration::from_secs(2)))
    }

    fn lose(self, error: Error) {
        self.state.send_replace(LeaseState::Lost(error));
    }
}

enum Link {
    /// No stream; open one at `retry_at`.
    Down {
        retry_at: Instant,
    },
    Opening(Opening<LeaseKeepAliveRequest, RawLeaseKeepAliveResponse>),
    Up {
        sink: Sink<LeaseKeepAliveRequest>,
        source: Source<RawLeaseKeepAliveResponse>,
    },
}

enum Event {
    Command(Command),
    Opened(Result<(Sink<LeaseKeepAliveRequest>, Source<RawLeaseKeepAliveResponse>)>),
    Message(Result<Option<RawLeaseKeepAliveResponse>>),
    Tick,
}

struct Task {
    /// Opens the stream, and says when to open it again.
    core: StreamCore,
    inbox: mpsc::UnboundedReceiver<Command>,
    slot: Arc<Mutex<Option<mpsc::UnboundedSender<Command>>>>,
    leases: HashMap<i64, Entry>,
    link: Link,
    /// Why the last stream failed, to explain a lease lost meanwhile.
    last_error: Option<Error>,
}

impl Task {
    fn new(
        transport: Transport,
        inbox: mpsc::UnboundedReceiver<Command>,
        slot: Arc<Mutex<Option<mpsc::UnboundedSender<Command>>>>,
    ) -> Task {
        Task {
            core: StreamCore::new(transport, &rpc::LEASE_KEEP_ALIVE).with_backoff_cap(MAX_BACKOFF),
            inbox,
            slot,
            leases: HashMap::new(),
            link: Link::Down { retry_at: Instant::now() },
            last_error: None,
        }
    }

    async fn run(mut self) {
        let mut sleep = pin!(tokio::time::sleep(Duration::ZERO));
        loop {
            let now = Instant::now();
            self.expire(now);
            self.leases.retain(|_, entry| entry.state.receiver_count() > 0);
            if self.leases.is_empty() {
                self.link = Link::Down { retry_at: now };
                match self.last_command() {
                    Some(command) => {
                        self.command(command, Instant::now());
                        continue;
                    }
                    None => return,
                }
            }
            self.check_answers(now);
            self.connect(now);
            self.send_due(now);
            sleep.as_mut().reset(self.next_wake(now));
            let event = poll_fn(|cx| self.poll_event(cx, sleep.as_mut())).await;
            let now = Instant::now();
            match event {
                Event::Command(command) => self.command(command, now),
                Event::Opened(Ok((sink, source))) => {
                    tracing::debug!(endpoint = source.endpoint(), "lease keepalive stream opened");
                    self.link = Link::Up { sink, source };
                }
                Event::Opened(Err(e)) => self.reset(e, now),
                Event::Message(Ok(Some(response))) => self.answer(response),
                Event::Message(Ok(None)) => {
                    self.reset(Error::new(ErrorKind::Unavailable, "the server ended the keepalive stream"), now)
                }
                Event::Message(Err(e)) => self.reset(e, now),
                Event::Tick => {}
            }
        }
    }

    /// With no lease left: a command that arrived meanwhile, or `None` after
    /// emptying the slot so that the next holder starts a new task.
    fn last_command(&mut self) -> Option<Command> {
        let mut slot = self.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            match self.inbox.try_recv() {
                Ok(command @ Command::Hold { .. }) => return Some(command),
                Ok(Command::Release | Command::Revoked { .. }) => {}
                Err(_) => {
                    *slot = None;
                    return None;
                }
            }
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>, sleep: Pin<&mut Sleep>) -> Poll<Event> {
        if let Poll::Ready(Some(command)) = self.inbox.poll_recv(cx) {
            return Poll::Ready(Event::Command(command));
        }
        match &mut self.link {
            Link::Opening(opening) => {
                if let Poll::Ready(result) = opening.as_mut().poll(cx) {
                    return Poll::Ready(Event::Opened(result));
                }
            }
            Link::Up { source, .. } => {
                if let Poll::Ready(result) = source.poll_message(cx) {
                    return Poll::Ready(Event::Message(result));
                }
            }
            Link::Down { .. } => {}
        }
        sleep.poll(cx).map(|()| Event::Tick)
    }

    fn command(&mut self, command: Command, now: Instant) {
        match command {
            Command::Hold { id, first_answer_within, reply } => {
                let entry = self.leases.entry(id).or_insert_with(|| Entry::new(now, first_answer_within));
                if entry.ttl.is_none() {
                    // A later holder may be more patient for the first answer.
                    entry.deadline = entry.deadline.max(later(now, first_answer_within));
                    entry.first_answer_within = entry.first_answer_within.max(first_answer_within);
                }
                // A caller gone meanwhile drops its receiver; the entry is
                // then pruned.
                let _ = reply.send(entry.state.subscribe());
            }
            Command::Release => {}
            Command::Revoked { id } => {
                if let Some(entry) = self.leases.remove(&id) {
                    entry.lose(not_found(id, "it was revoked"));
                }
            }
        }
    }

    /// Leases whose time is up are lost.
    fn expire(&mut self, now: Instant) {
        let expired: Vec<i64> = self.leases.iter().filter(|(_, e)| e.deadline <= now).map(|(&id, _)| id).collect();
        for id in expired {
            let Some(entry) = self.leases.remove(&id) else { continue };
            let mut message = match entry.ttl {
                Some(ttl) => format!(
                    "lease {id:x} was not renewed within its TTL of {}s; it must be presumed expired",
                    ttl.as_secs()
                ),
                None => {
                    format!("lease {id:x}: no answer to its first keepalive within {:?}", entry.first_answer_within)
                }
            };
            if let Some(cause) = &self.last_error {
                message.push_str(&format!(" (last keepalive stream error: {cause})"));
            }
            tracing::warn!(lease = id, "{message}");
            entry.lose(Error::new(ErrorKind::DeadlineExceeded, message));
        }
    }

    /// A request unanswered for too long means a hung member: move on.
    fn check_answers(&mut self, now: Instant) {
        if !matches!(self.link, Link::Up { .. }) {
            return;
        }
        let late = self.leases.values().find_map(|entry| {
            let sent = *entry.in_flight.front()?;
            (now >= sent + entry.answer_within()).then(|| entry.answer_within())
        });
        if let Some(within) = late {
            let endpoint = match &self.link {
                Link::Up { source, .. } => source.endpoint().to_string(),
                _ => String::new(),
            };
            let why = format!("no keepalive answer from {endpoint} within {within:?}");
            self.reset(Error::new(ErrorKind::Unavailable, why).with_endpoint(endpoint), now);
        }
    }

    /// Opens a stream when it is time to.
    fn connect(&mut self, now: Instant) {
        let Link::Down { retry_at } = self.link else { return };
        if retry_at > now {
            return;
        }
        self.link = Link::Opening(self.core.open(Duration::ZERO, None));
    }

    /// Sends the renewals that are due.
    fn send_due(&mut self, now: Instant) {
        let Link::Up { sink, .. } = &mut self.link else { return };
        let mut broken = None;
        for (&id, entry) in self.leases.iter_mut() {
            if entry.next_send > now {
                continue;
            }
            if let Err(e) = sink.send(&LeaseKeepAliveRequest { id }) {
                broken = Some(e);
                break;
            }
            entry.in_flight.push_back(now);
            entry.next_send = later(now, entry.period());
        }
        if let Some(e) = broken {
            self.reset(e, now);
        }
    }

    fn answer(&mut self, response: RawLeaseKeepAliveResponse) {
        self.core.answered();
        let id = response.id;
        let Some(entry) = self.leases.get_mut(&id) else { return };
        let sent = entry.in_flight.pop_front();
        if response.ttl <= 0 {
            if let Some(entry) = self.leases.remove(&id) {
                entry.lose(not_found(id, "it expired or was revoked (the server answered TTL 0)"));
            }
            return;
        }
        // An answer to nothing we sent on this stream cannot be timed.
        let Some(sent) = sent else { return };
        let ttl = Duration::from_secs(response.ttl.unsigned_abs());
        entry.ttl = Some(ttl);
        // The TTL is the server's: any i64, so saturate.
        entry.deadline = later(sent, ttl);
        if entry.in_flight.is_empty() {
            entry.next_send = later(sent, ttl / 3);
        }
        entry.state.send_replace(LeaseState::Alive(response));
    }

    /// Drops the stream and plans the next one, on the next endpoint.
    fn reset(&mut self, error: Error, now: Instant) {
        let pause = match self.core.failed(error.clone()) {
            Recovery::Reopen(pause) => pause,
            Recovery::Stop(error) => {
                // Retrying cannot fix this (auth, protocol): a caller still
                // waiting for its first answer hears it now, not at its
                // deadline. Leases already alive keep trying until their
                // TTL runs out, in case the cause passes.
                // A closed client renews nothing more: every holder hears it.
                let closed = error.kind() == ErrorKind::ClientClosed;
                let starting: Vec<i64> =
                    self.leases.iter().filter(|(_, e)| closed || e.ttl.is_none()).map(|(&id, _)| id).collect();
                for id in starting {
                    if let Some(entry) = self.leases.remove(&id) {
                        entry.lose(error.clone());
                    }
                }
                self.core.pause()
            }
        };
        self.link = Link::Down { retry_at: later(now, pause) };
        for entry in self.leases.values_mut() {
            // Their answers will not come: ask again on the new stream.
            if !entry.in_flight.is_empty() {
                entry.in_flight.clear();
                entry.next_send = now;
            }
        }
        self.last_error = Some(error);
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let mut wake = now + MAX_SLEEP;
        let up = matches!(self.link, Link::Up { .. });
        for entry in self.leases.values() {
            wake = wake.min(entry.deadline);
            if up {
                wake = wake.min(entry.next_send);
                if let Some(&sent) = entry.in_flight.front() {
                    wake = wake.min(sent + entry.answer_within());
                }
            }
        }
        if let Link::Down { retry_at } = self.link {
            wake = wake.min(retry_at);
        }
        wake
    }
}

#[cfg(test)]
mod tests;
