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

