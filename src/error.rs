//! The crate's one error type, and etcd's error table.
//!
//! Every fallible call returns [`Result<T>`](Result), whose error is an
//! [`Error`]. An `Error` says:
//!
//! - **what** went wrong: [`Error::kind`], an [`ErrorKind`] that names each
//!   error etcd sends (with the names of Go's `rpctypes`, without the `Err`
//!   prefix: [`EmptyKey`](ErrorKind::EmptyKey),
//!   [`Compacted`](ErrorKind::Compacted), [`NoLeader`](ErrorKind::NoLeader),
//!   ...) and the errors the client finds itself
//!   ([`InvalidArgument`](ErrorKind::InvalidArgument),
//!   [`Unavailable`](ErrorKind::Unavailable),
//!   [`DeadlineExceeded`](ErrorKind::DeadlineExceeded), ...);
//! - **what the server said**: [`Error::grpc_code`] and [`Error::message`],
//!   kept exactly as received;
//! - **where**: [`Error::endpoint`], the member the failure came from;
//! - **what to do next**: [`Error::is_retryable`] and
//!   [`Error::outcome_unknown`].
//!
//! How server errors are classified, when a request may be retried and what
//! an unknown write outcome means is documented on [`Error`], since this
//! module itself is private (the crate re-exports its types).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// The result type of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------
// GrpcCode
// ---------------------------------------------------------------------------

/// A gRPC status code, as received from the server.
///
/// The numbers are gRPC's own; [`GrpcCode::from_i32`] maps numbers this crate
/// does not know to [`Unknown`](GrpcCode::Unknown), as gRPC requires.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrpcCode {
    /// Not an error.
    Ok = 0,
    /// The operation was cancelled, usually by the caller.
    Cancelled = 1,
    /// Unknown error; etcd sends this for server errors missing from its table.
    Unknown = 2,
    /// The request is invalid whatever the state of the system.
    InvalidArgument = 3,
    /// The deadline expired before the operation completed.
    DeadlineExceeded = 4,
    /// A requested entity was not found.
    NotFound = 5,
    /// The entity a client tried to create already exists.
    AlreadyExists = 6,
    /// The caller may not do this.
    PermissionDenied = 7,
    /// Some resource (quota, space, message size) is exhausted.
    ResourceExhausted = 8,
    /// The system is not in a state the operation needs.
    FailedPrecondition = 9,
    /// The operation was aborted, usually by a concurrency conflict.
    Aborted = 10,
    /// The operation went past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not enabled.
    Unimplemented = 12,
    /// An invariant of the underlying system is broken.
    Internal = 13,
    /// The service is unavailable, most likely transiently.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request has no valid authentication credentials.
    Unauthenticated = 16,
}

impl GrpcCode {
    /// The code for a number from the wire; numbers outside 0..=16 are
    /// [`Unknown`](GrpcCode::Unknown).
    pub fn from_i32(v: i32) -> GrpcCode {
        match v {
            0 => GrpcCode::Ok,
            1 => GrpcCode::Cancelled,
            2 => GrpcCode::Unknown,
            3 => GrpcCode::InvalidArgument,
            4 => GrpcCode::DeadlineExceeded,
            5 => GrpcCode::NotFound,
            6 => GrpcCode::AlreadyExists,
            7 => GrpcCode::PermissionDenied,
            8 => GrpcCode::ResourceExhausted,
            9 => GrpcCode::FailedPrecondition,
            10 => GrpcCode::Aborted,
            11 => GrpcCode::OutOfRange,
            12 => GrpcCode::Unimplemented,
            13 => GrpcCode::Internal,
            14 => GrpcCode::Unavailable,
            15 => GrpcCode::DataLoss,
            16 => GrpcCode::Unauthenticated,
            _ => GrpcCode::Unknown,
        }
    }

    /// The code's number on the wire.
    pub fn as_i32(&self) -> i32 {
        *self as i32
    }

    /// The code's name, as spelled by this enum (`"Unavailable"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            GrpcCode::Ok => "Ok",
            GrpcCode::Cancelled => "Cancelled",
            GrpcCode::Unknown => "Unknown",
            GrpcCode::InvalidArgument => "InvalidArgument",
            GrpcCode::DeadlineExceeded => "DeadlineExceeded",
            GrpcCode::NotFound => "NotFound",
            GrpcCode::AlreadyExists => "AlreadyExists",
            GrpcCode::PermissionDenied => "PermissionDenied",
            GrpcCode::ResourceExhausted => "ResourceExhausted",
            GrpcCode::FailedPrecondition => "FailedPrecondition",
            GrpcCode::Aborted => "Aborted",
            GrpcCode::OutOfRange => "OutOfRange",
            GrpcCode::Unimplemented => "Unimplemented",
            GrpcCode::Internal => "Internal",
            GrpcCode::Unavailable => "Unavailable",
            GrpcCode::DataLoss => "DataLoss",
            GrpcCode::Unauthenticated => "Unauthenticated",
        }
    }

    /// The code named as Go prints it in `rpc error: code = NAME desc = ...`
    /// (Go spells code 1 `Canceled`, and code 0 `OK`).
    fn from_go_name(name: &str) -> Option<GrpcCode> {
        let code = match name {
            "OK" | "Ok" => GrpcCode::Ok,
            "Canceled" | "Cancelled" => GrpcCode::Cancelled,
            "Unknown" => GrpcCode::Unknown,
            "InvalidArgument" => GrpcCode::InvalidArgument,
            "DeadlineExceeded" => GrpcCode::DeadlineExceeded,
            "NotFound" => GrpcCode::NotFound,
            "AlreadyExists" => GrpcCode::AlreadyExists,
            "PermissionDenied" => GrpcCode::PermissionDenied,
            "ResourceExhausted" => GrpcCode::ResourceExhausted,
            "FailedPrecondition" => GrpcCode::FailedPrecondition,
            "Aborted" => GrpcCode::Aborted,
            "OutOfRange" => GrpcCode::OutOfRange,
            "Unimplemented" => GrpcCode::Unimplemented,
            "Internal" => GrpcCode::Internal,
            "Unavailable" => GrpcCode::Unavailable,
            "DataLoss" => GrpcCode::DataLoss,
            "Unauthenticated" => GrpcCode::Unauthenticated,
            _ => return None,
        };
        Some(code)
    }
}

impl fmt::Display for GrpcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------
// ErrorKind
// ---------------------------------------------------------------------------

/// Declares `ErrorKind`, its `as_str`, and (for the tests) the list of all
/// kinds, from one list so the three cannot drift apart.
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

        #[cfg(test)]
        const ALL_KINDS: &[ErrorKind] = &[ $( ErrorKind::$name, )* ];
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
    /// TLS failed: handshake, certificate verification, or TLS
    /// configuration.
    Tls,
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
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ErrorKind::Unavailable
                | ErrorKind::NoLeader
                | ErrorKind::LeaderChanged
                | ErrorKind::Stopped
                | ErrorKind::Timeout
                | ErrorKind::TimeoutDueToLeaderFail
                | ErrorKind::TimeoutDueToConnectionLost
                | ErrorKind::TimeoutWaitAppliedIndex
                | ErrorKind::Unhealthy
                | ErrorKind::NotSupportedForLearner
        )
    }

    /// Errors of etcd's auth subsystem: the ones matched by "contains" when
    /// they arrive inside a printed status (a watch's cancel reason).
    fn is_auth(&self) -> bool {
        matches!(
            self,
            ErrorKind::RootUserNotExist
                | ErrorKind::RootRoleNotExist
                | ErrorKind::UserAlreadyExist
                | ErrorKind::UserEmpty
                | ErrorKind::UserNotFound
                | ErrorKind::RoleAlreadyExist
                | ErrorKind::RoleNotFound
                | ErrorKind::RoleEmpty
                | ErrorKind::AuthFailed
                | ErrorKind::NoPasswordUser
                | ErrorKind::PermissionNotGiven
                | ErrorKind::PermissionDenied
                | ErrorKind::RoleNotGranted
                | ErrorKind::PermissionNotGranted
                | ErrorKind::AuthNotEnabled
                | ErrorKind::InvalidAuthToken
                | ErrorKind::InvalidAuthMgmt
                | ErrorKind::AuthOldRevision
        )
    }

    /// For a write that may have reached the server: true unless this kind
    /// proves the write was refused before it was applied. Timeouts,
    /// cancellation, a stopping member, lost connections and anything
    /// unrecognised leave the outcome open; validation, auth, quota and
    /// membership refusals do not.
    fn leaves_write_outcome_open(&self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout
                | ErrorKind::TimeoutDueToLeaderFail
                | ErrorKind::TimeoutDueToConnectionLost
                | ErrorKind::TimeoutWaitAppliedIndex
                | ErrorKind::TimeoutLeaderTransfer
                | ErrorKind::LeaderChanged
                | ErrorKind::Stopped
                | ErrorKind::Unavailable
                | ErrorKind::DeadlineExceeded
                | ErrorKind::Canceled
                | ErrorKind::WatchCanceled
                | ErrorKind::Protocol
                | ErrorKind::Internal
                | ErrorKind::Other
        )
    }

    /// The generic kind for a status whose message is not in etcd's table.
    fn for_code(code: GrpcCode) -> ErrorKind {
        match code {
            GrpcCode::Unavailable => ErrorKind::Unavailable,
            GrpcCode::DeadlineExceeded => ErrorKind::DeadlineExceeded,
            GrpcCode::Cancelled => ErrorKind::Canceled,
            GrpcCode::Unimplemented => ErrorKind::Unimplemented,
            GrpcCode::ResourceExhausted => ErrorKind::ResourceExhausted,
            GrpcCode::Unauthenticated => ErrorKind::Unauthenticated,
            GrpcCode::PermissionDenied => ErrorKind::PermissionDenied,
            _ => ErrorKind::Other,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------
// etcd's error table
// ---------------------------------------------------------------------------

/// Every message etcd 3.4 to 3.7 is known to send to clients, with the kind it
/// names. The gRPC code each arrives with is in [`ErrorKind`]'s docs; it is
/// not needed here because the message decides.
#[rustfmt::skip]
const SERVER_MESSAGES: &[(&str, ErrorKind)] = &[
    // KV and request validation
    ("etcdserver: key is not provided", ErrorKind::EmptyKey),
    ("etcdserver: key not found", ErrorKind::KeyNotFound),
    ("etcdserver: value is provided", ErrorKind::ValueProvided),
    ("etcdserver: lease is provided", ErrorKind::LeaseProvided),
    ("etcdserver: too many operations in txn request", ErrorKind::TooManyOps),
    ("etcdserver: duplicate key given in txn request", ErrorKind::DuplicateKey),
    ("etcdserver: invalid sort option", ErrorKind::InvalidSortOption),
    ("etcdserver: invalid client api version", ErrorKind::InvalidClientApiVersion),
    ("etcdserver: mvcc: required revision has been compacted", ErrorKind::Compacted),
    ("etcdserver: mvcc: required revision is a future revision", ErrorKind::FutureRev),
    ("etcdserver: mvcc: database space exceeded", ErrorKind::NoSpace),
    ("etcdserver: request is too large", ErrorKind::RequestTooLarge),
    ("etcdserver: too many requests", ErrorKind::TooManyRequests),
    // Lease
    ("etcdserver: requested lease not found", ErrorKind::LeaseNotFound),
    ("etcdserver: lease already exists", ErrorKind::LeaseExist),
    ("etcdserver: too large lease TTL", ErrorKind::LeaseTtlTooLarge),
    // Watch
    ("etcdserver: watch canceled", ErrorKind::WatchCanceled),
    ("mvcc: duplicate watch ID provided on the WatchStream", ErrorKind::WatcherDuplicateId),
    ("mvcc: watcher range is empty", ErrorKind::EmptyWatcherRange),
    // Cluster membership
    ("etcdserver: member ID already exist", ErrorKind::MemberExist),
    ("etcdserver: Peer URLs already exists", ErrorKind::PeerUrlExist),
    ("etcdserver: re-configuration failed due to not enough started members", ErrorKind::MemberNotEnoughStarted),
    ("etcdserver: given member URLs are invalid", ErrorKind::MemberBadUrls),
    ("etcdserver: member not found", ErrorKind::MemberNotFound),
    ("etcdserver: can only promote a learner member", ErrorKind::MemberNotLearner),
    ("etcdserver: can only promote a learner member which is in sync with leader", ErrorKind::LearnerNotReady),
    ("etcdserver: too many learner members in cluster", ErrorKind::TooManyLearners),
    ("etcdserver: cluster ID mismatch", ErrorKind::ClusterIdMismatch),
    // Auth
    ("etcdserver: root user does not exist", ErrorKind::RootUserNotExist),
    ("etcdserver: root user does not have root role", ErrorKind::RootRoleNotExist),
    ("etcdserver: user name already exists", ErrorKind::UserAlreadyExist),
    ("etcdserver: user name is empty", ErrorKind::UserEmpty),
    ("etcdserver: user name not found", ErrorKind::UserNotFound),
    ("etcdserver: role name already exists", ErrorKind::RoleAlreadyExist),
    ("etcdserver: role name not found", ErrorKind::RoleNotFound),
    ("etcdserver: role name is empty", ErrorKind::RoleEmpty),
    ("etcdserver: authentication failed, invalid user ID or password", ErrorKind::AuthFailed),
    ("auth: authentication failed, password was given for no password user", ErrorKind::NoPasswordUser),
    ("etcdserver: permission not given", ErrorKind::PermissionNotGiven),
    ("etcdserver: permission denied", ErrorKind::PermissionDenied),
    ("etcdserver: role is not granted to the user", ErrorKind::RoleNotGranted),
    ("etcdserver: permission is not granted to the role", ErrorKind::PermissionNotGranted),
    ("etcdserver: authentication is not enabled", ErrorKind::AuthNotEnabled),
    ("etcdserver: invalid auth token", ErrorKind::InvalidAuthToken),
    ("etcdserver: invalid auth management", ErrorKind::InvalidAuthMgmt),
    ("etcdserver: revision of auth store is old", ErrorKind::AuthOldRevision),
    // The auth store's own texts (code Unknown): etcd 3.4 and early 3.5
    // return them unconverted from the root check of Defragment, Hash,
    // HashKV and Snapshot.
    ("auth: permission denied", ErrorKind::PermissionDenied),
    ("auth: user name is empty", ErrorKind::UserEmpty),
    ("auth: user not found", ErrorKind::UserNotFound),
    ("auth: invalid auth token", ErrorKind::InvalidAuthToken),
    ("auth: revision in header is old", ErrorKind::AuthOldRevision),
    // Server and cluster state
    ("etcdserver: no leader", ErrorKind::NoLeader),
    ("etcdserver: not leader", ErrorKind::NotLeader),
    ("etcdserver: leader changed", ErrorKind::LeaderChanged),
    ("etcdserver: not capable", ErrorKind::NotCapable),
    ("etcdserver: server stopped", ErrorKind::Stopped),
    ("etcdserver: request timed out", ErrorKind::Timeout),
    ("etcdserver: request timed out, possibly due to previous leader failure", ErrorKind::TimeoutDueToLeaderFail),
    ("etcdserver: request timed out, possibly due to connection lost", ErrorKind::TimeoutDueToConnectionLost),
    ("etcdserver: request timed out, waiting for the applied index took too long", ErrorKind::TimeoutWaitAppliedIndex),
    ("etcdserver: request timed out, leader transfer took too long", ErrorKind::TimeoutLeaderTransfer),
    ("etcdserver: unhealthy cluster", ErrorKind::Unhealthy),
    ("etcdserver: corrupt cluster", ErrorKind::Corrupt),
    ("etcdserver: rpc not supported for learner", ErrorKind::NotSupportedForLearner),
    ("etcdserver: bad leader transferee", ErrorKind::BadLeaderTransferee),
    ("etcdserver: unknown method", ErrorKind::UnknownMethod),
    // Downgrade
    ("etcdserver: wrong downgrade target version format", ErrorKind::WrongDowngradeVersionFormat),
    ("etcdserver: invalid downgrade target version", ErrorKind::InvalidDowngradeTargetVersion),
    ("etcdserver: cluster version not found during downgrade", ErrorKind::ClusterVersionUnavailable),
    ("etcdserver: cluster has a downgrade job in progress", ErrorKind::DowngradeInProcess),
    ("etcdserver: no inflight downgrade job", ErrorKind::NoInflightDowngrade),
    // Cancellation. etcd declares the first two but in practice lets gRPC
    // send its own `context canceled` / `context deadline exceeded`, which the
    // code decides; the third (double "l") is sent as Unknown.
    ("etcdserver: request canceled", ErrorKind::Canceled),
    ("etcdserver: context deadline exceeded", ErrorKind::DeadlineExceeded),
    ("etcdserver: request cancelled", ErrorKind::Canceled),
    // gRPC's own texts for a server-side deadline or cancel; the Lock and
    // Election services send them with code Unknown.
    ("context deadline exceeded", ErrorKind::DeadlineExceeded),
    ("context canceled", ErrorKind::Canceled),
    // Lock and election services (all sent as Unknown)
    ("\"leader\" field must be provided", ErrorKind::MissingLeaderKey),
    ("election: not leader", ErrorKind::ElectionNotLeader),
    ("election: no leader", ErrorKind::ElectionNoLeader),
    ("mutex: session is expired", ErrorKind::SessionExpired),
];

/// The table entry whose message is exactly `message`.
fn lookup_exact(message: &str) -> Option<(&'static str, ErrorKind)> {
    SERVER_MESSAGES.iter().copied().find(|(m, _)| *m == message)
}

/// The auth error whose message appears inside `text`.
fn lookup_auth_within(text: &str) -> Option<ErrorKind> {
    SERVER_MESSAGES.iter().find(|(m, kind)| kind.is_auth() && text.contains(m)).map(|(_, kind)| *kind)
}

/// Splits a status printed by Go (`rpc error: code = NAME desc = TEXT`) into
/// its code and text.
fn parse_printed_status(text: &str) -> Option<(GrpcCode, &str)> {
    let rest = text.strip_prefix("rpc error: code = ")?;
    let (name, desc) = rest.split_once(" desc = ")?;
    Some((GrpcCode::from_go_name(name)?, desc))
}

// ---------------------------------------------------------------------------
// Error
// ---------------------------------------------------------------------------

/// The error of every fallible call in this crate.
///
/// One pointer wide, cheap to move and to clone. It carries the
/// [`kind`](Error::kind), the server's [`grpc_code`](Error::grpc_code) and
/// [`message`](Error::message) as received, the [`endpoint`](Error::endpoint)
/// it came from, and what to do next: [`is_retryable`](Error::is_retryable)
/// and [`outcome_unknown`](Error::outcome_unknown).
///
/// # How a server status becomes a kind
///
/// etcd's gRPC codes are not a reliable key. The same error has had different
/// codes in different releases (`etcdserver: not capable`,
/// `etcdserver: rpc not supported for learner` and
/// `etcdserver: cluster version not found during downgrade` were
/// `Unavailable` up to 3.5 and are `FailedPrecondition` from 3.6), and some
/// errors always reach the client with code `Unknown` because the server
/// maps them to a value that is not a gRPC status (`etcdserver: too many
/// requests`, `etcdserver: re-configuration failed due to not enough started
/// members`, and every server error missing from its own table). The message
/// text, on the other hand, has not changed since 3.4. So the mapping looks at
/// the message first and the code second:
///
/// 1. the exact message, looked up in etcd's table (every message etcd 3.4 to
///    3.7 is known to send);
/// 2. a message of the form `rpc error: code = C desc = D` (a whole status
///    printed into a watch's cancel reason) is looked up by `D`;
/// 3. an auth message found anywhere inside the text (watch creation refused
///    by auth carries the printed status, so it is matched by "contains");
/// 4. otherwise the gRPC code alone decides a generic kind
///    ([`Unavailable`](ErrorKind::Unavailable),
///    [`DeadlineExceeded`](ErrorKind::DeadlineExceeded), ...), and anything
///    else is [`Other`](ErrorKind::Other) with the code and message kept.
///
/// # Retrying
///
/// [`Error::is_retryable`] is true when sending the same request again, to
/// this or another member, is both safe and likely to help. It follows the Go
/// client's retry rules for repeatable requests (its `isSafeRetryImmutableRPC`:
/// retry only on gRPC `Unavailable`), but decides by kind rather than by code
/// so that every etcd version gets the same answer:
///
/// | retryable | kinds |
/// |---|---|
/// | yes | [`Unavailable`](ErrorKind::Unavailable) (no connection, connection lost, member unreachable, any `Unavailable` status without a known message); the member-state errors the server sends as `Unavailable`: [`NoLeader`](ErrorKind::NoLeader), [`LeaderChanged`](ErrorKind::LeaderChanged), [`Stopped`](ErrorKind::Stopped), [`Timeout`](ErrorKind::Timeout), [`TimeoutDueToLeaderFail`](ErrorKind::TimeoutDueToLeaderFail), [`TimeoutDueToConnectionLost`](ErrorKind::TimeoutDueToConnectionLost), [`TimeoutWaitAppliedIndex`](ErrorKind::TimeoutWaitAppliedIndex), [`Unhealthy`](ErrorKind::Unhealthy); and [`NotSupportedForLearner`](ErrorKind::NotSupportedForLearner) (another member is not a learner) |
/// | no | everything else: validation errors, [`Compacted`](ErrorKind::Compacted), [`FutureRev`](ErrorKind::FutureRev), lease, member and auth errors, [`NotLeader`](ErrorKind::NotLeader), [`NotCapable`](ErrorKind::NotCapable) and [`ClusterVersionUnavailable`](ErrorKind::ClusterVersionUnavailable) (etcd 3.6 made them `FailedPrecondition` because a retry cannot fix them), [`TooManyRequests`](ErrorKind::TooManyRequests) and [`TimeoutLeaderTransfer`](ErrorKind::TimeoutLeaderTransfer) (sent as `Unknown`, never retried by Go), [`Corrupt`](ErrorKind::Corrupt), [`DeadlineExceeded`](ErrorKind::DeadlineExceeded) and [`Canceled`](ErrorKind::Canceled) (the caller's own limit), [`Internal`](ErrorKind::Internal), [`Protocol`](ErrorKind::Protocol), [`Other`](ErrorKind::Other) |
///
/// An expired token ([`InvalidAuthToken`](ErrorKind::InvalidAuthToken),
/// [`AuthOldRevision`](ErrorKind::AuthOldRevision)) is not "retryable" in this
/// sense: the same request would fail again. The client refreshes its token
/// and retries by itself; the error reaches the caller only when that fails.
///
/// # Writes whose outcome is unknown
///
/// A write (Put, DeleteRange, Txn, Compact, member or auth changes) that fails
/// after it may have reached the server may still be applied: the server can
/// commit a proposal and then time out, or the connection can drop before the
/// response arrives. The client never resends such a write. It marks the error
/// instead, and [`Error::outcome_unknown`] returns true: the caller must read
/// (for example `get` the key, or compare revisions) to find out whether the
/// write took effect. An error so marked is never
/// [`is_retryable`](Error::is_retryable); so for a write, `is_retryable` is
/// true only when the server refused it unexecuted (e.g. a learner).
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    code: Option<GrpcCode>,
    message: Cow<'static, str>,
    endpoint: Option<String>,
    outcome_unknown: bool,
    compact_revision: Option<i64>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    /// For a watch ended by [`ErrorKind::Compacted`]: the oldest revision
    /// still available, to re-read from before watching again.
    pub fn compact_revision(&self) -> Option<i64> {
        self.inner.compact_revision
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The gRPC code the server sent, or `None` when the client itself made
    /// this error (bad input, no connection, TLS, deadline, ...).
    ///
    /// The code is kept as received and is advisory: [`kind`](Error::kind) is
    /// the reliable key, because etcd sends some errors with code `Unknown`
    /// and changed others' codes between releases.
    pub fn grpc_code(&self) -> Option<GrpcCode> {
        self.inner.code
    }

    /// The server's message, verbatim, or the client's description of the
    /// failure.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The endpoint the failure came from, when known.
    pub fn endpoint(&self) -> Option<&str> {
        self.inner.endpoint.as_deref()
    }

    /// Whether a request that is safe to repeat (a read, or an idempotent
    /// call such as a lease grant or a member list) may be sent again, to
    /// this or another endpoint, with a fair chance of success.
    ///
    /// True for [`Unavailable`](ErrorKind::Unavailable) and for the transient
    /// member-state kinds etcd sends as gRPC `Unavailable` (no leader, leader
    /// changed, server stopped, the request timeouts, unhealthy cluster), and
    /// for [`NotSupportedForLearner`](ErrorKind::NotSupportedForLearner)
    /// (another member is not a learner; as in Go, this one is safe even for
    /// writes, which the learner refused unexecuted). False for everything
    /// else: validation, compaction, auth, lease and membership errors, the
    /// caller's own deadline or cancellation, and unknown statuses. The
    /// [`Error`] docs list every kind and why.
    ///
    /// Always false when [`outcome_unknown`](Error::outcome_unknown) is true:
    /// a write that may have been applied must not be sent again blindly.
    pub fn is_retryable(&self) -> bool {
        !self.inner.outcome_unknown && self.inner.kind.is_retryable()
    }

    /// Whether a write may or may not have been applied.
    ///
    /// True when the write may have reached the server before the failure
    /// (the connection dropped after sending, the deadline passed while
    /// waiting, or the server gave up waiting for its own proposal). The
    /// client never resends such a write; when this is true, read the keys
    /// involved (or compare revisions) to find out whether it took effect.
    /// Always false for reads.
    pub fn outcome_unknown(&self) -> bool {
        self.inner.outcome_unknown
    }

    /// The typed error for a status returned by a raw stub of
    /// [`crate::pb`]: pass its numeric code and message (for tonic,
    /// `status.code() as i32` and `status.message()`).
    ///
    /// ```
    /// let error = etcd_raw::Error::from_status(3, "etcdserver: key is not provided");
    /// assert_eq!(error.kind(), etcd_raw::ErrorKind::EmptyKey);
    /// ```
    pub fn from_status(code: i32, message: &str) -> Error {
        Error::from_grpc(GrpcCode::from_i32(code), message)
    }

    // --- crate-internal constructors -------------------------------------

    /// The error for a status received from the server: the one mapping from
    /// etcd's errors to [`ErrorKind`]. The message decides first (exact
    /// match, then the text of a printed status, then an auth message
    /// contained anywhere), the code second; see the [`Error`] docs.
    pub(crate) fn from_grpc(code: GrpcCode, message: &str) -> Error {
        let (message, kind) = if let Some((known, kind)) = lookup_exact(message) {
            (Cow::Borrowed(known), kind)
        } else {
            let kind = parse_printed_status(message)
                .and_then(|(_, desc)| lookup_exact(desc))
                .map(|(_, kind)| kind)
                .or_else(|| lookup_auth_within(message))
                .unwrap_or_else(|| ErrorKind::for_code(code));
            (Cow::Owned(message.to_owned()), kind)
        };
        Error::build(kind, Some(code), message)
    }

    /// The error for a watch that the server cancelled with a reason
    /// (`WatchResponse.cancel_reason`). A reason that is a printed status
    /// (`rpc error: code = C desc = ...`) keeps its code `C`; any other
    /// reason is taken as `FailedPrecondition`, as the Go client does.
    pub(crate) fn from_watch_cancel_reason(reason: &str) -> Error {
        let code = parse_printed_status(reason).map(|(code, _)| code).unwrap_or(GrpcCode::FailedPrecondition);
        Error::from_grpc(code, reason)
    }

    /// An error made by the client itself (no gRPC code).
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error::build(kind, None, Cow::Owned(message.into()))
    }

    /// Bad configuration or input, found by the client before sending.
    pub(crate) fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// Attaches the underlying cause, returned by
    /// [`source`](StdError::source).
    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Error {
        self.inner.source = Some(Arc::new(source));
        self
    }

    /// Records the endpoint the failure came from. Any `user:password@` part
    /// is dropped, so no credential can reach a log through an error.
    pub(crate) fn with_endpoint(mut self, endpoint: impl Into<String>) -> Error {
        self.inner.endpoint = Some(strip_userinfo(endpoint.into()));
        self
    }

    /// Records the compact revision of a watch ended by compaction.
    pub(crate) fn with_compact_revision(mut self, revision: i64) -> Error {
        self.inner.compact_revision = Some(revision);
        self
    }

    /// Marks a write that may have reached the server: see
    /// [`outcome_unknown`](Error::outcome_unknown).
    pub(crate) fn with_outcome_unknown(mut self) -> Error {
        self.inner.outcome_unknown = true;
        self
    }

    /// For the transport, on a write that may have reached the server: false
    /// when this error proves the server refused the write unexecuted
    /// (validation, auth, quota, lease, membership errors, no leader), true
    /// when the write may still be applied (server-side timeouts, a stopping
    /// member, cancellation, deadline, lost connection, unrecognised
    /// statuses). When true, the transport should call
    /// [`with_outcome_unknown`](Error::with_outcome_unknown).
    pub(crate) fn write_may_have_applied(&self) -> bool {
        self.inner.kind.leaves_write_outcome_open()
    }

    /// For the transport: the server refused the request because of the
    /// token it carried (expired, issued before an auth change, or missing).
    /// Re-authenticating and retrying once is safe for any request, since the
    /// server did not execute it. For [`UserEmpty`](ErrorKind::UserEmpty)
    /// this only helps when the client has a user name and password.
    #[allow(dead_code, reason = "for the transport")]
    pub(crate) fn wants_token_refresh(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::InvalidAuthToken | ErrorKind::AuthOldRevision | ErrorKind::UserEmpty)
    }

    fn build(kind: ErrorKind, code: Option<GrpcCode>, message: Cow<'static, str>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                code,
                message,
                endpoint: None,
                outcome_unknown: false,
                compact_revision: None,
                source: None,
            }),
        }
    }
}

/// Drops a `user:password@` part from an endpoint, with or without a scheme.
fn strip_userinfo(endpoint: String) -> String {
    let authority_start = endpoint.find("://").map_or(0, |i| i + 3);
    let authority_end =
        endpoint[authority_start..].find(['/', '?', '#']).map_or(endpoint.len(), |i| authority_start + i);
    match endpoint[authority_start..authority_end].rfind('@') {
        Some(at) => {
            let mut clean = String::with_capacity(endpoint.len());
            clean.push_str(&endpoint[..authority_start]);
            clean.push_str(&endpoint[authority_start + at + 1..]);
            clean
        }
        None => endpoint,
    }
}

/// Writes `text` with line breaks turned into spaces, so an error is always
/// one line.
fn write_one_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for (i, part) in text.split(['\n', '\r']).enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        f.write_str(part)?;
    }
    Ok(())
}

impl fmt::Display for Error {
    /// One line: the message, then in parentheses the kind, the gRPC code
    /// (when it adds something), the endpoint and the outcome flag. For
    /// example: `etcdserver: key is not provided (EmptyKey, code
    /// InvalidArgument, endpoint http://10.0.0.1:2379)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        // An empty message gives its place to the kind.
        let kind_in_details = !inner.message.is_empty();
        if kind_in_details {
            write_one_line(f, &inner.message)?;
        } else {
            f.write_str(inner.kind.as_str())?;
        }
        let code = inner.code.filter(|code| code.as_str() != inner.kind.as_str());
        let mut sep = " (";
        if kind_in_details {
            write!(f, "{sep}{}", inner.kind)?;
            sep = ", ";
        }
        if let Some(code) = code {
            write!(f, "{sep}code {code}")?;
            sep = ", ";
        }
        if let Some(endpoint) = &inner.endpoint {
            write!(f, "{sep}endpoint ")?;
            write_one_line(f, endpoint)?;
            sep = ", ";
        }
        if inner.outcome_unknown {
            write!(f, "{sep}write outcome unknown")?;
            sep = ", ";
        }
        if sep == ", " {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &inner.kind);
        if let Some(code) = inner.code {
            d.field("code", &code);
        }
        d.field("message", &inner.message);
        if let Some(endpoint) = &inner.endpoint {
            d.field("endpoint", endpoint);
        }
        if inner.outcome_unknown {
            d.field("outcome_unknown", &true);
        }
        if let Some(source) = &inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner.source.as_deref().map(|source| source as &(dyn StdError + 'static))
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use GrpcCode::{
        Aborted, AlreadyExists, Cancelled, DataLoss, DeadlineExceeded, FailedPrecondition, Internal, InvalidArgument,
        NotFound, OutOfRange, PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable, Unimplemented,
        Unknown,
    };

    /// One row of etcd's error table, written out independently of
    /// `SERVER_MESSAGES`: the exact message, the kind it must map to, and
    /// every code it can arrive with (3.6 first, then 3.4/3.5 where they
    /// differ, then `Unknown` where the server sends it so).
    struct Row {
        name: &'static str,
        message: &'static str,
        kind: ErrorKind,
        codes: &'static [GrpcCode],
    }

    const fn row(name: &'static str, message: &'static str, kind: ErrorKind, codes: &'static [GrpcCode]) -> Row {
        Row { name, message, kind, codes }
    }

    #[rustfmt::skip]
    const ROWS: &[Row] = &[
        // KV and request validation
        row("EmptyKey", "etcdserver: key is not provided", ErrorKind::EmptyKey, &[InvalidArgument]),
        row("KeyNotFound", "etcdserver: key not found", ErrorKind::KeyNotFound, &[InvalidArgument]),
        row("ValueProvided", "etcdserver: value is provided", ErrorKind::ValueProvided, &[InvalidArgument]),
        row("LeaseProvided", "etcdserver: lease is provided", ErrorKind::LeaseProvided, &[InvalidArgument]),
        row("TooManyOps", "etcdserver: too many operations in txn request", ErrorKind::TooManyOps, &[InvalidArgument]),
        row("DuplicateKey", "etcdserver: duplicate key given in txn request", ErrorKind::DuplicateKey, &[InvalidArgument]),
        row("InvalidSortOption", "etcdserver: invalid sort option", ErrorKind::InvalidSortOption, &[InvalidArgument]),
        row("InvalidClientApiVersion", "etcdserver: invalid client api version", ErrorKind::InvalidClientApiVersion, &[InvalidArgument]),
        row("Compacted", "etcdserver: mvcc: required revision has been compacted", ErrorKind::Compacted, &[OutOfRange]),
        row("FutureRev", "etcdserver: mvcc: required revision is a future revision", ErrorKind::FutureRev, &[OutOfRange]),
        row("NoSpace", "etcdserver: mvcc: database space exceeded", ErrorKind::NoSpace, &[ResourceExhausted]),
        row("RequestTooLarge", "etcdserver: request is too large", ErrorKind::RequestTooLarge, &[InvalidArgument]),
        row("TooManyRequests", "etcdserver: too many requests", ErrorKind::TooManyRequests, &[ResourceExhausted, Unknown]),
        // Lease
        row("LeaseNotFound", "etcdserver: requested lease not found", ErrorKind::LeaseNotFound, &[NotFound]),
        row("LeaseExist", "etcdserver: lease already exists", ErrorKind::LeaseExist, &[FailedPrecondition]),
        row("LeaseTtlTooLarge", "etcdserver: too large lease TTL", ErrorKind::LeaseTtlTooLarge, &[OutOfRange]),
        // Watch (the mvcc ones arrive as cancel reasons; see the watch test)
        row("WatchCanceled", "etcdserver: watch canceled", ErrorKind::WatchCanceled, &[Cancelled]),
        row("WatcherDuplicateId", "mvcc: duplicate watch ID provided on the WatchStream", ErrorKind::WatcherDuplicateId, &[FailedPrecondition]),
        row("EmptyWatcherRange", "mvcc: watcher range is empty", ErrorKind::EmptyWatcherRange, &[FailedPrecondition]),
        // Cluster membership
        row("MemberExist", "etcdserver: member ID already exist", ErrorKind::MemberExist, &[FailedPrecondition]),
        row("PeerUrlExist", "etcdserver: Peer URLs already exists", ErrorKind::PeerUrlExist, &[FailedPrecondition]),
        row("MemberNotEnoughStarted", "etcdserver: re-configuration failed due to not enough started members", ErrorKind::MemberNotEnoughStarted, &[FailedPrecondition, Unknown]),
        row("MemberBadUrls", "etcdserver: given member URLs are invalid", ErrorKind::MemberBadUrls, &[InvalidArgument]),
        row("MemberNotFound", "etcdserver: member not found", ErrorKind::MemberNotFound, &[NotFound]),
        row("MemberNotLearner", "etcdserver: can only promote a learner member", ErrorKind::MemberNotLearner, &[FailedPrecondition]),
        row("LearnerNotReady", "etcdserver: can only promote a learner member which is in sync with leader", ErrorKind::LearnerNotReady, &[FailedPrecondition]),
        row("TooManyLearners", "etcdserver: too many learner members in cluster", ErrorKind::TooManyLearners, &[FailedPrecondition]),
        row("ClusterIdMismatch", "etcdserver: cluster ID mismatch", ErrorKind::ClusterIdMismatch, &[FailedPrecondition]),
        // Auth
        row("RootUserNotExist", "etcdserver: root user does not exist", ErrorKind::RootUserNotExist, &[FailedPrecondition]),
        row("RootRoleNotExist", "etcdserver: root user does not have root role", ErrorKind::RootRoleNotExist, &[FailedPrecondition]),
        row("UserAlreadyExist", "etcdserver: user name already exists", ErrorKind::UserAlreadyExist, &[FailedPrecondition]),
        row("UserEmpty", "etcdserver: user name is empty", ErrorKind::UserEmpty, &[InvalidArgument]),
        row("UserNotFound", "etcdserver: user name not found", ErrorKind::UserNotFound, &[FailedPrecondition]),
        row("RoleAlreadyExist", "etcdserver: role name already exists", ErrorKind::RoleAlreadyExist, &[FailedPrecondition]),
        row("RoleNotFound", "etcdserver: role name not found", ErrorKind::RoleNotFound, &[FailedPrecondition]),
        row("RoleEmpty", "etcdserver: role name is empty", ErrorKind::RoleEmpty, &[InvalidArgument]),
        row("AuthFailed", "etcdserver: authentication failed, invalid user ID or password", ErrorKind::AuthFailed, &[InvalidArgument]),
        row("NoPasswordUser", "auth: authentication failed, password was given for no password user", ErrorKind::NoPasswordUser, &[Unknown]),
        row("PermissionNotGiven", "etcdserver: permission not given", ErrorKind::PermissionNotGiven, &[InvalidArgument]),
        row("PermissionDenied", "etcdserver: permission denied", ErrorKind::PermissionDenied, &[PermissionDenied]),
        row("RoleNotGranted", "etcdserver: role is not granted to the user", ErrorKind::RoleNotGranted, &[FailedPrecondition]),
        row("PermissionNotGranted", "etcdserver: permission is not granted to the role", ErrorKind::PermissionNotGranted, &[FailedPrecondition]),
        row("AuthNotEnabled", "etcdserver: authentication is not enabled", ErrorKind::AuthNotEnabled, &[FailedPrecondition]),
        row("InvalidAuthToken", "etcdserver: invalid auth token", ErrorKind::InvalidAuthToken, &[Unauthenticated]),
        row("InvalidAuthMgmt", "etcdserver: invalid auth management", ErrorKind::InvalidAuthMgmt, &[InvalidArgument]),
        row("AuthOldRevision", "etcdserver: revision of auth store is old", ErrorKind::AuthOldRevision, &[InvalidArgument]),
        row("PermissionDenied (auth store)", "auth: permission denied", ErrorKind::PermissionDenied, &[Unknown]),
        row("UserEmpty (auth store)", "auth: user name is empty", ErrorKind::UserEmpty, &[Unknown]),
        row("UserNotFound (auth store)", "auth: user not found", ErrorKind::UserNotFound, &[Unknown]),
        row("InvalidAuthToken (auth store)", "auth: invalid auth token", ErrorKind::InvalidAuthToken, &[Unknown]),
        row("AuthOldRevision (auth store)", "auth: revision in header is old", ErrorKind::AuthOldRevision, &[Unknown]),
        // Server and cluster state
        row("NoLeader", "etcdserver: no leader", ErrorKind::NoLeader, &[Unavailable]),
        row("NotLeader", "etcdserver: not leader", ErrorKind::NotLeader, &[FailedPrecondition]),
        row("LeaderChanged", "etcdserver: leader changed", ErrorKind::LeaderChanged, &[Unavailable]),
        row("NotCapable", "etcdserver: not capable", ErrorKind::NotCapable, &[FailedPrecondition, Unavailable]),
        row("Stopped", "etcdserver: server stopped", ErrorKind::Stopped, &[Unavailable]),
        row("Timeout", "etcdserver: request timed out", ErrorKind::Timeout, &[Unavailable]),
        row("TimeoutDueToLeaderFail", "etcdserver: request timed out, possibly due to previous leader failure", ErrorKind::TimeoutDueToLeaderFail, &[Unavailable]),
        row("TimeoutDueToConnectionLost", "etcdserver: request timed out, possibly due to connection lost", ErrorKind::TimeoutDueToConnectionLost, &[Unavailable]),
        row("TimeoutWaitAppliedIndex", "etcdserver: request timed out, waiting for the applied index took too long", ErrorKind::TimeoutWaitAppliedIndex, &[Unavailable]),
        row("TimeoutLeaderTransfer", "etcdserver: request timed out, leader transfer took too long", ErrorKind::TimeoutLeaderTransfer, &[Unknown]),
        row("Unhealthy", "etcdserver: unhealthy cluster", ErrorKind::Unhealthy, &[Unavailable]),
        row("Corrupt", "etcdserver: corrupt cluster", ErrorKind::Corrupt, &[DataLoss]),
        row("NotSupportedForLearner", "etcdserver: rpc not supported for learner", ErrorKind::NotSupportedForLearner, &[FailedPrecondition, Unavailable]),
        row("BadLeaderTransferee", "etcdserver: bad leader transferee", ErrorKind::BadLeaderTransferee, &[FailedPrecondition]),
        row("UnknownMethod", "etcdserver: unknown method", ErrorKind::UnknownMethod, &[Unknown]),
        // Downgrade
        row("WrongDowngradeVersionFormat", "etcdserver: wrong downgrade target version format", ErrorKind::WrongDowngradeVersionFormat, &[InvalidArgument]),
        row("InvalidDowngradeTargetVersion", "etcdserver: invalid downgrade target version", ErrorKind::InvalidDowngradeTargetVersion, &[InvalidArgument]),
        row("ClusterVersionUnavailable", "etcdserver: cluster version not found during downgrade", ErrorKind::ClusterVersionUnavailable, &[FailedPrecondition, Unavailable]),
        row("DowngradeInProcess", "etcdserver: cluster has a downgrade job in progress", ErrorKind::DowngradeInProcess, &[FailedPrecondition]),
        row("NoInflightDowngrade", "etcdserver: no inflight downgrade job", ErrorKind::NoInflightDowngrade, &[FailedPrecondition]),
        // Cancellation
        row("Canceled (declared)", "etcdserver: request canceled", ErrorKind::Canceled, &[Cancelled]),
        row("DeadlineExceeded (declared)", "etcdserver: context deadline exceeded", ErrorKind::DeadlineExceeded, &[DeadlineExceeded]),
        row("gRPC deadline", "context deadline exceeded", ErrorKind::DeadlineExceeded, &[DeadlineExceeded, Unknown]),
        row("gRPC cancel", "context canceled", ErrorKind::Canceled, &[Cancelled, Unknown]),
        row("Canceled (server, double l)", "etcdserver: request cancelled", ErrorKind::Canceled, &[Unknown]),
        // Lock and election services
        row("MissingLeaderKey", "\"leader\" field must be provided", ErrorKind::MissingLeaderKey, &[Unknown]),
        row("ElectionNotLeader", "election: not leader", ErrorKind::ElectionNotLeader, &[Unknown]),
        row("ElectionNoLeader", "election: no leader", ErrorKind::ElectionNoLeader, &[Unknown]),
        row("SessionExpired", "mutex: session is expired", ErrorKind::SessionExpired, &[Unknown]),
    ];

    #[test]
    fn every_table_row_maps_with_every_code_it_arrives_with() {
        let mut failures = Vec::new();
        for row in ROWS {
            for &code in row.codes {
                let err = Error::from_grpc(code, row.message);
                if err.kind() != row.kind {
                    failures.push(format!("{}: with {code:?} got {:?}, want {:?}", row.name, err.kind(), row.kind));
                }
                if err.message() != row.message {
                    failures.push(format!("{}: message changed to {:?}", row.name, err.message()));
                }
                if err.grpc_code() != Some(code) {
                    failures.push(format!("{}: code not kept: {:?}", row.name, err.grpc_code()));
                }
            }
        }
        assert!(failures.is_empty(), "rows failing:\n{}", failures.join("\n"));
    }

    #[test]
    fn table_and_test_rows_agree_and_have_no_duplicates() {
        for (i, (message, _)) in SERVER_MESSAGES.iter().enumerate() {
            assert!(
                !SERVER_MESSAGES[..i].iter().any(|(m, _)| m == message),
                "duplicate message in SERVER_MESSAGES: {message}"
            );
            assert!(
                ROWS.iter().any(|r| r.message == *message),
                "SERVER_MESSAGES has {message:?} but the test table does not"
            );
        }
        for row in ROWS {
            assert!(SERVER_MESSAGES.iter().any(|(m, _)| *m == row.message), "{}: not in SERVER_MESSAGES", row.name);
        }
        assert_eq!(SERVER_MESSAGES.len(), ROWS.len());
    }

    #[test]
    fn exact_match_borrows_the_static_message() {
        let err = Error::from_grpc(InvalidArgument, "etcdserver: key is not provided");
        assert!(matches!(err.inner.message, Cow::Borrowed(_)));
    }

    #[test]
    fn message_decides_before_code() {
        // a known message with a code it never arrives with still maps by message
        let err = Error::from_grpc(Internal, "etcdserver: mvcc: required revision has been compacted");
        assert_eq!(err.kind(), ErrorKind::Compacted);
        assert_eq!(err.grpc_code(), Some(Internal));
        // near misses are not matched
        let err = Error::from_grpc(OutOfRange, "etcdserver: mvcc: required revision has been compacted.");
        assert_eq!(err.kind(), ErrorKind::Other);
        let err = Error::from_grpc(Unavailable, "etcdserver: request timed out, somehow");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn unknown_message_falls_back_to_code() {
        let cases = [
            (Unavailable, ErrorKind::Unavailable),
            (DeadlineExceeded, ErrorKind::DeadlineExceeded),
            (Cancelled, ErrorKind::Canceled),
            (Unimplemented, ErrorKind::Unimplemented),
            (ResourceExhausted, ErrorKind::ResourceExhausted),
            (Unauthenticated, ErrorKind::Unauthenticated),
            (PermissionDenied, ErrorKind::PermissionDenied),
            (GrpcCode::Ok, ErrorKind::Other),
            (Unknown, ErrorKind::Other),
            (InvalidArgument, ErrorKind::Other),
            (NotFound, ErrorKind::Other),
            (AlreadyExists, ErrorKind::Other),
            (FailedPrecondition, ErrorKind::Other),
            (Aborted, ErrorKind::Other),
            (OutOfRange, ErrorKind::Other),
            (Internal, ErrorKind::Other),
            (DataLoss, ErrorKind::Other),
        ];
        for (code, kind) in cases {
            let err = Error::from_grpc(code, "something the server said");
            assert_eq!(err.kind(), kind, "code {code:?}");
            assert_eq!(err.grpc_code(), Some(code));
            assert_eq!(err.message(), "something the server said");
        }
        // what gRPC itself sends
        assert_eq!(Error::from_grpc(Cancelled, "context canceled").kind(), ErrorKind::Canceled);
        assert_eq!(Error::from_grpc(DeadlineExceeded, "context deadline exceeded").kind(), ErrorKind::DeadlineExceeded);
        assert_eq!(
            Error::from_grpc(ResourceExhausted, "grpc: received message larger than max (5 vs. 4)").kind(),
            ErrorKind::ResourceExhausted
        );
        assert_eq!(
            Error::from_grpc(Unimplemented, "unknown method RangeStream for service etcdserverpb.KV").kind(),
            ErrorKind::Unimplemented
        );
    }

    #[test]
    fn auth_messages_inside_printed_statuses_are_found() {
        let cases = [
            ("rpc error: code = PermissionDenied desc = etcdserver: permission denied", ErrorKind::PermissionDenied),
            ("rpc error: code = Unauthenticated desc = etcdserver: invalid auth token", ErrorKind::InvalidAuthToken),
            (
                "rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old",
                ErrorKind::AuthOldRevision,
            ),
            ("rpc error: code = InvalidArgument desc = etcdserver: user name is empty", ErrorKind::UserEmpty),
            // not a printed status, but contains an auth message
            ("watch refused: etcdserver: permission denied", ErrorKind::PermissionDenied),
        ];
        for (text, kind) in cases {
            assert_eq!(Error::from_grpc(FailedPrecondition, text).kind(), kind, "{text}");
            assert_eq!(Error::from_grpc(FailedPrecondition, text).message(), text);
        }
        // a non-auth message is not matched by "contains", only as a printed status
        assert_eq!(Error::from_grpc(Unknown, "wrapped: etcdserver: no leader").kind(), ErrorKind::Other);
        assert_eq!(
            Error::from_grpc(Unknown, "rpc error: code = Unavailable desc = etcdserver: no leader").kind(),
            ErrorKind::NoLeader
        );
    }

    #[test]
    fn watch_cancel_reasons() {
        let err =
            Error::from_watch_cancel_reason("rpc error: code = PermissionDenied desc = etcdserver: permission denied");
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert_eq!(err.grpc_code(), Some(PermissionDenied));

        let err =
            Error::from_watch_cancel_reason("rpc error: code = Unauthenticated desc = etcdserver: invalid auth token");
        assert_eq!(err.kind(), ErrorKind::InvalidAuthToken);
        assert_eq!(err.grpc_code(), Some(Unauthenticated));
        assert!(err.wants_token_refresh());

        let err = Error::from_watch_cancel_reason("etcdserver: mvcc: required revision has been compacted");
        assert_eq!(err.kind(), ErrorKind::Compacted);
        assert_eq!(err.grpc_code(), Some(FailedPrecondition));

        for (reason, kind) in [
            ("mvcc: duplicate watch ID provided on the WatchStream", ErrorKind::WatcherDuplicateId),
            ("mvcc: watcher range is empty", ErrorKind::EmptyWatcherRange),
            ("something new", ErrorKind::Other),
        ] {
            let err = Error::from_watch_cancel_reason(reason);
            assert_eq!(err.kind(), kind, "{reason}");
            assert_eq!(err.message(), reason);
        }
    }

    #[test]
    fn retry_classification() {
        let retryable = [
            ErrorKind::Unavailable,
            ErrorKind::NoLeader,
            ErrorKind::LeaderChanged,
            ErrorKind::Stopped,
            ErrorKind::Timeout,
            ErrorKind::TimeoutDueToLeaderFail,
            ErrorKind::TimeoutDueToConnectionLost,
            ErrorKind::TimeoutWaitAppliedIndex,
            ErrorKind::Unhealthy,
            ErrorKind::NotSupportedForLearner,
        ];
        for kind in ALL_KINDS {
            let err = Error::new(*kind, "x");
            assert_eq!(err.is_retryable(), retryable.contains(kind), "{kind:?}");
        }
        // representative server errors, by what they arrive as
        let not_retryable = [
            (InvalidArgument, "etcdserver: key is not provided"),
            (OutOfRange, "etcdserver: mvcc: required revision has been compacted"),
            (FailedPrecondition, "etcdserver: not leader"),
            (Unavailable, "etcdserver: not capable"), // 3.5 code; 3.6 says FailedPrecondition
            (Unavailable, "etcdserver: cluster version not found during downgrade"),
            (Unknown, "etcdserver: too many requests"),
            (InvalidArgument, "etcdserver: authentication failed, invalid user ID or password"),
            (Unauthenticated, "etcdserver: invalid auth token"),
            (PermissionDenied, "etcdserver: permission denied"),
            (ResourceExhausted, "etcdserver: mvcc: database space exceeded"),
            (DataLoss, "etcdserver: corrupt cluster"),
            (DeadlineExceeded, "context deadline exceeded"),
            (Cancelled, "context canceled"),
            (Internal, "h2 protocol error"),
        ];
        for (code, message) in not_retryable {
            assert!(!Error::from_grpc(code, message).is_retryable(), "{message}");
        }
        for (code, message) in [
            (Unavailable, "etcdserver: no leader"),
            (Unavailable, "etcdserver: request timed out"),
            (Unavailable, "etcdserver: rpc not supported for learner"),
            (FailedPrecondition, "etcdserver: rpc not supported for learner"),
            (Unavailable, "transport is closing"),
        ] {
            assert!(Error::from_grpc(code, message).is_retryable(), "{message}");
        }
    }

    #[test]
    fn outcome_unknown_is_set_only_on_request_and_blocks_retry() {
        let err = Error::from_grpc(Unavailable, "etcdserver: request timed out");
        assert!(!err.outcome_unknown());
        assert!(err.is_retryable());
        assert!(err.write_may_have_applied());
        let err = err.with_outcome_unknown();
        assert!(err.outcome_unknown());
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("write outcome unknown"));

        assert!(!Error::from_grpc(InvalidArgument, "etcdserver: key is not provided").write_may_have_applied());
        assert!(!Error::from_grpc(Unavailable, "etcdserver: no leader").write_may_have_applied());
        assert!(!Error::from_grpc(Unknown, "etcdserver: too many requests").write_may_have_applied());
        assert!(Error::from_grpc(Unknown, "what is this").write_may_have_applied());
        assert!(Error::new(ErrorKind::DeadlineExceeded, "deadline").write_may_have_applied());
    }

    #[test]
    fn token_refresh_kinds() {
        assert!(Error::from_grpc(Unauthenticated, "etcdserver: invalid auth token").wants_token_refresh());
        assert!(Error::from_grpc(InvalidArgument, "etcdserver: revision of auth store is old").wants_token_refresh());
        assert!(Error::from_grpc(InvalidArgument, "etcdserver: user name is empty").wants_token_refresh());
        assert!(!Error::from_grpc(InvalidArgument, "etcdserver: authentication failed, invalid user ID or password")
            .wants_token_refresh());
        assert!(!Error::from_grpc(PermissionDenied, "etcdserver: permission denied").wants_token_refresh());
    }

    #[test]
    fn display_is_one_line_with_message_kind_code_endpoint() {
        let err =
            Error::from_grpc(InvalidArgument, "etcdserver: key is not provided").with_endpoint("http://10.0.0.1:2379");
        assert_eq!(
            err.to_string(),
            "etcdserver: key is not provided (EmptyKey, code InvalidArgument, endpoint http://10.0.0.1:2379)"
        );

        // the code is left out when it only repeats the kind
        let err = Error::from_grpc(Unavailable, "connection refused");
        assert_eq!(err.to_string(), "connection refused (Unavailable)");

        let err = Error::invalid_argument("endpoint list is empty");
        assert_eq!(err.to_string(), "endpoint list is empty (InvalidArgument)");
        assert_eq!(err.grpc_code(), None);

        let err = Error::from_grpc(Unavailable, "");
        assert_eq!(err.to_string(), "Unavailable");
        let err = Error::from_grpc(Internal, "").with_endpoint("e:1");
        assert_eq!(err.to_string(), "Other (code Internal, endpoint e:1)");

        let err = Error::new(ErrorKind::Protocol, "bad frame\nsecond line\r\nthird");
        let shown = err.to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
        assert!(shown.contains("bad frame second line"), "{shown}");
        assert!(shown.contains("Protocol"), "{shown}");
    }

    #[test]
    fn endpoint_never_carries_credentials() {
        let cases = [
            ("http://user:secret@10.0.0.1:2379", "http://10.0.0.1:2379"),
            ("https://user:secret@etcd.example:2379/path?x=1", "https://etcd.example:2379/path?x=1"),
            ("user:secret@10.0.0.1:2379", "10.0.0.1:2379"),
            ("http://10.0.0.1:2379", "http://10.0.0.1:2379"),
            ("10.0.0.1:2379", "10.0.0.1:2379"),
            ("unix:///tmp/etcd@1.sock", "unix:///tmp/etcd@1.sock"),
        ];
        for (given, want) in cases {
            let err = Error::new(ErrorKind::Unavailable, "down").with_endpoint(given);
            assert_eq!(err.endpoint(), Some(want), "{given}");
            assert!(!err.to_string().contains("secret"));
            assert!(!format!("{err:?}").contains("secret"));
        }
    }

    #[derive(Debug)]
    struct Cause;
    impl fmt::Display for Cause {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the cause")
        }
    }
    impl StdError for Cause {}

    #[test]
    fn source_chain_and_debug() {
        let err =
            Error::new(ErrorKind::Tls, "handshake failed").with_source(Cause).with_endpoint("https://10.0.0.1:2379");
        let source = err.source().expect("source kept");
        assert_eq!(source.to_string(), "the cause");
        assert!(source.downcast_ref::<Cause>().is_some());
        // a clone shares the source
        assert!(err.clone().source().is_some());

        let debug = format!("{err:?}");
        assert!(debug.starts_with("Error {"), "{debug}");
        assert!(debug.contains("kind: Tls"), "{debug}");
        assert!(debug.contains("message: \"handshake failed\""), "{debug}");
        assert!(debug.contains("endpoint: \"https://10.0.0.1:2379\""), "{debug}");
        assert!(debug.contains("source: Cause"), "{debug}");
        assert!(!debug.contains("code"), "{debug}");

        let debug =
            format!("{:?}", Error::from_grpc(OutOfRange, "etcdserver: mvcc: required revision has been compacted"));
        assert!(debug.contains("code: OutOfRange"), "{debug}");
        assert!(Error::invalid_argument("x").source().is_none());
    }

    #[test]
    fn error_is_send_sync_static_and_small() {
        fn assert_traits<T: Send + Sync + 'static + StdError + Clone>() {}
        assert_traits::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        assert_eq!(std::mem::size_of::<Result<()>>(), std::mem::size_of::<usize>());
        // usable as a boxed dynamic error
        let boxed: Box<dyn StdError + Send + Sync> = Box::new(Error::invalid_argument("x"));
        assert!(boxed.to_string().contains("InvalidArgument"));
    }

    #[test]
    fn grpc_code_round_trip() {
        for n in 0..=16 {
            let code = GrpcCode::from_i32(n);
            assert_eq!(code.as_i32(), n);
            assert_eq!(code.as_str(), format!("{code:?}"));
            assert_eq!(code.to_string(), code.as_str());
            assert_eq!(GrpcCode::from_go_name(code.as_str()), Some(code));
        }
        for n in [-1, 17, 100, i32::MAX, i32::MIN] {
            assert_eq!(GrpcCode::from_i32(n), GrpcCode::Unknown);
        }
        assert_eq!(GrpcCode::from_go_name("Canceled"), Some(GrpcCode::Cancelled));
        assert_eq!(GrpcCode::from_go_name("OK"), Some(GrpcCode::Ok));
        assert_eq!(GrpcCode::from_go_name("Nope"), None);
    }

    #[test]
    fn kind_names_match_variants_and_are_unique() {
        for (i, kind) in ALL_KINDS.iter().enumerate() {
            assert_eq!(kind.as_str(), format!("{kind:?}"));
            assert_eq!(kind.to_string(), kind.as_str());
            assert!(!ALL_KINDS[..i].contains(kind));
        }
        // every kind in the table is reachable, and every auth kind is in it
        for kind in ALL_KINDS.iter().filter(|k| k.is_auth()) {
            assert!(SERVER_MESSAGES.iter().any(|(_, k)| k == kind), "{kind:?}");
        }
    }
}
