//! [`ErrorKind`]: what went wrong, one variant per etcd error and per
//! failure the client finds itself. What each kind means for a retry lives
//! in the error table (`table.rs`), beside the texts that name it.

use std::fmt;

/// Declares `ErrorKind`, its `as_str`, and the list of all kinds (the table
/// checks it has one row for each), from one list so the three cannot drift
/// apart.
macro_rules! error_kinds {
    ($( $(#[$attr:meta])* $name:ident, )*) => {
        /// What went wrong: one of etcd's own errors, or one the client found.
        ///
        /// etcd's errors carry Go's names (`rpctypes.ErrEmptyKey` is
        /// [`EmptyKey`](ErrorKind::EmptyKey)). Each variant's doc gives the
        /// message etcd sends and the gRPC code it arrives with; where the
        /// code differs between releases, both are given. New kinds may be
        /// added in minor releases, so match with a `_` arm.
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $( $(#[$attr])* $name, )*
        }

        impl ErrorKind {
            /// The kind's name, as spelled by this enum (`"EmptyKey"`).
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( ErrorKind::$name => stringify!($name), )*
                }
            }
        }

        /// Every kind, in declaration order.
        pub(super) const ALL_KINDS: &[ErrorKind] = &[ $( ErrorKind::$name, )* ];
    };
}

error_kinds! {
    // --- KV and request validation ---------------------------------------
    /// `etcdserver: key is not provided` (InvalidArgument): a Range, Put,
    /// DeleteRange or Txn compare had an empty key.
    EmptyKey,
    /// `etcdserver: key not found` (InvalidArgument): a Put with
    /// `ignore_value` or `ignore_lease` on a missing key, or an empty
    /// operation inside a Txn.
    KeyNotFound,
    /// `etcdserver: value is provided` (InvalidArgument): a Put with
    /// `ignore_value` also carried a value.
    ValueProvided,
    /// `etcdserver: lease is provided` (InvalidArgument): a Put with
    /// `ignore_lease` also carried a lease.
    LeaseProvided,
    /// `etcdserver: too many operations in txn request` (InvalidArgument):
    /// the Txn has more operations than the server's `--max-txn-ops`.
    TooManyOps,
    /// `etcdserver: duplicate key given in txn request` (InvalidArgument):
    /// overlapping writes in one branch of a Txn.
    DuplicateKey,
    /// `etcdserver: invalid sort option` (InvalidArgument, etcd 3.6+): an
    /// unknown sort order or target.
    InvalidSortOption,
    /// `etcdserver: invalid client api version` (InvalidArgument, etcd
    /// 3.6+): the `client-api-version` metadata is not valid UTF-8.
    InvalidClientApiVersion,
    /// `etcdserver: mvcc: required revision has been compacted`
    /// (OutOfRange): the revision asked for was removed by compaction.
    Compacted,
    /// `etcdserver: mvcc: required revision is a future revision`
    /// (OutOfRange): the revision asked for is newer than the store's.
    FutureRev,
    /// `etcdserver: mvcc: database space exceeded` (ResourceExhausted): the
    /// backend quota is full and a NOSPACE alarm is raised; only reads,
    /// deletes and compaction work until an operator frees space and
    /// disarms the alarm.
    NoSpace,
    /// `etcdserver: request is too large` (InvalidArgument): the request is
    /// over the server's `--max-request-bytes`.
    RequestTooLarge,
    /// `etcdserver: too many requests` (declared ResourceExhausted, sent as
    /// Unknown): the member's applied index lags its commit index by more
    /// than 5000; back off before trying again.
    TooManyRequests,

    // --- Lease -------------------------------------------------------------
    /// `etcdserver: requested lease not found` (NotFound): Revoke, or a Put
    /// with a lease that does not exist (expired or revoked).
    LeaseNotFound,
    /// `etcdserver: lease already exists` (FailedPrecondition): Grant with a
    /// chosen ID that is in use.
    LeaseExist,
    /// `etcdserver: too large lease TTL` (OutOfRange): the TTL is over the
    /// server's maximum (9,000,000,000 s).
    LeaseTtlTooLarge,

    // --- Watch -------------------------------------------------------------
    /// `etcdserver: watch canceled` (Canceled): the server ended the whole
    /// Watch stream because its context was cancelled.
    WatchCanceled,
    /// `mvcc: duplicate watch ID provided on the WatchStream` (a watch's
    /// cancel reason): the watch ID asked for is in use on this stream.
    WatcherDuplicateId,
    /// `mvcc: watcher range is empty` (a watch's cancel reason): the range
    /// end sorts before the key.
    EmptyWatcherRange,

    // --- Cluster membership ----------------------------------------------
    /// `etcdserver: member ID already exist` (FailedPrecondition).
    MemberExist,
    /// `etcdserver: Peer URLs already exists` (FailedPrecondition): another
    /// member has one of these peer URLs.
    PeerUrlExist,
    /// `etcdserver: re-configuration failed due to not enough started
    /// members` (declared FailedPrecondition, sent as Unknown): removing or
    /// adding this member would leave the cluster without a started quorum.
    MemberNotEnoughStarted,
    /// `etcdserver: given member URLs are invalid` (InvalidArgument).
    MemberBadUrls,
    /// `etcdserver: member not found` (NotFound).
    MemberNotFound,
    /// `etcdserver: can only promote a learner member` (FailedPrecondition).
    MemberNotLearner,
    /// `etcdserver: can only promote a learner member which is in sync with
    /// leader` (FailedPrecondition): try again once the learner caught up.
    LearnerNotReady,
    /// `etcdserver: too many learner members in cluster`
    /// (FailedPrecondition).
    TooManyLearners,
    /// `etcdserver: cluster ID mismatch` (FailedPrecondition).
    ClusterIdMismatch,

    // --- Auth ----------------------------------------------------------------
    /// `etcdserver: root user does not exist` (FailedPrecondition): auth
    /// cannot be enabled without a root user.
    RootUserNotExist,
    /// `etcdserver: root user does not have root role` (FailedPrecondition).
    RootRoleNotExist,
    /// `etcdserver: user name already exists` (FailedPrecondition).
    UserAlreadyExist,
    /// `etcdserver: user name is empty` (InvalidArgument): auth is on and the
    /// request carried no token (or an empty user name was given). etcd 3.4
    /// and early 3.5 send root-only maintenance calls without a token
    /// `auth: user name is empty` (Unknown).
    UserEmpty,
    /// `etcdserver: user name not found` (FailedPrecondition); also
    /// `auth: user not found` (Unknown, etcd 3.4 and early 3.5).
    UserNotFound,
    /// `etcdserver: role name already exists` (FailedPrecondition).
    RoleAlreadyExist,
    /// `etcdserver: role name not found` (FailedPrecondition).
    RoleNotFound,
    /// `etcdserver: role name is empty` (InvalidArgument).
    RoleEmpty,
    /// `etcdserver: authentication failed, invalid user ID or password`
    /// (InvalidArgument): wrong user name or password.
    AuthFailed,
    /// `auth: authentication failed, password was given for no password
    /// user` (Unknown): the user was created without a password and can only
    /// authenticate by TLS common name.
    NoPasswordUser,
    /// `etcdserver: permission not given` (InvalidArgument): a role
    /// permission grant without a permission.
    PermissionNotGiven,
    /// `etcdserver: permission denied` (PermissionDenied): the user's roles
    /// do not allow this. Also any other PermissionDenied status, and
    /// `auth: permission denied` (Unknown), which etcd 3.4 and early 3.5
    /// send for root-only maintenance calls.
    PermissionDenied,
    /// `etcdserver: role is not granted to the user` (FailedPrecondition).
    RoleNotGranted,
    /// `etcdserver: permission is not granted to the role`
    /// (FailedPrecondition).
    PermissionNotGranted,
    /// `etcdserver: authentication is not enabled` (FailedPrecondition).
    AuthNotEnabled,
    /// `etcdserver: invalid auth token` (Unauthenticated): the token expired
    /// or is unknown to this member. The client re-authenticates by itself.
    /// Also `auth: invalid auth token` (Unknown, etcd 3.4 and early 3.5).
    InvalidAuthToken,
    /// `etcdserver: invalid auth management` (InvalidArgument): e.g.
    /// revoking the root role from the root user.
    InvalidAuthMgmt,
    /// `etcdserver: revision of auth store is old` (InvalidArgument): the
    /// auth configuration changed after the token was issued. The client
    /// re-authenticates by itself. Also `auth: revision in header is old`
    /// (Unknown, etcd 3.4 and early 3.5).
    AuthOldRevision,

    // --- Server and cluster state -----------------------------------------
    /// `etcdserver: no leader` (Unavailable): the member has no leader (it
    /// may be partitioned). Retryable on another member.
    NoLeader,
    /// `etcdserver: not leader` (FailedPrecondition): an RPC that only the
    /// leader serves (MoveLeader) reached a follower.
    NotLeader,
    /// `etcdserver: leader changed` (Unavailable): leadership changed while
    /// the request waited. Retryable.
    LeaderChanged,
    /// `etcdserver: not capable` (FailedPrecondition from 3.6, Unavailable
    /// before): the cluster version does not support this request yet.
    NotCapable,
    /// `etcdserver: server stopped` (Unavailable): the member is shutting
    /// down. Retryable on another member.
    Stopped,
    /// `etcdserver: request timed out` (Unavailable): the member gave up
    /// waiting; a write may still be applied. Retryable for reads.
    Timeout,
    /// `etcdserver: request timed out, possibly due to previous leader
    /// failure` (Unavailable). Retryable for reads.
    TimeoutDueToLeaderFail,
    /// `etcdserver: request timed out, possibly due to connection lost`
    /// (Unavailable). Retryable for reads.
    TimeoutDueToConnectionLost,
    /// `etcdserver: request timed out, waiting for the applied index took
    /// too long` (Unavailable): a linearizable read waited too long for the
    /// member to catch up. Retryable.
    TimeoutWaitAppliedIndex,
    /// `etcdserver: request timed out, leader transfer took too long`
    /// (Unknown): MoveLeader did not finish in time; the transfer may still
    /// happen.
    TimeoutLeaderTransfer,
    /// `etcdserver: unhealthy cluster` (Unavailable): the change would leave
    /// the cluster without a healthy quorum. Retryable.
    Unhealthy,
    /// `etcdserver: corrupt cluster` (DataLoss): a CORRUPT alarm is raised.
    Corrupt,
    /// `etcdserver: rpc not supported for learner` (FailedPrecondition from
    /// 3.6, Unavailable before): learners serve only Status, serializable
    /// Range and Snapshot. Retryable on another member.
    NotSupportedForLearner,
    /// `etcdserver: bad leader transferee` (FailedPrecondition): MoveLeader
    /// to a member that cannot lead (unknown, or a learner).
    BadLeaderTransferee,
    /// `etcdserver: unknown method` (Unknown): the member's applier does not
    /// know this request (mixed-version cluster).
    UnknownMethod,

    // --- Downgrade (etcd 3.5+) -------------------------------------------
    /// `etcdserver: wrong downgrade target version format`
    /// (InvalidArgument).
    WrongDowngradeVersionFormat,
    /// `etcdserver: invalid downgrade target version` (InvalidArgument).
    InvalidDowngradeTargetVersion,
    /// `etcdserver: cluster version not found during downgrade`
    /// (FailedPrecondition from 3.6, Unavailable in 3.5).
    ClusterVersionUnavailable,
    /// `etcdserver: cluster has a downgrade job in progress`
    /// (FailedPrecondition).
    DowngradeInProcess,
    /// `etcdserver: no inflight downgrade job` (FailedPrecondition).
    NoInflightDowngrade,

    // --- Lock and election services, concurrency recipes -----------------
    /// `"leader" field must be provided` (Unknown): an Election call without
    /// its leader key.
    MissingLeaderKey,
    /// `election: not leader` (Unknown from the Election service): Proclaim
    /// or Resign by a candidate that is not the leader.
    ElectionNotLeader,
    /// `election: no leader` (Unknown from the Election service): the
    /// election has no leader.
    ElectionNoLeader,
    /// `mutex: session is expired`: the session's lease is gone, so the lock
    /// or candidacy it held is lost.
    SessionExpired,
    /// `mutex: Locked by another session` (client-side): a try-lock found
    /// the lock held.
    Locked,
    /// `mutex: lock has already been released` (client-side).
    LockReleased,

    // --- Found by the client ----------------------------------------------
    /// Bad configuration or input, found before anything was sent.
    InvalidArgument,
    /// No connection, the connection was lost, or the member is unreachable;
    /// also any `Unavailable` status without a known message. Retryable.
    Unavailable,
    /// The call's deadline passed.
    DeadlineExceeded,
    /// The call was cancelled.
    Canceled,
    /// The client was closed ([`Client::close`](crate::Client::close)):
    /// calls, watches and keepalives still running end with this, and
    /// calls made after it fail at once.
    ClientClosed,
    /// TLS failed: handshake, certificate verification, or TLS
    /// configuration.
    Tls,
    /// A local file operation failed (writing a snapshot to a file, say);
    /// the [`std::io::Error`] is the error's source.
    Io,
    /// Authentication failed for a reason other than etcd's own auth errors
    /// (any other `Unauthenticated` status).
    Unauthenticated,
    /// The member does not implement this RPC (e.g. an RPC added in a newer
    /// etcd than the member runs).
    Unimplemented,
    /// A size or resource limit was hit, e.g. a gRPC message over the
    /// configured maximum (any `ResourceExhausted` status without a known
    /// message).
    ResourceExhausted,
    /// The response or its framing was malformed.
    Protocol,
    /// A bug or broken invariant inside the client.
    Internal,
    /// A server status this crate does not recognise; its code and message
    /// are kept as received.
    Other,
}

impl ErrorKind {
    /// Whether an error of this kind, on a request that is safe to repeat,
    /// is worth sending again (to this or another member). See [`Error`]'s
    /// docs for the list and the reasons.
    ///
    /// [`Error`]: crate::Error
    pub fn is_retryable(&self) -> bool {
        super::table::row_of(*self).retryable()
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_match_variants_and_are_unique() {
        for (i, kind) in ALL_KINDS.iter().enumerate() {
            assert_eq!(kind.as_str(), format!("{kind:?}"));
            assert_eq!(kind.to_string(), kind.as_str());
            assert!(!ALL_KINDS[..i].contains(kind));
        }
    }
}
