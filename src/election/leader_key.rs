//! The proof of leadership a campaign hands out.

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

    pub(crate) fn raw(&self) -> &RawLeaderKey {
        &self.0
    }
}

own_wire_type!(LeaderKey(RawLeaderKey));
