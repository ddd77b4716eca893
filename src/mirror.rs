//! List-then-watch: a prefix's keys as a consistent snapshot, then every
//! change after it, as Go's `mirror.Syncer` (its `SyncBase` and
//! `SyncUpdates` as one stream), for services that keep a copy of their
//! configuration.
//!
//! ```no_run
//! # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
//! use std::collections::BTreeMap;
//! use etcd_raw::MirrorEvent;
//!
//! let mut config = BTreeMap::new();
//! let mut mirror = client.sync_prefix("config/");
//! while let Some(event) = mirror.next_event().await {
//!     let event = event?;
//!     event.apply(&mut config);
//!     match event {
//!         MirrorEvent::Synced { revision } => println!("{} keys as of revision {revision}", config.len()),
//!         MirrorEvent::Changes { revision, .. } => println!("now at revision {revision}"),
//!         MirrorEvent::Restarted { reason } => println!("reloading: {reason}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! - The snapshot is read in pages ([`Get::stream`](crate::Get::stream):
//!   etcd 3.7's RangeStream, paged gets before), all at one revision, so a
//!   prefix of any size never arrives as one message.
//! - Then the changes come from the snapshot's revision + 1 on, one
//!   revision at a time, in order: no gap, no repeat, across member
//!   failures (the watch resumes as any watch does).
//! - A member lost while the snapshot is read is left for another: the
//!   read resumes after the last key delivered, at the same revision.
//!   Unavailable members, deadlines and elections are retried with
//!   backoff, as long as it takes.
//! - If the snapshot's revision is compacted away before the changes after
//!   it could be read (while the snapshot is read, or before the watch
//!   catches up), the mirror starts over at a newer revision and says so
//!   first with [`MirrorEvent::Restarted`]: drop what you have, a new
//!   snapshot follows.
//! - Any other error (permission denied, say) is yielded once and ends the
//!   stream. Dropping the [`Mirror`] stops it.

use crate::IntoBytes;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind, Result};
use crate::kv::{prefix_end, KeyValue};
use crate::watch::{Event, EventType};
use crate::Client;

/// Events the mirror reads ahead of its consumer.
const READ_AHEAD: usize = 2;

impl Client {
    /// Mirrors every key under `prefix` (`""`: every key): a snapshot,
    /// then every change after it (Go's `mirror.NewSyncer`). Nothing is
    /// read until the stream is first polled. See [`Mirror`].
    pub fn sync_prefix(&self, prefix: impl IntoBytes) -> Mirror {
        Mirror::new(self, prefix)
    }
}

/// What a [`Mirror`] yields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum MirrorEvent {
    /// The next keys of the snapshot, in key order.
    Page(Vec<KeyValue>),
    /// The snapshot is complete: the pages since the start (or since the
    /// last [`Restarted`](MirrorEvent::Restarted)) are every key under the
    /// prefix as of `revision`.
    Synced {
        /// The revision of the snapshot.
        revision: i64,
    },
    /// The changes of one revision after the snapshot, in order.
    Changes {
        /// Their revision.
        revision: i64,
        /// Puts and deletes under the prefix.
        events: Vec<Event>,
    },
    /// The snapshot's revision was compacted before the mirror could go on
    /// from it: forget every key received so far; a new snapshot follows.
    Restarted {
        /// Why, of kind [`Compacted`](ErrorKind::Compacted).
        reason: Error,
    },
}

impl MirrorEvent {
    /// Applies the event to a map of the prefix's keys: pages and puts
    /// insert, deletes remove, a restart clears.
    pub fn apply(&self, state: &mut BTreeMap<Bytes, KeyValue>) {
        match self {
            MirrorEvent::Page(kvs) => {
                state.extend(kvs.iter().map(|kv| (kv.key_bytes().clone(), kv.clone())));
            }
            MirrorEvent::Synced { .. } => {}
            MirrorEvent::Changes { events, .. } => {
                for event in events {
                    let kv = event.kv();
                    match event.kind() {
                        EventType::Put => state.insert(kv.key_bytes().clone(), kv.clone()),
                        EventType::Delete => state.remove(kv.key()),
                    };
                }
            }
            MirrorEvent::Restarted { .. } => state.clear(),
        }
    }
}

/// A prefix mirrored: a [`Stream`] of [`MirrorEvent`]s, from
/// [`Client::sync_prefix`]. First the snapshot ([`MirrorEvent::Page`]s,
/// then [`MirrorEvent::Synced`]), then [`MirrorEvent::Changes`] for ever;
/// see the [module docs](crate::mirror) for what it guarantees.
#[must_use = "a stream does nothing unless polled"]
pub struct Mirror {
    /// The work to start on the first poll.
    syncer: Option<Syncer>,
    events: Option<mpsc::Receiver<Result<MirrorEvent>>>,
    task: Option<JoinHandle<()>>,
}

impl Mirror {
    /// Mirrors every key under `prefix`; the same as
    /// [`Client::sync_prefix`].
    pub fn new(client: &Client, prefix: impl IntoBytes) -> Mirror {
        let prefix = prefix.into_bytes();
        // The empty prefix is every key: from `\0`, etcd's lowest key.
        let (start, end) = if prefix.is_empty() {
            (Bytes::from_static(&[0]), Bytes::from_static(&[0]))
        } else {
            let end = Bytes::from(prefix_end(&prefix));
            (prefix, end)
        };
        Mirror { syncer: Some(Syncer { client: client.clone(), start, end, revision: 0 }), events: None, task: None }
    }

    /// Takes the first snapshot as of `revision` instead of the latest
    /// (the `rev` of Go's `NewSyncer`); a restart takes the latest.
    pub fn revision(mut self, revision: i64) -> Self {
        if let Some(syncer) = self.syncer.as_mut() {
            syncer.revision = revision.max(0);
        }
        self
    }

    /// The next event; `None` once the mirror has ended (after an error
    /// it could not get past). Cancel-safe.
    pub async fn next_event(&mut self) -> Option<Result<MirrorEvent>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for Mirror {
    type Item = Result<MirrorEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(syncer) = self.syncer.take() {
            let (sender, receiver) = mpsc::channel(READ_AHEAD);
            self.task = Some(tokio::spawn(syncer.run(sender)));
            self.events = Some(receiver);
        }
        match self.events.as_mut() {
            Some(events) => events.poll_recv(cx),
            None => Poll::Ready(None),
        }
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror").field("started", &self.syncer.is_none()).finish()
    }
}

/// The receiver is gone: nothing more to do.
struct Gone;

/// What to do after a failure.
enum Next {
    /// Try again, after the backoff.
    Retry,
    /// Start over with a new snapshot; the restart was announced.
    Restart,
    /// An error no retry gets past; it was yielded.
    Stop,
}

/// The task behind a [`Mirror`].
struct Syncer {
    client: Client,
    /// `[start, end)`: the prefix's keys.
    start: Bytes,
    end: Bytes,
    /// The first snapshot's revision, if the caller chose one.
    revision: i64,
}

impl Syncer {
    async fn run(mut self, events: mpsc::Sender<Result<MirrorEvent>>) {
        let mut out = Out { client: self.client.clone(), events, failures: 0 };
        loop {
            let ended = match self.snapshot(&mut out).await {
                Ok(Ok(revision)) => self.watch(revision, &mut out).await,
                Ok(Err(next)) => Ok(next),
                Err(Gone) => return,
            };
            match ended {
                Ok(Next::Restart) => continue,
                Ok(_) | Err(Gone) => return,
            }
        }
    }

    /// The revision to read the snapshot at: the caller's, else the
    /// store's now (from one key's count, without reading the range).
    async fn pin_revision(&mut self, out: &mut Out) -> std::result::Result<std::result::Result<i64, Next>, Gone> {
        let chosen = std::mem::take(&mut self.revision);
        if chosen > 0 {
            return Ok(Ok(chosen));
        }
        loop {
            let failure = match self.client.get(self.start.clone()).count_only().await {
                Ok(response) => return Ok(Ok(response.header().revision())),
                Err(e) => e,
            };
            match out.failed(failure, "reading the revision").await? {
                Next::Retry => {}
                next => return Ok(Err(next)),
            }
        }
    }

    /// Reads the snapshot page by page; its revision once it is whole.
    async fn snapshot(&mut self, out: &mut Out) -> std::result::Result<std::result::Result<i64, Next>, Gone> {
        let revision = match self.pin_revision(out).await? {
            Ok(revision) => revision,
            Err(next) => return Ok(Err(next)),
        };
        let mut from = self.start.clone();
        loop {
            let mut pages = self.client.get(from.clone()).range_end(self.end.clone()).revision(revision).stream();
            let failure = loop {
                match pages.next_page().await {
                    Some(Ok(page)) => {
                        let last = page.is_last();
                        let kvs = page.into_kvs();
                        if let Some(kv) = kvs.last() {
                            from = Bytes::from([kv.key(), &[0]].concat());
                            out.send(MirrorEvent::Page(kvs)).await?;
                        }
                        if last {
                            out.send(MirrorEvent::Synced { revision }).await?;
                            return Ok(Ok(revision));
                        }
                    }
                    Some(Err(e)) => break e,
                    None => break Error::new(ErrorKind::Protocol, "the snapshot's pages ended without the last"),
                }
            };
            // A retry resumes after the last key delivered, at the same revision.
            match out.failed(failure, "reading the snapshot").await? {
                Next::Retry => {}
                next => return Ok(Err(next)),
            }
        }
    }

    /// Yields every change after `revision`, until a restart or an error.
    async fn watch(&self, revision: i64, out: &mut Out) -> std::result::Result<Next, Gone> {
        let mut next = revision + 1;
        loop {
            let created = self.client.watch(self.start.clone()).range_end(self.end.clone()).start_revision(next).await;
            let failure = match created {
                Err(e) => e,
                Ok(mut watch) => loop {
                    match watch.message().await {
                        Some(Ok(response)) => {
                            let at = response.revision();
                            // The watch repeats nothing; a new one from `next` must not either.
                            if response.events().is_empty() || at < next {
                                continue;
                            }
                            next = at + 1;
                            out.send(MirrorEvent::Changes { revision: at, events: response.into_events() }).await?;
                        }
                        Some(Err(e)) => break e,
                        None => break Error::new(ErrorKind::Canceled, "the watch ended"),
                    }
                },
            };
            match out.failed(failure, "watching").await? {
                Next::Retry => {}
                next => return Ok(next),
            }
        }
    }
}

/// The sending side, with the count of failures in a row for the backoff.
struct Out {
    client: Client,
    events: mpsc::Sender<Result<MirrorEvent>>,
    failures: u32,
}

impl Out {
    async fn send(&mut self, event: MirrorEvent) -> std::result::Result<(), Gone> {
        self.failures = 0;
        self.events.send(Ok(event)).await.map_err(|_| Gone)
    }

    /// What to do after `e`: retry after the backoff (waited here),
    /// restart (announced here), or stop (`e` yielded here).
    async fn failed(&mut self, e: Error, doing: &str) -> std::result::Result<Next, Gone> {
        if e.kind() == ErrorKind::Compacted {
            tracing::debug!(error = %e, "mirror: {doing}: the revision was compacted; starting over");
            self.events.send(Ok(MirrorEvent::Restarted { reason: e })).await.map_err(|_| Gone)?;
            return Ok(Next::Restart);
        }
        // Reads repeat safely: the streams' rule and backoff decide.
        self.failures = self.failures.saturating_add(1);
        if let Some(pause) = self.client.transport.retry_pause(&e, self.failures) {
            tracing::debug!(error = %e, ?pause, "mirror: {doing} failed; retrying");
            tokio::time::sleep(pause).await;
            return Ok(Next::Retry);
        }
        self.events.send(Err(e)).await.map_err(|_| Gone)?;
        Ok(Next::Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::mvccpb::Event as RawEvent;

    fn raw(key: &str, value: &str) -> crate::pb::mvccpb::KeyValue {
        crate::pb::mvccpb::KeyValue {
            key: Bytes::from(key.to_owned()),
            value: Bytes::from(value.to_owned()),
            ..Default::default()
        }
    }

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue::from(raw(key, value))
    }

    #[test]
    fn events_apply_to_a_map() {
        let mut state = BTreeMap::new();
        MirrorEvent::Page(vec![kv("a", "1"), kv("b", "2")]).apply(&mut state);
        MirrorEvent::Synced { revision: 5 }.apply(&mut state);
        let events = vec![
            RawEvent {
                r#type: crate::pb::mvccpb::event::EventType::Put as i32,
                kv: Some(raw("c", "3")),
                prev_kv: None,
            },
            RawEvent {
                r#type: crate::pb::mvccpb::event::EventType::Delete as i32,
                kv: Some(raw("a", "")),
                prev_kv: None,
            },
        ]
        .into_iter()
        .map(Event::from)
        .collect();
        MirrorEvent::Changes { revision: 6, events }.apply(&mut state);
        let keys: Vec<_> = state.keys().cloned().collect();
        assert_eq!(keys, [Bytes::from_static(b"b"), Bytes::from_static(b"c")]);
        let reason = Error::new(ErrorKind::Compacted, "compacted");
        MirrorEvent::Restarted { reason }.apply(&mut state);
        assert!(state.is_empty());
    }

    #[test]
    fn mirrors_move_between_tasks() {
        fn send<T: Send + Unpin>() {}
        send::<Mirror>();
        send::<MirrorEvent>();
    }
}
