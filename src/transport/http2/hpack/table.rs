//! The HPACK index tables: the static table (RFC 7541, Appendix A) and the dynamic table
//! (sections 2.3.2 and 4).
//!
//! Index 1 to 61 name static entries; 62 and up name dynamic entries, newest first.

use std::collections::VecDeque;

use bytes::Bytes;

/// The static table (RFC 7541, Appendix A): `STATIC_TABLE[i - 1]` is index `i`.
pub(super) const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// What RFC 7541 (4.1) adds to an entry's name and value lengths to get its size.
pub(super) const ENTRY_OVERHEAD: usize = 32;

/// The size of an entry (RFC 7541, 4.1); saturating, though real lengths never come near.
pub(super) fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len().saturating_add(value.len()).saturating_add(ENTRY_OVERHEAD)
}

/// The static entry at `index` (1-based), without copying; `None` past the table or for 0.
pub(super) fn static_entry(index: usize) -> Option<(Bytes, Bytes)> {
    let (name, value) = STATIC_TABLE.get(index.checked_sub(1)?)?;
    Some((Bytes::from_static(name.as_bytes()), Bytes::from_static(value.as_bytes())))
}

/// The index of the first static entry named `name`, if any.
pub(super) fn static_name_index(name: &[u8]) -> Option<usize> {
    STATIC_TABLE.iter().position(|(entry, _)| entry.as_bytes() == name).map(|i| i + 1)
}

/// The dynamic table of one decoding context: a FIFO of entries, newest at the front.
#[derive(Debug)]
pub(super) struct DynamicTable {
    /// Newest first, so dynamic index `i` (0-based) is `entries[i]`.
    entries: VecDeque<(Bytes, Bytes)>,
    /// Sum of the entries' sizes.
    size: usize,
    /// The current maximum size, as last set by the peer's encoder.
    max_size: usize,
}

impl DynamicTable {
    /// An empty table whose maximum size is `max_size`.
    pub(super) fn new(max_size: usize) -> DynamicTable {
        DynamicTable { entries: VecDeque::new(), size: 0, max_size }
    }

    /// The entry at 0-based dynamic position `i` (HPACK index `i + 62`).
    pub(super) fn get(&self, i: usize) -> Option<&(Bytes, Bytes)> {
        self.entries.get(i)
    }

    /// Number of entries.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Sum of the entries' sizes.
    #[cfg(test)]
    pub(super) fn size(&self) -> usize {
        self.size
    }

    /// The current maximum size.
    #[cfg(test)]
    pub(super) fn max_size(&self) -> usize {
        self.max_size
    }

    /// Adds an entry, first evicting the oldest ones until it fits (RFC 7541, 4.4). An entry larger
    /// than the whole table empties it and is not added.
    pub(super) fn insert(&mut self, name: Bytes, value: Bytes) {
        let size = entry_size(&name, &value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        // Fits, since size <= max_size: evict down to what leaves room for it.
        self.evict_to(self.max_size - size);
        self.entries.push_front((name, value));
        self.size += size;
    }

    /// Changes the maximum size (a dynamic table size update, RFC 7541 4.3), evicting as needed.
    pub(super) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Evicts the oldest entries until the table's size is at most `limit`.
    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            match self.entries.pop_back() {
                Some((name, value)) => self.size -= entry_size(&name, &value),
                // Unreachable while `size` is kept in step with `entries`; resync rather than loop.
                None => self.size = 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(table: &DynamicTable) -> Vec<&[u8]> {
        (0..table.len()).map(|i| &table.get(i).unwrap().0[..]).collect()
    }

    #[test]
    fn static_lookups() {
        assert_eq!(static_entry(0), None);
        assert_eq!(static_entry(1), Some((Bytes::from_static(b":authority"), Bytes::new())));
        assert_eq!(static_entry(3), Some((Bytes::from_static(b":method"), Bytes::from_static(b"POST"))));
        assert_eq!(static_entry(16).unwrap().1, "gzip, deflate");
        assert_eq!(static_entry(61).unwrap().0, "www-authenticate");
        assert_eq!(static_entry(62), None);
        assert_eq!(static_name_index(b":authority"), Some(1));
        // The first of several entries sharing a name.
        assert_eq!(static_name_index(b":status"), Some(8));
        assert_eq!(static_name_index(b"content-type"), Some(31));
        assert_eq!(static_name_index(b"www-authenticate"), Some(61));
        assert_eq!(static_name_index(b"grpc-timeout"), None);
        assert_eq!(static_name_index(b"Content-Type"), None);
    }

    #[test]
    fn evicts_oldest_first() {
        // Entries of size 32 + 2 = 34; three fit in 110, not four.
        let mut table = DynamicTable::new(110);
        for name in ["a", "b", "c", "d"] {
            table.insert(Bytes::copy_from_slice(name.as_bytes()), Bytes::from_static(b"1"));
        }
        assert_eq!(names(&table), [&b"d"[..], b"c", b"b"]);
        assert_eq!(table.size(), 102);
    }

    #[test]
    fn oversized_entry_empties_the_table() {
        let mut table = DynamicTable::new(64);
        table.insert(Bytes::from_static(b"a"), Bytes::from_static(b"b"));
        assert_eq!(table.len(), 1);
        table.insert(Bytes::from_static(b"a"), Bytes::from(vec![b'x'; 32]));
        assert_eq!((table.len(), table.size()), (0, 0));
        // An entry of exactly the maximum size fits.
        table.insert(Bytes::from_static(b"a"), Bytes::from(vec![b'x'; 31]));
        assert_eq!((table.len(), table.size()), (1, 64));
    }

    #[test]
    fn shrinking_evicts() {
        let mut table = DynamicTable::new(4096);
        for i in 0..10u8 {
            table.insert(Bytes::copy_from_slice(&[b'a' + i]), Bytes::new());
        }
        assert_eq!(table.size(), 330);
        table.set_max_size(100);
        assert_eq!(names(&table), [&b"j"[..], b"i", b"h"]);
        assert_eq!((table.size(), table.max_size()), (99, 100));
        table.set_max_size(0);
        assert_eq!((table.len(), table.size()), (0, 0));
        table.insert(Bytes::from_static(b"a"), Bytes::new());
        assert_eq!(table.len(), 0);
    }
}
