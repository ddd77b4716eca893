//! Barrier: one key that blocks every waiter until it is deleted, as Go's
//! recipe `Barrier`.

use crate::IntoBytes;
use bytes::Bytes;

use super::wait::wait_until_gone;
use crate::error::Result;
use crate::kv::{Compare, CompareOp, Put};
use crate::Client;

/// A barrier (Go's recipe `Barrier`): while its key exists,
/// [`wait`](Barrier::wait) blocks; deleting it releases every waiter at
/// once.
///
/// The key has no lease: a barrier held by a process that dies stays held
/// until someone releases it.
///
/// ```no_run
/// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
/// use etcd_raw::concurrency::Barrier;
///
/// let start = Barrier::new(&client, "jobs/start");
/// start.hold().await?;
/// // ... elsewhere, workers call `Barrier::new(&client, "jobs/start").wait().await?`
/// start.release().await?; // they all go on
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Barrier {
    client: Client,
    key: Bytes,
}

impl Barrier {
    /// The barrier `key` (Go's `NewBarrier`).
    pub fn new(client: &Client, key: impl IntoBytes) -> Barrier {
        Barrier { client: client.clone(), key: key.into_bytes() }
    }

    /// Creates the key, so that waiters block (Go's `Hold`). Returns
    /// whether this call created it: `false` when the barrier was held
    /// already (Go's `ErrKeyExists`).
    pub async fn hold(&self) -> Result<bool> {
        let absent = Compare::version(self.key.clone(), CompareOp::Equal, 0);
        let created = self.client.txn().when([absent]).and_then([Put::new(self.key.clone(), Bytes::new())]).await?;
        Ok(created.succeeded())
    }

    /// Deletes the key, releasing every waiter (Go's `Release`). Releasing
    /// a barrier not held is not an error.
    pub async fn release(&self) -> Result<()> {
        self.client.delete(self.key.clone()).await?;
        Ok(())
    }

    /// Waits until the key does not exist (Go's `Wait`): at once when the
    /// barrier is not held. For as long as it takes: bound it with
    /// `tokio::time::timeout` if needed.
    pub async fn wait(&self) -> Result<()> {
        wait_until_gone(&self.client, &self.key).await
    }

    /// The barrier's key.
    pub fn key(&self) -> &Bytes {
        &self.key
    }
}
