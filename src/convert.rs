//! Moves the wire messages inside a response into our own types and back.
//! Our types wrap the messages, so a list converts in place, without a
//! new allocation.

/// Converts a container of messages element by element.
pub(crate) trait Lift<T> {
    fn lift(self) -> T;
}

impl<P, O: From<P>> Lift<Vec<O>> for Vec<P> {
    fn lift(self) -> Vec<O> {
        self.into_iter().map(O::from).collect()
    }
}

impl<P, O: From<P>> Lift<Option<O>> for Option<P> {
    fn lift(self) -> Option<O> {
        self.map(O::from)
    }
}

/// A response type made from its wire message (see `wire_response!`), so
/// that generic call code knows which message to decode.
pub(crate) trait WireResponse {
    type Raw;
    fn from_raw(raw: Self::Raw) -> Self;
}

#[cfg(test)]
mod tests {
    use super::Lift;
    use crate::pb::mvccpb::KeyValue as RawKeyValue;
    use crate::KeyValue;

    #[test]
    fn a_list_of_pairs_converts_in_place() {
        let raw = vec![RawKeyValue { key: "a".into(), ..Default::default() }; 3];
        let before = raw.as_ptr() as usize;
        let ours: Vec<KeyValue> = raw.lift();
        assert_eq!(ours.as_ptr() as usize, before);
        assert_eq!(ours[2].key(), b"a");
        let back: Vec<RawKeyValue> = ours.lift();
        assert_eq!(back.as_ptr() as usize, before);
    }
}
