//! Server watches and the handles that read them.
//!
//! Handles asking for the same range with the same options, from the same
//! revision, share one server watch (a group), as etcd's gRPC proxy
//! coalesces its clients' watchers: the server encodes and sends each
//! revision once, and the hub hands it to every handle of the group. A
//! handle whose buffer fills up leaves its group and later gets a server
//! watch of its own, from the first revision it has not been given.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use super::response::{Notice, WatchResponse};
use super::stream::WatchShared;
use super::Event;
use crate::error::{Error, ErrorKind, Result};
use crate::kv::ResponseHeader;
use crate::pb::etcdserverpb::WatchCreateRequest;

/// A watch handle as the hub sees it.
pub(super) struct Subscriber {
    /// What it asked for: the shape of its group, and its start revision.
    request: WatchCreateRequest,
    created_notify: bool,
    queue: mpsc::Sender<WatchResponse>,
    shared: Arc<WatchShared>,
    /// Pending until the server first confirms the watch.
    created: Option<oneshot::Sender<Result<()>>>,
    /// The group it reads from; `None` while paused for falling behind.
    group: Option<u64>,
    /// While paused: the first revision it has not been given.
    resume_at: i64,
}

impl Subscriber {
    pub(super) fn new(
        request: WatchCreateRequest,
        created_notify: bool,
        queue: mpsc::Sender<WatchResponse>,
        shared: Arc<WatchShared>,
        created: oneshot::Sender<Result<()>>,
    ) -> Subscriber {
        let resume_at = request.start_revision;
        Subscriber { request, created_notify, queue, shared, created: Some(created), group: None, resume_at }
    }

    /// Confirms the watch to its caller, with a created notification if
    /// asked for. Does nothing once confirmed.
    fn confirm(&mut self, header: ResponseHeader) {
        let Some(created) = self.created.take() else { return };
        if self.created_notify {
            let _ = self.queue.try_send(WatchResponse { header, events: Vec::new(), notice: Notice::Created });
        }
        let _ = created.send(Ok(()));
    }

    /// Ends the watch: its stream yields `error` after what is queued.
    fn fail(mut self, error: Error) {
        match self.created.take() {
            Some(created) => {
                let _ = created.send(Err(error));
            }
            None => {
                if let Ok(mut slot) = self.shared.error.lock() {
                    *slot = Some(error);
                }
            }
        }
    }
}

/// One server watch and the handles it feeds.
struct Group {
    /// The create request without watch id and start revision.
    shape: WatchCreateRequest,
    /// Its id on the current stream, if created (or being created) there.
    id: Option<i64>,
    members: Vec<u64>,
    /// Where a re-create starts: the first revision not yet handed out;
    /// 0 until a watch "from now" is first confirmed.
    next_rev: i64,
    /// Nothing at or below it is handed out again, whatever a member sends.
    delivered_rev: i64,
    /// The server confirmed it on the current stream.
    confirmed: bool,
    /// Its last response said the store had nothing newer for it: the
    /// header revision was the last revision handed out.
    caught_up: bool,
    header: ResponseHeader,
    fragments: Vec<Event>,
}

/// Every watch handle of a client and the server watches that feed them.
#[derive(Default)]
pub(super) struct Groups {
    members: HashMap<u64, Subscriber>,
    groups: HashMap<u64, Group>,
    by_id: HashMap<i64, u64>,
    by_shape: HashMap<WatchCreateRequest, Vec<u64>>,
    next_group: u64,
}

fn shape_of(request: &WatchCreateRequest) -> WatchCreateRequest {
    WatchCreateRequest { start_revision: 0, watch_id: 0, ..request.clone() }
}

impl Groups {
    /// Whether any handle needs a server watch.
    pub(super) fn wants_stream(&self) -> bool {
        !self.groups.is_empty()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub(super) fn handles(&self) -> usize {
        self.members.len()
    }

    pub(super) fn group_ids(&self) -> Vec<u64> {
        self.groups.keys().copied().collect()
    }

    pub(super) fn group_of(&self, id: i64) -> Option<u64> {
        self.by_id.get(&id).copied()
    }

    /// Whether the group was confirmed before (so a refusal now is of a
    /// re-create).
    pub(super) fn is_recreate(&self, group: u64) -> bool {
        self.groups
            .get(&group)
            .is_some_and(|g| g.members.iter().any(|m| self.members.get(m).is_some_and(|m| m.created.is_none())))
    }

    /// Places a new handle: in a live group at its position if there is
    /// one (confirmed at once), else in a group of its own that the caller
    /// must create on the server.
    pub(super) fn add(&mut self, local: u64, member: Subscriber) -> Option<u64> {
        let start = member.request.start_revision;
        self.members.insert(local, member);
        self.place(local, start)
    }

    /// A paused handle has caught up: it goes back to a server watch from
    /// where it stopped. Returns the group to create, if a new one.
    pub(super) fn resume(&mut self, local: u64) -> Option<u64> {
        let member = self.members.get(&local)?;
        if member.group.is_some() || member.created.is_some() {
            return None;
        }
        let at = member.resume_at;
        self.place(local, at)
    }

    /// Joins the handle to a group at revision `at`, else makes it a group
    /// of its own. A watch "from now" (`at` 0) joins a confirmed group that
    /// has caught up with the store, or one "from now" still being created:
    /// never one that is replaying history.
    fn place(&mut self, local: u64, at: i64) -> Option<u64> {
        let member = self.members.get_mut(&local)?;
        let shape = shape_of(&member.request);
        // One from a revision needs nothing older left to come: a group from
        // now confirmed at r may still get events up to r (etcd reads the
        // created header after it registers the watch).
        let joinable = |g: &Group| {
            if at == 0 {
                (g.confirmed && g.caught_up) || g.next_rev == 0
            } else {
                g.next_rev == at && g.delivered_rev >= at - 1
            }
        };
        let found = self
            .by_shape
            .get(&shape)
            .and_then(|ids| ids.iter().copied().find(|gid| self.groups.get(gid).is_some_and(joinable)));
        if let Some((gid, group)) = found.and_then(|gid| self.groups.get_mut(&gid).map(|g| (gid, g))) {
            group.members.push(local);
            member.group = Some(gid);
            // It joins where the group is: every revision after this one.
            // A group still being created confirms it with the others.
            if group.confirmed {
                member.confirm(group.header.at_revision(group.next_rev - 1));
            }
            return None;
        }
        let gid = self.next_group;
        self.next_group += 1;
        member.group = Some(gid);
        let group = Group {
            shape: shape.clone(),
            id: None,
            members: vec![local],
            next_rev: at,
            delivered_rev: (at - 1).max(0),
            confirmed: false,
            caught_up: false,
            header: ResponseHeader::default(),
            fragments: Vec::new(),
        };
        self.groups.insert(gid, group);
        self.by_shape.entry(shape).or_default().push(gid);
        Some(gid)
    }

    /// The create request for `group` under the new server id `id`.
    pub(super) fn create_request(&mut self, gid: u64, id: i64) -> Option<WatchCreateRequest> {
        let group = self.groups.get_mut(&gid)?;
        if let Some(old) = group.id.replace(id) {
            self.by_id.remove(&old);
        }
        self.by_id.insert(id, gid);
        Some(WatchCreateRequest { watch_id: id, start_revision: group.next_rev, ..group.shape.clone() })
    }

    /// Takes a handle away (dropped, or ended). Returns the server id to
    /// cancel if its group has no handle left.
    pub(super) fn remove(&mut self, local: u64) -> (Option<Subscriber>, Option<i64>) {
        let Some(mut member) = self.members.remove(&local) else { return (None, None) };
        let cancel = member.group.take().and_then(|gid| self.leave(gid, local));
        (Some(member), cancel)
    }

    /// Ends a handle with `error`. Returns the server id to cancel, if any.
    fn end(&mut self, local: u64, error: Error) -> Option<i64> {
        let (member, cancel) = self.remove(local);
        if let Some(member) = member {
            member.fail(error);
        }
        cancel
    }

    /// Ends every handle, paused ones included.
    pub(super) fn end_all(&mut self, error: &Error) {
        for (_, member) in self.members.drain() {
            member.fail(error.clone());
        }
        self.groups.clear();
        self.by_id.clear();
        self.by_shape.clear();
    }

    /// The server cancelled `gid` itself: every handle of it ends.
    pub(super) fn cancelled(&mut self, gid: u64, error: &Error) {
        let Some(group) = self.drop_group(gid) else { return };
        for local in group.members {
            if let Some(member) = self.members.remove(&local) {
                member.fail(error.clone());
            }
        }
    }

    fn leave(&mut self, gid: u64, local: u64) -> Option<i64> {
        let group = self.groups.get_mut(&gid)?;
        if let Some(at) = group.members.iter().position(|m| *m == local) {
            group.members.swap_remove(at);
        }
        if !group.members.is_empty() {
            return None;
        }
        self.drop_group(gid).and_then(|g| g.id)
    }

    fn drop_group(&mut self, gid: u64) -> Option<Group> {
        let group = self.groups.remove(&gid)?;
        if let Some(id) = group.id {
            self.by_id.remove(&id);
        }
        if let Some(ids) = self.by_shape.get_mut(&group.shape) {
            ids.retain(|g| *g != gid);
            if ids.is_empty() {
                self.by_shape.remove(&group.shape);
            }
        }
        Some(group)
    }

    /// The stream is gone: no group has a server id any more. Groups that
    /// now ask for the same thing from the same revision become one.
    pub(super) fn stream_lost(&mut self) {
        self.by_id.clear();
        for group in self.groups.values_mut() {
            group.id = None;
            group.confirmed = false;
            group.caught_up = false;
            group.fragments.clear();
            // Re-created from `next_rev`: anything older a member sends is
            // not asked for (etcd-io/etcd#20221).
            group.delivered_rev = group.delivered_rev.max(group.next_rev - 1);
        }
        let shapes: Vec<Vec<u64>> = self.by_shape.values().filter(|ids| ids.len() > 1).cloned().collect();
        for ids in shapes {
            for (i, &gid) in ids.iter().enumerate() {
                let Some(next_rev) = self.groups.get(&gid).map(|g| g.next_rev) else { continue };
                let twin =
                    ids[..i].iter().copied().find(|g| self.groups.get(g).is_some_and(|g| g.next_rev == next_rev));
                if let Some(twin) = twin {
                    self.merge(gid, twin);
                }
            }
        }
    }

    fn merge(&mut self, from: u64, into: u64) {
        let Some(from_group) = self.drop_group(from) else { return };
        let Some(group) = self.groups.get_mut(&into) else { return };
        group.delivered_rev = group.delivered_rev.max(from_group.delivered_rev);
        for local in from_group.members {
            if let Some(member) = self.members.get_mut(&local) {
                member.group = Some(into);
            }
            group.members.push(local);
        }
    }

    /// The server confirmed `gid`. Handles that asked to start past the
    /// current revision are refused. Returns the server id to cancel if
    /// that leaves the group empty.
    pub(super) fn created(&mut self, gid: u64, header: ResponseHeader) -> Option<i64> {
        let group = self.groups.get_mut(&gid)?;
        group.confirmed = true;
        group.header = header;
        if group.next_rev == 0 {
            group.next_rev = header.revision() + 1;
        }
        group.caught_up = group.next_rev == header.revision() + 1;
        let mut future = Vec::new();
        for local in &group.members {
            let Some(member) = self.members.get_mut(local) else { continue };
            if member.created.is_some() && member.request.start_revision > header.revision() + 1 {
                future.push(*local);
            } else {
                member.confirm(header);
            }
        }
        let mut cancel = None;
        for local in future {
            let start = self.members.get(&local).map_or(0, |m| m.request.start_revision);
            let error = Error::new(
                ErrorKind::FutureRev,
                format!("watch start revision {start} is past the current revision {}", header.revision()),
            );
            cancel = cancel.or(self.end(local, error));
        }
        cancel
    }

    /// Progress asked for with `request_progress`. On the etcd versions we
    /// serve it may arrive before a catching-up watcher's events, so it is
    /// passed on but never used as a resume point.
    pub(super) fn broadcast_progress(&self, header: ResponseHeader) {
        for group in self.groups.values().filter(|g| g.confirmed) {
            for member in group.members.iter().filter_map(|m| self.members.get(m)) {
                let _ = member.queue.try_send(WatchResponse { header, events: Vec::new(), notice: Notice::Progress });
            }
        }
    }

    /// Events (or a per-watch progress notification) for `gid`. Returns
    /// the server id to cancel if every handle fell behind.
    pub(super) fn events(
        &mut self,
        gid: u64,
        header: ResponseHeader,
        events: Vec<Event>,
        fragment: bool,
    ) -> Option<i64> {
        let group = self.groups.get_mut(&gid)?;
        group.header = header;
        if fragment {
            group.caught_up = false;
            group.fragments.extend(events);
            return None;
        }
        let events = if group.fragments.is_empty() {
            events
        } else {
            let mut joined = std::mem::take(&mut group.fragments);
            joined.extend(events);
            joined
        };
        if events.is_empty() {
            // A per-watch progress notification: the server sends those only
            // to watchers that are caught up, so it is a safe resume point.
            group.next_rev = group.next_rev.max(header.revision() + 1);
            group.delivered_rev = group.delivered_rev.max(header.revision());
            group.caught_up = group.next_rev == header.revision() + 1;
            for member in group.members.iter().filter_map(|m| self.members.get(m)) {
                let _ = member.queue.try_send(WatchResponse { header, events: Vec::new(), notice: Notice::Progress });
            }
            return None;
        }
        self.hand_out(gid, header, events)
    }

    /// Hands the events to every handle of the group, one response per
    /// revision, skipping what was handed out before. A handle whose queue
    /// is full leaves the group, paused at the first revision it missed.
    fn hand_out(&mut self, gid: u64, header: ResponseHeader, mut events: Vec<Event>) -> Option<i64> {
        let group = self.groups.get_mut(&gid)?;
        let floor = group.delivered_rev;
        events.retain(|e| e.revision() > floor);
        let mut behind = Vec::new();
        while !events.is_empty() {
            let revision = events[0].revision();
            let split = events.iter().position(|e| e.revision() != revision).unwrap_or(events.len());
            let rest = events.split_off(split);
            let batch = std::mem::replace(&mut events, rest);
            for local in &group.members {
                let Some(member) = self.members.get_mut(local) else { continue };
                if member.group != Some(gid) {
                    continue;
                }
                let response = WatchResponse { header, events: batch.clone(), notice: Notice::Events };
                match member.queue.try_send(response) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        member.group = None;
                        member.resume_at = revision;
                        member.shared.fell_behind.fetch_add(1, Ordering::Relaxed);
                        member.shared.paused.store(true, Ordering::Release);
                        tracing::debug!(revision, "watch consumer fell behind; paused on the server");
                        behind.push(*local);
                    }
                    // The handle is gone; its cancel is on the way.
                    Err(TrySendError::Closed(_)) => {}
                }
            }
            group.delivered_rev = revision;
            group.next_rev = revision + 1;
        }
        group.caught_up = group.next_rev == header.revision() + 1;
        if behind.is_empty() {
            return None;
        }
        behind.sort_unstable();
        group.members.retain(|m| behind.binary_search(m).is_err());
        if !group.members.is_empty() {
            return None;
        }
        self.drop_group(gid).and_then(|g| g.id)
    }
}

#[cfg(test)]
mod tests;
