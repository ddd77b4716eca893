//! Which keys a request covers: one key, a prefix, everything from a key,
//! or an explicit `[key, range_end)`. Shared by get, delete, compare and
//! (later) watch.

use bytes::Bytes;

/// How far a key request reaches beyond its key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum RangeEnd {
    /// Just the key.
    #[default]
    Single,
    /// Every key starting with the key.
    Prefix,
    /// The key and every key after it.
    FromKey,
    /// `[key, end)`.
    End(Bytes),
}

impl RangeEnd {
    /// The wire form: `(key, range_end)`, as etcd expects them. An empty
    /// key with a prefix or from-key means "every key" (etcd's `\0`).
    pub(crate) fn resolve(&self, key: Bytes) -> (Bytes, Bytes) {
        const ZERO: Bytes = Bytes::from_static(&[0]);
        match self {
            RangeEnd::Single => (key, Bytes::new()),
            RangeEnd::Prefix if key.is_empty() => (ZERO, ZERO),
            RangeEnd::Prefix => {
                let end = prefix_end(&key);
                (key, end.into())
            }
            RangeEnd::FromKey if key.is_empty() => (ZERO, ZERO),
            RangeEnd::FromKey => (key, ZERO),
            RangeEnd::End(end) => (key, end.clone()),
        }
    }

    /// Resolves into a request's `key` and `range_end` fields, refusing an
    /// empty key that no range makes meaningful.
    pub(crate) fn fill(&self, key: &mut Bytes, range_end: &mut Bytes) -> crate::error::Result<()> {
        let (resolved, end) = self.resolve(std::mem::take(key));
        super::check_key(&resolved)?;
        *key = resolved;
        *range_end = end;
        Ok(())
    }
}

/// The end of the range holding every key that starts with `prefix`: the
/// prefix with its last byte below 0xff incremented (Go's
/// `GetPrefixRangeEnd`). A prefix of only 0xff bytes reaches to the end of
/// the keyspace (`\0`).
///
/// ```
/// assert_eq!(etcd_raw::prefix_end(b"app/"), b"app0".to_vec());
/// assert_eq!(etcd_raw::prefix_end(b"a\xff"), b"b".to_vec());
/// assert_eq!(etcd_raw::prefix_end(b"\xff"), vec![0]);
/// ```
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_every_form() {
        let key = Bytes::from_static(b"k");
        assert_eq!(RangeEnd::Single.resolve(key.clone()), (key.clone(), Bytes::new()));
        assert_eq!(RangeEnd::Prefix.resolve(key.clone()), (key.clone(), Bytes::from_static(b"l")));
        assert_eq!(RangeEnd::FromKey.resolve(key.clone()), (key.clone(), Bytes::from_static(&[0])));
        assert_eq!(RangeEnd::Prefix.resolve(Bytes::new()), (Bytes::from_static(&[0]), Bytes::from_static(&[0])));
        let end = Bytes::from_static(b"z");
        assert_eq!(RangeEnd::End(end.clone()).resolve(key.clone()), (key, end));
    }
}
