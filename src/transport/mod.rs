//! The one request path. Every RPC, typed or raw, goes through
//! [`Transport`]: endpoint choice, connection reuse, deadline, metadata,
//! auth token, retry policy and error mapping live here and nowhere else.
//!
//! - `mod.rs`: connecting, dialing, request heads.
//! - `slots.rs`: the endpoints and their connections.
//! - `sync.rs`: the endpoint list kept up with the cluster's members.
//! - `health.rs`: which endpoints are in the rotation; probing them back.
//! - `auth.rs`: the token, and its single-flight refresh.
//! - `policy.rs`: the retry rule, written once.
//! - `unary.rs`: a unary call's attempts within its deadline.
//! - `connection.rs`: one HTTP/2 connection and its watchdog.
//! - `tls.rs`: rustls setup and TLS error wording (feature `tls`).

mod auth;
mod backoff;
pub(crate) mod connection;
pub(crate) mod deadline_stream;
pub(crate) mod endpoint;
mod endpoints;
pub(crate) mod grpc;
mod headers;
mod health;
mod http2;
mod policy;
mod raw;
pub(crate) mod rpc;
mod slots;
pub(crate) mod stream_core;
pub(crate) mod streaming;
mod sync;
mod tls;
mod unary;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderValue;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use auth::TokenState;
pub(crate) use backoff::Backoff;
use connection::{Connection, ConnectionSettings};
use endpoint::Endpoint;
use headers::HeadEncoder;
use health::Reason;
pub use raw::{RawBody, RawChannel};
pub(crate) use slots::EndpointId;
use slots::{Slot, Slots};
use tls::Tls;

/// Shared by every clone of a [`crate::Client`].
#[derive(Clone)]
pub(crate) struct Transport {
    shared: Arc<Shared>,
}

struct Shared {
    slots: Slots,
    next: AtomicUsize,
    /// How many endpoints are out of the rotation; 0 keeps `pick` to one
    /// atomic add.
    down: AtomicUsize,
    settings: ConnectionSettings,
    dial_timeout: Duration,
    request_timeout: Duration,
    max_send: usize,
    max_recv: usize,
    /// What every request's headers start from.
    headers: HeadEncoder,
    /// The config's `require_leader`; see [`rpc::asks_for_leader`].
    require_leader: bool,
    tls: Option<Tls>,
    /// Present when the config has credentials.
    auth: Option<TokenState>,
    /// Bumped whenever a dial ends, so callers waiting for one wake up.
    dials: tokio::sync::watch::Sender<u64>,
    /// Set by [`Transport::close`]: nothing is dialed or sent any more.
    closed: std::sync::atomic::AtomicBool,
    /// Attempts after the first a unary call may make.
    max_unary_retries: u32,
    /// Pauses between a unary call's rounds, and before a stream reopens.
    round_backoff: Backoff,
    stream_backoff: Backoff,
    /// Keeps an older sync's answer from undoing a newer one's.
    syncs: sync::SyncOrder,
}

impl Transport {
    /// Dials every endpoint at once and returns as soon as one connection is
    /// up (the others keep dialing in the background), then fetches an
    /// auth token if the config has credentials.
    pub(crate) async fn connect(config: &Config) -> Result<Transport> {
        let endpoints = config.validate()?;
        let tls = tls_setup(config)?;
        let transport = Transport {
            shared: Arc::new(Shared {
                slots: Slots::new(endpoints.into_iter().map(Slot::new).collect()),
                next: AtomicUsize::new(0),
                down: AtomicUsize::new(0),
                settings: ConnectionSettings {
                    dial_timeout: config.dial_timeout,
                    keepalive_interval: config.keepalive_interval,
                    keepalive_timeout: config.keepalive_timeout,
                    probe_stalls: config.endpoints.len() > 1 || config.auto_sync_interval.is_some(),
                },
                dial_timeout: config.dial_timeout,
                request_timeout: config.request_timeout,
                max_send: grpc::send_limit(config.max_send_msg_size),
                max_recv: config.max_recv_msg_size,
                headers: HeadEncoder::new(),
                require_leader: config.require_leader,
                tls,
                auth: config.credentials.clone().map(TokenState::new),
                dials: tokio::sync::watch::Sender::new(0),
                closed: std::sync::atomic::AtomicBool::new(false),
                max_unary_retries: config.max_unary_retries,
                round_backoff: config.backoff.map_or(unary::ROUND_BACKOFF, |(first, max)| Backoff::new(first, max)),
                stream_backoff: config
                    .backoff
                    .map_or(stream_core::STREAM_BACKOFF, |(first, max)| Backoff::new(first, max)),
                syncs: sync::SyncOrder::default(),
            }),
        };
        transport.first_connection().await?;
        if transport.shared.auth.is_some() {
            transport.refresh_token(0).await?;
        }
        if let Some(interval) = config.auto_sync_interval {
            transport.start_auto_sync(interval);
        }
        Ok(transport)
    }

    async fn first_connection(&self) -> Result<()> {
        let mut dials = self.shared.dials.subscribe();
        for index in 0..self.shared.slots.len() {
            self.start_dial(index);
        }
        let started = Instant::now();
        loop {
            if let Some(index) = (0..self.shared.slots.len()).find(|&i| self.shared.slots[i].live().is_some()) {
                self.shared.next.store(index, Ordering::Relaxed);
                return Ok(());
            }
            let all_failed = self.shared.slots.iter().all(|s| !s.dialing.load(Ordering::Acquire));
            let left = self.shared.dial_timeout.saturating_sub(started.elapsed());
            if all_failed || left.is_zero() {
                return Err(self.none_reachable());
            }
            // Dials still running go on filling their slots after a timeout.
            let _ = tokio::time::timeout(left, dials.changed()).await;
        }
    }

    fn none_reachable(&self) -> Error {
        let tried: Vec<&str> = self.shared.slots.iter().map(|s| s.endpoint.original.as_str()).collect();
        let failures: Vec<Error> = self.shared.slots.iter().filter_map(Slot::last_error).collect();
        // One TLS refusal says more than "unreachable": surface it as is.
        if let Some(tls) = failures.iter().find(|e| e.kind() == ErrorKind::Tls) {
            return tls.clone();
        }
        // Every endpoint is something other than an etcd client URL (a peer
        // port, say): no dial timeout will change that, so say what it is.
        if failures.len() == tried.len() && failures.iter().all(|e| e.kind() == ErrorKind::Protocol) {
            if let Some(first) = failures.first() {
                return first.clone();
            }
        }
        // Each endpoint's reason; one that is still dialing gets the same
        // words as one whose dial timed out, so a silent server reads the
        // same whichever came first.
        let reasons: Vec<String> = self
            .shared
            .slots
            .iter()
            .map(|slot| match slot.last_error() {
                Some(e) => e.message().to_string(),
                None => self.silent(&slot.endpoint.original),
            })
            .collect();
        let error = Error::new(ErrorKind::Unavailable, format!("no etcd endpoint reachable: {}", reasons.join("; ")));
        match tried.as_slice() {
            [only] => error.with_endpoint(only.to_string()),
            _ => error,
        }
    }

    /// What a dial that got no answer within the dial timeout says.
    fn silent(&self, endpoint: &str) -> String {
        format!("{endpoint} did not answer within the dial timeout of {:?}", self.shared.dial_timeout)
    }

    /// Closes the client (Go's `Close`): no call is sent and no endpoint
    /// dialed any more, and every connection ends now, so the calls and
    /// streams on them fail; the stream core ends streams with
    /// [`ErrorKind::ClientClosed`] instead of reopening them.
    pub(crate) fn close(&self) {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        for slot in self.shared.slots.iter() {
            let connection = slot.connection.lock().ok().and_then(|mut held| held.take());
            if let Some(connection) = connection {
                connection.shutdown();
            }
        }
        self.shared.dials.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Refuses `message` up front if it is over the send limit, as sending
    /// it would.
    pub(crate) fn check_send<M: prost::Message>(&self, message: &M) -> Result<()> {
        grpc::check_len(message.encoded_len(), self.shared.max_send)
    }

    /// The deadline of calls that set none (the watch module's creates use it).
    pub(crate) fn request_timeout(&self) -> Duration {
        self.shared.request_timeout
    }

    /// The endpoints in use: as the user gave them, and as auto-sync
    /// found them.
    pub(crate) fn endpoints(&self) -> Vec<String> {
        self.shared.slots.iter().filter(|s| !s.health.is_retired()).map(|s| s.endpoint.original.clone()).collect()
    }

    /// The endpoints in use with their identities, for calls that visit
    /// each member in turn.
    pub(crate) fn endpoint_ids(&self) -> Vec<(EndpointId, String)> {
        let slots = &self.shared.slots;
        (0..slots.len())
            .filter(|&i| !slots[i].health.is_retired())
            .map(|i| (EndpointId(i), slots[i].endpoint.original.clone()))
            .collect()
    }

    /// The identity of `endpoint` among the client's endpoints: the same
    /// text, or the same host and port.
    pub(crate) fn endpoint_id(&self, endpoint: &str) -> Result<EndpointId> {
        let slots = &self.shared.slots;
        let live = |i: &usize| !slots[*i].health.is_retired();
        if let Some(index) = (0..slots.len()).filter(live).find(|&i| slots[i].endpoint.original == endpoint) {
            return Ok(EndpointId(index));
        }
        let wanted = Endpoint::parse(endpoint, self.shared.tls.is_some())?;
        (0..slots.len()).filter(live).find(|&i| slots[i].is(&wanted)).map(EndpointId).ok_or_else(|| {
            Error::invalid_argument(format!(
                "{endpoint:?} is not one of this client's endpoints ({})",
                self.endpoints().join(", ")
            ))
        })
    }

    /// Round robin over the endpoints in the rotation; failover walks on
    /// from here. When every endpoint is out, plain round robin.
    fn pick(&self) -> usize {
        let slots = &self.shared.slots;
        let start = self.shared.next.fetch_add(1, Ordering::Relaxed) % slots.len();
        if self.shared.down.load(Ordering::Relaxed) == 0 {
            return start;
        }
        let walk = || (0..slots.len()).map(|step| (start + step) % slots.len());
        walk()
            .find(|&i| !slots[i].health.is_down())
            .or_else(|| walk().find(|&i| !slots[i].health.is_retired()))
            .unwrap_or(start)
    }

    /// The endpoint after `index` in the rotation, for failing over: the
    /// next one that is up, else the next one still a member.
    fn next_after(&self, index: usize) -> usize {
        let slots = &self.shared.slots;
        let walk = || (1..=slots.len()).map(|step| (index + step) % slots.len());
        walk()
            .find(|&i| !slots[i].health.is_down())
            .or_else(|| walk().find(|&i| !slots[i].health.is_retired()))
            .unwrap_or(index)
    }

    /// How many endpoints are members (not retired).
    fn live_endpoint_count(&self) -> usize {
        self.shared.slots.iter().filter(|s| !s.health.is_retired()).count().max(1)
    }

    /// The live connection to endpoint `index`, dialing one if needed
    /// (waiting for it at most `wait`). An endpoint out of the rotation is
    /// not dialed here (its prober does that) unless every one is out.
    async fn connection_for_stream(&self, index: usize, wait: Duration) -> Result<Connection> {
        let slot = &self.shared.slots[index];
        if slot.health.is_retired() || (slot.health.is_down() && !self.all_down()) {
            return slot.live().ok_or_else(|| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("{} is out of the rotation until it answers again", slot.endpoint.original),
                )
                .with_endpoint(slot.endpoint.original.clone())
            });
        }
        self.connection_within(index, wait).await
    }

    /// The live connection to endpoint `index`, if there is one and the
    /// client is open.
    fn live_connection(&self, index: usize) -> Option<Connection> {
        if self.is_closed() {
            return None;
        }
        self.shared.slots[index].live()
    }

    /// The live connection to endpoint `index`. Without one, starts a dial
    /// in the background and waits for it at most `wait`: the dial goes on
    /// if the caller moves on to another endpoint.
    async fn connection_within(&self, index: usize, wait: Duration) -> Result<Connection> {
        if self.is_closed() {
            return Err(closed());
        }
        let slot = &self.shared.slots[index];
        if let Some(live) = slot.live() {
            return Ok(live);
        }
        if slot.lost_to_hang() {
            // The prober dials it again; callers go elsewhere meanwhile.
            self.mark_down(index, Reason::Hung);
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "{} stopped answering; it is out of the rotation until it answers again",
                    slot.endpoint.original
                ),
            )
            .with_endpoint(slot.endpoint.original.clone()));
        }
        let mut dials = self.shared.dials.subscribe();
        self.start_dial(index);
        let deadline = deadline_after(wait);
        loop {
            if let Some(live) = slot.live() {
                return Ok(live);
            }
            if !slot.dialing.load(Ordering::Acquire) {
                return Err(slot.last_error().unwrap_or_else(|| self.unreachable(index)));
            }
            if tokio::time::timeout_at(deadline, dials.changed()).await.is_err() {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("no connection to {} within {wait:?}; still dialing", slot.endpoint.original),
                )
                .with_endpoint(slot.endpoint.original.clone()));
            }
        }
    }

    fn unreachable(&self, index: usize) -> Error {
        let name = &self.shared.slots[index].endpoint.original;
        Error::new(ErrorKind::Unavailable, format!("{name} is unreachable")).with_endpoint(name.clone())
    }

    /// Starts a background dial of endpoint `index` unless one runs.
    fn start_dial(&self, index: usize) {
        if self.is_closed() {
            return;
        }
        let slot = &self.shared.slots[index];
        if slot.dialing.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        let transport = self.clone();
        tokio::spawn(async move {
            let shared = &transport.shared;
            let slot = &shared.slots[index];
            let dial = Connection::open(&slot.endpoint, shared.settings, shared.tls.as_ref());
            let outcome = match tokio::time::timeout(shared.dial_timeout, dial).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Error::new(ErrorKind::Unavailable, transport.silent(&slot.endpoint.original))
                    .with_endpoint(slot.endpoint.original.clone())),
            };
            match outcome {
                Ok(connection) => {
                    if let Ok(mut guard) = slot.connection.lock() {
                        *guard = Some(connection);
                    }
                    if let Ok(mut last) = slot.last_error.lock() {
                        *last = None;
                    }
                    if slot.health.reason() != Some(Reason::NoLeader) {
                        transport.mark_up(index);
                    }
                }
                Err(e) => {
                    tracing::debug!(endpoint = %slot.endpoint.original, error = %e, "dial failed");
                    if let Ok(mut last) = slot.last_error.lock() {
                        *last = Some(e);
                    }
                    transport.mark_down(index, Reason::Unreachable);
                }
            }
            slot.dialing.store(false, Ordering::Release);
            shared.dials.send_modify(|n| *n = n.wrapping_add(1));
        });
    }

    /// Encodes the header block of one call to `path` on endpoint `index`
    /// (with `token` if given, and a raw stub's `extra` metadata) and hands
    /// it to `send`.
    fn with_head<R>(
        &self,
        index: usize,
        path: &str,
        timeout: Option<Duration>,
        token: Option<&HeaderValue>,
        extra: Option<&http::HeaderMap>,
        send: impl FnOnce(&[u8]) -> R,
    ) -> R {
        let head = headers::Head {
            endpoint: &self.shared.slots[index].endpoint,
            path,
            leader: rpc::asks_for_leader(path, self.shared.require_leader),
            timeout,
            token,
            extra,
        };
        self.shared.headers.with_block(&head, send)
    }

    fn endpoint_name(&self, index: usize) -> &str {
        &self.shared.slots[index].endpoint.original
    }
}

/// The error of everything asked of a closed client.
pub(crate) fn closed() -> Error {
    Error::new(ErrorKind::ClientClosed, "the client was closed")
}

/// About thirty years: what a deadline too far to represent becomes.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// The instant `timeout` from now. A timeout too large to add (such as
/// `Duration::MAX`) means "no deadline", not a panic.
pub(crate) fn deadline_after(timeout: Duration) -> tokio::time::Instant {
    later(tokio::time::Instant::now(), timeout)
}

/// `start + timeout`, saturating at a far future.
pub(crate) fn later(start: tokio::time::Instant, timeout: Duration) -> tokio::time::Instant {
    // Only a clock within thirty years of its end falls through to `start`.
    start.checked_add(timeout).or_else(|| start.checked_add(FAR_FUTURE)).unwrap_or(start)
}

fn tls_setup(config: &Config) -> Result<Option<Tls>> {
    #[cfg(feature = "tls")]
    if let Some(tls) = &config.tls {
        return Ok(Some(Tls::new(tls)?));
    }
    let _ = config;
    Ok(None)
}
