//! The retry rule, the same for every RPC, written once.
//!
//! - A request that cannot have reached a server (no connection, refused
//!   stream) may always go to the next endpoint.
//! - Once it may have reached one, only repeatable RPCs (reads, status,
//!   lists: [`Rpc::repeatable`](super::rpc::Rpc)) are sent again, and
//!   only on errors that say "try elsewhere" (Unavailable and its
//!   relatives). A write that failed after it may have been applied fails
//!   with its outcome unknown; it is never sent twice.
//! - A refused token (invalid, from an older auth revision, or missing) is
//!   refreshed and the call sent once more, writes included: etcd checks
//!   the token before it applies anything.
//! - `NoLeader` goes to the next endpoint, writes included: etcd sends it
//!   before it proposes anything (the require-leader check, or waiting for
//!   a leader to forward a lease call to). The one exception is a member
//!   promotion, which a member may forward to the leader before losing it:
//!   there `NoLeader` leaves the outcome unknown.
//! - A reply that breaks the protocol (not gRPC, undecodable, no status)
//!   ends the call at once: the server that sent it would most likely
//!   send it again, and `Protocol` is not retryable. A write's outcome is
//!   then unknown, since the server may have applied it before replying.

use crate::error::{Error, ErrorKind};

/// How one attempt failed, which decides whether another may follow.
pub(super) enum Failure {
    /// The request never left (no connection, refused stream).
    NotSent(Error),
    /// The request may have been processed.
    MaybeSent(Error),
    /// The server answered with an error status.
    Status(Error),
}

/// What to do after a failed attempt.
#[derive(Debug)]
pub(super) enum Decision {
    /// Try the next endpoint.
    Next(Error),
    /// Refresh the token and try again (once per call).
    Refresh(Error),
    /// Return this error.
    Fail(Error),
}

/// The rule, for an RPC that is `repeatable` or not, and for which
/// `NoLeader` is definite or not ([`Rpc::no_leader_is_definite`](super::rpc::Rpc::no_leader_is_definite)).
pub(super) fn decide(failure: Failure, repeatable: bool, no_leader_definite: bool) -> Decision {
    match failure {
        Failure::NotSent(e) => Decision::Next(e),
        Failure::MaybeSent(e) if e.kind() == ErrorKind::Protocol && repeatable => Decision::Fail(e),
        Failure::MaybeSent(e) if repeatable => Decision::Next(e),
        Failure::MaybeSent(e) => Decision::Fail(e.with_outcome_unknown()),
        Failure::Status(e) if e.wants_token_refresh() => Decision::Refresh(e),
        Failure::Status(e) if leaderless(&e) && (repeatable || no_leader_definite) => Decision::Next(e),
        Failure::Status(e) if leaderless(&e) => Decision::Fail(e.with_outcome_unknown()),
        Failure::Status(e) if repeatable && e.is_retryable() => Decision::Next(e),
        Failure::Status(e) if !repeatable && e.write_may_have_applied() => Decision::Fail(e.with_outcome_unknown()),
        Failure::Status(e) => Decision::Fail(e),
    }
}

/// Whether a status says this member cannot serve until it has a leader
/// again: it leaves the rotation.
pub(super) fn leaderless(error: &Error) -> bool {
    error.kind() == ErrorKind::NoLeader
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::GrpcCode;

    /// The rule for RPCs whose `NoLeader` is definite (all but one).
    fn decide(failure: Failure, repeatable: bool) -> Decision {
        super::decide(failure, repeatable, true)
    }

    fn status(code: GrpcCode, message: &str) -> Failure {
        Failure::Status(Error::from_grpc(code, message))
    }

    fn unavailable() -> Error {
        Error::new(ErrorKind::Unavailable, "connection reset")
    }

    #[test]
    fn unsent_requests_always_fail_over() {
        assert!(matches!(decide(Failure::NotSent(unavailable()), false), Decision::Next(_)));
        assert!(matches!(decide(Failure::NotSent(unavailable()), true), Decision::Next(_)));
    }

    #[test]
    fn sent_writes_are_never_resent_and_say_so() {
        match decide(Failure::MaybeSent(unavailable()), false) {
            Decision::Fail(e) => assert!(e.outcome_unknown()),
            other => panic!("{other:?}"),
        }
        match decide(status(GrpcCode::Unavailable, "etcdserver: request timed out"), false) {
            Decision::Fail(e) => assert!(e.outcome_unknown(), "{e}"),
            other => panic!("{other:?}"),
        }
        match decide(status(GrpcCode::Unavailable, "etcdserver: leader changed"), false) {
            Decision::Fail(e) => assert!(e.outcome_unknown(), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn definite_write_failures_are_not_unknown() {
        match decide(status(GrpcCode::InvalidArgument, "etcdserver: key is not provided"), false) {
            Decision::Fail(e) => assert!(!e.outcome_unknown()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_leader_sends_writes_elsewhere_too_except_a_forwarded_promotion() {
        assert!(matches!(decide(status(GrpcCode::Unavailable, "etcdserver: no leader"), false), Decision::Next(_)));
        match super::decide(status(GrpcCode::Unavailable, "etcdserver: no leader"), false, false) {
            Decision::Fail(e) => assert!(e.outcome_unknown(), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_go_elsewhere_on_unavailable_kinds_only() {
        assert!(matches!(decide(Failure::MaybeSent(unavailable()), true), Decision::Next(_)));
        for message in ["etcdserver: no leader", "etcdserver: leader changed", "etcdserver: request timed out"] {
            assert!(matches!(decide(status(GrpcCode::Unavailable, message), true), Decision::Next(_)), "{message}");
        }
        assert!(matches!(
            decide(status(GrpcCode::Unavailable, "etcdserver: rpc not supported for learner"), true),
            Decision::Next(_)
        ));
        assert!(matches!(
            decide(status(GrpcCode::OutOfRange, "etcdserver: mvcc: required revision has been compacted"), true),
            Decision::Fail(_)
        ));
        assert!(matches!(
            decide(status(GrpcCode::PermissionDenied, "etcdserver: permission denied"), true),
            Decision::Fail(_)
        ));
    }

    #[test]
    fn refused_tokens_are_refreshed_for_reads_and_writes() {
        for repeatable in [true, false] {
            for (code, message) in [
                (GrpcCode::Unauthenticated, "etcdserver: invalid auth token"),
                (GrpcCode::InvalidArgument, "etcdserver: revision of auth store is old"),
                (GrpcCode::InvalidArgument, "etcdserver: user name is empty"),
            ] {
                assert!(matches!(decide(status(code, message), repeatable), Decision::Refresh(_)), "{message}");
            }
        }
        assert!(matches!(
            decide(
                status(GrpcCode::InvalidArgument, "etcdserver: authentication failed, invalid user ID or password"),
                true
            ),
            Decision::Fail(_)
        ));
    }

    #[test]
    fn protocol_violations_are_not_asked_again() {
        let violation = || Error::new(ErrorKind::Protocol, "undecodable response message");
        match decide(Failure::MaybeSent(violation()), true) {
            Decision::Fail(e) => assert!(e.kind() == ErrorKind::Protocol && !e.outcome_unknown(), "{e}"),
            other => panic!("{other:?}"),
        }
        match decide(Failure::MaybeSent(violation()), false) {
            Decision::Fail(e) => assert!(e.outcome_unknown(), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(decide(Failure::Status(violation()), true), Decision::Fail(_)));
    }

    #[test]
    fn no_leader_takes_a_member_out() {
        assert!(leaderless(&Error::from_grpc(GrpcCode::Unavailable, "etcdserver: no leader")));
        assert!(!leaderless(&Error::from_grpc(GrpcCode::Unavailable, "etcdserver: leader changed")));
    }
}
