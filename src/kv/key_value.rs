//! A stored pair, as reads, watches and elections hand it out.

use crate::error::{Error, Result};
use crate::pb::mvccpb::KeyValue as RawKeyValue;

/// A key with its value and revisions (etcd's `mvccpb.KeyValue`).
///
/// It wraps the wire message without copying it: a response's pairs move
/// into this type, and [`into_inner`](Self::into_inner) or `From` gives the
/// message back.
///
/// ```
/// use etcd_raw::{pb, KeyValue};
///
/// let raw = pb::mvccpb::KeyValue { key: "app/a".into(), value: "1".into(), mod_revision: 7, ..Default::default() };
/// let kv = KeyValue::from(raw);
/// assert_eq!(kv.key(), b"app/a");
/// assert_eq!(kv.value_str()?, "1");
/// assert_eq!(kv.mod_revision(), 7);
/// # Ok::<(), etcd_raw::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyValue(RawKeyValue);

impl KeyValue {
    /// The key.
    pub fn key(&self) -> &[u8] {
        &self.0.key
    }

    /// The value.
    pub fn value(&self) -> &[u8] {
        &self.0.value
    }

    /// The key as shared bytes: a clone is a reference count, not a copy.
    pub fn key_bytes(&self) -> &bytes::Bytes {
        &self.0.key
    }

    /// The value as shared bytes: a clone is a reference count, not a copy.
    pub fn value_bytes(&self) -> &bytes::Bytes {
        &self.0.value
    }

    /// The key as UTF-8.
    pub fn key_str(&self) -> Result<&str> {
        utf8(&self.0.key, "key")
    }

    /// The value as UTF-8.
    pub fn value_str(&self) -> Result<&str> {
        utf8(&self.0.value, "value")
    }

    /// The revision of the change that created the key (since it was last
    /// deleted).
    pub fn create_revision(&self) -> i64 {
        self.0.create_revision
    }

    /// The revision of the last change to the key.
    pub fn mod_revision(&self) -> i64 {
        self.0.mod_revision
    }

    /// How often the key was written since it was created (1 after the
    /// first put); 0 for a deleted key in a watch event.
    pub fn version(&self) -> i64 {
        self.0.version
    }

    /// The lease the key is attached to; 0 for none.
    pub fn lease(&self) -> i64 {
        self.0.lease
    }
}

own_wire_type!(KeyValue(RawKeyValue));

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| Error::invalid_argument(format!("{what} is not UTF-8: {e}")))
}
