//! etcd-raw: an etcd v3 client that speaks gRPC straight from etcd's own API
//! schema.
//!
//! # Quick start
//!
//! ```sh
//! cargo add etcd-raw
//! cargo add tokio --features macros,rt-multi-thread
//! ```
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use etcd_raw::{Client, Config, ErrorKind};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), etcd_raw::Error> {
//!     let config = Config::new(["127.0.0.1:2379"]).dial_timeout(Duration::from_secs(2));
//!     let client = Client::new(config).await?;
//!     client.put("sample_key", "sample_value").timeout(Duration::from_secs(1)).await?;
//!     let response = client.get("sample_key").await?;
//!     for kv in response.kvs() {
//!         println!("{} = {}", kv.key_str()?, kv.value_str()?);
//!     }
//!     match client.get("").await {
//!         Err(e) if e.kind() == ErrorKind::EmptyKey => println!("etcd needs a key"),
//!         other => println!("{other:?}"),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! [`Config::from_env`] reads etcdctl's variables (`ETCDCTL_ENDPOINTS`,
//! `ETCDCTL_CACERT`, `ETCDCTL_USER`, ...) instead.
//!
//! # Behavior
//!
//! - [`Client`] is a cheap handle: clone it freely; every method takes
//!   `&self`. Connections (one HTTP/2 connection per endpoint) are shared by
//!   all clones.
//! - Every call has a deadline: the client's request timeout (5 s by
//!   default) or the call's own `.timeout(..)`. At the deadline the call's
//!   HTTP/2 stream is reset, which cancels the server's work. Calls that
//!   wait on the server (lock, campaign) and range streams also send the deadline
//!   as `grpc-timeout`, so the server stops waiting even if the reset never
//!   arrives; other calls do not, which spares etcd a timer per call.
//! - Dropping a call's future cancels it: the HTTP/2 stream is reset. A
//!   write that already reached the server may still be applied.
//! - Requests go round robin over the healthy endpoints. A member that
//!   refuses, resets, hangs (e.g. SIGSTOPped) or has no leader leaves the
//!   rotation and is probed back in with backoff.
//! - Reads and other repeatable calls are retried on another endpoint when
//!   a member is unreachable, within the deadline. Writes are never sent
//!   twice once they may have reached a server; such a failure has
//!   [`Error::outcome_unknown`] set.
//! - With [`Config::auth`], the token goes with every call and stream; a
//!   refused token is refreshed once (one Authenticate shared by all
//!   calls) and the call retried once.
//! - Long-lived streams recover by themselves: watches resume without gap
//!   or repeat, lease keepalives renew through member failures. Dropping
//!   their handle cancels them.
//! - `lock` and `campaign` wait as long as it takes unless given a
//!   `.timeout(..)`: the one exception to the default request timeout.
//! - Errors are one type, [`Error`], whose [`ErrorKind`] names etcd's own
//!   error kinds (matched on the server's message, then its gRPC code).
//!
//! # Layers
//!
//! - Typed services on [`Client`]: KV (`put`, `get`, `delete`, `txn`,
//!   `compact`), [`watch`], [`lease`], [`lock`], [`election`], [`cluster`],
//!   [`maintenance`] and [`auth`] administration.
//! - Recipes in [`concurrency`]: [`Session`], [`Mutex`], [`Election`].
//! - [`pb`]: the generated messages and raw gRPC stubs, usable over the
//!   client's connections via [`Client::raw_channel`].
//! - `testkit` (cargo feature): starts real etcd servers and clusters for
//!   integration tests.
//!
//! # Features
//!
//! None is on by default: the default build is the whole client over plain
//! HTTP/2, with no C toolchain and no OpenSSL.
//!
//! - `tls`: `https://` and `unixs://` endpoints with rustls (no OpenSSL):
//!   `TlsConfig` with CAs from files or bytes (or the system's roots),
//!   client certificates (X.509 v1 ones too), IP-SAN or DNS-name
//!   verification, or a rustls `ClientConfig` of your own.
//! - `testkit`: the `testkit` module, which starts real etcd servers and clusters
//!   on loopback ports for integration tests, ours and yours (Unix only).
//!
//! # Wire trace
//!
//! Every RPC runs in a `tracing` span named `etcd_rpc` (service, method,
//! endpoint) and logs its duration and outcome at DEBUG; at TRACE the
//! request and response messages themselves are logged. With
//! `tracing-subscriber`'s env filter, `RUST_LOG=etcd_raw=trace` shows the
//! whole conversation.
#![warn(missing_docs)]
// docs.rs builds with every feature and labels what each item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
// No unsafe code in the client. The test kit alone needs it, for signals and
// the parent-death signal of the etcd processes it spawns.
#![cfg_attr(not(feature = "testkit"), forbid(unsafe_code))]
#![cfg_attr(feature = "testkit", deny(unsafe_code))]

#[macro_use]
mod macros;
mod bytes_arg;
mod call;
mod client;
mod config;
mod convert;
mod error;
pub mod kv;
mod namespace;
pub mod pb;
mod snapshot_file;
mod transport;

pub mod auth;
pub mod cluster;
pub mod concurrency;
pub mod election;
pub mod lease;
pub mod lock;
pub mod maintenance;
pub mod mirror;
pub mod watch;

#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
#[allow(unsafe_code)]
pub mod testkit;

pub use bytes::Bytes;
pub use bytes_arg::IntoBytes;
pub use call::ResponseFuture;
pub use client::Client;
pub use concurrency::{Election, Mutex, RwMutex, Session, Stm};
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use config::TlsConfig;
pub use config::{Config, MIN_KEEPALIVE_INTERVAL};
pub use election::{LeaderKey, ObserveStream};
pub use error::{Error, ErrorKind, GrpcCode, Result};
pub use kv::{
    prefix_end, Compact, CompactResponse, Compare, CompareOp, Delete, DeleteResponse, Get, GetPage, GetResponse,
    GetStream, KeyValue, Put, PutResponse, ResponseHeader, SortOrder, SortTarget, Txn, TxnOp, TxnOpResponse,
    TxnResponse,
};
pub use lease::KeepAliveStream;
pub use lock::LockResponse;
pub use mirror::{Mirror, MirrorEvent};
pub use snapshot_file::{SavedSnapshot, SnapshotToFile};
pub use transport::{RawBody, RawChannel};
pub use watch::{Event, EventType, Watch, WatchResponse, WatchStream};

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
