//! A get answered as a stream of pages (etcd 3.7's `KV.RangeStream`).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use super::{GetResponse, KeyValue, ResponseHeader};
use crate::error::{Error, ErrorKind, Result};
use crate::pb::etcdserverpb::{RangeRequest, RangeResponse, RangeStreamResponse};
use crate::transport::deadline_stream::DeadlineStream;
use crate::transport::rpc;
use crate::Client;

/// A range read as a [`Stream`] of [`GetPage`]s, from
/// [`Get::stream`](super::Get::stream) (Go's `GetStream`; etcd 3.7 or
/// newer).
///
/// ```no_run
/// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
/// use std::time::Duration;
/// let mut pages = client.get("logs/").prefix().timeout(Duration::from_secs(60)).stream();
/// while let Some(page) = pages.next_page().await {
///     let page = page?;
///     for kv in page.kvs() {
///         println!("{}", kv.key_str()?);
///     }
///     if let Some(header) = page.header() {
///         println!("{} keys, all as of revision {}", page.count().unwrap_or(0), header.revision());
///     }
/// }
/// # Ok(()) }
/// ```
///
/// # What the server guarantees
///
/// - Pages hold disjoint runs of keys in key order: together they are
///   exactly what one `get` would return, without one message of that size.
/// - Every page is read at one revision, fixed when the server reads the
///   first page (or the one set with `.revision(..)`): writes made while
///   the stream runs do not show.
/// - Only the last page carries the header (with that revision), `more`
///   and `count`; [`GetPage::is_last`] says which it is. With `.limit(n)`
///   the pages hold at most `n` keys in all. With `.count_only()` there is
///   one page, with no keys.
/// - `.serializable()` is honoured. A non-default `.sort(..)` and the
///   `min_`/`max_` revision filters are not supported by the server: the
///   stream fails with [`ErrorKind::Unimplemented`] (use `get` for those).
///
/// # Errors, deadline, cancellation
///
/// - A member older than 3.7 does not know the RPC: the stream yields one
///   error of kind [`ErrorKind::Unimplemented`] whose message says that
///   range streams need etcd 3.7 or newer, then ends.
/// - The call's deadline (the client's request timeout, or the builder's
///   `.timeout(..)`) covers the whole stream, from its first poll to its
///   last page; the time the consumer takes between pages counts. When it
///   passes, the stream yields `DeadlineExceeded` and ends. Give long
///   ranges a long timeout.
/// - Before the first page arrives, an unreachable member or one without a
///   leader is left for the next endpoint, as for any read, and a token
///   the server refuses as expired is refreshed once. After it, a failure
///   ends the stream with that error: the pages delivered cannot be
///   resumed from at the same revision (the server names it only on the
///   last page).
/// - The stream ends after its first error. Dropping it cancels the call.
#[must_use = "a stream does nothing unless polled"]
pub struct GetStream {
    /// `None` once the stream has ended.
    stream: Option<DeadlineStream<RangeRequest, RangeStreamResponse>>,
    /// Why the request was refused before sending (an empty key, say):
    /// yielded first, then the stream ends.
    refused: Option<Error>,
    /// Whether the page with the header has arrived.
    last_seen: bool,
}

impl GetStream {
    pub(crate) fn new(client: &Client, request: Result<RangeRequest>, timeout: Option<Duration>) -> GetStream {
        let (stream, refused) = match request {
            Err(e) => (None, Some(e)),
            Ok(request) => {
                let transport = client.transport.clone();
                let timeout = timeout.unwrap_or_else(|| transport.request_timeout());
                (Some(DeadlineStream::new(transport, &rpc::RANGE_STREAM, request, timeout)), None)
            }
        };
        GetStream { stream, refused, last_seen: false }
    }

    /// The next page; `None` once the stream has ended. Cancel-safe.
    pub async fn next_page(&mut self) -> Option<Result<GetPage>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Reads every page and joins them into one [`GetResponse`], with the
    /// last page's header, `more` and `count` (Go's
    /// `GetStreamToGetResponse`).
    pub async fn into_response(mut self) -> Result<GetResponse> {
        let mut whole = GetResponse::default();
        while let Some(page) = self.next_page().await {
            let page = page?.0;
            whole.kvs.extend(page.kvs);
            if page.raw.header.is_some() {
                whole.raw = page.raw;
            }
        }
        Ok(whole)
    }
}

impl Stream for GetStream {
    type Item = Result<GetPage>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(refused) = this.refused.take() {
            return Poll::Ready(Some(Err(refused)));
        }
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(None);
        };
        let outcome = match stream.poll_message(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(outcome) => outcome,
        };
        let item = match outcome {
            Ok(Some(message)) => {
                let page = GetPage::from(message);
                this.last_seen |= page.is_last();
                return Poll::Ready(Some(Ok(page)));
            }
            Ok(None) if this.last_seen => None,
            // The server sends the header on the last page, always: a
            // stream that ended without one lost its end.
            Ok(None) => Some(Err(Error::new(
                ErrorKind::Protocol,
                "the range stream ended without its last page (the one with the header)",
            ))),
            Err(e) => Some(Err(rpc::RANGE_STREAM.explain_missing(e))),
        };
        this.stream = None;
        Poll::Ready(item)
    }
}

impl std::fmt::Debug for GetStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetStream")
            .field("endpoint", &self.stream.as_ref().and_then(|s| s.endpoint()))
            .field("finished", &self.stream.is_none())
            .finish()
    }
}

/// One page of a [`GetStream`]: the next run of key-value pairs, in key
/// order. The last page (see [`is_last`](GetPage::is_last)) also carries
/// the header, `more` and `count` of the whole range.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GetPage(pub(crate) GetResponse);

impl GetPage {
    /// The pairs of this page.
    pub fn kvs(&self) -> &[KeyValue] {
        self.0.kvs()
    }

    /// Takes the pairs out of the page.
    pub fn into_kvs(self) -> Vec<KeyValue> {
        self.0.into_kvs()
    }

    /// Whether this is the last page, the one with the header.
    pub fn is_last(&self) -> bool {
        self.0.raw.header.is_some()
    }

    /// On the last page: revision (the one every page was read at),
    /// member and raft term. `None` on the others.
    pub fn header(&self) -> Option<ResponseHeader> {
        self.is_last().then(|| self.0.header())
    }

    /// On the last page: whether a limit cut the range short.
    pub fn more(&self) -> Option<bool> {
        self.is_last().then_some(self.0.more())
    }

    /// On the last page: how many keys are in the range, ignoring the limit.
    pub fn count(&self) -> Option<i64> {
        self.is_last().then_some(self.0.count())
    }

    /// The wire message of this page.
    pub fn into_inner(self) -> RangeResponse {
        self.0.into_inner()
    }
}

impl From<RangeStreamResponse> for GetPage {
    fn from(raw: RangeStreamResponse) -> Self {
        GetPage::from(raw.range_response.unwrap_or_default())
    }
}

impl From<RangeResponse> for GetPage {
    fn from(raw: RangeResponse) -> Self {
        GetPage(raw.into())
    }
}

impl From<GetPage> for RangeResponse {
    fn from(page: GetPage) -> Self {
        page.0.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_can_move_between_tasks() {
        fn send<T: Send + Unpin>() {}
        send::<GetStream>();
    }

    #[test]
    fn only_the_last_page_has_a_summary() {
        let middle = GetPage::from(RangeResponse { kvs: vec![KeyValue::default().into_inner()], ..Default::default() });
        assert_eq!((middle.is_last(), middle.more(), middle.count(), middle.header()), (false, None, None, None));
        let last = GetPage::from(RangeStreamResponse {
            range_response: Some(RangeResponse {
                header: Some(crate::pb::etcdserverpb::ResponseHeader { revision: 7, ..Default::default() }),
                count: 3,
                ..Default::default()
            }),
        });
        assert_eq!((last.is_last(), last.more(), last.count()), (true, Some(false), Some(3)));
        assert_eq!(last.header().map(|h| h.revision()), Some(7));
    }
}
