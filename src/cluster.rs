//! The Cluster service: list, add (as voter or learner), remove, update
//! and promote members.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), etcd_raw::Error> {
//!     let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
//!     let added = client.member_add_as_learner(["http://10.0.0.4:2380"]).await?;
//!     let id = added.member().map(|m| m.id()).unwrap_or_default();
//!     // ... start etcd on 10.0.0.4 with --initial-cluster-state=existing, let it catch up ...
//!     client.member_promote(id).await?;
//!     for member in client.member_list().await?.members() {
//!         println!("{:x} {} {:?} learner={}", member.id(), member.name(), member.client_urls(), member.is_learner());
//!     }
//!     Ok(())
//! }
//! ```

use crate::call::unary_call;
use crate::pb::etcdserverpb::{
    MemberAddRequest, MemberAddResponse as RawMemberAddResponse, MemberListRequest,
    MemberListResponse as RawMemberListResponse, MemberPromoteRequest,
    MemberPromoteResponse as RawMemberPromoteResponse, MemberRemoveRequest,
    MemberRemoveResponse as RawMemberRemoveResponse, MemberUpdateRequest,
    MemberUpdateResponse as RawMemberUpdateResponse,
};
use crate::transport::rpc;
use crate::Client;

mod member;

pub use member::Member;

impl Client {
    /// Every member, learners included (Go's `MemberList`).
    ///
    /// Linearizable, as Go sends it: the answering member first confirms
    /// with the leader that it has applied every membership change
    /// committed so far, so the list is never older than a change that
    /// already returned. It therefore needs a quorum; use
    /// [`serializable`](MemberList::serializable) for the member's own,
    /// possibly stale view (which works without one). etcd 3.4 does not
    /// know the option and always answers from its own view.
    pub fn member_list(&self) -> MemberList {
        MemberList::new(self.clone(), MemberListRequest { linearizable: true })
    }

    /// Adds a voting member with these peer URLs (Go's `MemberAdd`).
    pub fn member_add<I, S>(&self, peer_urls: I) -> MemberAdd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        MemberAdd::new(self.clone(), MemberAddRequest { peer_ur_ls: strings(peer_urls), is_learner: false })
    }

    /// Adds a non-voting learner with these peer URLs (Go's
    /// `MemberAddAsLearner`); promote it once it has caught up.
    pub fn member_add_as_learner<I, S>(&self, peer_urls: I) -> MemberAdd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        MemberAdd::new(self.clone(), MemberAddRequest { peer_ur_ls: strings(peer_urls), is_learner: true })
    }

    /// Removes member `id` (Go's `MemberRemove`).
    pub fn member_remove(&self, id: u64) -> MemberRemove {
        MemberRemove::new(self.clone(), MemberRemoveRequest { id })
    }

    /// Replaces the peer URLs of member `id` (Go's `MemberUpdate`).
    pub fn member_update<I, S>(&self, id: u64, peer_urls: I) -> MemberUpdate
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        MemberUpdate::new(self.clone(), MemberUpdateRequest { id, peer_ur_ls: strings(peer_urls) })
    }

    /// Makes learner `id` a voting member (Go's `MemberPromote`); fails
    /// with [`LearnerNotReady`](crate::ErrorKind::LearnerNotReady) until it
    /// has caught up with the leader.
    pub fn member_promote(&self, id: u64) -> MemberPromote {
        MemberPromote::new(self.clone(), MemberPromoteRequest { id })
    }
}

fn strings<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

unary_call! {
    /// A member listing, from [`Client::member_list`].
    MemberList: rpc::MEMBER_LIST, MemberListRequest => MemberListResponse
}
unary_call! {
    /// A member addition, from [`Client::member_add`] and
    /// [`Client::member_add_as_learner`].
    MemberAdd: rpc::MEMBER_ADD, MemberAddRequest => MemberAddResponse
}
unary_call! {
    /// A member removal, from [`Client::member_remove`].
    MemberRemove: rpc::MEMBER_REMOVE, MemberRemoveRequest => MemberRemoveResponse
}
unary_call! {
    /// A peer URL change, from [`Client::member_update`].
    MemberUpdate: rpc::MEMBER_UPDATE, MemberUpdateRequest => MemberUpdateResponse
}
unary_call! {
    /// A learner promotion, from [`Client::member_promote`].
    MemberPromote: rpc::MEMBER_PROMOTE, MemberPromoteRequest => MemberPromoteResponse
}

impl MemberList {
    /// Answer from the member's own view, without asking the leader (Go's
    /// `WithSerializable`): cheaper, works on a member cut off from the
    /// quorum, but may miss recent membership changes.
    ///
    /// ```no_run
    /// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
    /// let local_view = client.member_list().serializable().await?;
    /// println!("{} members", local_view.members().len());
    /// # Ok(()) }
    /// ```
    pub fn serializable(mut self) -> Self {
        self.request.linearizable = false;
        self
    }

    /// Ask for the list as agreed by a quorum: the default since it became
    /// one; kept so that older callers still compile.
    #[deprecated(note = "member lists are linearizable by default; `serializable()` opts out")]
    pub fn linearizable(mut self) -> Self {
        self.request.linearizable = true;
        self
    }
}

wire_response! {
    /// The cluster's members.
    MemberListResponse(RawMemberListResponse) { members: Vec<Member> }
}

impl MemberListResponse {
    /// Every member; a member added but not started yet has no name and
    /// no client URLs.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

wire_response! {
    /// The member added, and the members after the change.
    MemberAddResponse(RawMemberAddResponse) { member: Option<Member>, members: Vec<Member> }
}

impl MemberAddResponse {
    /// The member just added (its id is what promote and remove take).
    pub fn member(&self) -> Option<&Member> {
        self.member.as_ref()
    }

    /// Every member after the change.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

wire_response! {
    /// The members left after a removal.
    MemberRemoveResponse(RawMemberRemoveResponse) { members: Vec<Member> }
}

impl MemberRemoveResponse {
    /// Every member after the change.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

wire_response! {
    /// The members after a peer URL change.
    MemberUpdateResponse(RawMemberUpdateResponse) { members: Vec<Member> }
}

impl MemberUpdateResponse {
    /// Every member after the change.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

wire_response! {
    /// The members after a promotion.
    MemberPromoteResponse(RawMemberPromoteResponse) { members: Vec<Member> }
}

impl MemberPromoteResponse {
    /// Every member after the change.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}
