//! A cluster member, as membership calls list it.

use crate::pb::etcdserverpb::Member as RawMember;

/// One member of the cluster (etcd's `Member`).
///
/// ```
/// use etcd_raw::{cluster::Member, pb};
///
/// let raw = pb::etcdserverpb::Member {
///     id: 0x8e9e05c52164694d,
///     name: "etcd-0".into(),
///     peer_ur_ls: vec!["http://10.0.0.1:2380".into()],
///     client_ur_ls: vec!["http://10.0.0.1:2379".into()],
///     is_learner: false,
/// };
/// let member = Member::from(raw);
/// assert_eq!(format!("{:x} {}", member.id(), member.name()), "8e9e05c52164694d etcd-0");
/// assert_eq!(member.client_urls(), ["http://10.0.0.1:2379"]);
/// assert!(!member.is_learner());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Member(RawMember);

impl Member {
    /// The member's id (what remove, update and promote take).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// Its name; empty until a member added by `member_add` has started.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The URLs its peers reach it at.
    pub fn peer_urls(&self) -> &[String] {
        &self.0.peer_ur_ls
    }

    /// The URLs clients reach it at; empty until it has started.
    pub fn client_urls(&self) -> &[String] {
        &self.0.client_ur_ls
    }

    /// Whether it is a non-voting learner.
    pub fn is_learner(&self) -> bool {
        self.0.is_learner
    }
}

own_wire_type!(Member(RawMember));
