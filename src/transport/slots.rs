//! The endpoints and their connections. The list only grows: an endpoint
//! that leaves the cluster is retired, not removed, so an index taken by a
//! call stays valid while the list changes under auto-sync, and reading it
//! costs an atomic load, no lock.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::connection::Connection;
use super::endpoint::Endpoint;
use super::health::Health;
use crate::error::Error;

/// How many distinct endpoints a client can know over its life, beyond
/// four times the ones it was given: auto-sync adds members as they join.
const MIN_CAPACITY: usize = 64;

/// An endpoint's stable identity: its place in the append-only list,
/// valid for the client's life whatever auto-sync retires or adds. Only
/// the transport makes one, so a position in some other list (such as
/// [`Transport::endpoints`](super::Transport::endpoints), which leaves out
/// retired endpoints) cannot be passed for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EndpointId(pub(super) usize);

/// One endpoint, its connection if any, and its health.
pub(super) struct Slot {
    pub(super) endpoint: Endpoint,
    pub(super) connection: Mutex<Option<Connection>>,
    /// A dial runs in the background; one at a time per endpoint.
    pub(super) dialing: AtomicBool,
    /// Why the last dial failed, for callers that waited on it.
    pub(super) last_error: Mutex<Option<Error>>,
    pub(super) health: Health,
    /// A member advertises this URL (a sync found it, or added it). One the
    /// user gave that no member advertises is a load balancer or proxy:
    /// auto-sync keeps it.
    pub(super) member: AtomicBool,
}

impl Slot {
    pub(super) fn new(endpoint: Endpoint) -> Slot {
        Slot {
            endpoint,
            connection: Mutex::new(None),
            dialing: AtomicBool::new(false),
            last_error: Mutex::new(None),
            health: Health::default(),
            member: AtomicBool::new(false),
        }
    }

    /// The connection if it is up; a closed one is dropped.
    pub(super) fn live(&self) -> Option<Connection> {
        let mut guard = self.connection.lock().ok()?;
        match guard.as_ref() {
            Some(connection) if !connection.is_closed() => Some(connection.clone()),
            Some(connection) => {
                if connection.was_hung() {
                    self.health.note_hang();
                }
                *guard = None;
                None
            }
            None => None,
        }
    }

    /// Whether the last connection ended because the member hung (asked
    /// once: the flag is cleared).
    pub(super) fn lost_to_hang(&self) -> bool {
        self.health.take_hang()
    }

    pub(super) fn last_error(&self) -> Option<Error> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Same host and port.
    pub(super) fn is(&self, endpoint: &Endpoint) -> bool {
        self.endpoint.host == endpoint.host && self.endpoint.port == endpoint.port
    }
}

/// An append-only list of slots.
pub(super) struct Slots {
    items: Box<[OnceLock<Slot>]>,
    len: AtomicUsize,
    /// Serializes appends.
    grow: Mutex<()>,
}

impl Slots {
    pub(super) fn new(initial: Vec<Slot>) -> Slots {
        let capacity = (initial.len() * 4).max(MIN_CAPACITY);
        let items: Box<[OnceLock<Slot>]> = (0..capacity).map(|_| OnceLock::new()).collect();
        let len = initial.len();
        for (cell, slot) in items.iter().zip(initial) {
            let _ = cell.set(slot);
        }
        Slots { items, len: AtomicUsize::new(len), grow: Mutex::new(()) }
    }

    /// How many slots there are (retired ones included).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.items[..self.len()].iter().filter_map(OnceLock::get)
    }

    /// Runs `f` with appends shut out, and an `append` for it to use.
    pub(super) fn growing<R>(&self, f: impl FnOnce(&dyn Fn(Slot) -> Option<usize>) -> R) -> R {
        let _only_one = self.grow.lock();
        let append = |slot: Slot| {
            let index = self.len.load(Ordering::Acquire);
            let cell = self.items.get(index)?;
            cell.set(slot).ok()?;
            self.len.store(index + 1, Ordering::Release);
            Some(index)
        };
        f(&append)
    }
}

impl std::ops::Index<usize> for Slots {
    type Output = Slot;

    fn index(&self, index: usize) -> &Slot {
        match self.items[..self.len()][index].get() {
            Some(slot) => slot,
            // Cells below `len` are set before `len` moves past them.
            None => unreachable!("slot {index} is below the length but not set"),
        }
    }
}
