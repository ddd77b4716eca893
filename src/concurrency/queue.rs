//! Queue: a first-in first-out queue of values under a prefix, with any
//! number of producers and consumers, as Go's recipe `Queue`.

use crate::IntoBytes;
use bytes::Bytes;
use std::time::{SystemTime, UNIX_EPOCH};

use super::queue_prefix;
use super::retrying;
use super::wait::wait_for_event;
use crate::error::Result;
use crate::kv::{Compare, CompareOp, Delete, Put, SortOrder, SortTarget};
use crate::watch::EventType;
use crate::Client;

/// A distributed FIFO queue (Go's recipe `Queue`): each value is a key
/// `<name>/<nanoseconds>` (Go's layout), served in the order the keys were
/// created, and each is taken by one consumer.
///
/// Delivery is at most once: a [`dequeue`](Queue::dequeue) that fails or
/// is dropped after sending its claim may have taken a value that no one
/// receives.
///
/// ```no_run
/// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
/// use etcd_raw::concurrency::Queue;
///
/// let jobs = Queue::new(&client, "jobs");
/// jobs.enqueue("resize image 7").await?;
/// let next = jobs.dequeue().await?; // waits while the queue is empty
/// assert_eq!(next, "resize image 7");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Queue {
    client: Client,
    /// `<name>/`
    prefix: Bytes,
}

impl Queue {
    /// The queue `name` (Go's `NewQueue`).
    pub fn new(client: &Client, name: impl IntoBytes) -> Queue {
        Queue { client: client.clone(), prefix: queue_prefix(name.into_bytes()) }
    }

    /// Adds `value` at the end (Go's `Enqueue`). As any write, it is not
    /// sent twice; an error with [`Error::outcome_unknown`] may have added
    /// it.
    ///
    /// [`Error::outcome_unknown`]: crate::Error::outcome_unknown
    pub async fn enqueue(&self, value: impl IntoBytes) -> Result<()> {
        let value = value.into_bytes();
        loop {
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos());
            let key: Bytes = [self.prefix.as_ref(), nanos.to_string().as_bytes()].concat().into();
            let absent = Compare::version(key.clone(), CompareOp::Equal, 0);
            let put = self.client.txn().when([absent]).and_then([Put::new(key, value.clone())]).await?;
            if put.succeeded() {
                return Ok(());
            }
            // Another producer took this nanosecond.
        }
    }

    /// Takes the oldest value (Go's `Dequeue`), waiting while the queue is
    /// empty, for as long as it takes: bound it with `tokio::time::timeout`
    /// if needed.
    pub async fn dequeue(&self) -> Result<Bytes> {
        loop {
            let oldest = retrying(|| {
                self.client.get(self.prefix.clone()).prefix().sort(SortTarget::Create, SortOrder::Ascend).limit(1)
            })
            .await?;
            let Some(first) = oldest.kvs().first() else {
                let puts =
                    self.client.watch(self.prefix.clone()).prefix().start_revision(oldest.header().revision() + 1);
                wait_for_event(puts.filter_delete(), EventType::Put).await?;
                continue;
            };
            // Ours only if no other consumer took it first.
            let unchanged = Compare::mod_revision(first.key_bytes().clone(), CompareOp::Equal, first.mod_revision());
            let claim = self.client.txn().when([unchanged]).and_then([Delete::new(first.key_bytes().clone())]).await?;
            if claim.succeeded() {
                return Ok(first.value_bytes().clone());
            }
        }
    }

    /// The prefix of the queue's keys, `<name>/`.
    pub fn prefix(&self) -> &Bytes {
        &self.prefix
    }
}
