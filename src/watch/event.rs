//! One change to one key, as a watch delivers it.

use std::fmt;

use crate::kv::KeyValue;
use crate::pb::mvccpb::event::EventType as RawEventType;
use crate::pb::mvccpb::Event as RawEvent;

/// What a change did to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The key was written (created or updated).
    Put,
    /// The key was deleted (or its lease expired).
    Delete,
}

impl fmt::Display for EventType {
    /// `PUT` or `DELETE`, as etcdctl prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventType::Put => "PUT",
            EventType::Delete => "DELETE",
        })
    }
}

impl From<RawEventType> for EventType {
    fn from(raw: RawEventType) -> Self {
        match raw {
            RawEventType::Put => EventType::Put,
            RawEventType::Delete => EventType::Delete,
        }
    }
}

impl From<EventType> for RawEventType {
    fn from(kind: EventType) -> Self {
        match kind {
            EventType::Put => RawEventType::Put,
            EventType::Delete => RawEventType::Delete,
        }
    }
}

/// A change to one key (etcd's `mvccpb.Event`).
///
/// etcd sends every event with the pair it changed: for a put, the pair as
/// written; for a delete, the key with the deletion's revision as
/// `mod_revision` and an empty value. A message without one is malformed:
/// a watch drops it (it has no revision to deliver it at), and converted
/// from `pb` by hand its [`kv`](Self::kv) is an empty pair at revision 0.
/// An event type this client does not know is read as a put.
///
/// ```
/// use etcd_raw::pb::mvccpb;
/// use etcd_raw::watch::{Event, EventType};
///
/// let kv = mvccpb::KeyValue { key: "app/a".into(), value: "1".into(), mod_revision: 9, ..Default::default() };
/// let event = Event::from(mvccpb::Event { kv: Some(kv), ..Default::default() });
/// assert_eq!(event.kind(), EventType::Put);
/// assert_eq!(event.kind().to_string(), "PUT");
/// assert_eq!(event.kv().value_str()?, "1");
/// assert_eq!(event.revision(), 9);
/// assert!(event.prev_kv().is_none());
/// # Ok::<(), etcd_raw::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    kind: EventType,
    kv: KeyValue,
    prev_kv: Option<KeyValue>,
}

impl Event {
    /// Whether this is a put or a delete.
    pub fn kind(&self) -> EventType {
        self.kind
    }

    /// Whether this is a put or a delete.
    #[deprecated(note = "renamed to `kind()`")]
    pub fn event_type(&self) -> EventType {
        self.kind
    }

    /// The pair after the change (for a delete: the key, with the
    /// deletion's revision).
    pub fn kv(&self) -> &KeyValue {
        &self.kv
    }

    /// The pair before the change, when the watch asked for it with
    /// [`prev_kv`](super::Watch::prev_kv) and the key existed.
    pub fn prev_kv(&self) -> Option<&KeyValue> {
        self.prev_kv.as_ref()
    }

    /// The revision of the change (the pair's modification revision).
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision()
    }

    /// The wire message.
    pub fn into_inner(self) -> RawEvent {
        self.into()
    }
}

impl From<RawEvent> for Event {
    fn from(raw: RawEvent) -> Self {
        let kind = RawEventType::try_from(raw.r#type).map_or(EventType::Put, EventType::from);
        Event { kind, kv: raw.kv.map(KeyValue::from).unwrap_or_default(), prev_kv: raw.prev_kv.map(KeyValue::from) }
    }
}

impl From<Event> for RawEvent {
    fn from(event: Event) -> Self {
        RawEvent {
            r#type: RawEventType::from(event.kind) as i32,
            kv: Some(event.kv.into()),
            prev_kv: event.prev_kv.map(Into::into),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_print_as_etcdctl_does() {
        assert_eq!(EventType::Put.to_string(), "PUT");
        assert_eq!(EventType::Delete.to_string(), "DELETE");
    }

    #[test]
    fn an_event_converts_both_ways() {
        let kv = crate::pb::mvccpb::KeyValue { key: "k".into(), mod_revision: 4, ..Default::default() };
        let raw = RawEvent { r#type: RawEventType::Delete as i32, kv: Some(kv.clone()), prev_kv: Some(kv) };
        let event = Event::from(raw.clone());
        assert_eq!(event.kind(), EventType::Delete);
        assert_eq!(event.kv().key(), b"k");
        assert_eq!(event.prev_kv().map(KeyValue::mod_revision), Some(4));
        assert_eq!(RawEvent::from(event), raw);
    }

    #[test]
    fn an_event_without_a_pair_has_an_empty_one_at_revision_zero() {
        let event = Event::from(RawEvent::default());
        assert_eq!((event.kv().key(), event.revision()), (&b""[..], 0));
    }
}
