//! The groups without a server: the tests play the hub (server ids,
//! creates, stream loss) and the consumers (queues, resumes).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

use super::{Groups, Subscriber};
use crate::error::{Error, ErrorKind, Result};
use crate::kv::ResponseHeader;
use crate::pb::etcdserverpb::ResponseHeader as RawResponseHeader;
use crate::pb::etcdserverpb::WatchCreateRequest;
use crate::pb::mvccpb::{Event as RawEvent, KeyValue as RawKeyValue};
use crate::watch::response::{Notice, WatchResponse};
use crate::watch::stream::WatchShared;
use crate::watch::Event;

mod history;

/// A watch handle as its caller holds it.
struct Handle {
    local: u64,
    queue: mpsc::Receiver<WatchResponse>,
    capacity: usize,
    shared: Arc<WatchShared>,
    created: oneshot::Receiver<Result<()>>,
}

impl Handle {
    /// Everything queued so far.
    fn responses(&mut self) -> Vec<WatchResponse> {
        let mut out = Vec::new();
        while let Ok(response) = self.queue.try_recv() {
            out.push(response);
        }
        out
    }

    /// The revisions of the event responses queued so far.
    fn revisions(&mut self) -> Vec<i64> {
        self.responses().iter().filter(|r| r.notice == Notice::Events).map(WatchResponse::revision).collect()
    }

    /// The answer to the create, if there is one yet.
    fn confirmation(&mut self) -> Option<Result<()>> {
        self.created.try_recv().ok()
    }

    fn confirmed(&mut self) -> bool {
        matches!(self.confirmation(), Some(Ok(())))
    }

    /// How the watch ended: refused at create, or failed after it (its
    /// queue closed and an error left for the stream).
    fn ended_with(&mut self) -> Option<Error> {
        if let Some(Err(e)) = self.confirmation() {
            return Some(e);
        }
        self.responses();
        if self.queue.try_recv() != Err(TryRecvError::Disconnected) {
            return None;
        }
        self.shared.error.lock().ok().and_then(|mut e| e.take())
    }

    fn paused(&self) -> bool {
        self.shared.paused.load(Ordering::Acquire)
    }
}

/// The hub's side: server ids for the creates, as the real hub numbers them.
#[derive(Default)]
struct Hub {
    groups: Groups,
    next_id: i64,
    next_local: u64,
}

impl Hub {
    /// A new handle and the create it needs on the server, if any.
    fn watch(&mut self, request: WatchCreateRequest) -> (Handle, Option<WatchCreateRequest>) {
        self.watch_with(request, 16, false)
    }

    fn watch_with(
        &mut self,
        request: WatchCreateRequest,
        capacity: usize,
        created_notify: bool,
    ) -> (Handle, Option<WatchCreateRequest>) {
        self.next_local += 1;
        let local = self.next_local;
        let (queue_tx, queue) = mpsc::channel(capacity);
        let shared = Arc::new(WatchShared::default());
        let (created_tx, created) = oneshot::channel();
        let member = Subscriber::new(request, created_notify, queue_tx, shared.clone(), created_tx);
        let create = self.groups.add(local, member).map(|group| self.create(group));
        (Handle { local, queue, capacity, shared, created }, create)
    }

    fn create(&mut self, group: u64) -> WatchCreateRequest {
        self.next_id += 1;
        self.groups.create_request(group, self.next_id).expect("the group exists")
    }

    /// The stream broke and a new one opened: the creates sent on it.
    fn reconnect(&mut self) -> Vec<WatchCreateRequest> {
        self.groups.stream_lost();
        let mut groups = self.groups.group_ids();
        groups.sort_unstable();
        groups.into_iter().map(|group| self.create(group)).collect()
    }

    fn group(&self, id: i64) -> u64 {
        self.groups.group_of(id).expect("a server watch the hub knows")
    }

    /// The server confirmed watch `id` at store revision `revision`.
    fn created(&mut self, id: i64, revision: i64) -> Option<i64> {
        let group = self.group(id);
        self.groups.created(group, header(revision))
    }

    fn events(&mut self, id: i64, revision: i64, events: Vec<Event>) -> Option<i64> {
        let group = self.group(id);
        self.groups.events(group, header(revision), events, false)
    }

    fn fragment(&mut self, id: i64, revision: i64, events: Vec<Event>) -> Option<i64> {
        let group = self.group(id);
        self.groups.events(group, header(revision), events, true)
    }

    /// A progress notification for watch `id` alone.
    fn progress(&mut self, id: i64, revision: i64) -> Option<i64> {
        self.events(id, revision, Vec::new())
    }

    /// The consumer drained its queue and asks to go on.
    fn resume(&mut self, handle: &Handle) -> Option<WatchCreateRequest> {
        handle.shared.paused.store(false, Ordering::Release);
        self.groups.resume(handle.local).map(|group| self.create(group))
    }

    /// The handle was dropped: the server id to cancel, if any.
    fn drop_handle(&mut self, handle: Handle) -> Option<i64> {
        self.groups.remove(handle.local).1
    }
}

fn header(revision: i64) -> ResponseHeader {
    RawResponseHeader { cluster_id: 7, member_id: 9, revision, raft_term: 2 }.into()
}

fn watch(key: &'static str) -> WatchCreateRequest {
    WatchCreateRequest { key: Bytes::from_static(key.as_bytes()), ..WatchCreateRequest::default() }
}

fn watch_from(key: &'static str, start: i64) -> WatchCreateRequest {
    WatchCreateRequest { start_revision: start, ..watch(key) }
}

fn put(key: &'static str, revision: i64) -> Event {
    let kv = RawKeyValue { key: Bytes::from_static(key.as_bytes()), mod_revision: revision, ..RawKeyValue::default() };
    RawEvent { kv: Some(kv), ..RawEvent::default() }.into()
}

/// One put of `k` at each revision.
fn puts(revisions: impl IntoIterator<Item = i64>) -> Vec<Event> {
    revisions.into_iter().map(|r| put("k", r)).collect()
}

/// The create a test expects; panics with what happened instead.
fn sent(create: Option<WatchCreateRequest>) -> WatchCreateRequest {
    create.expect("a create on the server")
}

// Sharing.

#[test]
fn identical_watches_share_one_server_watch() {
    let mut hub = Hub::default();
    let (mut first, create) = hub.watch(watch("k"));
    let create = sent(create);
    assert_eq!((create.watch_id, create.start_revision, &create.key[..]), (1, 0, &b"k"[..]));
    let (mut second, again) = hub.watch(watch("k"));
    assert!(again.is_none(), "the second watch made a server watch of its own");
    assert_eq!(hub.groups.group_ids().len(), 1);

    assert_eq!(hub.created(1, 10), None);
    assert!(first.confirmed() && second.confirmed());
    assert_eq!(hub.events(1, 12, puts([11, 12])), None);
    assert_eq!(first.revisions(), [11, 12]);
    assert_eq!(second.revisions(), [11, 12]);
}

#[test]
fn only_identical_requests_share() {
    let base = watch("k");
    let others = [
        watch("j"),
        WatchCreateRequest { range_end: Bytes::from_static(b"l"), ..base.clone() },
        WatchCreateRequest { prev_kv: true, ..base.clone() },
        WatchCreateRequest { progress_notify: true, ..base.clone() },
        WatchCreateRequest { filters: vec![1], ..base.clone() },
        WatchCreateRequest { fragment: true, ..base.clone() },
    ];
    let mut hub = Hub::default();
    let (_first, create) = hub.watch(base.clone());
    sent(create);
    let mut handles = Vec::new();
    for other in others {
        let (handle, create) = hub.watch(other.clone());
        let create = create.unwrap_or_else(|| panic!("{other:?} joined a different watch"));
        assert_eq!(WatchCreateRequest { watch_id: 0, ..create }, other, "the create differs from the request");
        handles.push(handle);
    }
    // A created notification is the handle's own affair: it still shares.
    let (_notified, create) = hub.watch_with(base, 4, true);
    assert!(create.is_none());
    assert_eq!(hub.groups.group_ids().len(), 7);
}

#[test]
fn watches_from_different_revisions_do_not_share() {
    let mut hub = Hub::default();
    let (_at5, create) = hub.watch(watch_from("k", 5));
    assert_eq!(sent(create).start_revision, 5);
    let (_at6, create) = hub.watch(watch_from("k", 6));
    assert_eq!(sent(create).start_revision, 6);
    let (_at5_too, create) = hub.watch(watch_from("k", 5));
    assert!(create.is_none(), "a second watch from revision 5 was not shared");
    let (_now, create) = hub.watch(watch("k"));
    assert_eq!(sent(create).start_revision, 0, "a watch from now joined one replaying history");
}

#[test]
fn a_late_joiner_is_confirmed_at_once_and_sees_only_what_follows() {
    let mut hub = Hub::default();
    let (mut first, create) = hub.watch(watch("k"));
    sent(create);
    hub.created(1, 10);
    hub.events(1, 12, puts([11, 12]));
    assert_eq!(first.revisions(), [11, 12]);

    let (mut late, create) = hub.watch_with(watch("k"), 4, true);
    assert!(create.is_none(), "a caught-up group was not joined");
    assert!(late.confirmed());
    let created = late.responses();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].notice, Notice::Created);
    assert_eq!(created[0].header, header(12), "confirmed at a revision other than where the group stands");

    // A revision the group has handed out already is not handed out again.
    hub.events(1, 13, puts([12, 13]));
    assert_eq!(first.revisions(), [13]);
    assert_eq!(late.revisions(), [13]);
}

#[test]
fn a_watch_from_now_never_joins_one_replaying_history() {
    let mut hub = Hub::default();
    let (_replay, create) = hub.watch(watch_from("k", 5));
    sent(create);
    hub.created(1, 20);
    hub.events(1, 20, puts([5, 6]));
    let (_now, create) = hub.watch(watch("k"));
    assert_eq!(sent(create).start_revision, 0);
    // Once the replay has caught up with the store, a watch from now joins.
    hub.events(1, 20, puts(7..=20));
    let (mut joined, create) = hub.watch(watch("k"));
    assert!(create.is_none(), "a caught-up group was not joined");
    assert!(joined.confirmed());
}

#[test]
fn a_watch_from_now_joins_one_still_being_created() {
    let mut hub = Hub::default();
    let (mut first, create) = hub.watch(watch("k"));
    sent(create);
    let (mut second, create) = hub.watch(watch("k"));
    assert!(create.is_none());
    assert!(second.confirmation().is_none(), "confirmed before the server did");
    hub.created(1, 30);
    assert!(first.confirmed() && second.confirmed());
}

#[test]
fn a_joiner_with_a_start_revision_gets_nothing_older() {
    let mut hub = Hub::default();
    let (mut first, create) = hub.watch(watch("k"));
    sent(create);
    // etcd stamps the created header after registering the watch: events
    // up to that revision may still follow it.
    hub.created(1, 10);
    let (mut late, create) = hub.watch(watch_from("k", 11));
    if let Some(create) = create {
        let id = create.watch_id;
        assert_eq!(create.start_revision, 11);
        hub.created(id, 10);
        hub.events(id, 11, puts([11]));
    }
    hub.events(1, 11, puts([9, 10, 11]));
    assert_eq!(first.revisions(), [9, 10, 11]);
    assert_eq!(late.revisions(), [11], "a watch from 11 was given older revisions");
}

#[test]
fn a_joiner_with_a_start_revision_shares_once_the_group_is_there() {
    let mut hub = Hub::default();
    let (mut first, create) = hub.watch(watch("k"));
    sent(create);
    hub.created(1, 10);
    hub.events(1, 11, puts([9, 10, 11]));
    let (mut late, create) = hub.watch(watch_from("k", 12));
    assert!(create.is_none(), "a group at revision 12 was not joined");
    assert!(late.confirmed());
    hub.events(1, 12, puts([11, 12]));
    assert_eq!(first.revisions(), [9, 10, 11, 12]);
    assert_eq!(late.revisions(), [12]);
}

// Responses.

#[test]
fn each_revision_is_one_response_with_all_its_events() {
    let mut hub = Hub::default();
    let (mut handle, create) = hub.watch(watch("k"));
    sent(create);
    hub.created(1, 4);
    hub.events(1, 6, vec![put("a", 5), put("b", 5), put("c", 6)]);
    let responses = handle.responses();
    let shape: Vec<(i64, usize)> = responses.iter().map(|r| (r.revision(), r.events.len())).collect();
    assert_eq!(shape, [(5, 2), (6, 1)]);
    assert!(responses.iter().all(|r| r.header == header(6)));
}

#[test]
fn fragments_are_joined_before_delivery() {
    let mut hub = Hub::default();
    let (mut handle, create) = hub.watch(WatchCreateRequest { fragment: true, ..watch("k") });
    sent(create);
    hub.created(1, 7);
    assert_eq!(hub.fragment(1, 8, vec![put("a", 8)]), None);
    assert_eq!(hub.fragment(1, 8, vec![put("b", 8)]), None);
    assert!(handle.responses().is_empty(), "a fragment was delivered alone");
    hub.events(1, 8, vec![put("c", 8)]);
    let responses = handle.responses();
    assert_eq!(responses.len(), 1);
    let keys: Vec<&[u8]> = responses[0].events.iter().map(|e| e.kv().key()).collect();
    assert_eq!(keys, [b"a", b"b", b"c"]);
}

#[test]
fn fragments_cut_by_a_lost_stream_are_dropped_and_sent_again_whole() {
    let mut hub = Hub::default();
    let (mut handle, create) = hub.watch(WatchCreateRequest { fragment: true, ..watch("k") });
    sent(create);
    hub.created(1, 7);
    hub.fragment(1, 8, vec![put("a", 8)]);
    let creates = hub.reconnect();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].start_revision, 8);
    let id = creates[0].watch_id;
    hub.created(id, 8);
    hub.fragment(id, 8, vec![put("a", 8)]);
    hub.events(id, 8, vec![put("b", 8)]);
    let responses = handle.responses();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].events.len(), 2, "the cut fragment was kept: {:?}", responses[0].events);
}

#[test]
fn a_created_notification_comes_first_and_only_when_asked() {
    let mut hub = Hub::default();
    let (mut notified, create) = hub.watch_with(watch("k"), 4, true);
    sent(create);
    let (mut quiet, _) = hub.watch(watch("k"));
    hub.created(1, 3);
    let responses = notified.responses();
    assert_eq!(responses.len(), 1);
    assert!(responses[0].is_created_notify());
    assert_eq!(responses[0].header, header(3));
    assert!(quiet.responses().is_empty());
}

#[test]
fn a_progress_notification_for_a_watch_is_a_resume_point() {
    let mut hub = Hub::default();
    let (mut handle, create) = hub.watch(watch("k"));
    sent(create);
    hub.created(1, 10);
    hub.progress(1, 20);
    let responses = handle.responses();
    assert_eq!(responses.len(), 1);
    assert!(responses[0].is_progress_notify());
    assert_eq!(responses[0].header, header(20));
    let creates = hub.reconnect();
    assert_eq!(creates[0].start_revision, 21);
    // Nothing at or below the progress revision is handed out afterwards.
    let id = creates[0].watch_id;
    hub.created(id, 21);
    hub.events(id, 21, puts([20, 21]));
    assert_eq!(handle.revisions(), [21]);
}

#[test]
fn a_requested_progress_is_passed_on_but_never_a_resume_point() {
    let mut hub = Hub::default();
    let (mut confirmed, create) = hub.watch(watch("k"));
    sent(create);
    hub.created(1, 10);
    let (mut pending, create) = hub.watch(watch("j"));
    sent(create);

    hub.groups.broadcast_progress(header(30));
    let responses = confirmed.responses();
    assert_eq!(responses.len(), 1);
    assert!(responses[0].is_progress_notify());
    assert_eq!(responses[0].header, header(30));
    assert!(pending.responses().is_empty(), "a watch not yet created got a progress notification");

    let creates = hub.reconnect();
    let starts: Vec<i64> = creates.iter().map(|c| c.start_revision).collect();
    assert_eq!(starts, [11, 0], "a requested progress moved a resume point");
}

// Stream loss.

#[test]
fn a_lost_stream_recreates_each_watch_after_its_last_delivered_revision() {
    let mut hub = Hub::default();
    let (mut seen, create) = hub.watch(watch("k"));
    sent(create);
    let (mut unseen, create) = hub.watch(watch("j"));
    sent(create);
    let (mut pending, create) = hub.watch(watch("i"));
    sent(create);
    hub.created(1, 10);
    hub.created(2, 10);
    hub.events(1, 12, puts([11, 12]));
    assert!(hub.groups.is_recreate(hub.group(1)));

    let creates = hub.reconnect();
    let starts: Vec<(&[u8], i64)> = creates.iter().map(|c| (&c.key[..], c.start_revision)).collect();
    assert_eq!(starts, [(&b"k"[..], 13), (&b"j"[..], 11), (&b"i"[..], 0)]);
    assert_eq!(hub.groups.group_of(1), None, "an id of the lost stream still maps to a group");
    assert!(!hub.groups.is_recreate(hub.group(creates[2].watch_id)));

    // The new member sends a revision again: it is not handed out twice.
    let (k, j) = (creates[0].watch_id, creates[1].watch_id);
    hub.created(k, 14);
    hub.events(k, 14, puts([12, 13, 14]));
    hub.created(j, 14);
    hub.events(j, 14, puts([11]));
    assert_eq!(seen.revisions(), [11, 12, 13, 14]);
    assert_eq!(unseen.revisions(), [11]);
    assert!(seen.confirmed() && unseen.confirmed());
    hub.created(creates[2].watch_id, 14);
    assert!(pending.confirmed());
}

#[test]
fn a_lost_stream_ignores_what_a_member_sends_from_before_the_resume_point() {
    let mut hub = Hub::default();
    let (mut handle, create) = hub.watch(watch("k"));
    sent(create);
    hub.created(1, 10);
    let creates = hub.reconnect();
    assert_eq!(creates[0].start_revision, 11);
    let id = creates[0].watch_id;
    hub.created(id, 12);
    // A member may send older revisions after a move (etcd-io/etcd#20221).
    hub.events(id, 12, puts([10, 11, 12]));
    assert_eq!(handle.revisions(), [11, 12], "a revision from before the watch was resumed from was handed out");
}

#[test]
fn watches_that_meet_at_one_revision_become_one_after_a_lost_stream() {
    let mut hub = Hub::default();
    let (mut early, create) = hub.watch(watch_from("k", 5));
    sent(create);
    let (mut later, create) = hub.watch(watch_from("k", 7));
    sent(create);
    hub.created(1, 10);
    hub.created(2, 10);
    hub.events(1, 10, puts([5, 6]));

    let creates = hub.reconnect();
    assert_eq!(creates.len(), 1, "two groups at revision 7 were not merged: {creates:?}");
    assert_eq!(creates[0].start_revision, 7);
    let id = creates[0].watch_id;
    hub.created(id, 10);
    hub.events(id, 10, puts(7..=10));
    assert_eq!(early.revisions(), [5, 6, 7, 8, 9, 10]);
    assert_eq!(later.revisions(), [7, 8, 9, 10]);
    // One server watch for both: the last to go cancels it.
    assert_eq!(hub.drop_handle(early), None);
    assert_eq!(hub.drop_handle(later), Some(id));
}

#[test]
fn a_stream_lost_twice_loses_and_repeats_nothing() {
    let mut hub = Hub::default();
    let (mut handle, create) = hub.watch(watch_from("k", 1));
    sent(create);
    hub.created(1, 9);
    hub.events(1, 9, puts([1, 2, 3]));
    let id = hub.reconnect()[0].watch_id;
    hub.created(id, 9);
    hub.events(id, 9, puts([4, 5]));
    let id = hub.reconnect()[0].watch_id;
    hub.created(id, 9);
    hub.events(id, 9, puts(3..=9));
    assert_eq!(handle.revisions(), (1..=9).collect::<Vec<_>>());
}

// Falling behind.

#[test]
fn a_full_queue_pauses_only_its_handle_which_resumes_where_it_stopped() {
    let mut hub = Hub::default();
    let (mut slow, create) = hub.watch_with(watch("k"), 2, false);
    sent(create);
    let (mut fast, _) = hub.watch(watch("k"));
    hub.created(1, 4);
    assert_eq!(hub.events(1, 8, puts(5..=8)), None, "the group went although one handle kept up");
    assert_eq!(fast.revisions(), [5, 6, 7, 8]);
    assert!(slow.paused());
    assert_eq!(slow.shared.fell_behind.load(Ordering::Relaxed), 1);
    assert_eq!(slow.revisions(), [5, 6]);

    // Drained, it gets a server watch of its own from the first revision
    // it missed; the group goes on without it.
    let create = sent(hub.resume(&slow));
    assert_eq!(create.start_revision, 7);
    hub.events(1, 9, puts([9]));
    assert_eq!(fast.revisions(), [9]);
    assert!(slow.revisions().is_empty());
    hub.created(create.watch_id, 9);
    hub.events(create.watch_id, 9, puts([7, 8]));
    assert_eq!(slow.revisions(), [7, 8]);
    hub.events(create.watch_id, 9, puts([9]));
    assert_eq!(slow.revisions(), [9]);
    assert!(!slow.paused());
}

#[test]
fn when_every_handle_falls_behind_the_server_watch_is_cancelled() {
    let mut hub = Hub::default();
    let (mut a, create) = hub.watch_with(watch("k"), 1, false);
    sent(create);
    let (mut b, _) = hub.watch_with(watch("k"), 1, false);
    hub.created(1, 4);
    assert_eq!(hub.events(1, 7, puts(5..=7)), Some(1));
    assert_eq!(hub.groups.group_of(1), None);
    assert!(!hub.groups.wants_stream() && hub.groups.handles() == 2);
    assert_eq!((a.revisions(), b.revisions()), (vec![5], vec![5]));

    // Both resume from 6, on one server watch again.
    let create = sent(hub.resume(&a));
    assert_eq!(create.start_revision, 6);
    assert!(hub.resume(&b).is_none(), "two handles resuming at one revision did not share");
    hub.created(create.watch_id, 7);
    hub.events(create.watch_id, 7, puts([6]));
    assert_eq!((a.revisions(), b.revisions()), (vec![6], vec![6]));
}

#[test]
fn a_resume_joins_a_group_at_its_revision_and_gets_no_repeat() {
    let mut hub = Hub::default();
    let (mut slow, create) = hub.watch_with(watch_from("k", 5), 2, false);
    sent(create);
    let (mut other, create) = hub.watch(watch_from("k", 6));
    let other_id = sent(create).watch_id;
    hub.created(1, 9);
    hub.created(other_id, 9);
    hub.events(1, 9, puts([5, 6, 7]));
    assert!(slow.paused());
    assert_eq!(slow.revisions(), [5, 6]);
    hub.events(other_id, 9, puts([6]));
    assert!(hub.resume(&slow).is_none(), "the group at revision 7 was not joined");
    hub.events(other_id, 9, puts([7, 8]));
    assert_eq!(slow.revisions(), [7, 8]);
    assert_eq!(other.revisions(), [6, 7, 8]);
}

#[test]
fn a_resume_for_a_handle_that_is_not_paused_does_nothing() {
    let mut hub = Hub::default();
    let (live, create) = hub.watch(watch("k"));
    sent(create);
    assert!(hub.resume(&live).is_none(), "unconfirmed");
    hub.created(1, 3);
    assert!(hub.resume(&live).is_none(), "in a group");
    assert_eq!(hub.groups.group_ids().len(), 1);
}

#[test]
fn a_closed_queue_neither_pauses_nor_stops_the_others() {
    let mut hub = Hub::default();
    let (gone, create) = hub.watch_with(watch("k"), 1, false);
    sent(create);
    let (mut stays, _) = hub.watch(watch("k"));
    hub.created(1, 3);
    let Handle { queue, shared, .. } = gone;
    drop(queue);
    assert_eq!(hub.events(1, 6, puts(4..=6)), None);
    assert!(!shared.paused.load(Ordering::Acquire));
    assert_eq!(stays.revisions(), [4, 5, 6]);
}

// Ends.

#[test]
fn the_last_handle_to_go_cancels_the_server_watch() {
    let mut hub = Hub::default();
    let (a, create) = hub.watch(watch("k"));
    sent(create);
    let (b, _) = hub.watch(watch("k"));
    hub.created(1, 3);
    assert_eq!(hub.drop_handle(a), None);
    assert_eq!(hub.drop_handle(b), Some(1));
    assert!(!hub.groups.wants_stream() && hub.groups.is_empty());
    assert_eq!(hub.groups.group_of(1), None);
    assert!(matches!(hub.groups.remove(99), (None, None)));
}

#[test]
fn a_handle_dropped_before_its_create_is_answered_still_cancels_it() {
    let mut hub = Hub::default();
    let (handle, create) = hub.watch(watch("k"));
    sent(create);
    assert_eq!(hub.drop_handle(handle), Some(1));
    assert_eq!(hub.groups.group_of(1), None, "the answer to the create would find a group");
}

#[test]
fn a_handle_dropped_without_a_stream_or_while_paused_cancels_nothing() {
    let mut hub = Hub::default();
    let (mut paused, create) = hub.watch_with(watch("k"), 1, false);
    sent(create);
    let (other, _) = hub.watch(watch("k"));
    hub.created(1, 3);
    hub.events(1, 5, puts([4, 5]));
    assert!(paused.paused());
    assert_eq!(paused.revisions(), [4]);
    assert_eq!(hub.drop_handle(paused), None);
    hub.groups.stream_lost();
    assert_eq!(hub.drop_handle(other), None, "a server watch of a lost stream was cancelled");
    assert!(hub.groups.is_empty() && !hub.groups.wants_stream());
}

#[test]
fn a_server_cancel_ends_every_handle_of_the_group_and_no_other() {
    let mut hub = Hub::default();
    let (mut a, create) = hub.watch(watch_from("k", 2));
    sent(create);
    let (mut b, _) = hub.watch(watch_from("k", 2));
    let (mut other, create) = hub.watch(watch("j"));
    sent(create);
    hub.created(1, 9);
    hub.created(2, 9);
    let (mut late, create) = hub.watch(watch_from("k", 2));
    assert!(create.is_none());
    let compacted = Error::new(ErrorKind::Compacted, "compacted").with_compact_revision(8);
    hub.groups.cancelled(hub.group(1), &compacted);
    for handle in [&mut a, &mut b, &mut late] {
        let error = handle.ended_with().expect("the watch ended");
        assert_eq!((error.kind(), error.compact_revision()), (ErrorKind::Compacted, Some(8)));
    }
    assert!(other.ended_with().is_none());
    assert_eq!(hub.groups.group_of(1), None);
    assert_eq!(hub.groups.handles(), 1);
}

#[test]
fn a_refused_create_ends_its_handles_through_the_create_answer() {
    let mut hub = Hub::default();
    let (mut a, create) = hub.watch(watch("k"));
    sent(create);
    let (mut b, _) = hub.watch(watch("k"));
    let denied = Error::new(ErrorKind::PermissionDenied, "etcdserver: permission denied");
    hub.groups.cancelled(hub.group(1), &denied);
    for handle in [&mut a, &mut b] {
        match handle.confirmation() {
            Some(Err(e)) => assert_eq!(e.kind(), ErrorKind::PermissionDenied),
            other => panic!("{:?}", other.map(|r| r.map_err(|e| e.kind()))),
        }
    }
    assert!(hub.groups.is_empty());
}

#[test]
fn a_paused_handle_outlives_its_groups_cancel() {
    let mut hub = Hub::default();
    let (mut paused, create) = hub.watch_with(watch("k"), 1, false);
    sent(create);
    let (mut other, _) = hub.watch(watch("k"));
    hub.created(1, 3);
    hub.events(1, 5, puts([4, 5]));
    assert!(paused.paused());
    hub.groups.cancelled(hub.group(1), &Error::new(ErrorKind::WatchCanceled, "cancelled"));
    assert_eq!(other.ended_with().map(|e| e.kind()), Some(ErrorKind::WatchCanceled));
    assert!(paused.ended_with().is_none());
    assert_eq!(sent(hub.resume(&paused)).start_revision, 5);
}

#[test]
fn a_start_past_the_next_revision_is_refused_and_the_others_stay() {
    let mut hub = Hub::default();
    let (mut now, create) = hub.watch(watch_from("k", 12));
    sent(create);
    let (mut future, _) = hub.watch(watch_from("k", 12));
    // Confirmed at 11: 12 is the next revision, so both are fine.
    assert_eq!(hub.created(1, 11), None);
    assert!(now.confirmed() && future.confirmed());

    let (mut alone, create) = hub.watch(watch_from("j", 50));
    let id = sent(create).watch_id;
    assert_eq!(hub.created(id, 11), Some(id), "a group left empty was not cancelled");
    let error = alone.ended_with().expect("refused");
    assert_eq!(error.kind(), ErrorKind::FutureRev);

    // A confirmed handle in the group keeps it when a new one is refused.
    let creates = hub.reconnect();
    let k = creates[0].watch_id;
    let (mut refused, create) = hub.watch(watch_from("k", 12));
    assert!(create.is_none());
    assert_eq!(hub.created(k, 5), None);
    assert_eq!(refused.ended_with().map(|e| e.kind()), Some(ErrorKind::FutureRev));
    assert!(now.ended_with().is_none() && future.ended_with().is_none());
}

#[test]
fn ending_all_ends_paused_handles_too() {
    let mut hub = Hub::default();
    let (mut paused, create) = hub.watch_with(watch("k"), 1, false);
    sent(create);
    let (mut live, _) = hub.watch(watch("k"));
    let (mut pending, create) = hub.watch(watch("j"));
    sent(create);
    hub.created(1, 3);
    hub.events(1, 5, puts([4, 5]));
    assert!(paused.paused());
    hub.groups.end_all(&Error::new(ErrorKind::Unimplemented, "no watch here"));
    for handle in [&mut paused, &mut live, &mut pending] {
        assert_eq!(handle.ended_with().map(|e| e.kind()), Some(ErrorKind::Unimplemented));
    }
    assert!(hub.groups.is_empty() && !hub.groups.wants_stream());
    assert_eq!(hub.groups.group_of(1), None);
}
