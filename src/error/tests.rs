//! The error as the rest of the crate sees it: how server statuses are
//! classified, the retry, token and write-outcome answers, endpoints and
//! sources. The table's own rows are pinned in `table.rs`.

use std::fmt;

use super::kind::ALL_KINDS;
use super::*;
use GrpcCode::{
    Aborted, AlreadyExists, Cancelled, DataLoss, DeadlineExceeded, FailedPrecondition, Internal, InvalidArgument,
    NotFound, OutOfRange, PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable, Unimplemented, Unknown,
};

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
    let err = Error::new(ErrorKind::Tls, "handshake failed").with_source(Cause).with_endpoint("https://10.0.0.1:2379");
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

    let debug = format!("{:?}", Error::from_grpc(OutOfRange, "etcdserver: mvcc: required revision has been compacted"));
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
