//! What a watch yields: the events of one revision, or a notification.

use super::Event;
use crate::kv::ResponseHeader;

/// Why a response without events was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    Events,
    Created,
    Progress,
}

/// One item of a [`WatchStream`](super::WatchStream): all events of one
/// revision, or (with no events) a created or progress notification.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchResponse {
    pub(crate) header: ResponseHeader,
    pub(crate) events: Vec<Event>,
    pub(crate) notice: Notice,
}

impl WatchResponse {
    /// The server's header: its revision is the store's revision when the
    /// response was sent, which may be past the events' revision.
    pub fn header(&self) -> ResponseHeader {
        self.header
    }

    /// The events, all of one revision, in the order they happened.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Takes the events out.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    /// The revision of the events; for a notification, the header's.
    pub fn revision(&self) -> i64 {
        self.events.first().map_or(self.header.revision(), Event::revision)
    }

    /// The server confirmed the watch (only with
    /// [`created_notify`](super::Watch::created_notify)).
    pub fn is_created_notify(&self) -> bool {
        self.notice == Notice::Created
    }

    /// A progress notification: no events, and every change up to the
    /// header revision has been delivered (see
    /// [`progress_notify`](super::Watch::progress_notify) and
    /// [`Client::request_progress`](crate::Client::request_progress)).
    pub fn is_progress_notify(&self) -> bool {
        self.notice == Notice::Progress
    }
}
