//! The proof of leadership a campaign hands out.

use std::fmt;

use crate::pb::v3electionpb::LeaderKey as RawLeaderKey;

/// An elected candidate's hold on an election (the Election service's
/// `LeaderKey`): pass it to [`Client::proclaim`](crate::Client::proclaim)
/// and [`Client::resign`](crate::Client::resign).
///
/// ```
/// use etcd_raw::{pb, LeaderKey};
///
/// let raw = pb::v3electionpb::LeaderKey { name: "pool".into(), key: "pool/694d".into(), rev: 12, lease: 0x694d };
/// let leader = LeaderKey::from(raw.clone());
/// assert_eq!((leader.name(), leader.key(), leader.rev(), leader.lease()), (&b"pool"[..], &b"pool/694d"[..], 12, 0x694d));
/// assert_eq!(leader.into_inner(), raw);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct LeaderKey(RawLeaderKey);

impl LeaderKey {
    /// The election's name.
    pub fn name(&self) -> &[u8] {
        &self.0.name
    }

    /// The key that holds the leadership (`<name>/<lease in hex>`).
    pub fn key(&self) -> &[u8] {
        &self.0.key
    }

    /// The key's create revision: the fencing token of this term.
    pub fn rev(&self) -> i64 {
        self.0.rev
    }

    /// The lease that keeps the leadership.
    pub fn lease(&self) -> i64 {
        self.0.lease
    }

    /// The wire message.
    pub fn into_inner(self) -> RawLeaderKey {
        self.0
    }

    pub(crate) fn raw(&self) -> &RawLeaderKey {
        &self.0
    }
}

impl From<RawLeaderKey> for LeaderKey {
    fn from(raw: RawLeaderKey) -> Self {
        LeaderKey(raw)
    }
}

impl From<LeaderKey> for RawLeaderKey {
    fn from(leader: LeaderKey) -> Self {
        leader.0
    }
}

impl fmt::Debug for LeaderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}
