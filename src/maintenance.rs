//! The Maintenance service: status, alarms, defragment, hashes, snapshot,
//! leader transfer and downgrade.
//!
//! Calls that are about one member (status, defragment, hash, hash_kv)
//! name it, as etcdctl's `--endpoints` does: the endpoint must be one of
//! the client's, and the call goes there and nowhere else.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), etcd_raw::Error> {
//!     let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
//!     for endpoint in client.endpoints() {
//!         let status = client.status(&endpoint).await?;
//!         println!("{endpoint}: {} db={}B leader={:x}", status.version(), status.db_size(), status.leader());
//!     }
//!     client.defragment(&client.endpoints()[0]).await?;
//!     Ok(())
//! }
//! ```

use std::future::IntoFuture;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use crate::call::unary_call;
use crate::call::{CallOptions, ResponseFuture};
use crate::error::{Error, ErrorKind, Result};
use crate::pb::etcdserverpb::{
    alarm_request::AlarmAction, AlarmMember, AlarmRequest, AlarmResponse as RawAlarmResponse, DefragmentRequest,
    DefragmentResponse as RawDefragmentResponse, DowngradeRequest, DowngradeResponse as RawDowngradeResponse,
    HashKvRequest, HashKvResponse as RawHashKvResponse, HashRequest, HashResponse as RawHashResponse,
    MoveLeaderRequest, MoveLeaderResponse as RawMoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest,
    StatusResponse as RawStatusResponse,
};
use crate::transport::rpc;
use crate::transport::stream_core::StreamCore;
use crate::transport::streaming::Source;
use crate::Client;

pub use crate::pb::etcdserverpb::downgrade_request::DowngradeAction as Downgrade;
pub use crate::pb::etcdserverpb::AlarmMember as Alarm;
pub use crate::pb::etcdserverpb::AlarmType;
pub use crate::pb::etcdserverpb::DowngradeInfo;

impl Client {
    /// The status of the member at `endpoint` (Go's `Status`): version,
    /// database size, leader, raft index and term, errors.
    pub fn status(&self, endpoint: impl Into<String>) -> Status {
        Status::on(self.clone(), endpoint.into(), StatusRequest {})
    }

    /// Every active alarm in the cluster (Go's `AlarmList`).
    pub fn alarm_list(&self) -> AlarmList {
        AlarmList::new(
            self.clone(),
            AlarmRequest { action: AlarmAction::Get as i32, member_id: 0, alarm: AlarmType::None as i32 },
        )
    }

    /// Clears `alarm` on member `member_id` (Go's `AlarmDisarm`); after a
    /// NOSPACE alarm, free space (compact, defragment) first.
    pub fn alarm_disarm(&self, member_id: u64, alarm: AlarmType) -> AlarmDisarm {
        AlarmDisarm::new(
            self.clone(),
            AlarmRequest { action: AlarmAction::Deactivate as i32, member_id, alarm: alarm as i32 },
        )
    }

    /// Defragments the backend of the member at `endpoint` (Go's
    /// `Defragment`). The member blocks reads and writes while it runs:
    /// give it a generous `.timeout(..)` on large databases.
    pub fn defragment(&self, endpoint: impl Into<String>) -> Defragment {
        Defragment::on(self.clone(), endpoint.into(), DefragmentRequest {})
    }

    /// Hash of the whole backend of the member at `endpoint` (for tests;
    /// use [`hash_kv`](Client::hash_kv) to compare members).
    pub fn hash(&self, endpoint: impl Into<String>) -> Hash {
        Hash::on(self.clone(), endpoint.into(), HashRequest {})
    }

    /// Hash of the key-value history up to `revision` (0: the latest) on
    /// the member at `endpoint` (Go's `HashKV`); equal on every member
    /// that is in sync.
    pub fn hash_kv(&self, endpoint: impl Into<String>, revision: i64) -> HashKv {
        HashKv::on(self.clone(), endpoint.into(), HashKvRequest { revision })
    }

    /// Makes member `transferee_id` the leader (Go's `MoveLeader`). The
    /// request must reach the current leader: the client finds it by
    /// asking each endpoint's status, as etcdctl does.
    pub fn move_leader(&self, transferee_id: u64) -> MoveLeader {
        MoveLeader { client: self.clone(), transferee_id, options: CallOptions::default() }
    }

    /// Validates, starts or cancels a cluster downgrade to `version`
    /// (`"3.5"`; ignored by a cancel) (Go's `Downgrade`, etcd 3.5+; 3.4
    /// answers [`Unimplemented`](ErrorKind::Unimplemented)). The target
    /// must be one minor version below the cluster version
    /// ([`InvalidDowngradeTargetVersion`](ErrorKind::InvalidDowngradeTargetVersion)
    /// otherwise); a second one while a downgrade is in progress is
    /// [`DowngradeInProcess`](ErrorKind::DowngradeInProcess). A cancel with
    /// nothing to cancel is
    /// [`NoInflightDowngrade`](ErrorKind::NoInflightDowngrade) from 3.5,
    /// and succeeds from 3.6 (which reports no cancel failure at all). The
    /// answer's version is the cluster version, `3.5.0` from 3.5 and
    /// `3.6` from 3.6.
    ///
    /// etcd 3.5 applies an enable, and a cancel of a running downgrade,
    /// but never answers them: the call ends with
    /// [`Timeout`](ErrorKind::Timeout) (or the call's own deadline) and
    /// [`outcome_unknown`](Error::outcome_unknown); a validate then tells
    /// whether a downgrade is in progress. From 3.6 the cluster version,
    /// and each member's storage version, drop to the target a few seconds
    /// after the enable, shown in each member's
    /// [`downgrade_info`](StatusResponse::downgrade_info) and
    /// [`storage_version`](StatusResponse::storage_version).
    ///
    /// With auth on it needs root on 3.5.28+, 3.6.9+ and 3.7; older 3.5
    /// releases do not check it at all.
    ///
    /// ```no_run
    /// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
    /// use etcd_raw::maintenance::Downgrade;
    /// let checked = client.downgrade(Downgrade::Validate, "3.6").await?;
    /// println!("cluster version {} can go to 3.6", checked.version());
    /// client.downgrade(Downgrade::Enable, "3.6").await?;
    /// # Ok(()) }
    /// ```
    pub fn downgrade(&self, action: Downgrade, version: impl Into<String>) -> DowngradeCall {
        DowngradeCall::new(self.clone(), DowngradeRequest { action: action as i32, version: version.into() })
    }

    /// A snapshot of the backend database, streamed (Go's `Snapshot`).
    /// Await it to start the stream; see [`Snapshot`].
    pub fn snapshot(&self) -> SnapshotCall {
        SnapshotCall { client: self.clone(), endpoint: None }
    }
}

unary_call! {
    /// A status request, from [`Client::status`].
    Status: rpc::STATUS, StatusRequest => StatusResponse
}
unary_call! {
    /// An alarm listing, from [`Client::alarm_list`].
    AlarmList: rpc::ALARM, AlarmRequest => AlarmResponse
}
unary_call! {
    /// An alarm disarm, from [`Client::alarm_disarm`].
    AlarmDisarm: rpc::ALARM, AlarmRequest => AlarmResponse
}
unary_call! {
    /// A defragmentation, from [`Client::defragment`].
    Defragment: rpc::DEFRAGMENT, DefragmentRequest => DefragmentResponse
}
unary_call! {
    /// A backend hash request, from [`Client::hash`].
    Hash: rpc::HASH, HashRequest => HashResponse
}
unary_call! {
    /// A key-value hash request, from [`Client::hash_kv`].
    HashKv: rpc::HASH_KV, HashKvRequest => HashKvResponse
}
unary_call! {
    /// A downgrade request, from [`Client::downgrade`].
    DowngradeCall: rpc::DOWNGRADE, DowngradeRequest => DowngradeResponse
}

wire_response! {
    /// A member's status.
    StatusResponse(RawStatusResponse)
}

impl StatusResponse {
    /// The member's etcd version, e.g. `3.5.1`.
    pub fn version(&self) -> &str {
        &self.0.version
    }

    /// Size of the backend file in bytes.
    pub fn db_size(&self) -> i64 {
        self.0.db_size
    }

    /// Bytes of the backend in use (the rest is free pages that
    /// defragmenting returns).
    pub fn db_size_in_use(&self) -> i64 {
        self.0.db_size_in_use
    }

    /// The leader's member id as this member sees it; 0 when it has none.
    pub fn leader(&self) -> u64 {
        self.0.leader
    }

    /// This member's id.
    pub fn member_id(&self) -> u64 {
        self.header().member_id()
    }

    /// Whether this member is the leader.
    pub fn is_leader(&self) -> bool {
        self.0.leader != 0 && self.0.leader == self.header().member_id()
    }

    /// Whether this member is a learner.
    pub fn is_learner(&self) -> bool {
        self.0.is_learner
    }

    /// The member's raft log index.
    pub fn raft_index(&self) -> u64 {
        self.0.raft_index
    }

    /// The member's raft term.
    pub fn raft_term(&self) -> u64 {
        self.0.raft_term
    }

    /// The highest raft index the member applied.
    pub fn raft_applied_index(&self) -> u64 {
        self.0.raft_applied_index
    }

    /// Problems the member reports (no leader, alarms).
    pub fn errors(&self) -> &[String] {
        &self.0.errors
    }

    /// The format version of the member's data, e.g. `3.6.0` (etcd 3.6+;
    /// empty from 3.5 and older, which do not report it). During a
    /// downgrade it drops to the target once the cluster version has.
    pub fn storage_version(&self) -> &str {
        &self.0.storage_version
    }

    /// The member's backend quota in bytes (`--quota-backend-bytes`, or
    /// etcd's 2 GiB default) (etcd 3.6+; 0 from 3.5 and older; releases
    /// before 3.6.6 could report a wrong value).
    pub fn db_size_quota(&self) -> i64 {
        self.0.db_size_quota
    }

    /// The cluster downgrade as this member knows it: whether one is in
    /// progress, and to which version. etcd 3.6+ always sends it (not
    /// enabled when there is none); `None` from 3.5 and older.
    ///
    /// ```no_run
    /// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
    /// let endpoint = &client.endpoints()[0];
    /// if let Some(downgrade) = client.status(endpoint).await?.downgrade_info() {
    ///     if downgrade.enabled {
    ///         println!("downgrading to {}", downgrade.target_version);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn downgrade_info(&self) -> Option<&DowngradeInfo> {
        self.0.downgrade_info.as_ref()
    }
}

wire_response! {
    /// Alarms listed or cleared.
    AlarmResponse(RawAlarmResponse)
}

impl AlarmResponse {
    /// The alarms: which member, which kind (`alarm()` is an [`AlarmType`]).
    pub fn alarms(&self) -> &[AlarmMember] {
        &self.0.alarms
    }
}

wire_response! {
    /// The answer to a defragmentation.
    DefragmentResponse(RawDefragmentResponse)
}

wire_response! {
    /// A backend hash.
    HashResponse(RawHashResponse)
}

impl HashResponse {
    /// The hash.
    pub fn hash(&self) -> u32 {
        self.0.hash
    }
}

wire_response! {
    /// A key-value history hash.
    HashKvResponse(RawHashKvResponse)
}

impl HashKvResponse {
    /// The hash.
    pub fn hash(&self) -> u32 {
        self.0.hash
    }

    /// The compaction revision the hash starts from.
    pub fn compact_revision(&self) -> i64 {
        self.0.compact_revision
    }

    /// The revision the hash was taken up to: the one asked for, or the
    /// latest when 0 was asked (etcd 3.6+; 0 from 3.5 and older).
    pub fn hash_revision(&self) -> i64 {
        self.0.hash_revision
    }
}

wire_response! {
    /// The answer to a leader transfer.
    MoveLeaderResponse(RawMoveLeaderResponse)
}

wire_response! {
    /// The answer to a downgrade request.
    DowngradeResponse(RawDowngradeResponse)
}

impl DowngradeResponse {
    /// The cluster version when the server answered.
    pub fn version(&self) -> &str {
        &self.0.version
    }
}

/// A leader transfer, from [`Client::move_leader`].
#[derive(Clone, Debug)]
#[must_use = "a call does nothing until awaited"]
pub struct MoveLeader {
    client: Client,
    transferee_id: u64,
    options: CallOptions,
}

impl MoveLeader {
    timeout_setter!();
}

impl IntoFuture for MoveLeader {
    type Output = Result<MoveLeaderResponse>;
    type IntoFuture = ResponseFuture<MoveLeaderResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let transport = &self.client.transport;
            let timeout = self.options.timeout.unwrap_or(transport.request_timeout());
            let find = async {
                let mut last = None;
                // By identity: after auto-sync retires a member, positions in
                // `endpoints()` no longer match the transport's.
                for (id, endpoint) in transport.endpoint_ids() {
                    let status: Result<RawStatusResponse> =
                        transport.unary_on(id, &rpc::STATUS, &StatusRequest {}, Some(timeout / 4)).await;
                    match status {
                        Ok(status)
                            if status.leader != 0 && Some(status.leader) == status.header.map(|h| h.member_id) =>
                        {
                            return Ok(id);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::debug!(endpoint = %endpoint, error = %e, "move_leader: no status");
                            last = Some(e);
                        }
                    }
                }
                Err(last.unwrap_or_else(|| {
                    Error::new(
                        ErrorKind::NotLeader,
                        "move_leader: none of the client's endpoints is the leader; give the client the leader's endpoint",
                    )
                }))
            };
            let started = std::time::Instant::now();
            let leader = tokio::time::timeout(timeout, find).await.map_err(|_| {
                Error::new(ErrorKind::DeadlineExceeded, "move_leader: finding the leader took too long")
            })??;
            let left = timeout.saturating_sub(started.elapsed()).max(Duration::from_millis(1));
            let request = MoveLeaderRequest { target_id: self.transferee_id };
            let raw = transport.unary_on(leader, &rpc::MOVE_LEADER, &request, Some(left)).await?;
            Ok(MoveLeaderResponse(raw))
        })
    }
}

/// A snapshot request, from [`Client::snapshot`]; await it for the
/// [`Snapshot`] stream.
#[derive(Clone, Debug)]
#[must_use = "a call does nothing until awaited"]
pub struct SnapshotCall {
    client: Client,
    endpoint: Option<String>,
}

impl SnapshotCall {
    /// Take the snapshot from the member at `endpoint` (one of the
    /// client's) instead of any.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
}

impl IntoFuture for SnapshotCall {
    type Output = Result<Snapshot>;
    type IntoFuture = ResponseFuture<Snapshot>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let transport = &self.client.transport;
            let mut core = match &self.endpoint {
                None => StreamCore::new(transport.clone(), &rpc::SNAPSHOT),
                Some(endpoint) => StreamCore::on(transport.clone(), &rpc::SNAPSHOT, transport.endpoint_id(endpoint)?),
            };
            let (mut sink, source) = core.open_once::<SnapshotRequest, SnapshotResponse>(None).await?;
            sink.send(&SnapshotRequest {})?;
            sink.finish()?;
            Ok(Snapshot { source, received: 0, remaining: None })
        })
    }
}

/// A snapshot being received: a [`Stream`](futures_core::Stream) of byte
/// chunks. Written in order to a file they make exactly what `etcdctl
/// snapshot save` writes: the backend database followed by its 32-byte
/// SHA-256, which `etcdctl snapshot restore` checks. Dropping it cancels
/// the transfer. No deadline applies to the transfer itself.
pub struct Snapshot {
    source: Source<SnapshotResponse>,
    received: u64,
    remaining: Option<u64>,
}

impl Snapshot {
    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Database bytes the server said were still to come after the last
    /// chunk (`None` before the first).
    pub fn remaining(&self) -> Option<u64> {
        self.remaining
    }

    /// The next chunk; `None` at the end. Cancel-safe.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes>> {
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("endpoint", &self.source.endpoint())
            .field("received", &self.received)
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl futures_core::Stream for Snapshot {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            return match this.source.poll_message(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(None)) => Poll::Ready(None),
                Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                Poll::Ready(Ok(Some(message))) => {
                    this.remaining = Some(message.remaining_bytes);
                    if message.blob.is_empty() {
                        continue;
                    }
                    this.received += message.blob.len() as u64;
                    Poll::Ready(Some(Ok(message.blob)))
                }
            };
        }
    }
}
