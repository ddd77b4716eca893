//! What the request path needs to know about each RPC: its path, names for
//! tracing, and whether it may be sent again after it may have reached a
//! server.

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
}

#[allow(dead_code, reason = "the table names every RPC; services use them as they arrive")]
mod table {
    use super::Rpc;
    macro_rules! rpcs {
    ($($name:ident = $service:literal / $method:literal, $repeatable:literal;)*) => {
        $(pub(crate) const $name: Rpc = Rpc {
            path: concat!("/", $service, "/", $method),
            service: $service,
            method: $method,
            repeatable: $repeatable,
        };)*
    };
}

    rpcs! {
        RANGE = "etcdserverpb.KV" / "Range", true;
        PUT = "etcdserverpb.KV" / "Put", false;
        DELETE_RANGE = "etcdserverpb.KV" / "DeleteRange", false;
        TXN = "etcdserverpb.KV" / "Txn", false;
        COMPACT = "etcdserverpb.KV" / "Compact", false;
        RANGE_STREAM = "etcdserverpb.KV" / "RangeStream", true;

        WATCH = "etcdserverpb.Watch" / "Watch", true;

        LEASE_GRANT = "etcdserverpb.Lease" / "LeaseGrant", false;
        LEASE_REVOKE = "etcdserverpb.Lease" / "LeaseRevoke", false;
        LEASE_KEEP_ALIVE = "etcdserverpb.Lease" / "LeaseKeepAlive", true;
        LEASE_TIME_TO_LIVE = "etcdserverpb.Lease" / "LeaseTimeToLive", true;
        LEASE_LEASES = "etcdserverpb.Lease" / "LeaseLeases", true;

        MEMBER_ADD = "etcdserverpb.Cluster" / "MemberAdd", false;
        MEMBER_REMOVE = "etcdserverpb.Cluster" / "MemberRemove", false;
        MEMBER_UPDATE = "etcdserverpb.Cluster" / "MemberUpdate", false;
        MEMBER_LIST = "etcdserverpb.Cluster" / "MemberList", true;
        MEMBER_PROMOTE = "etcdserverpb.Cluster" / "MemberPromote", false;

        ALARM = "etcdserverpb.Maintenance" / "Alarm", false;
        STATUS = "etcdserverpb.Maintenance" / "Status", true;
        DEFRAGMENT = "etcdserverpb.Maintenance" / "Defragment", false;
        HASH = "etcdserverpb.Maintenance" / "Hash", true;
        HASH_KV = "etcdserverpb.Maintenance" / "HashKV", true;
        SNAPSHOT = "etcdserverpb.Maintenance" / "Snapshot", true;
        MOVE_LEADER = "etcdserverpb.Maintenance" / "MoveLeader", false;
        DOWNGRADE = "etcdserverpb.Maintenance" / "Downgrade", false;

        AUTH_ENABLE = "etcdserverpb.Auth" / "AuthEnable", false;
        AUTH_DISABLE = "etcdserverpb.Auth" / "AuthDisable", false;
        AUTH_STATUS = "etcdserverpb.Auth" / "AuthStatus", true;
        AUTHENTICATE = "etcdserverpb.Auth" / "Authenticate", true;
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
        LEADER = "v3electionpb.Election" / "Leader", true;
        OBSERVE = "v3electionpb.Election" / "Observe", true;
        RESIGN = "v3electionpb.Election" / "Resign", false;
    }
}
pub(crate) use table::*;

impl Rpc {
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
