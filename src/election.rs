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
//!         println!("leader says {:?}", change?.kv().map(|kv| kv.value().to_vec()));
//!     }
//!     client.resign(elected.leader()).await?;
//!     Ok(())
//! }
//! ```
//!
//! For a candidate with its own session, see
//! [`concurrency::Election`](crate::concurrency::Election); it uses the
//! same keys (`<name>/<lease in hex>`), so the two interoperate.

use crate::IntoBytes;
use std::future::IntoFuture;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use std::time::Duration;

use crate::call::{CallOptions, ResponseFuture};
use crate::error::{Error, ErrorKind, Result};
use crate::kv::KeyValue;
use crate::lease::check_id;
use crate::lock::WAIT_WITHOUT_DEADLINE;
use crate::namespace::Namespace;
use crate::pb::v3electionpb::{
    CampaignRequest, CampaignResponse as RawCampaignResponse, LeaderRequest, LeaderResponse as RawLeaderResponse,
    ProclaimRequest, ProclaimResponse as RawProclaimResponse, ResignRequest, ResignResponse as RawResignResponse,
};
use crate::transport::rpc;
use crate::transport::stream_core::{Recovery, SourceOpening, StreamCore};
use crate::transport::streaming::Source;
use crate::Client;

mod leader_key;

pub use leader_key::LeaderKey;

impl Client {
    /// Campaigns in election `name` with `lease`, proposing `value`, and
    /// returns once elected (the Election service's `Campaign`), waiting as
    /// long as it takes unless given a [`timeout`](Campaign::timeout). A
    /// lease that expires while waiting fails with
    /// [`SessionExpired`](ErrorKind::SessionExpired), never with a
    /// leadership that is not held (the server does not check; the client
    /// does).
    pub fn campaign(&self, name: impl IntoBytes, lease: i64, value: impl IntoBytes) -> Campaign {
        let request = CampaignRequest { name: self.namespace.key(name.into_bytes()), lease, value: value.into_bytes() };
        Campaign { request, options: CallOptions::default(), client: self.clone() }
    }

    /// Sets the leader's value; fails with
    /// [`ElectionNotLeader`](ErrorKind::ElectionNotLeader) when `leader` no
    /// longer leads.
    pub fn proclaim(&self, leader: &LeaderKey, value: impl IntoBytes) -> Proclaim {
        let request = ProclaimRequest { leader: Some(self.namespace.leader_key(leader)), value: value.into_bytes() };
        Proclaim { request, options: CallOptions::default(), client: self.clone() }
    }

    /// The current leader of election `name`; fails with
    /// [`ElectionNoLeader`](ErrorKind::ElectionNoLeader) when there is none.
    pub fn leader(&self, name: impl IntoBytes) -> Leader {
        Leader {
            request: LeaderRequest { name: self.namespace.key(name.into_bytes()) },
            options: CallOptions::default(),
            client: self.clone(),
        }
    }

    /// Watches election `name`: the current leader, then each value it
    /// proclaims and each new leader, in order (see [`ObserveStream`]).
    pub fn observe(&self, name: impl IntoBytes) -> Observe {
        Observe { request: LeaderRequest { name: self.namespace.key(name.into_bytes()) }, client: self.clone() }
    }

    /// Gives up leadership: the next candidate is elected.
    pub fn resign(&self, leader: &LeaderKey) -> Resign {
        let request = ResignRequest { leader: Some(self.namespace.leader_key(leader)) };
        Resign { request, options: CallOptions::default(), client: self.clone() }
    }
}

/// A campaign, from [`Client::campaign`].
#[derive(Clone, Debug)]
#[must_use = "a campaign does nothing until awaited"]
pub struct Campaign {
    request: CampaignRequest,
    options: CallOptions,
    client: Client,
}

impl Campaign {
    /// Gives up waiting after `timeout` (the default is to wait as long as
    /// it takes, unlike other calls).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }
}

impl IntoFuture for Campaign {
    type Output = Result<CampaignResponse>;
    type IntoFuture = ResponseFuture<CampaignResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            check_id(self.request.lease)?;
            let timeout = self.options.timeout.unwrap_or(WAIT_WITHOUT_DEADLINE);
            let raw: RawCampaignResponse =
                self.client.transport.unary(&rpc::CAMPAIGN, &self.request, Some(timeout)).await?;
            // The leader key as this client's namespace names it: the check
            // below and the caller's proclaim and resign go through it.
            let raw = RawCampaignResponse { leader: self.client.namespace.strip(raw.leader), ..raw };
            let leader: LeaderKey =
                raw.leader.clone().ok_or_else(|| Error::protocol("campaign answered without a leader key"))?.into();
            // The server's campaign only waits for older candidates to go; it
            // does not check that this one's lease outlived the wait.
            let held = self.client.get(leader.raw().key.clone()).await?.into_kvs().pop();
            match held {
                Some(kv) if kv.create_revision() == leader.rev() => Ok(CampaignResponse { raw, leader }),
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
    pub fn header(&self) -> crate::kv::ResponseHeader {
        crate::kv::ResponseHeader::of(&self.raw.header)
    }

    /// The leadership: pass it to [`Client::proclaim`] and
    /// [`Client::resign`]. Its [`rev`](LeaderKey::rev) (the key's create revision) is the
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
pub struct Proclaim {
    request: ProclaimRequest,
    options: CallOptions,
    client: Client,
}

impl Proclaim {
    timeout_setter!();
}

impl IntoFuture for Proclaim {
    type Output = Result<ProclaimResponse>;
    type IntoFuture = ResponseFuture<ProclaimResponse>;

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
pub struct Leader {
    request: LeaderRequest,
    options: CallOptions,
    client: Client,
}

impl Leader {
    timeout_setter!();
}

impl IntoFuture for Leader {
    type Output = Result<LeaderResponse>;
    type IntoFuture = ResponseFuture<LeaderResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let raw: RawLeaderResponse =
                self.client.transport.unary(&rpc::LEADER, &self.request, self.options.timeout).await?;
            Ok(LeaderResponse::from(self.client.namespace.strip(raw)))
        })
    }
}

wire_response! {
    /// The leader of an election: its key, value and revisions.
    LeaderResponse(RawLeaderResponse) { kv: Option<KeyValue> }
}

impl LeaderResponse {
    /// The leader's key-value pair: its key is the leader key, its value
    /// the value it proclaimed, its create revision the term's revision.
    pub fn kv(&self) -> Option<&KeyValue> {
        self.kv.as_ref()
    }
}

/// A resignation, from [`Client::resign`].
#[derive(Clone, Debug)]
#[must_use = "a resign does nothing until awaited"]
pub struct Resign {
    request: ResignRequest,
    options: CallOptions,
    client: Client,
}

impl Resign {
    timeout_setter!();
}

impl IntoFuture for Resign {
    type Output = Result<ResignResponse>;
    type IntoFuture = ResponseFuture<ResignResponse>;

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
pub struct Observe {
    request: LeaderRequest,
    client: Client,
}

impl IntoFuture for Observe {
    type Output = Result<ObserveStream>;
    type IntoFuture = ResponseFuture<ObserveStream>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let mut core = StreamCore::new(self.client.transport.clone(), &rpc::OBSERVE);
            let (mut sink, source) = core.open_once::<LeaderRequest, RawLeaderResponse>(None).await?;
            sink.send(&self.request)?;
            sink.finish()?;
            let namespace = self.client.namespace.clone();
            Ok(ObserveStream {
                core,
                request: self.request,
                state: State::Open(source),
                seen: 0,
                answered: false,
                namespace,
            })
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
    /// Reopens the stream, and says when.
    core: StreamCore,
    request: LeaderRequest,
    state: State,
    /// Modification revision of the last value delivered: where an
    /// observation resumes.
    seen: i64,
    /// Whether the current stream has answered at all.
    answered: bool,
    /// Taken off the leaders' keys.
    namespace: Namespace,
}

enum State {
    Open(Source<RawLeaderResponse>),
    Reopening(SourceOpening<RawLeaderResponse>),
    Done,
}

impl ObserveStream {
    /// The next change: a new leader or a new value of the leader.
    pub async fn message(&mut self) -> Option<Result<LeaderResponse>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Reopens after `error` if the stream core says so; else the error
    /// ends the stream.
    fn failed(&mut self, error: Error) -> Option<Error> {
        match self.core.failed(error) {
            Recovery::Reopen(pause) => {
                self.state = State::Reopening(self.core.open_with(pause, None, &self.request));
                None
            }
            Recovery::Stop(e) => {
                self.state = State::Done;
                Some(e)
            }
        }
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
                        this.core.answered();
                        this.answered = true;
                        let revision = response.kv.as_ref().map_or(0, |kv| kv.mod_revision);
                        // After a reopen the server starts over from the
                        // current leader: skip what was delivered.
                        if revision > this.seen {
                            this.seen = revision;
                            return Poll::Ready(Some(Ok(LeaderResponse::from(this.namespace.strip(response)))));
                        }
                    }
                    Ok(None) => {
                        let ended = Error::new(ErrorKind::Unavailable, "the server ended the observation");
                        if !this.answered {
                            // etcd ends an observation whose token it does
                            // not accept with success and nothing sent: try
                            // a fresh token (at most every few seconds).
                            this.core.stale_token(&ended);
                        }
                        if let Some(e) = this.failed(ended) {
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                    Err(e) => {
                        if let Some(e) = this.failed(e) {
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                },
                State::Reopening(reopening) => match ready!(reopening.as_mut().poll(cx)) {
                    Ok(source) => {
                        this.answered = false;
                        this.state = State::Open(source);
                    }
                    Err(e) => {
                        if let Some(e) = this.failed(e) {
                            return Poll::Ready(Some(Err(e)));
                        }
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
