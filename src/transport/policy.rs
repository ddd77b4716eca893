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
//! - A learner's refusal (`NotSupportedForLearner`) goes to the next
//!   endpoint, writes included: the learner refuses before executing. Once
//!   every endpoint refused so in a row ([`LearnerPass`]), the call ends.
//! - Streams follow the same rule as a repeatable call (their owners resume
//!   from their own point, so reopening repeats nothing), and a server
//!   cancelling or ending a stream is a reason to reopen it.
//! - A reply that breaks the protocol (not gRPC, undecodable, no status)
//!   ends the call at once: the server that sent it would most likely
//!   send it again, and `Protocol` is not retryable. A write's outcome is
//!   then unknown, since the server may have applied it before replying.

use crate::error::{Error, ErrorKind};

use super::rpc::Rpc;

/// How one attempt failed, which decides whether another may follow.
pub(crate) enum Failure {
    /// The request never left (no connection, refused stream).
    NotSent(Error),
    /// The request may have been processed.
    MaybeSent(Error),
    /// The server answered with an error status.
    Status(Error),
}

impl Failure {
    /// A failure of a stream, which has no "not sent" state worth telling
    /// apart: a status from the server, or anything else.
    pub(crate) fn of_stream(error: Error) -> Failure {
        if error.grpc_code().is_some() && error.kind() != ErrorKind::Protocol {
            Failure::Status(error)
        } else {
            Failure::MaybeSent(error)
        }
    }
}

/// What to do after a failed attempt. A write whose outcome is left open
/// carries that on its error ([`Error::outcome_unknown`]).
#[derive(Debug)]
pub(crate) enum Decision {
    /// Try the next endpoint.
    Next(Error),
    /// Refresh the token, then try this endpoint again.
    Refresh(Error),
    /// Return this error: no other attempt can fix it.
    Stop(Error),
}

/// What the rule needs to know of a call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rule {
    /// Sending it twice does no harm (reads, lists, status; see
    /// [`Rpc::repeatable`]).
    repeatable: bool,
    /// `NoLeader` proves it was not applied (all but a forwarded promotion).
    no_leader_definite: bool,
    /// A long-lived stream that resumes from a point its owner keeps: the
    /// server ending or cancelling it is a reason to open it again.
    resumes: bool,
}

impl Rule {
    /// The rule for a unary call of `rpc`.
    pub(crate) fn unary(rpc: &Rpc) -> Rule {
        Rule { repeatable: rpc.repeatable, no_leader_definite: rpc.no_leader_is_definite(), resumes: false }
    }

    /// The rule for a stream: opening it again repeats nothing, since its
    /// owner resumes from what it last saw.
    pub(crate) const STREAM: Rule = Rule { repeatable: true, no_leader_definite: true, resumes: true };
}

/// The rule.
pub(crate) fn decide(failure: Failure, rule: Rule) -> Decision {
    let Rule { repeatable, no_leader_definite, resumes } = rule;
    match failure {
        Failure::NotSent(e) => Decision::Next(e),
        Failure::MaybeSent(e) if e.kind() == ErrorKind::Protocol && repeatable => Decision::Stop(e),
        Failure::MaybeSent(e) if repeatable => Decision::Next(e),
        Failure::MaybeSent(e) => Decision::Stop(e.with_outcome_unknown()),
        Failure::Status(e) if e.wants_token_refresh() => Decision::Refresh(e),
        // A learner refuses before it executes anything: writes too.
        Failure::Status(e) if learner_refusal(&e) => Decision::Next(e),
        Failure::Status(e) if leaderless(&e) && (repeatable || no_leader_definite) => Decision::Next(e),
        Failure::Status(e) if leaderless(&e) => Decision::Stop(e.with_outcome_unknown()),
        Failure::Status(e) if repeatable && e.is_retryable() => Decision::Next(e),
        Failure::Status(e) if resumes && matches!(e.kind(), ErrorKind::Canceled | ErrorKind::DeadlineExceeded) => {
            // A member shutting down cancels its streams.
            Decision::Next(e)
        }
        Failure::Status(e) if !repeatable && e.write_may_have_applied() => Decision::Stop(e.with_outcome_unknown()),
        Failure::Status(e) => Decision::Stop(e),
    }
}

/// Whether a status says this member cannot serve until it has a leader
/// again: it leaves the rotation.
pub(crate) fn leaderless(error: &Error) -> bool {
    error.kind() == ErrorKind::NoLeader
}

/// Whether a member refused because it is a learner: another member may
/// serve, but once every member has refused so, no retry will help.
pub(crate) fn learner_refusal(error: &Error) -> bool {
    error.kind() == ErrorKind::NotSupportedForLearner
}

/// Counts, over one pass of the endpoints, whether every one refused as a
/// learner: then the call or stream ends at once instead of going round.
#[derive(Debug, Default)]
pub(crate) struct LearnerPass {
    refused: usize,
}

impl LearnerPass {
    /// Records an attempt's failure; true once `endpoints` learners in a
    /// row refused.
    pub(crate) fn all_learners(&mut self, error: &Error, endpoints: usize) -> bool {
        if learner_refusal(error) {
            self.refused += 1;
        } else {
            self.refused = 0;
        }
        self.refused >= endpoints.max(1)
    }

    /// An answer came: start counting again.
    pub(crate) fn reset(&mut self) {
        self.refused = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::GrpcCode;

    /// The rule for unary RPCs whose `NoLeader` is definite (all but one).
    fn decide(failure: Failure, repeatable: bool) -> Decision {
        super::decide(failure, Rule { repeatable, no_leader_definite: true, resumes: false })
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
            Decision::Stop(e) => assert!(e.outcome_unknown()),
            other => panic!("{other:?}"),
        }
        match decide(status(GrpcCode::Unavailable, "etcdserver: request timed out"), false) {
            Decision::Stop(e) => assert!(e.outcome_unknown(), "{e}"),
            other => panic!("{other:?}"),
        }
        match decide(status(GrpcCode::Unavailable, "etcdserver: leader changed"), false) {
            Decision::Stop(e) => assert!(e.outcome_unknown(), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn definite_write_failures_are_not_unknown() {
        match decide(status(GrpcCode::InvalidArgument, "etcdserver: key is not provided"), false) {
            Decision::Stop(e) => assert!(!e.outcome_unknown()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_leader_sends_writes_elsewhere_too_except_a_forwarded_promotion() {
        assert!(matches!(decide(status(GrpcCode::Unavailable, "etcdserver: no leader"), false), Decision::Next(_)));
        match super::decide(
            status(GrpcCode::Unavailable, "etcdserver: no leader"),
            Rule { repeatable: false, no_leader_definite: false, resumes: false },
        ) {
            Decision::Stop(e) => assert!(e.outcome_unknown(), "{e}"),
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
            Decision::Stop(_)
        ));
        assert!(matches!(
            decide(status(GrpcCode::PermissionDenied, "etcdserver: permission denied"), true),
            Decision::Stop(_)
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
            Decision::Stop(_)
        ));
    }

    #[test]
    fn protocol_violations_are_not_asked_again() {
        let violation = || Error::new(ErrorKind::Protocol, "undecodable response message");
        match decide(Failure::MaybeSent(violation()), true) {
            Decision::Stop(e) => assert!(e.kind() == ErrorKind::Protocol && !e.outcome_unknown(), "{e}"),
            other => panic!("{other:?}"),
        }
        match decide(Failure::MaybeSent(violation()), false) {
            Decision::Stop(e) => assert!(e.outcome_unknown(), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(decide(Failure::Status(violation()), true), Decision::Stop(_)));
    }

    #[test]
    fn no_leader_takes_a_member_out() {
        assert!(leaderless(&Error::from_grpc(GrpcCode::Unavailable, "etcdserver: no leader")));
        assert!(!leaderless(&Error::from_grpc(GrpcCode::Unavailable, "etcdserver: leader changed")));
    }

    #[test]
    fn learners_send_writes_to_a_voter() {
        let refusal = || status(GrpcCode::Unavailable, "etcdserver: rpc not supported for learner");
        match decide(refusal(), false) {
            Decision::Next(e) => assert!(!e.outcome_unknown(), "{e}"),
            other => panic!("{other:?}"),
        }
        let error = Error::from_grpc(GrpcCode::Unavailable, "etcdserver: rpc not supported for learner");
        let mut pass = LearnerPass::default();
        assert!(!pass.all_learners(&error, 2));
        assert!(pass.all_learners(&error, 2));
        pass.reset();
        assert!(!pass.all_learners(&error, 2));
        assert!(!pass.all_learners(&unavailable(), 2));
        assert!(!pass.all_learners(&error, 2));
    }

    #[test]
    fn streams_reopen_after_a_server_cancel_and_stop_on_refusals() {
        let stream = |e: Error| super::decide(Failure::of_stream(e), Rule::STREAM);
        assert!(matches!(stream(Error::from_grpc(GrpcCode::Cancelled, "context canceled")), Decision::Next(_)));
        assert!(matches!(stream(unavailable()), Decision::Next(_)));
        assert!(matches!(
            stream(Error::from_grpc(GrpcCode::Unauthenticated, "etcdserver: invalid auth token")),
            Decision::Refresh(_)
        ));
        for (code, message) in [
            (GrpcCode::PermissionDenied, "etcdserver: permission denied"),
            (GrpcCode::Unimplemented, "unknown service etcdserverpb.Watch"),
            (GrpcCode::InvalidArgument, "etcdserver: authentication failed, invalid user ID or password"),
        ] {
            assert!(matches!(stream(Error::from_grpc(code, message)), Decision::Stop(_)), "{message}");
        }
        assert!(matches!(stream(Error::new(ErrorKind::Protocol, "not gRPC")), Decision::Stop(_)));
        // Unary calls do not resume: a server's cancel ends them.
        let unary = Rule { repeatable: true, no_leader_definite: true, resumes: false };
        let cancel = Failure::Status(Error::from_grpc(GrpcCode::Cancelled, "context canceled"));
        assert!(matches!(super::decide(cancel, unary), Decision::Stop(_)));
    }
}
