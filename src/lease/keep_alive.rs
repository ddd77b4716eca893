//! Keeping a lease alive: for good ([`KeepAliveStream`]), or once.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use std::time::Duration;

use tokio::sync::watch;

use super::lessor::{Holder, LeaseState, Release};
use super::{check_id, not_found};
use crate::call::{CallOptions, ResponseFuture};
use crate::error::{Error, ErrorKind, Result};
use crate::pb::etcdserverpb::{LeaseKeepAliveRequest, LeaseKeepAliveResponse as RawLeaseKeepAliveResponse};
use crate::transport::rpc;
use crate::transport::stream_core::{Recovery, StreamCore};
use crate::transport::{deadline_after, Transport};
use crate::Client;

/// A keep-alive request, from [`Client::keep_alive`]: awaiting it sends the
/// first renewal and returns a [`KeepAliveStream`] once the server answered.
#[derive(Clone, Debug)]
#[must_use = "a keep_alive does nothing until awaited"]
pub struct KeepAlive {
    id: i64,
    options: CallOptions,
    client: Client,
}

impl KeepAlive {
    pub(crate) fn new(client: &Client, id: i64) -> Self {
        KeepAlive { id, options: CallOptions::default(), client: client.clone() }
    }

    /// How long to wait for the first answer, instead of the client's
    /// request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }
}

impl IntoFuture for KeepAlive {
    type Output = Result<KeepAliveStream>;
    type IntoFuture = ResponseFuture<KeepAliveStream>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            check_id(self.id)?;
            let within = self.options.timeout.unwrap_or_else(|| self.client.transport.request_timeout());
            let holder = self.client.lessor.hold(&self.client.transport, self.id, within).await?;
            let first = holder.first_answer().await?;
            Ok(KeepAliveStream::new(holder, first))
        })
    }
}

impl KeepAlive {
    /// Keeps the lease alive like awaiting the request does, returning a
    /// handle with no stream of answers: what a session holds.
    pub(crate) async fn handle(self) -> Result<KeepAliveHandle> {
        check_id(self.id)?;
        let within = self.options.timeout.unwrap_or_else(|| self.client.transport.request_timeout());
        let holder = self.client.lessor.hold(&self.client.transport, self.id, within).await?;
        let first = holder.first_answer().await?;
        Ok(KeepAliveHandle { holder, ttl: first.ttl })
    }
}

/// A lease kept alive while this handle lives (or another holder of it on
/// the same client), seen only as alive or lost.
pub(crate) struct KeepAliveHandle {
    holder: Holder,
    ttl: i64,
}

impl KeepAliveHandle {
    pub(crate) fn id(&self) -> i64 {
        self.holder.id
    }

    /// The TTL the server first answered with, in seconds.
    pub(crate) fn ttl(&self) -> i64 {
        self.ttl
    }

    /// Why the lease was lost, once it is.
    pub(crate) fn lost(&self) -> Option<Error> {
        match &*self.holder.state.borrow() {
            LeaseState::Lost(cause) => Some(cause.clone()),
            _ => None,
        }
    }

    /// Resolves when the lease is lost, with the cause (`None` when the
    /// keepalive task itself ended).
    pub(crate) fn until_lost(&self) -> impl Future<Output = Option<Error>> + Send + 'static {
        let mut state = self.holder.state.clone();
        async move {
            match state.wait_for(|s| matches!(s, LeaseState::Lost(_))).await.as_deref() {
                Ok(LeaseState::Lost(cause)) => Some(cause.clone()),
                _ => None,
            }
        }
    }
}

/// Renewals of one lease, kept going by the client in the background: a
/// [`Stream`] of each renewal's answer, ending with
/// one error when the lease is lost.
///
/// The error says why: [`LeaseNotFound`](ErrorKind::LeaseNotFound) when
/// the server reports the lease gone (expired, or revoked), and
/// [`DeadlineExceeded`](ErrorKind::DeadlineExceeded) when no renewal was
/// answered within the TTL (the cluster was unreachable), counted from the
/// moment the last answered renewal was sent, so never later than the
/// server's own expiry.
///
/// Renewals do not wait for the stream to be polled: a slow reader sees
/// only the latest answer. Dropping the stream stops the renewals (unless
/// another holder of the same lease on this client remains, such as a
/// [`Session`](crate::concurrency::Session)); the lease then expires after
/// its TTL.
pub struct KeepAliveStream {
    id: i64,
    ttl: i64,
    next: Option<Pin<Box<dyn Future<Output = Changed> + Send>>>,
    // Declared last: dropped after the state receiver inside `next`.
    _release: Release,
}

type Changed = (watch::Receiver<LeaseState>, bool);

fn changed(mut state: watch::Receiver<LeaseState>) -> Pin<Box<dyn Future<Output = Changed> + Send>> {
    Box::pin(async move {
        let open = state.changed().await.is_ok();
        (state, open)
    })
}

impl KeepAliveStream {
    fn new(holder: Holder, first: RawLeaseKeepAliveResponse) -> KeepAliveStream {
        let Holder { id, mut state, release } = holder;
        // The first answer was returned already.
        state.borrow_and_update();
        KeepAliveStream { id, ttl: first.ttl, next: Some(changed(state)), _release: release }
    }

    /// The next renewal; after the lease is lost, one error saying why,
    /// then `None`.
    pub async fn message(&mut self) -> Option<Result<LeaseKeepAliveResponse>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The lease kept alive.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The TTL of the last answer read from the stream (or of the first
    /// answer), in seconds.
    pub fn ttl(&self) -> i64 {
        self.ttl
    }
}

impl Stream for KeepAliveStream {
    type Item = Result<LeaseKeepAliveResponse>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(next) = this.next.as_mut() else { return Poll::Ready(None) };
            let (mut state, open) = ready!(next.as_mut().poll(cx));
            let current = state.borrow_and_update().clone();
            match current {
                LeaseState::Alive(response) if open => {
                    this.ttl = response.ttl;
                    this.next = Some(changed(state));
                    return Poll::Ready(Some(Ok(LeaseKeepAliveResponse(response))));
                }
                LeaseState::Starting if open => this.next = Some(changed(state)),
                LeaseState::Lost(e) => {
                    this.next = None;
                    return Poll::Ready(Some(Err(e)));
                }
                _ => {
                    this.next = None;
                    return Poll::Ready(Some(Err(Error::new(
                        ErrorKind::Internal,
                        "the lease keepalive task ended (was the runtime shut down?)",
                    ))));
                }
            }
        }
    }
}

impl std::fmt::Debug for KeepAliveStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepAliveStream").field("id", &self.id).field("ttl", &self.ttl).finish()
    }
}

wire_response! {
    /// One renewal: the lease's id and its TTL, reset to the full grant.
    LeaseKeepAliveResponse(RawLeaseKeepAliveResponse)
}

impl LeaseKeepAliveResponse {
    /// The lease renewed.
    pub fn id(&self) -> i64 {
        self.0.id
    }

    /// Seconds the lease now has to live.
    pub fn ttl(&self) -> i64 {
        self.0.ttl
    }
}

/// A single renewal, from [`Client::keep_alive_once`].
#[derive(Clone, Debug)]
#[must_use = "a keep_alive_once does nothing until awaited"]
pub struct KeepAliveOnce {
    id: i64,
    options: CallOptions,
    client: Client,
}

impl KeepAliveOnce {
    pub(crate) fn new(client: &Client, id: i64) -> Self {
        KeepAliveOnce { id, options: CallOptions::default(), client: client.clone() }
    }

    timeout_setter!();
}

impl IntoFuture for KeepAliveOnce {
    type Output = Result<LeaseKeepAliveResponse>;
    type IntoFuture = ResponseFuture<LeaseKeepAliveResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            check_id(self.id)?;
            let transport = &self.client.transport;
            let timeout = self.options.timeout.unwrap_or_else(|| transport.request_timeout());
            let expired = || {
                Error::new(
                    ErrorKind::DeadlineExceeded,
                    format!("keepalive of lease {:x} not answered within {timeout:?}", self.id),
                )
            };
            let deadline = deadline_after(timeout);
            // A deadline already passed opens no stream: a timer would poll
            // (and so start) the renewal before noticing.
            if deadline <= tokio::time::Instant::now() {
                return Err(expired());
            }
            match tokio::time::timeout_at(deadline, renew_once(transport, self.id)).await {
                Ok(result) => result.map(LeaseKeepAliveResponse),
                Err(_) => Err(expired()),
            }
        })
    }
}

/// One renewal on a stream of its own (as Go does), reopened through the
/// stream core while it says so (renewing twice is harmless), with a fresh
/// token when the server refused the last.
async fn renew_once(transport: &Transport, id: i64) -> Result<RawLeaseKeepAliveResponse> {
    let mut core = StreamCore::new(transport.clone(), &rpc::LEASE_KEEP_ALIVE);
    let mut pause = Duration::ZERO;
    loop {
        let opening = core.open::<LeaseKeepAliveRequest, RawLeaseKeepAliveResponse>(pause, None);
        let attempt = async {
            let (mut sink, mut source) = opening.await?;
            sink.send(&LeaseKeepAliveRequest { id })?;
            let answer = source.message().await?;
            let _ = sink.finish();
            answer.ok_or_else(|| Error::new(ErrorKind::Unavailable, "the keepalive stream ended without an answer"))
        };
        match attempt.await {
            Ok(response) if response.ttl <= 0 => {
                return Err(not_found(id, "it expired or was revoked (the server answered TTL 0)"))
            }
            Ok(response) => return Ok(response),
            Err(e) => match core.failed(e) {
                Recovery::Reopen(next) => pause = next,
                Recovery::Stop(e) => return Err(e),
            },
        }
    }
}
