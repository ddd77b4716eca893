//! Waiting for one's turn in a queue of keys ordered by create revision:
//! what a mutex waiter and an election candidate both do.

use bytes::Bytes;
use std::time::Duration;

use super::{retrying, session};
use crate::error::{Error, ErrorKind, Result};
use crate::kv::{Get, ResponseHeader, SortOrder, SortTarget, TxnOpResponse};
use crate::watch::{EventType, Watch};
use crate::Client;

/// How long a waiter trusts one watch before reading again: covers a
/// member that hangs without closing the connection.
const RECHECK_EVERY: Duration = Duration::from_secs(5);
/// Pause after a watch failed, before reading again.
const AFTER_FAILURE: Duration = Duration::from_millis(200);

/// Waits until `key` (created at `revision`, on `lease`) is the oldest key
/// under `prefix`, and returns the header of the read that showed it.
///
/// Each round reads our key and the one just before it in one request;
/// then it watches that one key (not the owner's, so a release wakes one
/// waiter, not all) until it is deleted, and reads again. Our key being
/// gone means our lease ended: that is an error, never a turn.
pub(crate) async fn wait_for_turn(
    client: &Client,
    prefix: &Bytes,
    key: &Bytes,
    revision: i64,
    lease: i64,
) -> Result<ResponseHeader> {
    loop {
        let queue = retrying(|| {
            client
                .get(prefix.clone())
                .prefix()
                .max_create_revision(revision)
                .sort(SortTarget::Create, SortOrder::Descend)
                .limit(2)
        })
        .await?;
        let kvs = queue.kvs();
        match kvs.first() {
            Some(ours) if ours.key() == key && ours.create_revision() == revision => {}
            _ => return Err(session::expired(lease, Some(&gone(key)))),
        }
        let Some(before) = kvs.get(1) else {
            return Ok(queue.header());
        };
        wait_delete(client, before.key_bytes().clone(), queue.header().revision() + 1).await?;
    }
}

/// Waits until no key under `blockers` is older than `key` (created at
/// `revision`, on `lease`), which need not be under `blockers` itself: a
/// reader of a read-write lock waits so for the writers queued before it.
/// Each round reads our key and the youngest older blocker in one
/// transaction, then watches that blocker until it is deleted.
pub(crate) async fn wait_for_no_older(
    client: &Client,
    blockers: &Bytes,
    key: &Bytes,
    revision: i64,
    lease: i64,
) -> Result<ResponseHeader> {
    let youngest_older = || {
        Get::new(blockers.clone())
            .prefix()
            .max_create_revision(revision - 1)
            .sort(SortTarget::Create, SortOrder::Descend)
            .limit(1)
    };
    loop {
        let round = retrying(|| client.txn().and_then([Get::new(key.clone()), youngest_older()])).await?;
        let mut answers = round.op_responses()?.into_iter();
        let (Some(TxnOpResponse::Get(ours)), Some(TxnOpResponse::Get(older))) = (answers.next(), answers.next()) else {
            return Err(Error::protocol("waiter's read answered without its two ranges"));
        };
        match ours.kvs().first() {
            Some(ours) if ours.create_revision() == revision => {}
            _ => return Err(session::expired(lease, Some(&gone(key)))),
        }
        let Some(blocker) = older.kvs().first() else {
            return Ok(round.header());
        };
        wait_delete(client, blocker.key_bytes().clone(), round.header().revision() + 1).await?;
    }
}

fn gone(key: &Bytes) -> Error {
    Error::new(ErrorKind::KeyNotFound, format!("the waiter key {:?} is gone", String::from_utf8_lossy(key)))
}

/// Waits until `key` does not exist (a barrier's wait): at once if it
/// does not, else until a delete of it is seen and a read confirms it.
pub(crate) async fn wait_until_gone(client: &Client, key: &Bytes) -> Result<()> {
    loop {
        let now = retrying(|| client.get(key.clone()).keys_only()).await?;
        if now.kvs().is_empty() {
            return Ok(());
        }
        wait_delete(client, key.clone(), now.header().revision() + 1).await?;
    }
}

/// Returns once `key` is deleted at or after revision `from`, or when it is
/// time to read again anyway; see [`wait_for_event`].
async fn wait_delete(client: &Client, key: Bytes, from: i64) -> Result<()> {
    wait_for_event(client.watch(key).start_revision(from).filter_put(), EventType::Delete).await
}

/// Returns once `watch` delivers an event of type `wanted`, or when it is
/// time to read again anyway (a recheck is due, the watch ended, or its
/// start was compacted); fails only on errors that reading again cannot
/// fix. The watch goes through the client's watch service, so it shares
/// its stream, its recovery and its token refresh.
pub(crate) async fn wait_for_event(watch: Watch, wanted: EventType) -> Result<()> {
    let watch = async {
        let mut watch = watch.await?;
        while let Some(response) = watch.message().await {
            if response?.events().iter().any(|event| event.kind() == wanted) {
                return Ok(());
            }
        }
        // Ended without an error: the caller's read tells the rest.
        Ok::<(), Error>(())
    };
    match tokio::time::timeout(RECHECK_EVERY, watch).await {
        Err(_) | Ok(Ok(())) => Ok(()),
        // Compacted past its start: the caller's read tells the rest.
        Ok(Err(e)) if e.kind() == ErrorKind::Compacted => Ok(()),
        // Reached a member behind the one that was read: read again there.
        Ok(Err(e)) if super::transient(&e) || e.kind() == ErrorKind::FutureRev => {
            tracing::debug!(error = %e, "waiter's watch failed; reading again");
            tokio::time::sleep(AFTER_FAILURE).await;
            Ok(())
        }
        Ok(Err(e)) => Err(e),
    }
}
