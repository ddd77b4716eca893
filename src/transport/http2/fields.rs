//! Header fields as they came off the wire, and a response's head.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The regular fields of one header block (pseudo-fields removed), in
/// order. Looked up by scanning: a gRPC answer has two or three.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fields(pub(crate) Vec<(Bytes, Bytes)>);

impl Fields {
    /// The first value of `name` (lower case).
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.0.iter().find(|(n, _)| n.as_ref() == name.as_bytes()).map(|(_, v)| v.as_ref())
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// As an `http` header map, for callers that hand the fields on (the
    /// raw stubs). Fields `http` would refuse are left out.
    pub(crate) fn to_header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.0.len());
        for (name, value) in &self.0 {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                map.append(name, value);
            }
        }
        map
    }
}

/// A response's status and headers.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) fields: Fields,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_take_the_first_value_and_maps_keep_every_valid_field() {
        let fields = Fields(vec![
            (Bytes::from_static(b"content-type"), Bytes::from_static(b"application/grpc")),
            (Bytes::from_static(b"x-a"), Bytes::from_static(b"1")),
            (Bytes::from_static(b"x-a"), Bytes::from_static(b"2")),
            (Bytes::from_static(b"bad name"), Bytes::from_static(b"dropped")),
        ]);
        assert_eq!(fields.get("x-a"), Some(&b"1"[..]));
        assert_eq!(fields.get("grpc-status"), None);
        let map = fields.to_header_map();
        assert_eq!(map.get_all("x-a").iter().count(), 2);
        assert_eq!(map.len(), 3);
    }
}
