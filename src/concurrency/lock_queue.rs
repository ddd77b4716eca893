//! The queue a lock's waiters stand in: joining it, and the error of a
//! holder whose key left it early. Shared by [`Mutex`](super::Mutex) and
//! [`RwMutex`](super::RwMutex).

use bytes::Bytes;

use super::{retrying, session, Session};
use crate::error::{Error, ErrorKind, Result};
use crate::kv::{Compare, CompareOp, Get, KeyValue, Put, ResponseHeader, SortOrder, SortTarget, TxnOp, TxnOpResponse};

/// The outcome of joining the queue.
pub(super) struct Joined {
    /// Create revision of our key.
    pub(super) revision: i64,
    /// Create revision of the oldest key under the prefix that was asked
    /// about (ours among them, when it is under that prefix).
    pub(super) oldest: Option<i64>,
    pub(super) header: ResponseHeader,
}

/// Puts our `key` in the queue (or finds it there) and reads the oldest key
/// under `prefix`, in one transaction that is safe to repeat.
pub(super) async fn join_queue(session: &Session, key: &Bytes, prefix: &Bytes) -> Result<Joined> {
    let lease = session.lease();
    let oldest = || TxnOp::from(Get::new(prefix.clone()).prefix().sort(SortTarget::Create, SortOrder::Ascend).limit(1));
    let response = retrying(|| {
        session
            .client()
            .txn()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::from(Put::new(key.clone(), Bytes::new()).lease(lease)), oldest()])
            .or_else([TxnOp::from(Get::new(key.clone())), oldest()])
    })
    .await
    .map_err(|e| if e.kind() == ErrorKind::LeaseNotFound { session::expired(lease, Some(&e)) } else { e })?;
    let ops = response.op_responses()?;
    let first_created = |op: Option<&TxnOpResponse>| match op {
        Some(TxnOpResponse::Get(got)) => got.kvs().first().map(KeyValue::create_revision),
        _ => None,
    };
    let revision = if response.succeeded() {
        response.header().revision()
    } else {
        first_created(ops.first())
            .ok_or_else(|| Error::protocol("lock transaction: our key is neither created nor found"))?
    };
    Ok(Joined { revision, oldest: first_created(ops.get(1)), header: response.header() })
}

/// What `unlock` reports when the key held since `revision` was gone
/// before it: the lock was lost with the session.
pub(super) fn gone_before_unlock(session: &Session, revision: i64) -> Error {
    session::expired(
        session.lease(),
        Some(&Error::new(
            ErrorKind::KeyNotFound,
            format!("the lock key was gone before unlock (held since revision {revision})"),
        )),
    )
}
