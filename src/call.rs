//! What every request builder shares: the future it turns into, and the
//! per-call options.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::Result;

/// The future of a call: awaiting a request builder yields one. Dropping
/// it cancels the call (the HTTP/2 stream is reset); a write that was
/// already sent may still be applied by the server.
#[must_use = "a call does nothing until awaited"]
pub struct ResponseFuture<'a, T> {
    inner: Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>,
}

impl<'a, T> ResponseFuture<'a, T> {
    pub(crate) fn new(future: impl Future<Output = Result<T>> + Send + 'a) -> Self {
        ResponseFuture { inner: Box::pin(future) }
    }
}

impl<T> Future for ResponseFuture<'_, T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> std::fmt::Debug for ResponseFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

/// Options every call accepts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallOptions {
    /// Overrides the client's request timeout for this call.
    pub(crate) timeout: Option<Duration>,
}
