//! The range stream on a member without `RangeStream` (etcd before 3.7, or
//! etcd's gRPC proxy): the same pages, read with ordinary `Range` requests
//! pinned to the revision of the first one, as Go's `mirror.Syncer` pages
//! its base state.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::pb::etcdserverpb::{RangeRequest, RangeResponse, ResponseHeader};
use crate::transport::{rpc, Transport};

/// Keys in the first page; later pages grow or shrink toward
/// [`TARGET_PAGE_BYTES`], as the 3.7 server sizes its chunks.
const FIRST_PAGE_KEYS: i64 = 100;
/// About what etcd allows in one request (`--max-request-bytes`, 1.5 MiB by
/// default): pages near it need few round trips and no large message.
const TARGET_PAGE_BYTES: usize = 1024 * 1024;

type PageFuture = Pin<Box<dyn Future<Output = Result<RangeResponse>> + Send>>;

/// Reads a range page by page: each page is a `Range` from the key after
/// the previous page's last, at the revision the first page was read at.
pub(super) struct Pager {
    transport: Transport,
    /// The next page's request: its key moves on, its revision is pinned
    /// once the first page has answered.
    request: RangeRequest,
    /// The caller's limit over all pages (0: none).
    total_limit: i64,
    page_limit: i64,
    delivered: i64,
    /// The first page's header: its revision is what the stream reports,
    /// as the 3.7 server reports the revision it pinned.
    first_header: Option<ResponseHeader>,
    deadline: Instant,
    timeout: Duration,
    in_flight: Option<PageFuture>,
    done: bool,
}

impl Pager {
    /// Pages `request` until `deadline`, the stream's (of `timeout`).
    pub(super) fn new(transport: Transport, request: RangeRequest, deadline: Instant, timeout: Duration) -> Pager {
        let total_limit = request.limit.max(0);
        Pager {
            transport,
            request,
            total_limit,
            page_limit: FIRST_PAGE_KEYS,
            delivered: 0,
            first_header: None,
            deadline,
            timeout,
            in_flight: None,
            done: false,
        }
    }

    /// The next page; `None` after the last one or after an error.
    pub(super) fn poll_page(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<RangeResponse>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.in_flight.is_none() {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return self.fail(self.past_deadline());
            }
            self.in_flight = Some(self.send_next(left));
        }
        let Some(in_flight) = self.in_flight.as_mut() else {
            return Poll::Ready(None);
        };
        let outcome = ready!(in_flight.as_mut().poll(cx));
        self.in_flight = None;
        match outcome {
            Ok(response) => Poll::Ready(Some(self.received(response))),
            Err(e) if e.kind() == ErrorKind::DeadlineExceeded && Instant::now() >= self.deadline => {
                self.fail(self.past_deadline())
            }
            Err(e) => self.fail(e),
        }
    }

    fn send_next(&self, left: Duration) -> PageFuture {
        let mut request = self.request.clone();
        if !request.count_only {
            let remaining = if self.total_limit > 0 { self.total_limit - self.delivered } else { i64::MAX };
            request.limit = self.page_limit.min(remaining);
        }
        let transport = self.transport.clone();
        Box::pin(async move { transport.unary(&rpc::RANGE, &request, Some(left)).await })
    }

    /// Turns a `Range` answer into the stream's page, and aims the next one.
    fn received(&mut self, response: RangeResponse) -> Result<RangeResponse> {
        let header = response.header.unwrap_or_default();
        let first = *self.first_header.get_or_insert(header);
        if self.request.revision == 0 {
            self.request.revision = first.revision;
        }
        let summary = ResponseHeader { revision: first.revision, ..header };
        if self.request.count_only {
            self.done = true;
            return Ok(RangeResponse { header: Some(summary), count: response.count, ..Default::default() });
        }
        let before = self.delivered;
        self.delivered += response.kvs.len() as i64;
        let limit_reached = self.total_limit > 0 && self.delivered >= self.total_limit;
        if !response.more || limit_reached {
            self.done = true;
            // A page's count is the keys from its first key on: the pages
            // before it add theirs.
            let count = before + response.count;
            return Ok(RangeResponse { header: Some(summary), kvs: response.kvs, more: response.more, count });
        }
        let Some(last) = response.kvs.last() else {
            self.done = true;
            return Err(Error::new(ErrorKind::Protocol, "a range page said there is more but held no key"));
        };
        self.request.key = Bytes::from([last.key.as_ref(), &[0]].concat());
        self.page_limit = next_page_limit(self.page_limit, response.encoded_len());
        Ok(RangeResponse { kvs: response.kvs, ..Default::default() })
    }

    fn fail(&mut self, e: Error) -> Poll<Option<Result<RangeResponse>>> {
        self.done = true;
        Poll::Ready(Some(Err(e)))
    }

    fn past_deadline(&self) -> Error {
        Error::new(
            ErrorKind::DeadlineExceeded,
            format!("the paged range did not complete within its deadline of {:?}", self.timeout),
        )
    }
}

/// Doubles a page that came out small, halves one that came out large;
/// in between it stays, so pages near the target do not flap.
fn next_page_limit(limit: i64, page_bytes: usize) -> i64 {
    let next = if page_bytes < TARGET_PAGE_BYTES / 2 {
        limit.saturating_mul(2)
    } else if page_bytes > TARGET_PAGE_BYTES * 2 {
        limit / 2
    } else {
        limit
    };
    next.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_grow_toward_the_target_and_shrink_from_above_it() {
        assert_eq!(next_page_limit(100, 10_000), 200);
        assert_eq!(next_page_limit(100, TARGET_PAGE_BYTES), 100);
        assert_eq!(next_page_limit(100, TARGET_PAGE_BYTES * 3), 50);
        assert_eq!(next_page_limit(1, TARGET_PAGE_BYTES * 3), 1);
        assert_eq!(next_page_limit(i64::MAX, 0), i64::MAX);
    }
}
