//! What the request path needs to know about each RPC: its path, names for
//! tracing, and whether it may be sent again after it may have reached a
//! server (with the reason, where Go's client decides otherwise).

use crate::error::{Error, ErrorKind, GrpcCode};

/// One gRPC method of etcd's API.
#[derive(Debug)]
pub(crate) struct Rpc {
    /// `/etcdserverpb.KV/Range`
    pub(crate) path: &'static str,
    pub(crate) service: &'static str,
    pub(crate) method: &'static str,
    /// Reads and other requests whose repetition changes nothing. Writes are
    /// never resent once they may have reached a server (Go's rule).
    pub(crate) repeatable: bool,
    /// Why `repeatable` is not what Go's client gives this RPC, where it
    /// is not: Go repeats exactly the calls that `client/v3/retry.go`
    /// wraps with `withRepeatablePolicy()`, every other call gets its
    /// default, non-repeatable policy.
    #[cfg_attr(not(test), allow(dead_code, reason = "the table's own record, checked by its tests"))]
    pub(crate) differs_from_go: Option<&'static str>,
}

#[allow(dead_code, reason = "the table names every RPC; services use them as they arrive")]
mod table {
    use super::Rpc;

    macro_rules! reason {
        () => {
            None
        };
        ($why:literal) => {
            Some($why)
        };
    }

    /// `NAME = "service" / "Method", repeatable[, why it differs from Go];`
    macro_rules! rpcs {
        ($($name:ident = $service:literal / $method:literal, $repeatable:literal $(, $why:literal)?;)*) => {
            $(pub(crate) const $name: Rpc = Rpc {
                path: concat!("/", $service, "/", $method),
                service: $service,
                method: $method,
                repeatable: $repeatable,
                differs_from_go: reason!($($why)?),
            };)*

            /// Every row.
            #[cfg(test)]
            pub(crate) const ALL: &[Rpc] = &[$($name),*];
        };
    }

    rpcs! {
        RANGE = "etcdserverpb.KV" / "Range", true;
        PUT = "etcdserverpb.KV" / "Put", false;
        DELETE_RANGE = "etcdserverpb.KV" / "DeleteRange", false;
        TXN = "etcdserverpb.KV" / "Txn", false;
        COMPACT = "etcdserverpb.KV" / "Compact", false;
        RANGE_STREAM = "etcdserverpb.KV" / "RangeStream", true,
            "A read. Go's KV wrapper gives it no policy, and Go re-opens no stream but Snapshot; ours goes \
             to the next endpoint only before its first page arrives (kv/range_stream.rs), as Go re-opens \
             a Snapshot only before its first message.";

        WATCH = "etcdserverpb.Watch" / "Watch", true,
            "Opening a Watch stream changes nothing. Go's interceptor does not re-open it, but its watch.go \
             does and re-creates each watch from its next revision, as our hub does.";

        LEASE_GRANT = "etcdserverpb.Lease" / "LeaseGrant", false,
            "Not idempotent. With ID 0 the member that receives it picks a new ID, so a resent grant that \
             had applied makes a second lease that no one holds, alive for its whole TTL (up to 9e9 s); \
             with a chosen ID the resend answers LeaseExist for a grant that succeeded. Go resends it on \
             Unavailable; we fail with outcome_unknown.";
        LEASE_REVOKE = "etcdserverpb.Lease" / "LeaseRevoke", false,
            "A resend after the revoke applied answers LeaseNotFound, so a success reads as a wrong ID; \
             with caller-chosen IDs it would revoke a lease granted again under that ID in between. Go \
             resends it on Unavailable; we fail with outcome_unknown (repeating would need a rule that \
             takes LeaseNotFound after a resend as done).";
        LEASE_KEEP_ALIVE = "etcdserverpb.Lease" / "LeaseKeepAlive", true;
        LEASE_TIME_TO_LIVE = "etcdserverpb.Lease" / "LeaseTimeToLive", true;
        LEASE_LEASES = "etcdserverpb.Lease" / "LeaseLeases", true;

        MEMBER_ADD = "etcdserverpb.Cluster" / "MemberAdd", false;
        MEMBER_REMOVE = "etcdserverpb.Cluster" / "MemberRemove", false;
        MEMBER_UPDATE = "etcdserverpb.Cluster" / "MemberUpdate", false;
        MEMBER_LIST = "etcdserverpb.Cluster" / "MemberList", true;
        MEMBER_PROMOTE = "etcdserverpb.Cluster" / "MemberPromote", false;

        ALARM = "etcdserverpb.Maintenance" / "Alarm", false,
            "One RPC for a read (GET) and two writes: ACTIVATE and DEACTIVATE go through raft and set or \
             clear a flag, so a resend changes no state but answers with no alarm, and a DEACTIVATE resent \
             after the alarm was raised again clears the new one. Repeating GET alone needs a rule by \
             action, which a row cannot state.";
        STATUS = "etcdserverpb.Maintenance" / "Status", true;
        DEFRAGMENT = "etcdserverpb.Maintenance" / "Defragment", false;
        HASH = "etcdserverpb.Maintenance" / "Hash", true;
        HASH_KV = "etcdserverpb.Maintenance" / "HashKV", true;
        SNAPSHOT = "etcdserverpb.Maintenance" / "Snapshot", true;
        MOVE_LEADER = "etcdserverpb.Maintenance" / "MoveLeader", false,
            "We send it to the leader only (maintenance::move_leader); once the transfer happened that \
             member answers NotLeader, so a resend turns a move that succeeded into an error. The transfer \
             itself is idempotent: etcd answers once the target leads.";
        DOWNGRADE = "etcdserverpb.Maintenance" / "Downgrade", false;

        AUTH_ENABLE = "etcdserverpb.Auth" / "AuthEnable", false;
        AUTH_DISABLE = "etcdserverpb.Auth" / "AuthDisable", false;
        AUTH_STATUS = "etcdserverpb.Auth" / "AuthStatus", true,
            "A read: whether auth is on, and the auth revision; it changes nothing. Go's wrapper passes it \
             through with no policy, as for every Auth call but the four user and role reads.";
        AUTHENTICATE = "etcdserverpb.Auth" / "Authenticate", true,
            "Changes no stored state: a repeat costs a password check and issues another token (a simple \
             token expires after --auth-token-ttl, 300 s by default; a JWT holds nothing on the server). \
             Go gives it no policy; our token refresh, which any call may wait on, must survive a member \
             failing mid-request.";
        USER_ADD = "etcdserverpb.Auth" / "UserAdd", false;
        USER_GET = "etcdserverpb.Auth" / "UserGet", true;
        USER_LIST = "etcdserverpb.Auth" / "UserList", true;
        USER_DELETE = "etcdserverpb.Auth" / "UserDelete", false;
        USER_CHANGE_PASSWORD = "etcdserverpb.Auth" / "UserChangePassword", false;
        USER_GRANT_ROLE = "etcdserverpb.Auth" / "UserGrantRole", false;
        USER_REVOKE_ROLE = "etcdserverpb.Auth" / "UserRevokeRole", false;
        ROLE_ADD = "etcdserverpb.Auth" / "RoleAdd", false;
        ROLE_GET = "etcdserverpb.Auth" / "RoleGet", true;
        ROLE_LIST = "etcdserverpb.Auth" / "RoleList", true;
        ROLE_DELETE = "etcdserverpb.Auth" / "RoleDelete", false;
        ROLE_GRANT_PERMISSION = "etcdserverpb.Auth" / "RoleGrantPermission", false;
        ROLE_REVOKE_PERMISSION = "etcdserverpb.Auth" / "RoleRevokePermission", false;

        LOCK = "v3lockpb.Lock" / "Lock", false;
        UNLOCK = "v3lockpb.Lock" / "Unlock", false;

        CAMPAIGN = "v3electionpb.Election" / "Campaign", false;
        PROCLAIM = "v3electionpb.Election" / "Proclaim", false;
        LEADER = "v3electionpb.Election" / "Leader", true,
            "A read of the election's leader key. Go's client has no retry wrapper for the Election \
             service, so a call to it gets the default, non-repeatable policy.";
        OBSERVE = "v3electionpb.Election" / "Observe", true,
            "A stream of reads of the leader key. Go has no wrapper for it and does not re-open it; ours \
             is re-opened by its stream, which states where it resumes.";
        RESIGN = "v3electionpb.Election" / "Resign", false;
    }
}
pub(crate) use table::*;

/// The first etcd release that has each RPC added after 3.4.
const SINCE: &[(&str, &str)] = &[
    ("/etcdserverpb.KV/RangeStream", "3.7"),
    ("/etcdserverpb.Maintenance/Downgrade", "3.5"),
    ("/etcdserverpb.Auth/AuthStatus", "3.5"),
];

impl Rpc {
    /// The first etcd release with this RPC, when it is newer than 3.4.
    pub(crate) fn since(&self) -> Option<&'static str> {
        SINCE.iter().find(|(path, _)| *path == self.path).map(|(_, version)| *version)
    }

    /// gRPC's own answer for a method the server lacks ("unknown method
    /// Downgrade for service etcdserverpb.Maintenance"), said with the
    /// release that has it. Other errors, and etcd's own Unimplemented
    /// refusals (RangeStream's of a sort order), stay as they are.
    pub(crate) fn explain_missing(&self, e: Error) -> Error {
        let unknown = e.message().starts_with("unknown method") || e.message().starts_with("unknown service");
        let Some(since) = self.since().filter(|_| unknown && e.kind() == ErrorKind::Unimplemented) else {
            return e;
        };
        let short = self.path.trim_start_matches('/').rsplit_once('.').map_or(self.path, |(_, m)| m);
        let message = format!(
            "{} needs etcd {since} or newer, and this member does not have it (it said: {})",
            short.replace('/', "."),
            e.message()
        );
        let error = Error::from_status(GrpcCode::Unimplemented.as_i32(), &message);
        match e.endpoint() {
            Some(member) => error.with_endpoint(member),
            None => error,
        }
    }

    /// Whether `NoLeader` proves the request was not carried out. etcd
    /// sends it before proposing anything, except that a member forwarding
    /// a promotion to the leader may lose its leader after the leader got it.
    pub(crate) fn no_leader_is_definite(&self) -> bool {
        self.path != MEMBER_PROMOTE.path
    }
}

/// Whether a request to `path` asks its member to have a leader
/// (`hasleader`), given the client's `require_leader`. The Watch stream
/// always does: etcd ends it after three election timeouts without a
/// leader and it resumes on another member, where a partitioned member
/// (which still answers pings, etcd-io/etcd#8673) would hold it silent.
/// Maintenance and Cluster calls never do: status, snapshot and member
/// lists are what an operator needs most when quorum is gone.
pub(crate) fn asks_for_leader(path: &str, require_leader: bool) -> bool {
    if path == WATCH.path {
        return true;
    }
    require_leader && !path.starts_with("/etcdserverpb.Maintenance/") && !path.starts_with("/etcdserverpb.Cluster/")
}

/// Unary methods that wait on the server for something outside the call
/// (a lock to be free, an election to be won). Only these tell the server
/// their deadline (`grpc-timeout`): it must stop waiting by itself even if
/// the client cannot say so, or it would take the lock for a waiter that
/// is gone. Every other unary call is reset (RST_STREAM) at its deadline,
/// which cancels the server's handler just as its own timer would, and
/// spares etcd the timer it arms for each call that carries a deadline.
const WAITS_ON_SERVER: &[&str] = &[LOCK.path, CAMPAIGN.path];

pub(crate) fn waits_on_server(path: &str) -> bool {
    WAITS_ON_SERVER.contains(&path)
}

/// Server-streaming or bidirectional methods: no whole-call deadline applies.
const STREAMING: &[&str] = &[
    "/etcdserverpb.KV/RangeStream",
    "/etcdserverpb.Watch/Watch",
    "/etcdserverpb.Lease/LeaseKeepAlive",
    "/etcdserverpb.Maintenance/Snapshot",
    "/v3electionpb.Election/Observe",
];

pub(crate) fn is_streaming(path: &str) -> bool {
    STREAMING.contains(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Go's client repeats: the calls `client/v3/retry.go` wraps with
    /// `withRepeatablePolicy()` (the same list in 3.4 to 3.7).
    const GO_REPEATABLE: &[&str] = &[
        "/etcdserverpb.KV/Range",
        "/etcdserverpb.Lease/LeaseGrant",
        "/etcdserverpb.Lease/LeaseRevoke",
        "/etcdserverpb.Lease/LeaseKeepAlive",
        "/etcdserverpb.Lease/LeaseTimeToLive",
        "/etcdserverpb.Lease/LeaseLeases",
        "/etcdserverpb.Cluster/MemberList",
        "/etcdserverpb.Maintenance/Alarm",
        "/etcdserverpb.Maintenance/Status",
        "/etcdserverpb.Maintenance/Hash",
        "/etcdserverpb.Maintenance/HashKV",
        "/etcdserverpb.Maintenance/Snapshot",
        "/etcdserverpb.Maintenance/MoveLeader",
        "/etcdserverpb.Auth/UserGet",
        "/etcdserverpb.Auth/UserList",
        "/etcdserverpb.Auth/RoleGet",
        "/etcdserverpb.Auth/RoleList",
    ];

    #[test]
    fn every_difference_from_go_says_why_and_no_other_row_does() {
        for path in GO_REPEATABLE {
            assert!(ALL.iter().any(|rpc| rpc.path == *path), "{path} is missing from the table");
        }
        for rpc in ALL {
            let go = GO_REPEATABLE.contains(&rpc.path);
            match (rpc.repeatable == go, rpc.differs_from_go) {
                (true, None) => {}
                (false, Some(why)) => assert!(why.len() > 40, "{}: say why in full", rpc.path),
                (false, None) => {
                    panic!("{} is repeatable: {} here, {go} in Go, and says not why", rpc.path, rpc.repeatable)
                }
                (true, Some(_)) => panic!("{} is as in Go but gives a reason to differ", rpc.path),
            }
        }
    }

    #[test]
    fn the_differences_from_go_are_these() {
        let differ: Vec<(&str, bool)> =
            ALL.iter().filter(|rpc| rpc.differs_from_go.is_some()).map(|rpc| (rpc.method, rpc.repeatable)).collect();
        assert_eq!(
            differ,
            [
                ("RangeStream", true),
                ("Watch", true),
                ("LeaseGrant", false),
                ("LeaseRevoke", false),
                ("Alarm", false),
                ("MoveLeader", false),
                ("AuthStatus", true),
                ("Authenticate", true),
                ("Leader", true),
                ("Observe", true),
            ]
        );
    }

    #[test]
    fn each_path_has_one_row() {
        for (i, rpc) in ALL.iter().enumerate() {
            assert!(ALL[..i].iter().all(|other| other.path != rpc.path), "{} twice", rpc.path);
            assert_eq!(rpc.path, format!("/{}/{}", rpc.service, rpc.method));
        }
        for path in STREAMING {
            assert!(ALL.iter().any(|rpc| rpc.path == *path), "{path} streams but has no row");
        }
    }

    #[test]
    fn a_missing_method_names_the_release_that_has_it() {
        let raw = Error::from_status(12, "unknown method Downgrade for service etcdserverpb.Maintenance")
            .with_endpoint("http://127.0.0.1:2379");
        let error = DOWNGRADE.explain_missing(raw);
        assert_eq!(error.kind(), ErrorKind::Unimplemented);
        assert!(error.message().starts_with("Maintenance.Downgrade needs etcd 3.5 or newer"), "{error}");
        assert_eq!(error.endpoint(), Some("http://127.0.0.1:2379"));
        let stream = RANGE_STREAM.explain_missing(Error::from_status(12, "unknown method RangeStream for service x"));
        assert!(stream.message().starts_with("KV.RangeStream needs etcd 3.7 or newer"), "{stream}");
    }

    #[test]
    fn other_refusals_keep_their_words() {
        let refusal = Error::from_status(12, "RangeStream does not support custom sort orders");
        assert_eq!(RANGE_STREAM.explain_missing(refusal).message(), "RangeStream does not support custom sort orders");
        let old = Error::from_status(12, "unknown method Range for service etcdserverpb.KV");
        assert_eq!(RANGE.explain_missing(old).message(), "unknown method Range for service etcdserverpb.KV");
        let down = Error::from_status(14, "unknown method X");
        assert_eq!(AUTH_STATUS.explain_missing(down).kind(), ErrorKind::Unavailable);
    }
}
