//! The Watch service: a [`Stream`](futures_core::Stream) of changes to a
//! key or range, that never loses an event.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), etcd_raw::Error> {
//!     let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
//!     let mut watch = client.watch("config/").prefix().prev_kv().await?;
//!     // `message()` is the next response; a WatchStream is also a `Stream`.
//!     while let Some(response) = watch.message().await {
//!         for event in response?.events() {
//!             println!("{} {:?} at {}", event.kind(), event.kv().key_str()?, event.revision());
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Guarantees
//!
//! - Every revision is delivered exactly once and in order, as one
//!   [`WatchResponse`] holding all of its events (a multi-key transaction
//!   arrives whole; fragments of a large revision are joined first).
//! - When the stream, the connection or the member goes away, every watch
//!   is re-created, on another member if needed, from the revision after
//!   the last one delivered (or after the created/progress revision for a
//!   watch that has seen nothing), with backoff.
//! - A watch does not stay on a member cut off from the leader (which
//!   would leave it silent while the cluster moves on): its stream asks
//!   for a leader, so etcd ends it after three election timeouts without
//!   one, and it resumes as above on a member that has one.
//! - If that revision was compacted away meanwhile, the watch ends with
//!   exactly one error of kind [`Compacted`](crate::ErrorKind::Compacted)
//!   carrying [`compact_revision`](crate::Error::compact_revision).
//! - All watches of a client share one gRPC stream. Each has a bounded
//!   buffer (see [`Watch::buffer`]): a watcher that is not polled is paused
//!   on the server and later resumed from its first undelivered revision,
//!   so it neither stalls the others nor grows memory, and loses nothing
//!   (unless history is compacted while it is paused).
//!   [`WatchStream::fell_behind`] says how often that happened.
//! - Watches of the same key or range with the same options, at the same
//!   revision, share one watch on the server (as etcd's gRPC proxy
//!   coalesces watchers): the server sends each revision once and the
//!   client hands it to all of them. A watch without a start revision only
//!   joins one that has caught up with the store (never one replaying
//!   history), at the revision its created header reports; events still in
//!   flight to the shared watch then reach it too, as when watching a member
//!   that is slightly behind. Give a start revision to pin it exactly.
//! - Dropping a [`WatchStream`] cancels its watch on the server (the
//!   shared one once its last watcher is gone).

mod event;
mod groups;
mod hub;
mod options;
mod response;
mod stream;

pub(crate) use hub::HubHandle;
pub use options::Watch;
pub use response::WatchResponse;
pub use stream::{WatchEvents, WatchStream};

pub use event::{Event, EventType};

use crate::IntoBytes;

use crate::error::Result;
use crate::Client;

impl Client {
    /// Watches `key`, or a range of keys with `.prefix()`, `.range_end()`
    /// or `.from_key()` (Go's `Watch`). Awaiting it returns once the server
    /// has created the watch.
    pub fn watch(&self, key: impl IntoBytes) -> Watch {
        Watch::new(self, key.into_bytes())
    }

    /// Asks the server for a progress notification on every watch of this
    /// client (Go's `RequestProgress`): each watch then yields a response
    /// with no events whose header revision says how far the server has
    /// sent. Does nothing while no watch is open.
    pub fn request_progress(&self) -> Result<()> {
        self.watch_hub.request_progress(&self.transport)
    }
}
