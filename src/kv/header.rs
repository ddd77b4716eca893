//! The header every response carries.

use crate::pb::etcdserverpb::ResponseHeader as RawResponseHeader;

/// Who answered and at which store state (etcd's `ResponseHeader`).
///
/// ```
/// use etcd_raw::{pb, ResponseHeader};
///
/// let raw = pb::etcdserverpb::ResponseHeader { cluster_id: 1, member_id: 2, revision: 42, raft_term: 3 };
/// let header = ResponseHeader::from(raw);
/// assert_eq!((header.member_id(), header.revision(), header.raft_term()), (2, 42, 3));
/// assert_eq!(pb::etcdserverpb::ResponseHeader::from(header), raw);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResponseHeader {
    cluster_id: u64,
    member_id: u64,
    revision: i64,
    raft_term: u64,
}

impl ResponseHeader {
    /// The cluster of the member that answered.
    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    /// The member that answered.
    pub fn member_id(&self) -> u64 {
        self.member_id
    }

    /// The store's revision when the answer was made.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The raft term when the answer was made.
    pub fn raft_term(&self) -> u64 {
        self.raft_term
    }

    /// The same header at another revision.
    pub(crate) fn at_revision(self, revision: i64) -> Self {
        ResponseHeader { revision, ..self }
    }

    /// The header of a message, empty when the message came without one.
    pub(crate) fn of(raw: &Option<RawResponseHeader>) -> Self {
        raw.map(Self::from).unwrap_or_default()
    }
}

impl From<RawResponseHeader> for ResponseHeader {
    fn from(raw: RawResponseHeader) -> Self {
        ResponseHeader {
            cluster_id: raw.cluster_id,
            member_id: raw.member_id,
            revision: raw.revision,
            raft_term: raw.raft_term,
        }
    }
}

impl From<ResponseHeader> for RawResponseHeader {
    fn from(header: ResponseHeader) -> Self {
        RawResponseHeader {
            cluster_id: header.cluster_id,
            member_id: header.member_id,
            revision: header.revision,
            raft_term: header.raft_term,
        }
    }
}
