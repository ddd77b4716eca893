//! The watch request builder.

use std::future::IntoFuture;

use bytes::Bytes;

use super::stream::WatchStream;
use crate::call::{CallOptions, ResponseFuture};
use crate::error::{Error, ErrorKind, Result};
use crate::kv::RangeEnd;
use crate::pb::etcdserverpb::watch_create_request::FilterType;
use crate::pb::etcdserverpb::WatchCreateRequest;
use crate::Client;

/// Undelivered revisions a watch holds before it is paused (see
/// [`Watch::buffer`]).
pub const DEFAULT_BUFFER: usize = 1024;

/// A watch request, from [`Client::watch`]. Awaiting it creates the watch.
#[derive(Debug)]
#[must_use = "a watch does nothing until awaited"]
pub struct Watch {
    client: Client,
    key: Bytes,
    range: RangeEnd,
    request: WatchCreateRequest,
    created_notify: bool,
    buffer: usize,
    options: CallOptions,
}

impl Watch {
    pub(crate) fn new(client: &Client, key: Bytes) -> Self {
        Watch {
            client: client.clone(),
            key,
            range: RangeEnd::Single,
            request: WatchCreateRequest::default(),
            created_notify: false,
            buffer: DEFAULT_BUFFER,
            options: CallOptions::default(),
        }
    }

    key_range_setters!();

    /// Starts at `revision` instead of now (Go's `WithRev`): every change
    /// from it on is delivered, and none older. A revision past the current
    /// one is refused with `FutureRev`; a compacted one ends the watch with
    /// `Compacted`.
    pub fn start_revision(mut self, revision: i64) -> Self {
        self.request.start_revision = revision;
        self
    }

    /// Each event carries the pair as it was before (`WithPrevKV`).
    pub fn prev_kv(mut self) -> Self {
        self.request.prev_kv = true;
        self
    }

    /// The server sends progress notifications when the watch is idle
    /// (`WithProgressNotify`); they also make resuming after a long quiet
    /// spell start from a recent revision.
    pub fn progress_notify(mut self) -> Self {
        self.request.progress_notify = true;
        self
    }

    /// Lets the server split a huge revision into fragments, which are
    /// joined again before delivery (`WithFragment`).
    pub fn fragment(mut self) -> Self {
        self.request.fragment = true;
        self
    }

    /// Yields the server's confirmation as the first item
    /// (`WithCreatedNotify`).
    pub fn created_notify(mut self) -> Self {
        self.created_notify = true;
        self
    }

    /// Leaves out put events (`WithFilterPut`).
    pub fn filter_put(mut self) -> Self {
        self.request.filters.push(FilterType::Noput as i32);
        self
    }

    /// Leaves out delete events (`WithFilterDelete`).
    pub fn filter_delete(mut self) -> Self {
        self.request.filters.push(FilterType::Nodelete as i32);
        self
    }

    /// How many undelivered revisions the watch holds before it is paused
    /// on the server (default 1024). Must be at least 1. A paused watch
    /// that shared its server watch with identical ones leaves it, and
    /// resumes on a server watch of its own from the first revision it
    /// missed.
    pub fn buffer(mut self, revisions: usize) -> Self {
        self.buffer = revisions;
        self
    }

    /// How long creating the watch may take (default: the client's
    /// request timeout). Once created, a watch has no deadline.
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// The wire request, checked before anything is sent.
    fn into_request(self) -> Result<(WatchCreateRequest, bool, usize)> {
        let mut request = self.request;
        request.key = self.key;
        self.client.namespace.fill(&self.range, &mut request.key, &mut request.range_end)?;
        let end = &request.range_end;
        if !end.is_empty() && end.as_ref() != [0] && end <= &request.key {
            return Err(Error::new(ErrorKind::InvalidArgument, "watch range end must be after the key"));
        }
        if request.start_revision < 0 {
            return Err(Error::invalid_argument(format!(
                "watch start revision {} is negative",
                request.start_revision
            )));
        }
        if self.buffer == 0 {
            return Err(Error::invalid_argument("a watch buffer must hold at least one revision"));
        }
        Ok((request, self.created_notify, self.buffer))
    }
}

impl IntoFuture for Watch {
    type Output = Result<WatchStream>;
    type IntoFuture = ResponseFuture<WatchStream>;

    fn into_future(self) -> Self::IntoFuture {
        let client = self.client.clone();
        let timeout = self.options.timeout.unwrap_or(client.transport.request_timeout());
        let checked = self.into_request();
        ResponseFuture::new(async move {
            let (request, created_notify, buffer) = checked?;
            let mut stream =
                client.watch_hub.create(&client.transport, request, created_notify, buffer, timeout).await?;
            stream.namespace = client.namespace.clone();
            Ok(stream)
        })
    }
}
