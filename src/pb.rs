//! The generated protobuf messages and raw gRPC stubs, exactly as etcd's
//! v3 API defines them (see `proto/`).
//!
//! This is the only place generated code enters the crate. The typed client
//! wraps these messages; they stay public for people who study the wire
//! protocol or need a field the typed layer does not expose. The raw stubs
//! run over a [`crate::Client`]'s own connections through
//! [`crate::Client::raw_channel`], with the same deadlines and metadata as
//! every other call.
//!
//! ```no_run
//! use etcd_raw::pb::etcdserverpb::{kv_client::KvClient, RangeRequest};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
//!     let mut kv = KvClient::new(client.raw_channel());
//!     let request = RangeRequest { key: "greeting".into(), ..Default::default() };
//!     let response = kv.range(request).await?.into_inner();
//!     println!("{} keys at revision {}", response.count, response.header.map_or(0, |h| h.revision));
//!     Ok(())
//! }
//! ```
#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// `mvccpb`: keys, values and watch events as etcd stores them.
pub mod mvccpb {
    include!(concat!(env!("OUT_DIR"), "/mvccpb.rs"));
}

/// `authpb`: users, roles and permissions.
pub mod authpb {
    include!(concat!(env!("OUT_DIR"), "/authpb.rs"));
}

/// `etcdserverpb`: the KV, Watch, Lease, Cluster, Maintenance and Auth services.
pub mod etcdserverpb {
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.rs"));
}

/// `v3lockpb`: the Lock service (lock/unlock tied to a lease).
pub mod v3lockpb {
    include!(concat!(env!("OUT_DIR"), "/v3lockpb.rs"));
}

/// `v3electionpb`: the Election service (campaign, proclaim, observe, resign).
pub mod v3electionpb {
    include!(concat!(env!("OUT_DIR"), "/v3electionpb.rs"));
}
