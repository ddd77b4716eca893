//! What every request builder shares: the future it turns into, and the
//! per-call options. Every unary builder has one shape, so adding an RPC or
//! an option has one template:
//!
//! - a struct holding the wire `request`, the [`CallOptions`] and the
//!   `Client` (a cheap clone, so the call's future is `'static`);
//! - chained setters with Go's option names, and `timeout_setter!()`;
//! - `IntoFuture`, sending the request through the client's transport and
//!   wrapping the answer in its response type.
//!
//! An RPC with no option beyond its deadline is declared in one line with
//! [`unary_call!`](unary_call) (in `unary_call.rs`).

mod unary_call;

pub(crate) use unary_call::unary_call;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::Result;

/// The future of a call: awaiting a request builder yields one. Dropping
/// it cancels the call (the HTTP/2 stream is reset); a write that was
/// already sent may still be applied by the server.
///
/// It is `Send + 'static`: it holds its own handle to the client, so it can
/// be spawned, stored or returned without borrowing anything.
///
/// ```no_run
/// use std::future::IntoFuture;
///
/// fn fetch(client: &etcd_raw::Client, key: &str) -> etcd_raw::ResponseFuture<etcd_raw::GetResponse> {
///     client.get(key).into_future()
/// }
///
/// # async fn demo(client: etcd_raw::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let name = String::from("config/name");
/// let task = tokio::spawn(fetch(&client, &name));
/// drop(client);
/// let response = task.await??;
/// println!("{} keys", response.kvs().len());
/// # Ok(()) }
/// ```
#[must_use = "a call does nothing until awaited"]
pub struct ResponseFuture<T> {
    inner: Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>,
}

impl<T> ResponseFuture<T> {
    pub(crate) fn new(future: impl Future<Output = Result<T>> + Send + 'static) -> Self {
        ResponseFuture { inner: Box::pin(future) }
    }

    /// A call refused before it was sent (a bad argument): it yields `error`.
    pub(crate) fn failed(error: crate::Error) -> Self
    where
        T: Send + 'static,
    {
        ResponseFuture::new(std::future::ready(Err(error)))
    }
}

impl<T> Future for ResponseFuture<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> std::fmt::Debug for ResponseFuture<T> {
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
