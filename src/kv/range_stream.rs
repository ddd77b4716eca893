//! A get answered as a stream of pages: etcd 3.7's `KV.RangeStream`, or
//! paged `Range` requests on older members.

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::time::Instant;

use self::paged::Pager;
use super::{GetResponse, KeyValue, ResponseHeader, SortOrder, SortTarget};
use crate::error::{Error, ErrorKind, Result};
use crate::namespace::Namespace;
use crate::pb::etcdserverpb::{RangeRequest, RangeResponse, RangeStreamResponse};
use crate::transport::deadline_stream::DeadlineStream;
use crate::transport::{rpc, Transport};
use crate::Client;

mod paged;

/// A range read as a [`Stream`] of [`GetPage`]s, from
/// [`Get::stream`](super::Get::stream) (Go's `GetStream`), on any etcd
/// version: etcd 3.7's `RangeStream` where the member has it, pages of
/// ordinary `Range` requests where it does not.
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
/// # What every server version gives
///
/// - Pages hold disjoint runs of keys in key order: together they are
///   exactly what one `get` would return, without one message of that size.
/// - Every page is read at one revision, fixed when the first page is read
///   (or the one set with `.revision(..)`): writes made while the stream
///   runs do not show.
/// - Only the last page carries the header (whose revision is the store's
///   when the first page was read), `more` and `count`;
///   [`GetPage::is_last`] says which it is. With `.limit(n)` the pages hold
///   at most `n` keys in all. With `.count_only()` there is one page, with
///   no keys.
/// - `.keys_only()` and `.serializable()` are honoured. A non-default
///   `.sort(..)` and the `min_`/`max_` revision filters are refused before
///   anything is sent, with [`ErrorKind::Unimplemented`], as etcd 3.7
///   refuses them in `RangeStream` (use `get` for those).
///
/// # Older members
///
/// A member that answers `Unimplemented` to `RangeStream` (etcd before 3.7,
/// or etcd's gRPC proxy) is read with `Range` requests instead, as Go's
/// `mirror.Syncer` reads: the first page fixes the revision, each next page
/// starts after the last key at that revision, and the paging stops when
/// the server says there is no more. Page sizes start at 100 keys and
/// adapt toward about 1 MiB. Each page is a read that fails over to another
/// endpoint on its own. The difference to 3.7 is where the work happens:
/// the server counts the rest of the range on every page.
///
/// # Errors, deadline, cancellation
///
/// - A compaction past the stream's revision while it runs ends it with
///   [`ErrorKind::Compacted`]: the rest of the range no longer exists at
///   that revision. Read again at a newer one.
/// - The call's deadline (the client's request timeout, or the builder's
///   `.timeout(..)`) covers the whole stream, from its first poll to its
///   last page; the time the consumer takes between pages counts. When it
///   passes, the stream yields `DeadlineExceeded` and ends. Give long
///   ranges a long timeout.
/// - Before the first page arrives, an unreachable member or one without a
///   leader is left for the next endpoint, as for any read, and a token
///   the server refuses as expired is refreshed once. After it, a
///   `RangeStream` failure ends the stream with that error: the pages
///   delivered cannot be resumed from at the same revision (the server
///   names it only on the last page). To resume, pin a revision with
///   `.revision(..)` and start again after the last key received.
/// - The stream ends after its first error. Dropping it cancels the call.
#[must_use = "a stream does nothing unless polled"]
pub struct GetStream {
    mode: Mode,
    /// Why the request was refused before sending (an empty key, say):
    /// yielded first, then the stream ends.
    refused: Option<Error>,
    /// What the paged fallback needs, kept until the server has answered.
    fallback: Option<Fallback>,
    /// Taken off the keys of every page.
    namespace: Namespace,
}

enum Mode {
    Streaming {
        stream: DeadlineStream<RangeRequest, RangeStreamResponse>,
        /// Whether the page with the header has arrived.
        last_seen: bool,
    },
    Paging(Pager),
    Done,
}

/// The request, transport and deadline, for a member without
/// `RangeStream`.
struct Fallback {
    transport: Transport,
    request: RangeRequest,
    timeout: Duration,
    /// The stream's deadline, set on its first poll.
    deadline: Option<Instant>,
}

impl GetStream {
    pub(crate) fn new(client: &Client, request: Result<RangeRequest>, timeout: Option<Duration>) -> GetStream {
        let request = request.and_then(|request| refuse_unstreamable(&request).map(|()| request));
        let namespace = client.namespace.clone();
        match request {
            Err(e) => GetStream { mode: Mode::Done, refused: Some(e), fallback: None, namespace },
            Ok(request) => {
                let transport = client.transport.clone();
                let timeout = timeout.unwrap_or_else(|| transport.request_timeout());
                let stream = DeadlineStream::new(transport.clone(), &rpc::RANGE_STREAM, request.clone(), timeout);
                GetStream {
                    mode: Mode::Streaming { stream, last_seen: false },
                    refused: None,
                    fallback: Some(Fallback { transport, request, timeout, deadline: None }),
                    namespace,
                }
            }
        }
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

    /// Reads the rest with `Range` requests: the member has no `RangeStream`.
    fn page_instead(&mut self, refusal: &Error) -> bool {
        let Some(fallback) = self.fallback.take() else {
            return false;
        };
        let deadline = fallback.deadline.unwrap_or_else(|| Instant::now() + fallback.timeout);
        tracing::debug!(endpoint = ?refusal.endpoint(), error = %refusal, "no RangeStream on this member: paging with Range");
        self.mode = Mode::Paging(Pager::new(fallback.transport, fallback.request, deadline, fallback.timeout));
        true
    }
}

/// What etcd 3.7 refuses in a `RangeStream`, refused the same way on every
/// version.
fn refuse_unstreamable(request: &RangeRequest) -> Result<()> {
    let default_order = request.sort_order == SortOrder::None as i32
        || (request.sort_target == SortTarget::Key as i32 && request.sort_order == SortOrder::Ascend as i32);
    if !default_order {
        return Err(Error::new(
            ErrorKind::Unimplemented,
            "range streams do not support custom sort orders (use get for a sorted range)",
        ));
    }
    let filtered = request.min_mod_revision != 0
        || request.max_mod_revision != 0
        || request.min_create_revision != 0
        || request.max_create_revision != 0;
    if filtered {
        return Err(Error::new(
            ErrorKind::Unimplemented,
            "range streams do not support revision filters (use get for a filtered range)",
        ));
    }
    Ok(())
}

impl Stream for GetStream {
    type Item = Result<GetPage>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(refused) = this.refused.take() {
            return Poll::Ready(Some(Err(refused)));
        }
        if let Some(fallback) = this.fallback.as_mut() {
            fallback.deadline.get_or_insert_with(|| Instant::now() + fallback.timeout);
        }
        loop {
            let item = match &mut this.mode {
                Mode::Done => return Poll::Ready(None),
                Mode::Paging(pager) => {
                    let page = ready!(pager.poll_page(cx));
                    if page.is_none() {
                        this.mode = Mode::Done;
                    }
                    let namespace = &this.namespace;
                    return Poll::Ready(page.map(|page| page.map(|raw| GetPage::from(namespace.strip(raw)))));
                }
                Mode::Streaming { stream, last_seen } => match ready!(stream.poll_message(cx)) {
                    Ok(Some(message)) => {
                        // The member has the RPC: no fallback from here on.
                        this.fallback = None;
                        let page = GetPage::from(this.namespace.strip(message));
                        *last_seen |= page.is_last();
                        return Poll::Ready(Some(Ok(page)));
                    }
                    Ok(None) if *last_seen => None,
                    // The server sends the header on the last page, always: a
                    // stream that ended without one lost its end.
                    Ok(None) => Some(Err(Error::new(
                        ErrorKind::Protocol,
                        "the range stream ended without its last page (the one with the header)",
                    ))),
                    Err(e) if e.kind() == ErrorKind::Unimplemented && this.page_instead(&e) => continue,
                    Err(e) => Some(Err(rpc::RANGE_STREAM.explain_missing(e))),
                },
            };
            this.mode = Mode::Done;
            return Poll::Ready(item);
        }
    }
}

impl std::fmt::Debug for GetStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (mode, endpoint) = match &self.mode {
            Mode::Streaming { stream, .. } => ("range stream", stream.endpoint()),
            Mode::Paging(_) => ("paged range", None),
            Mode::Done => ("finished", None),
        };
        f.debug_struct("GetStream").field("mode", &mode).field("endpoint", &endpoint).finish()
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
