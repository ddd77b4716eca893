//! A client's key namespace (Go's `clientv3/namespace`): the prefix every
//! key of a [`Client::with_namespace`](crate::Client::with_namespace) view
//! is stored under. Requests go out with it ([`Namespace::key`],
//! [`Namespace::fill`]); answers come back without it (`strip.rs`).
//!
//! The rules, applied where a builder turns into its wire request:
//!
//! - a key becomes `namespace + key`;
//! - a single key stays a single key, and an empty one is refused as it is
//!   without a namespace;
//! - a prefix of `key` is the prefix of `namespace + key`; an empty key
//!   with a prefix (or from a key) is the whole namespace,
//!   `[namespace + "\0", prefix_end(namespace))`: as in Go, the key equal to
//!   the namespace itself is outside it, since the view cannot write it
//!   (an empty key is refused);
//! - from a key (etcd's range end `\0`) stops at the end of the namespace,
//!   never the keyspace above it;
//! - any other range end `end` becomes `namespace + end`.

use bytes::Bytes;

use crate::error::Result;
use crate::kv::{check_key, prefix_end, RangeEnd};

mod strip;
#[cfg(test)]
mod tests;

/// The key prefix of a client view; empty for none. A clone is a
/// reference count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Namespace(Bytes);

impl Namespace {
    /// This namespace with `inner` below it: namespaces nest by joining.
    pub(crate) fn join(&self, inner: Bytes) -> Namespace {
        if self.0.is_empty() {
            return Namespace(inner);
        }
        Namespace(Bytes::from([self.0.as_ref(), inner.as_ref()].concat()))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `key` as stored: under the namespace.
    pub(crate) fn key(&self, key: Bytes) -> Bytes {
        if self.0.is_empty() {
            return key;
        }
        Bytes::from([self.0.as_ref(), key.as_ref()].concat())
    }

    /// Resolves `range` of `key` into a request's `key` and `range_end`
    /// fields, inside the namespace; refuses an empty key that no range
    /// makes meaningful, as without a namespace.
    pub(crate) fn fill(&self, range: &RangeEnd, key: &mut Bytes, range_end: &mut Bytes) -> Result<()> {
        if self.0.is_empty() {
            return range.fill(key, range_end);
        }
        let (resolved, end) = self.resolve(range, std::mem::take(key))?;
        *key = resolved;
        *range_end = end;
        Ok(())
    }

    /// A leader key handed out by this namespace, as the server knows it.
    pub(crate) fn leader_key(&self, leader: &crate::election::LeaderKey) -> crate::pb::v3electionpb::LeaderKey {
        let mut raw = leader.raw().clone();
        raw.name = self.key(raw.name);
        raw.key = self.key(raw.key);
        raw
    }

    fn resolve(&self, range: &RangeEnd, key: Bytes) -> Result<(Bytes, Bytes)> {
        const KEYSPACE_END: &[u8] = &[0];
        let whole = || (self.key(Bytes::from_static(&[0])), Bytes::from(prefix_end(&self.0)));
        Ok(match range {
            RangeEnd::Prefix if key.is_empty() => whole(),
            RangeEnd::FromKey if key.is_empty() => whole(),
            RangeEnd::Prefix => {
                let key = self.key(key);
                let end = Bytes::from(prefix_end(&key));
                (key, end)
            }
            RangeEnd::FromKey => (self.key(key), whole().1),
            RangeEnd::Single => {
                check_key(&key)?;
                (self.key(key), Bytes::new())
            }
            RangeEnd::End(end) => {
                check_key(&key)?;
                let end = match end.as_ref() {
                    [] => Bytes::new(),
                    KEYSPACE_END => whole().1,
                    _ => self.key(end.clone()),
                };
                (self.key(key), end)
            }
        })
    }
}
