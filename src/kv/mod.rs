//! The KV service: put, get, delete, txn and compact.
//!
//! Each call is a builder: set options with chained setters named after
//! Go's `clientv3.Op` options, then `.await` it. The same builders, made
//! with `Get::new`, `Put::new` and `Delete::new`, are the operations of a
//! [`Txn`]. A get can also be answered page by page with
//! [`Get::stream`] (etcd 3.7's `RangeStream`).
//!
//! ```no_run
//! use etcd_raw::{Compare, CompareOp, Put, SortOrder, SortTarget};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), etcd_raw::Error> {
//!     let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
//!     client.put("app/a", "1").prev_kv().await?;
//!     let page = client.get("app/").prefix().sort(SortTarget::Key, SortOrder::Descend).limit(10).await?;
//!     for kv in page.kvs() {
//!         println!("{} = {}", kv.key_str()?, kv.value_str()?);
//!     }
//!     let swapped = client
//!         .txn()
//!         .when([Compare::value("app/a", CompareOp::Equal, "1")])
//!         .and_then([Put::new("app/a", "2")])
//!         .await?;
//!     assert!(swapped.succeeded());
//!     Ok(())
//! }
//! ```

mod compact;
mod delete;
mod get;
mod header;
mod key_value;
mod put;
mod range;
mod range_stream;
mod txn;

use crate::IntoBytes;

pub use compact::{Compact, CompactResponse};
pub use delete::{Delete, DeleteResponse};
pub use get::{Get, GetResponse};
pub use put::{Put, PutResponse};
pub use range::prefix_end;
pub(crate) use range::RangeEnd;
pub use range_stream::{GetPage, GetStream};
pub use txn::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse, TxnResponse};

pub use crate::pb::etcdserverpb::range_request::{SortOrder, SortTarget};
pub use header::ResponseHeader;
pub use key_value::KeyValue;

use crate::error::{Error, ErrorKind, Result};
use crate::Client;

impl Client {
    /// Stores `value` under `key` (Go's `Put`).
    pub fn put(&self, key: impl IntoBytes, value: impl IntoBytes) -> Put<Client> {
        Put::new(key, value).bind(self)
    }

    /// Reads `key`, or a range of keys with `.prefix()`, `.range_end()` or
    /// `.from_key()` (Go's `Get`).
    pub fn get(&self, key: impl IntoBytes) -> Get<Client> {
        Get::new(key).bind(self)
    }

    /// Deletes `key`, or a range of keys (Go's `Delete`).
    pub fn delete(&self, key: impl IntoBytes) -> Delete<Client> {
        Delete::new(key).bind(self)
    }

    /// Starts a transaction: `.when(compares).and_then(ops).or_else(ops)`
    /// (Go's `Txn(ctx).If().Then().Else().Commit()`).
    pub fn txn(&self) -> Txn<Client> {
        Txn::new().bind(self)
    }

    /// Compacts the key-value history up to `revision` (Go's `Compact`).
    pub fn compact(&self, revision: i64) -> Compact {
        Compact::new(self, revision)
    }
}

/// etcd refuses an empty key; say so before a round trip.
pub(crate) fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::new(
            ErrorKind::EmptyKey,
            "key is not provided (an empty key is only allowed with prefix or from_key)",
        ));
    }
    Ok(())
}
