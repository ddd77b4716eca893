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

mod display;
mod grpc_code;
mod kind;
mod table;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::error::Error as StdError;
use std::sync::Arc;

pub use grpc_code::GrpcCode;
pub use kind::ErrorKind;

/// The result type of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
        let (message, kind) = table::classify(code, message);
        Error::build(kind, Some(code), message)
    }

    /// The error for a watch that the server cancelled with a reason
    /// (`WatchResponse.cancel_reason`). A reason that is a printed status
    /// (`rpc error: code = C desc = ...`) keeps its code `C`; any other
    /// reason is taken as `FailedPrecondition`, as the Go client does.
    pub(crate) fn from_watch_cancel_reason(reason: &str) -> Error {
        let code = table::parse_printed_status(reason).map(|(code, _)| code).unwrap_or(GrpcCode::FailedPrecondition);
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

    /// A response that breaks the protocol: malformed framing, a message
    /// that does not decode, or one that lacks what etcd always sends.
    pub(crate) fn protocol(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Protocol, message)
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
        table::row_of(self.inner.kind).write_may_have_applied()
    }

    /// For the transport: the server refused the request because of the
    /// token it carried (expired, issued before an auth change, or missing).
    /// Re-authenticating and retrying once is safe for any request, since the
    /// server did not execute it. For [`UserEmpty`](ErrorKind::UserEmpty)
    /// this only helps when the client has a user name and password.
    #[allow(dead_code, reason = "for the transport")]
    pub(crate) fn wants_token_refresh(&self) -> bool {
        table::row_of(self.inner.kind).wants_token_refresh()
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

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner.source.as_deref().map(|source| source as &(dyn StdError + 'static))
    }
}
