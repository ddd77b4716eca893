//! Long random runs against a model server: whatever happens (writes,
//! new and dropped watches, fragments, progress, slow consumers, lost
//! streams, members that repeat old revisions), every handle sees each
//! revision from its start once, in order and whole.

use super::*;

/// Keys written at each revision: a revision has 1 to 3 events.
const KEYS: [&str; 3] = ["a", "b", "c"];

fn events_in(revision: i64) -> usize {
    1 + (revision % 3) as usize
}

fn revision_events(revision: i64) -> Vec<Event> {
    KEYS[..events_in(revision)].iter().map(|key| put(key, revision)).collect()
}

/// xorshift64: a fixed sequence per seed, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A watch as the model server holds it.
struct ServerWatch {
    id: i64,
    start: i64,
    created: bool,
    /// The next revision to send, once created.
    next: i64,
    /// Events of `next` already sent as fragments.
    fragments_sent: usize,
    /// Its first response also carries the revision before `next`, as a
    /// member may after a move (etcd-io/etcd#20221).
    repeat_old: bool,
}

/// A watch as its caller sees it.
struct Watcher {
    handle: Option<Handle>,
    /// Its start revision, if it gave one: the first it must see.
    start: Option<i64>,
    /// For a watch from now, the revision of its created notification:
    /// it must see every revision after it, and may see a few before
    /// (those committed while the server created the watch).
    created: Option<i64>,
    seen: Vec<i64>,
}

struct Model {
    hub: Hub,
    rng: Rng,
    seed: u64,
    head: i64,
    /// Settling: no more writes while watches are created.
    calm: bool,
    server: Vec<ServerWatch>,
    watchers: Vec<Watcher>,
}

impl Model {
    fn new(seed: u64) -> Model {
        Model {
            hub: Hub::default(),
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            seed,
            head: 1,
            calm: false,
            server: Vec::new(),
            watchers: Vec::new(),
        }
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            0..=19 => self.head += 1,
            20..=27 => self.new_watch(),
            28..=39 => self.answer_create(),
            40..=64 => self.deliver(),
            65..=67 => self.progress(),
            68..=69 => self.hub.groups.broadcast_progress(header(self.head)),
            70..=73 => self.lose_stream(),
            74..=97 => {
                let most = 1 + self.rng.below(3) as usize;
                self.consume(most);
            }
            _ => self.drop_watch(),
        }
    }

    fn new_watch(&mut self) {
        let start = if self.rng.chance(50) { 0 } else { (self.head - self.rng.below(4) as i64).max(1) + 1 };
        let request = WatchCreateRequest { prev_kv: self.rng.chance(30), start_revision: start, ..watch("k") };
        let capacity = 1 + self.rng.below(4) as usize;
        let (handle, create) = self.hub.watch_with(request, capacity, true);
        let start = (start > 0).then_some(start);
        self.watchers.push(Watcher { handle: Some(handle), start, created: None, seen: Vec::new() });
        if let Some(create) = create {
            self.server_create(create);
        }
    }

    fn server_create(&mut self, create: WatchCreateRequest) {
        let repeat_old = create.start_revision > 1 && self.rng.chance(30);
        let start = create.start_revision;
        self.server.push(ServerWatch {
            id: create.watch_id,
            start,
            created: false,
            next: 0,
            fragments_sent: 0,
            repeat_old,
        });
    }

    fn server_cancel(&mut self, id: Option<i64>) {
        if let Some(id) = id {
            self.server.retain(|w| w.id != id);
        }
    }

    /// The server answers the oldest create (it answers them in order).
    /// A watch from now starts after the revision it was registered at;
    /// writes may land before the created header is read.
    fn answer_create(&mut self) {
        let registered = self.head;
        if !self.calm && self.rng.chance(30) {
            self.head += 1 + self.rng.below(2) as i64;
        }
        let head = self.head;
        let Some(watch) = self.server.iter_mut().find(|w| !w.created) else { return };
        watch.created = true;
        watch.next = if watch.start == 0 { registered + 1 } else { watch.start };
        let id = watch.id;
        let cancel = self.hub.created(id, head);
        assert_eq!(cancel, None, "seed {}: a create was refused", self.seed);
    }

    /// Sends a random watch what it has not had yet.
    fn deliver(&mut self) {
        let ready = self.ready();
        if !ready.is_empty() {
            let at = ready[self.rng.below(ready.len() as u64) as usize];
            self.deliver_to(at, false);
        }
    }

    /// The watches with something to send.
    fn ready(&self) -> Vec<usize> {
        (0..self.server.len()).filter(|&i| self.server[i].created && self.server[i].next <= self.head).collect()
    }

    /// One response to watch `at`: one fragment, or some revisions whole
    /// (`all`: everything up to the head, finishing a fragmented one).
    fn deliver_to(&mut self, at: usize, all: bool) {
        let head = self.head;
        let fragment = !all && self.rng.chance(20);
        let more = self.rng.below(3) as i64;
        let watch = &mut self.server[at];
        let id = watch.id;
        let mut events = Vec::new();
        if watch.repeat_old {
            watch.repeat_old = false;
            events.extend(revision_events(watch.next - 1));
        }
        let mut next = revision_events(watch.next).split_off(watch.fragments_sent);
        if (fragment || (watch.fragments_sent > 0 && !all)) && next.len() > 1 {
            events.push(next.remove(0));
            watch.fragments_sent += 1;
            let cancel = self.hub.fragment(id, head, events);
            return self.server_cancel(cancel);
        }
        let last = if all { head } else { (watch.next + more).min(head) };
        events.append(&mut next);
        events.extend((watch.next + 1..=last).flat_map(revision_events));
        watch.next = last + 1;
        watch.fragments_sent = 0;
        let cancel = self.hub.events(id, head, events);
        self.server_cancel(cancel);
    }

    /// etcd sends a watch's own progress notification only once it has
    /// sent everything up to the header revision.
    fn progress(&mut self) {
        let head = self.head;
        let Some(watch) = self.server.iter().find(|w| w.created && w.next == head + 1 && w.fragments_sent == 0) else {
            return;
        };
        let cancel = self.hub.progress(watch.id, head);
        self.server_cancel(cancel);
    }

    fn lose_stream(&mut self) {
        self.server.clear();
        for create in self.hub.reconnect() {
            self.server_create(create);
        }
    }

    /// A random caller reads up to `most` responses, and asks to resume
    /// once its queue is half empty again, as a `WatchStream` does.
    fn consume(&mut self, most: usize) {
        if self.watchers.is_empty() {
            return;
        }
        let at = self.rng.below(self.watchers.len() as u64) as usize;
        self.read(at, most);
    }

    fn read(&mut self, at: usize, most: usize) {
        let seed = self.seed;
        let watcher = &mut self.watchers[at];
        let Some(handle) = watcher.handle.as_mut() else { return };
        for _ in 0..most {
            let Ok(response) = handle.queue.try_recv() else { break };
            match response.notice {
                Notice::Created => watcher.created = Some(response.header.revision()),
                Notice::Events => {
                    let revision = response.revision();
                    assert!(
                        watcher.created.is_some(),
                        "seed {seed}: revision {revision} came before the created notification"
                    );
                    assert!(
                        response.events == revision_events(revision),
                        "seed {seed}: revision {revision} arrived as {:?}",
                        response.events
                    );
                    watcher.seen.push(revision);
                }
                _ => {}
            }
        }
        let resume = handle.paused() && handle.queue.len() <= handle.capacity / 2;
        if resume {
            if let Some(create) = self.hub.resume(handle) {
                self.server_create(create);
            }
        }
    }

    fn drop_watch(&mut self) {
        let live: Vec<usize> = (0..self.watchers.len()).filter(|&i| self.watchers[i].handle.is_some()).collect();
        if live.is_empty() {
            return;
        }
        let at = live[self.rng.below(live.len() as u64) as usize];
        if let Some(handle) = self.watchers[at].handle.take() {
            let cancel = self.hub.drop_handle(handle);
            self.server_cancel(cancel);
        }
    }

    /// No more faults: everything is created, sent and read.
    fn settle(&mut self) {
        self.calm = true;
        for _ in 0..10_000 {
            while self.server.iter().any(|w| !w.created) {
                self.answer_create();
            }
            let ready = self.ready();
            let sending = !ready.is_empty();
            // Backwards: a cancel may take a watch out of the list.
            for at in ready.into_iter().rev() {
                self.deliver_to(at, true);
            }
            let mut read = false;
            for at in 0..self.watchers.len() {
                let Some(handle) = self.watchers[at].handle.as_ref() else { continue };
                read |= !handle.queue.is_empty() || handle.paused();
                self.read(at, usize::MAX);
            }
            if !sending && !read && self.server.iter().all(|w| w.created) {
                return;
            }
        }
        panic!("seed {}: the run did not settle", self.seed);
    }

    fn check(&self) {
        for (n, watcher) in self.watchers.iter().enumerate() {
            let seed = self.seed;
            let Some(created) = watcher.created else {
                assert!(watcher.handle.is_none(), "seed {seed}: watcher {n} was never confirmed");
                continue;
            };
            let first = match (watcher.start, watcher.seen.first()) {
                (Some(start), _) => start,
                (None, Some(&seen)) => {
                    assert!(seen <= created + 1, "seed {seed}: watcher {n}, created at {created}, began at {seen}");
                    seen
                }
                (None, None) => created + 1,
            };
            let expected: Vec<i64> = (first..first + watcher.seen.len() as i64).collect();
            assert_eq!(watcher.seen, expected, "seed {seed}: watcher {n} (from {first}) saw a gap or a repeat");
            if watcher.handle.is_some() {
                assert_eq!(watcher.seen.last().copied().unwrap_or(first - 1), self.head, "seed {seed}: watcher {n}");
            }
        }
    }
}

#[test]
fn every_handle_sees_each_revision_from_its_start_once_in_order_and_whole() {
    for seed in 1..=100 {
        let mut model = Model::new(seed);
        for _ in 0..400 {
            model.step();
        }
        model.settle();
        model.check();
    }
}
