//! etcd's error table: one row per [`ErrorKind`], with the texts etcd sends
//! for it, the gRPC codes they arrive with, and what the error says about the
//! request that got it. The mapping from a server status to a kind, and every
//! retry, token and write-outcome answer, is read from here.

use std::borrow::Cow;

use super::kind::ALL_KINDS;
use super::{ErrorKind, GrpcCode};

/// Sending the same request again, to this or another member, is safe and
/// likely to help.
const RETRYABLE: u8 = 1;
/// The server refused the request because of its token (expired, older than
/// an auth change, or missing): authenticate again, then retry.
const REFRESH_TOKEN: u8 = 1 << 1;
/// A write that got this error may still be applied (timeouts, a stopping
/// member, a lost connection, anything unrecognised).
const MAY_HAVE_APPLIED: u8 = 1 << 2;
/// An error of etcd's auth subsystem: found anywhere inside a text, because
/// a watch refused by auth carries the whole printed status as its reason.
const AUTH: u8 = 1 << 3;
/// None of the above: the server refused the request unexecuted, or the
/// client never sent it, and sending it again would fail the same way.
const REFUSED: u8 = 0;

/// One error: its kind, what etcd sends for it, and what it means.
pub(super) struct Row {
    pub(super) kind: ErrorKind,
    /// The texts etcd sends, exactly as sent: the current one first, then
    /// those that older releases or other server paths send. Empty for errors
    /// only the client makes.
    pub(super) texts: &'static [&'static str],
    /// Every gRPC code the texts arrive with: etcd 3.6's first, then older
    /// releases' where they differ, then `Unknown` where the server sends it
    /// so. Advisory: the text decides the kind, so only the tests read it.
    #[cfg_attr(not(test), allow(dead_code, reason = "etcd's record, pinned by the tests"))]
    pub(super) codes: &'static [GrpcCode],
    flags: u8,
}

impl Row {
    pub(super) fn retryable(&self) -> bool {
        self.flags & RETRYABLE != 0
    }

    pub(super) fn wants_token_refresh(&self) -> bool {
        self.flags & REFRESH_TOKEN != 0
    }

    pub(super) fn write_may_have_applied(&self) -> bool {
        self.flags & MAY_HAVE_APPLIED != 0
    }

    fn is_auth(&self) -> bool {
        self.flags & AUTH != 0
    }
}

const fn row(kind: ErrorKind, texts: &'static [&'static str], codes: &'static [GrpcCode], flags: u8) -> Row {
    Row { kind, texts, codes, flags }
}

/// The table, in the order of [`ErrorKind`]'s variants (checked when it
/// compiles), so a kind's row is found by its index.
#[rustfmt::skip]
const ROWS: &[Row] = {
    use ErrorKind::*;
    use GrpcCode as C;
    &[
        // KV and request validation
        row(EmptyKey, &["etcdserver: key is not provided"], &[C::InvalidArgument], REFUSED),
        row(KeyNotFound, &["etcdserver: key not found"], &[C::InvalidArgument], REFUSED),
        row(ValueProvided, &["etcdserver: value is provided"], &[C::InvalidArgument], REFUSED),
        row(LeaseProvided, &["etcdserver: lease is provided"], &[C::InvalidArgument], REFUSED),
        row(TooManyOps, &["etcdserver: too many operations in txn request"], &[C::InvalidArgument], REFUSED),
        row(DuplicateKey, &["etcdserver: duplicate key given in txn request"], &[C::InvalidArgument], REFUSED),
        row(InvalidSortOption, &["etcdserver: invalid sort option"], &[C::InvalidArgument], REFUSED),
        row(InvalidClientApiVersion, &["etcdserver: invalid client api version"], &[C::InvalidArgument], REFUSED),
        row(Compacted, &["etcdserver: mvcc: required revision has been compacted"], &[C::OutOfRange], REFUSED),
        row(FutureRev, &["etcdserver: mvcc: required revision is a future revision"], &[C::OutOfRange], REFUSED),
        row(NoSpace, &["etcdserver: mvcc: database space exceeded"], &[C::ResourceExhausted], REFUSED),
        row(RequestTooLarge, &["etcdserver: request is too large"], &[C::InvalidArgument], REFUSED),
        // declared ResourceExhausted, but the server hands gRPC a value that
        // is not a status, so it arrives as Unknown
        row(TooManyRequests, &["etcdserver: too many requests"], &[C::ResourceExhausted, C::Unknown], REFUSED),
        // Lease
        row(LeaseNotFound, &["etcdserver: requested lease not found"], &[C::NotFound], REFUSED),
        row(LeaseExist, &["etcdserver: lease already exists"], &[C::FailedPrecondition], REFUSED),
        row(LeaseTtlTooLarge, &["etcdserver: too large lease TTL"], &[C::OutOfRange], REFUSED),
        // Watch (the mvcc texts arrive as a watch's cancel reason)
        row(WatchCanceled, &["etcdserver: watch canceled"], &[C::Cancelled], MAY_HAVE_APPLIED),
        row(WatcherDuplicateId, &["mvcc: duplicate watch ID provided on the WatchStream"], &[C::FailedPrecondition], REFUSED),
        row(EmptyWatcherRange, &["mvcc: watcher range is empty"], &[C::FailedPrecondition], REFUSED),
        // Cluster membership
        row(MemberExist, &["etcdserver: member ID already exist"], &[C::FailedPrecondition], REFUSED),
        row(PeerUrlExist, &["etcdserver: Peer URLs already exists"], &[C::FailedPrecondition], REFUSED),
        // declared FailedPrecondition, sent as Unknown (as TooManyRequests)
        row(MemberNotEnoughStarted, &["etcdserver: re-configuration failed due to not enough started members"], &[C::FailedPrecondition, C::Unknown], REFUSED),
        row(MemberBadUrls, &["etcdserver: given member URLs are invalid"], &[C::InvalidArgument], REFUSED),
        row(MemberNotFound, &["etcdserver: member not found"], &[C::NotFound], REFUSED),
        row(MemberNotLearner, &["etcdserver: can only promote a learner member"], &[C::FailedPrecondition], REFUSED),
        row(LearnerNotReady, &["etcdserver: can only promote a learner member which is in sync with leader"], &[C::FailedPrecondition], REFUSED),
        row(TooManyLearners, &["etcdserver: too many learner members in cluster"], &[C::FailedPrecondition], REFUSED),
        row(ClusterIdMismatch, &["etcdserver: cluster ID mismatch"], &[C::FailedPrecondition], REFUSED),
        // Auth. The second texts are the auth store's own (code Unknown):
        // etcd 3.4 and early 3.5 return them unconverted from the root check
        // of Defragment, Hash, HashKV and Snapshot.
        row(RootUserNotExist, &["etcdserver: root user does not exist"], &[C::FailedPrecondition], AUTH),
        row(RootRoleNotExist, &["etcdserver: root user does not have root role"], &[C::FailedPrecondition], AUTH),
        row(UserAlreadyExist, &["etcdserver: user name already exists"], &[C::FailedPrecondition], AUTH),
        row(UserEmpty, &["etcdserver: user name is empty", "auth: user name is empty"], &[C::InvalidArgument, C::Unknown], AUTH | REFRESH_TOKEN),
        row(UserNotFound, &["etcdserver: user name not found", "auth: user not found"], &[C::FailedPrecondition, C::Unknown], AUTH),
        row(RoleAlreadyExist, &["etcdserver: role name already exists"], &[C::FailedPrecondition], AUTH),
        row(RoleNotFound, &["etcdserver: role name not found"], &[C::FailedPrecondition], AUTH),
        row(RoleEmpty, &["etcdserver: role name is empty"], &[C::InvalidArgument], AUTH),
        row(AuthFailed, &["etcdserver: authentication failed, invalid user ID or password"], &[C::InvalidArgument], AUTH),
        row(NoPasswordUser, &["auth: authentication failed, password was given for no password user"], &[C::Unknown], AUTH),
        row(PermissionNotGiven, &["etcdserver: permission not given"], &[C::InvalidArgument], AUTH),
        row(PermissionDenied, &["etcdserver: permission denied", "auth: permission denied"], &[C::PermissionDenied, C::Unknown], AUTH),
        row(RoleNotGranted, &["etcdserver: role is not granted to the user"], &[C::FailedPrecondition], AUTH),
        row(PermissionNotGranted, &["etcdserver: permission is not granted to the role"], &[C::FailedPrecondition], AUTH),
        row(AuthNotEnabled, &["etcdserver: authentication is not enabled"], &[C::FailedPrecondition], AUTH),
        row(InvalidAuthToken, &["etcdserver: invalid auth token", "auth: invalid auth token"], &[C::Unauthenticated, C::Unknown], AUTH | REFRESH_TOKEN),
        row(InvalidAuthMgmt, &["etcdserver: invalid auth management"], &[C::InvalidArgument], AUTH),
        row(AuthOldRevision, &["etcdserver: revision of auth store is old", "auth: revision in header is old"], &[C::InvalidArgument, C::Unknown], AUTH | REFRESH_TOKEN),
        // Server and cluster state. NotCapable, NotSupportedForLearner and
        // ClusterVersionUnavailable were Unavailable up to 3.5.
        row(NoLeader, &["etcdserver: no leader"], &[C::Unavailable], RETRYABLE),
        row(NotLeader, &["etcdserver: not leader"], &[C::FailedPrecondition], REFUSED),
        row(LeaderChanged, &["etcdserver: leader changed"], &[C::Unavailable], RETRYABLE | MAY_HAVE_APPLIED),
        row(NotCapable, &["etcdserver: not capable"], &[C::FailedPrecondition, C::Unavailable], REFUSED),
        row(Stopped, &["etcdserver: server stopped"], &[C::Unavailable], RETRYABLE | MAY_HAVE_APPLIED),
        row(Timeout, &["etcdserver: request timed out"], &[C::Unavailable], RETRYABLE | MAY_HAVE_APPLIED),
        row(TimeoutDueToLeaderFail, &["etcdserver: request timed out, possibly due to previous leader failure"], &[C::Unavailable], RETRYABLE | MAY_HAVE_APPLIED),
        row(TimeoutDueToConnectionLost, &["etcdserver: request timed out, possibly due to connection lost"], &[C::Unavailable], RETRYABLE | MAY_HAVE_APPLIED),
        row(TimeoutWaitAppliedIndex, &["etcdserver: request timed out, waiting for the applied index took too long"], &[C::Unavailable], RETRYABLE | MAY_HAVE_APPLIED),
        row(TimeoutLeaderTransfer, &["etcdserver: request timed out, leader transfer took too long"], &[C::Unknown], MAY_HAVE_APPLIED),
        row(Unhealthy, &["etcdserver: unhealthy cluster"], &[C::Unavailable], RETRYABLE),
        row(Corrupt, &["etcdserver: corrupt cluster"], &[C::DataLoss], REFUSED),
        row(NotSupportedForLearner, &["etcdserver: rpc not supported for learner"], &[C::FailedPrecondition, C::Unavailable], RETRYABLE),
        row(BadLeaderTransferee, &["etcdserver: bad leader transferee"], &[C::FailedPrecondition], REFUSED),
        row(UnknownMethod, &["etcdserver: unknown method"], &[C::Unknown], REFUSED),
        // Downgrade
        row(WrongDowngradeVersionFormat, &["etcdserver: wrong downgrade target version format"], &[C::InvalidArgument], REFUSED),
        row(InvalidDowngradeTargetVersion, &["etcdserver: invalid downgrade target version"], &[C::InvalidArgument], REFUSED),
        row(ClusterVersionUnavailable, &["etcdserver: cluster version not found during downgrade"], &[C::FailedPrecondition, C::Unavailable], REFUSED),
        row(DowngradeInProcess, &["etcdserver: cluster has a downgrade job in progress"], &[C::FailedPrecondition], REFUSED),
        row(NoInflightDowngrade, &["etcdserver: no inflight downgrade job"], &[C::FailedPrecondition], REFUSED),
        // Lock and election services (all sent as Unknown); the last two
        // are the client's own and never come from the server
        row(MissingLeaderKey, &["\"leader\" field must be provided"], &[C::Unknown], REFUSED),
        row(ElectionNotLeader, &["election: not leader"], &[C::Unknown], REFUSED),
        row(ElectionNoLeader, &["election: no leader"], &[C::Unknown], REFUSED),
        row(SessionExpired, &["mutex: session is expired"], &[C::Unknown], REFUSED),
        row(Locked, &[], &[], REFUSED),
        row(LockReleased, &[], &[], REFUSED),
        // Found by the client. etcd declares `etcdserver: request canceled`
        // and `etcdserver: context deadline exceeded` but lets gRPC send its
        // own `context canceled` / `context deadline exceeded` (the Lock and
        // Election services with code Unknown); `etcdserver: request
        // cancelled` (double "l") is sent as Unknown.
        row(InvalidArgument, &[], &[], REFUSED),
        row(Unavailable, &[], &[], RETRYABLE | MAY_HAVE_APPLIED),
        row(DeadlineExceeded, &["etcdserver: context deadline exceeded", "context deadline exceeded"], &[C::DeadlineExceeded, C::Unknown], MAY_HAVE_APPLIED),
        row(Canceled, &["etcdserver: request canceled", "etcdserver: request cancelled", "context canceled"], &[C::Cancelled, C::Unknown], MAY_HAVE_APPLIED),
        row(ClientClosed, &[], &[], REFUSED),
        row(Tls, &[], &[], REFUSED),
        row(Io, &[], &[], REFUSED),
        row(Unauthenticated, &[], &[], REFUSED),
        row(Unimplemented, &[], &[], REFUSED),
        row(ResourceExhausted, &[], &[], REFUSED),
        row(Protocol, &[], &[], MAY_HAVE_APPLIED),
        row(Internal, &[], &[], MAY_HAVE_APPLIED),
        row(Other, &[], &[], MAY_HAVE_APPLIED),
    ]
};

// One row per kind, at the kind's index, so `row_of` never indexes out of
// bounds.
const _: () = {
    assert!(ROWS.len() == ALL_KINDS.len(), "the error table needs one row per ErrorKind");
    let mut i = 0;
    while i < ROWS.len() {
        assert!(ROWS[i].kind as usize == i, "the error table's rows must follow ErrorKind's order");
        i += 1;
    }
};

/// The row of a kind.
pub(super) fn row_of(kind: ErrorKind) -> &'static Row {
    &ROWS[kind as usize]
}

/// The kind of a server status, and its message (borrowed from the table
/// when it is one of etcd's texts). The message decides first: the exact
/// text, then the text of a printed status, then an auth text contained
/// anywhere; the code decides last.
pub(super) fn classify(code: GrpcCode, message: &str) -> (Cow<'static, str>, ErrorKind) {
    if let Some((text, kind)) = exact(message) {
        return (Cow::Borrowed(text), kind);
    }
    let kind = parse_printed_status(message)
        .and_then(|(_, desc)| exact(desc))
        .map(|(_, kind)| kind)
        .or_else(|| auth_within(message))
        .unwrap_or_else(|| by_code(code));
    (Cow::Owned(message.to_owned()), kind)
}

/// Splits a status printed by Go (`rpc error: code = NAME desc = TEXT`) into
/// its code and text.
pub(super) fn parse_printed_status(text: &str) -> Option<(GrpcCode, &str)> {
    let rest = text.strip_prefix("rpc error: code = ")?;
    let (name, desc) = rest.split_once(" desc = ")?;
    Some((GrpcCode::from_go_name(name)?, desc))
}

/// The table's text equal to `message`, and its kind.
fn exact(message: &str) -> Option<(&'static str, ErrorKind)> {
    ROWS.iter().find_map(|row| row.texts.iter().find(|text| **text == message).map(|text| (*text, row.kind)))
}

/// The auth error whose text appears inside `text`.
fn auth_within(text: &str) -> Option<ErrorKind> {
    ROWS.iter().filter(|row| row.is_auth()).find(|row| row.texts.iter().any(|t| text.contains(t))).map(|row| row.kind)
}

/// The generic kind for a status whose message is not in the table.
fn by_code(code: GrpcCode) -> ErrorKind {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn every_table_row_maps_with_every_code_it_arrives_with() {
        let mut failures = Vec::new();
        for row in ROWS {
            let kind = row.kind;
            for &text in row.texts {
                // each text of each release, with each code it has arrived with
                for &code in row.codes {
                    let err = Error::from_grpc(code, text);
                    let got = (err.kind(), err.message(), err.grpc_code());
                    if got != (kind, text, Some(code)) {
                        failures.push(format!("{text:?} with {code:?}: got {got:?}"));
                    }
                    let flags = (err.is_retryable(), err.wants_token_refresh(), err.write_may_have_applied());
                    if flags != (row.retryable(), row.wants_token_refresh(), row.write_may_have_applied()) {
                        failures.push(format!("{text:?} with {code:?}: flags {flags:?}"));
                    }
                }
                // and printed into a watch's cancel reason
                for &code in row.codes {
                    let printed = format!("rpc error: code = {code} desc = {text}");
                    let err = Error::from_watch_cancel_reason(&printed);
                    if (err.kind(), err.grpc_code()) != (kind, Some(code)) {
                        failures.push(format!("{printed:?}: got {:?}, {:?}", err.kind(), err.grpc_code()));
                    }
                }
            }
            if row.texts.is_empty() != row.codes.is_empty() {
                failures.push(format!("{kind:?}: texts and codes must both be given or both be empty"));
            }
        }
        assert!(failures.is_empty(), "rows failing:\n{}", failures.join("\n"));
    }

    #[test]
    fn texts_are_unique_and_no_auth_text_contains_another() {
        let texts: Vec<&str> = ROWS.iter().flat_map(|row| row.texts.iter().copied()).collect();
        for (i, text) in texts.iter().enumerate() {
            assert!(!texts[..i].contains(text), "{text:?} is in the table twice");
        }
        // so the "contains" match of auth texts cannot depend on row order
        let auth: Vec<&str> = ROWS.iter().filter(|r| r.is_auth()).flat_map(|r| r.texts.iter().copied()).collect();
        for a in &auth {
            for b in &auth {
                assert!(a == b || !a.contains(b), "{a:?} contains {b:?}");
            }
        }
    }

    /// The flags, pinned by lists of their own: a change to the table's
    /// flags must change this test too (the retryable ones are pinned by
    /// `retry_classification` in `tests.rs`).
    #[test]
    fn flag_sets_are_pinned() {
        use ErrorKind::*;
        let pinned: [(&str, u8, &[ErrorKind]); 3] = [
            ("token refresh", REFRESH_TOKEN, &[UserEmpty, InvalidAuthToken, AuthOldRevision]),
            (
                "write may have applied",
                MAY_HAVE_APPLIED,
                &[
                    WatchCanceled,
                    LeaderChanged,
                    Stopped,
                    Timeout,
                    TimeoutDueToLeaderFail,
                    TimeoutDueToConnectionLost,
                    TimeoutWaitAppliedIndex,
                    TimeoutLeaderTransfer,
                    Unavailable,
                    DeadlineExceeded,
                    Canceled,
                    Protocol,
                    Internal,
                    Other,
                ],
            ),
            // the whole Auth section of the enum, from its first kind to its last
            ("auth", AUTH, &ALL_KINDS[RootUserNotExist as usize..=AuthOldRevision as usize]),
        ];
        for (name, flag, kinds) in pinned {
            for row in ROWS {
                let want = kinds.contains(&row.kind);
                assert_eq!(row.flags & flag != 0, want, "{name}: {:?}", row.kind);
            }
        }
        // auth errors are all etcd's, so each has a text to be found by
        for row in ROWS.iter().filter(|row| row.is_auth()) {
            assert!(!row.texts.is_empty(), "{:?}", row.kind);
        }
    }

    /// Each kind's public docs quote the texts of its row, and each text a
    /// kind's docs open with is in its row: the docs and the table cannot
    /// drift apart.
    #[test]
    fn kind_docs_quote_the_texts_of_their_rows() {
        let source = include_str!("kind.rs");
        let mut docs: Vec<(String, String)> = Vec::new();
        let mut doc = String::new();
        for line in source.lines().map(str::trim) {
            if let Some(text) = line.strip_prefix("///") {
                doc.push_str(text.trim());
                doc.push(' ');
            } else if let Some(name) = line.strip_suffix(',').filter(|n| n.chars().all(char::is_alphanumeric)) {
                docs.push((name.to_string(), std::mem::take(&mut doc)));
            } else {
                doc.clear();
            }
        }
        assert_eq!(docs.len(), ROWS.len(), "one doc per kind");
        for row in ROWS {
            let (_, doc) = docs.iter().find(|(name, _)| name == row.kind.as_str()).expect("every kind has a doc");
            // kinds documented by the text etcd sends open with it in backticks
            if !doc.starts_with('`') {
                continue;
            }
            for text in row.texts {
                assert!(doc.contains(&format!("`{text}`")), "{:?}: docs do not quote {text:?}", row.kind);
            }
            let first = doc[1..].split('`').next().unwrap_or_default();
            let client_side = doc.contains("(client-side)");
            assert!(client_side || row.texts.contains(&first), "{:?}: {first:?} is not in its row", row.kind);
        }
    }
}
