//! The Election service (v3election): campaign for leadership of a named
//! election with a lease, proclaim values as leader, read or observe the
//! leader, resign.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), etcd_raw::Error> {
//!     let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
//!     let lease = client.grant(10).await?;
//!     let _alive = client.keep_alive(lease.id()).await?;
//!     let elected = client.campaign("pool/primary", lease.id(), "10.0.0.7").await?;
//!     client.proclaim(elected.leader(), "10.0.0.7:8080").await?;
//!     let mut changes = client.observe("pool/primary").await?;
//!     if let Some(change) = changes.message().await {
//!         println!("leader says {:?}", change?.kv().map(|kv| kv.value.clone()));
//!     }
//!     client.resign(elected.leader()).await?;
//!     Ok(())
//! }
//! ```
//!
//! For a candidate with its own session, see
//! [`concurrency::Election`](crate::concurrency::Election); it uses the
//! same keys (`<name>/<lease in hex>`), so the two interoperate.

use bytes::Bytes;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use std::time::Duration;

use crate::call::{CallOptions, ResponseFuture};
use crate::error::{Error, ErrorKind, Result};
use crate::kv::KeyValue;
use crate::lease::{check_id, stream_may_resume};
use crate::lock::WAIT_WITHOUT_DEADLINE;
use crate::pb::v3electionpb::{
    CampaignRequest, CampaignResponse as RawCampaignResponse, LeaderRequest, LeaderResponse as RawLeaderResponse,
    ProclaimRequest, ProclaimResponse as RawProclaimResponse, ResignRequest, ResignResponse as RawResignResponse,
};
use crate::transport::rpc;
use crate::transport::streaming::Source;
use crate::transport::Transport;
use crate::Client;

pub use crate::pb::v3electionpb::LeaderKey;

impl Client {
    /// Campaigns in election `name` with `lease`, proposing `value`, and
    /// returns once elected (the Election service's `Campaign`), waiting as
    /// long as it takes unless given a [`timeout`](Campaign::timeout). A
    /// lease that expires while waiting fails with
    /// [`SessionExpired`](ErrorKind::SessionExpired), never with a
    /// leadership that is not held (the server does not check; the client
    /// does).
    pub fn campaign(&self, name: impl Into<Bytes>, lease: i64, value: impl Into<Bytes>) -> Campaign<'_> {
        let request = CampaignRequest { name: name.into(), lease, value: value.into() };
        Campaign { request, options: CallOptions::default(), client: self }
    }

    /// Sets the leader's value; fails with
    /// [`ElectionNotLeader`](ErrorKind::ElectionNotLeader) when `leader` no
    /// longer leads.
    pub fn proclaim(&self, leader: &LeaderKey, value: impl Into<Bytes>) -> Proclaim<'_> {
        let request = ProclaimRequest { leader: Some(leader.clone()), value: value.into() };
        Proclaim { request, options: CallOptions::default(), client: self }
    }

    /// The current leader of election `name`; fails with
    /// [`ElectionNoLeader`](ErrorKind::ElectionNoLeader) when there is none.
    pub fn leader(&self, name: impl Into<Bytes>) -> Leader<'_> {
        Leader { request: LeaderRequest { name: name.into() }, options: CallOptions::default(), client: self }
    }

    /// Watches election `name`: the current leader, then each value it
    /// proclaims and each new leader, in order (see [`ObserveStream`]).
    pub fn observe(&self, name: impl Into<Bytes>) -> Observe<'_> {
        Observe { request: LeaderRequest { name: name.into() }, client: self }
    }

    /// Gives up leadership: the next candidate is elected.
    pub fn resign(&self, leader: &LeaderKey) -> Resign<'_> {
        let request = ResignRequest { leader: Some(leader.clone()) };
        Resign { request, options: CallOptions::default(), client: self }
    }
}

/// A campaign, from [`Client::campaign`].
#[derive(Clone, Debug)]
#[must_use = "a campaign does nothing until awaited"]
pub struct Campaign<'a> {
    request: CampaignRequest,
    options: CallOptions,
    client: &'a Client,
}

impl Campaign<'_> {
    /// Gives up waiting after `timeout` (the default is to wait as long as
    /// it takes, unlike other calls).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }
}

impl<'a> IntoFuture for Campaign<'a> {
    type Output = Result<CampaignResponse>;
    type IntoFuture = ResponseFuture<'a, CampaignResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            check_id(self.request.lease)?;
            let timeout = self.options.timeout.unwrap_or(WAIT_WITHOUT_DEADLINE);
            let raw: RawCampaignResponse =
                self.client.transport.unary(&rpc::CAMPAIGN, &self.request, Some(timeout)).await?;
            let leader = raw
                .leader
                .clone()
                .ok_or_else(|| crate::transport::grpc::protocol("campaign answered without a leader key"))?;
            // The server's campaign only waits for older candidates to go; it
            // does not check that this one's lease outlived the wait.
            let held = self.client.get(leader.key.clone()).await?.into_kvs().pop();
            match held {
                Some(kv) if kv.create_revision == leader.rev => Ok(CampaignResponse { raw, leader }),
                _ => Err(Error::new(
                    ErrorKind::SessionExpired,
                    format!(
                        "election: session is expired: elected with lease {:x} but its key is gone: \
                         the lease expired while waiting",
                        self.request.lease
                    ),
                )),
            }
        })
    }
}

/// An elected candidate, from [`Client::campaign`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CampaignResponse {
    raw: RawCampaignResponse,
    leader: LeaderKey,
}

impl CampaignResponse {
    /// Revision, member and raft term of the answer.
    pub fn header(&self) -> &crate::kv::ResponseHeader {
        crate::kv::header(&self.raw.header)
    }

    /// The leadership: pass it to [`Client::proclaim`] and
    /// [`Client::resign`]. Its `rev` (the key's create revision) is the
    /// fencing token of this term.
    pub fn leader(&self) -> &LeaderKey {
        &self.leader
    }

    /// The wire message.
    pub fn into_inner(self) -> RawCampaignResponse {
        self.raw
    }
}

/// A proclamation, from [`Client::proclaim`].
#[derive(Clone, Debug)]
#[must_use = "a proclaim does nothing until awaited"]
pub struct Proclaim<'a> {
    request: ProclaimRequest,
    options: CallOptions,
    client: &'a Client,
}

impl Proclaim<'_> {
    timeout_setter!();
}

impl<'a> IntoFuture for Proclaim<'a> {
    type Output = Result<ProclaimResponse>;
    type IntoFuture = ResponseFuture<'a, ProclaimResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let raw: RawProclaimResponse =
                self.client.transport.unary(&rpc::PROCLAIM, &self.request, self.options.timeout).await?;
            Ok(ProclaimResponse(raw))
        })
    }
}

wire_response! {
    /// The answer to a proclaim.
    ProclaimResponse(RawProclaimResponse)
}

/// A leader lookup, from [`Client::leader`].
#[derive(Clone, Debug)]
#[must_use = "a leader call does nothing until awaited"]
pub struct Leader<'a> {
    request: LeaderRequest,
    options: CallOptions,
    client: &'a Client,
}

impl Leader<'_> {
    timeout_setter!();
}

impl<'a> IntoFuture for Leader<'a> {
    type Output = Result<LeaderResponse>;
    type IntoFuture = ResponseFuture<'a, LeaderResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let raw: RawLeaderResponse =
                self.client.transport.unary(&rpc::LEADER, &self.request, self.options.timeout).await?;
            Ok(LeaderResponse(raw))
        })
    }
}

wire_response! {
    /// The leader of an election: its key, value and revisions.
    LeaderResponse(RawLeaderResponse)
}

impl LeaderResponse {
    /// The leader's key-value pair: `key` is the leader key, `value` the
    /// value it proclaimed, `create_revision` its term's revision.
    pub fn kv(&self) -> Option<&KeyValue> {
        self.0.kv.as_ref()
    }
}

/// A resignation, from [`Client::resign`].
#[derive(Clone, Debug)]
#[must_use = "a resign does nothing until awaited"]
pub struct Resign<'a> {
    request: ResignRequest,
    options: CallOptions,
    client: &'a Client,
}

impl Resign<'_> {
    timeout_setter!();
}

impl<'a> IntoFuture for Resign<'a> {
    type Output = Result<ResignResponse>;
    type IntoFuture = ResponseFuture<'a, ResignResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let raw: RawResignResponse =
                self.client.transport.unary(&rpc::RESIGN, &self.request, self.options.timeout).await?;
            Ok(ResignResponse(raw))
        })
    }
}

wire_response! {
    /// The answer to a resign.
    ResignResponse(RawResignResponse)
}

/// An observation, from [`Client::observe`]: awaiting it opens the stream.
#[derive(Clone, Debug)]
#[must_use = "an observe does nothing until awaited"]
pub struct Observe<'a> {
    request: LeaderRequest,
    client: &'a Client,
}

impl<'a> IntoFuture for Observe<'a> {
    type Output = Result<ObserveStream>;
    type IntoFuture = ResponseFuture<'a, ObserveStream>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let transport = self.client.transport.clone();
            let source = transport.server_stream(&rpc::OBSERVE, &self.request).await?;
            Ok(ObserveStream { transport, request: self.request, state: State::Open(source), seen: 0, failures: 0 })
        })
    }
}

/// The leaders of an election and their values, as a
/// [`Stream`]: first the current leader (once there
/// is one), then every value it proclaims, then the next leader, and so
/// on, each newer than the one before.
///
/// When the stream or its member fails, it is reopened (on another member
/// if needed) and picks up from the current leader, skipping what it
/// already delivered; values proclaimed meanwhile may be missed, never
/// repeated or reordered. Only an error that retrying cannot fix ends it.
/// Dropping it ends the observation on the server.
pub struct ObserveStream {
    transport: Transport,
    request: LeaderRequest,
    state: State,
    /// Modification revision of the last value delivered.
    seen: i64,
    failures: u32,
}

type Reopening = Pin<Box<dyn Future<Output = Result<Source<RawLeaderResponse>>> + Send>>;

enum State {
    Open(Source<RawLeaderResponse>),
    Paused(Pin<Box<tokio::time::Sleep>>),
    Reopening(Reopening),
    Done,
}

impl ObserveStream {
    /// The next change: a new leader or a new value of the leader.
    pub async fn message(&mut self) -> Option<Result<LeaderResponse>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    fn pause(&mut self, why: &Error) {
        tracing::debug!(error = %why, "observe stream failed; reopening");
        self.failures += 1;
        let pause = Duration::from_millis(50) * 2u32.saturating_pow(self.failures.min(5) - 1);
        self.state = State::Paused(Box::pin(tokio::time::sleep(pause.min(Duration::from_secs(1)))));
    }
}

impl Stream for ObserveStream {
    type Item = Result<LeaderResponse>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Open(source) => match ready!(source.poll_message(cx)) {
                    Ok(Some(response)) => {
                        this.failures = 0;
                        let revision = response.kv.as_ref().map_or(0, |kv| kv.mod_revision);
                        // After a reopen the server starts over from the
                        // current leader: skip what was delivered.
                        if revision > this.seen {
                            this.seen = revision;
                            return Poll::Ready(Some(Ok(LeaderResponse(response))));
                        }
                    }
                    Ok(None) => this.pause(&Error::new(ErrorKind::Unavailable, "the server ended the observation")),
                    Err(e) if stream_may_resume(&e) => this.pause(&e),
                    Err(e) => {
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
                State::Paused(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    let transport = this.transport.clone();
                    let request = this.request.clone();
                    this.state =
                        State::Reopening(Box::pin(
                            async move { transport.server_stream(&rpc::OBSERVE, &request).await },
                        ));
                }
                State::Reopening(reopening) => match ready!(reopening.as_mut().poll(cx)) {
                    Ok(source) => this.state = State::Open(source),
                    Err(e) if stream_may_resume(&e) => this.pause(&e),
                    Err(e) => {
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl std::fmt::Debug for ObserveStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserveStream")
            .field("name", &String::from_utf8_lossy(&self.request.name))
            .field("seen", &self.seen)
            .finish()
    }
}
