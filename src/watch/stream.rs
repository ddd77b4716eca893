//! The consumer side of a watch: a bounded queue filled by the hub.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use super::hub::Command;
use super::{Event, WatchResponse};
use crate::error::{Error, Result};
use crate::namespace::Namespace;

/// What the hub and a [`WatchStream`] share besides the queue.
#[derive(Default)]
pub(crate) struct WatchShared {
    /// Set by the hub when the queue was full and the watch was paused on
    /// the server; the consumer asks for a resume once it has caught up.
    pub(crate) paused: AtomicBool,
    pub(crate) fell_behind: AtomicU64,
    /// Why the watch ended, handed out after the queued responses.
    pub(crate) error: Mutex<Option<Error>>,
}

/// A live watch: a [`Stream`] of [`WatchResponse`]s, one per revision.
/// It ends after an error (yielded once), and never otherwise while the
/// client lives. Dropping it cancels the watch on the server.
pub struct WatchStream {
    pub(crate) local: u64,
    pub(crate) queue: mpsc::Receiver<WatchResponse>,
    pub(crate) capacity: usize,
    pub(crate) shared: Arc<WatchShared>,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) finished: bool,
    /// Taken off the keys of every event: the hub hands the same server
    /// watch's events to every stream that shares it, each in its view.
    pub(crate) namespace: Namespace,
}

impl WatchStream {
    /// The next response; `None` once the watch has ended.
    pub async fn message(&mut self) -> Option<Result<WatchResponse>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// How many times this watch fell behind (its buffer filled up) and
    /// was paused on the server until it caught up. Nothing was lost.
    pub fn fell_behind(&self) -> u64 {
        self.shared.fell_behind.load(Ordering::Relaxed)
    }

    /// The same watch as a stream of single events.
    pub fn events(self) -> WatchEvents {
        WatchEvents { watch: self, pending: VecDeque::new() }
    }
}

impl Stream for WatchStream {
    type Item = Result<WatchResponse>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        // Caught up after a pause: ask the hub to resume from where the
        // queue stopped. Checked before waiting, so a drained queue always
        // gets its resume.
        if self.shared.paused.load(Ordering::Acquire)
            && self.queue.len() <= self.capacity / 2
            && self.shared.paused.swap(false, Ordering::AcqRel)
        {
            let _ = self.commands.send(Command::Resume(self.local));
        }
        match self.queue.poll_recv(cx) {
            Poll::Ready(Some(response)) => Poll::Ready(Some(Ok(self.namespace.strip(response)))),
            Poll::Ready(None) => {
                self.finished = true;
                let error = self.shared.error.lock().ok().and_then(|mut e| e.take());
                Poll::Ready(error.map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Cancel(self.local));
    }
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream").field("queued", &self.queue.len()).field("finished", &self.finished).finish()
    }
}

/// A watch as a [`Stream`] of single [`Event`]s, from
/// [`WatchStream::events`]. Notifications are skipped.
#[derive(Debug)]
pub struct WatchEvents {
    watch: WatchStream,
    pending: VecDeque<Event>,
}

impl Stream for WatchEvents {
    type Item = Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            match Pin::new(&mut self.watch).poll_next(cx) {
                Poll::Ready(Some(Ok(response))) => self.pending.extend(response.into_events()),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
