//! [`DeadlineStream`]: a server-streaming read under one deadline (the
//! range stream), opened and reopened through the [`StreamCore`].

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use super::rpc::Rpc;
use super::stream_core::{Recovery, SourceOpening, StreamCore};
use super::streaming::Source;
use super::unary::at_deadline;
use super::Transport;
use crate::error::{Error, ErrorKind, Result};

/// A server-streaming read under one deadline, counted from the first
/// poll: the server is told it (`grpc-timeout`) and the client keeps it
/// too, so a member that stops answering ends the stream with
/// `DeadlineExceeded` at the deadline rather than never.
///
/// Until the first response arrives, a failure is handled by the stream
/// core's rule (reopen elsewhere, refresh a refused token, or stop). After
/// that a failure ends the stream: what was already delivered cannot be
/// resumed without repeats or gaps.
pub(crate) struct DeadlineStream<Q, R> {
    rpc: &'static Rpc,
    core: StreamCore,
    request: Q,
    timeout: Duration,
    /// Set by the first poll.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    phase: Phase<R>,
    received: bool,
}

enum Phase<R> {
    Idle,
    Opening(SourceOpening<R>),
    Open(Source<R>),
    Done,
}

impl<Q, R> DeadlineStream<Q, R>
where
    Q: prost::Message + Clone + Send + Sync + 'static,
    R: prost::Message + Default + Send + 'static,
{
    /// Nothing happens until the first poll.
    pub(crate) fn new(transport: Transport, rpc: &'static Rpc, request: Q, timeout: Duration) -> Self {
        DeadlineStream {
            rpc,
            core: StreamCore::new(transport, rpc),
            request,
            timeout,
            deadline: None,
            phase: Phase::Idle,
            received: false,
        }
    }

    /// The next message; `Ok(None)` once the server ended the stream with
    /// success, then for ever.
    pub(crate) fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<R>>> {
        if matches!(self.phase, Phase::Done) {
            return Poll::Ready(Ok(None));
        }
        let timeout = self.timeout;
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if deadline.as_mut().poll(cx).is_ready() {
            // Dropping the stream resets it, so the server stops too.
            self.phase = Phase::Done;
            return Poll::Ready(Err(Error::new(
                ErrorKind::DeadlineExceeded,
                format!("{} did not complete within its deadline of {timeout:?}", self.rpc.path),
            )));
        }
        loop {
            match &mut self.phase {
                Phase::Idle => self.open(Duration::ZERO),
                Phase::Opening(opening) => match ready!(opening.as_mut().poll(cx)) {
                    Ok(source) => self.phase = Phase::Open(source),
                    Err(e) => self.failed(e)?,
                },
                Phase::Open(source) => match ready!(source.poll_message(cx)) {
                    Ok(Some(message)) => {
                        self.received = true;
                        self.core.answered();
                        return Poll::Ready(Ok(Some(message)));
                    }
                    Ok(None) => {
                        self.phase = Phase::Done;
                        return Poll::Ready(Ok(None));
                    }
                    Err(e) => self.failed(e)?,
                },
                Phase::Done => return Poll::Ready(Ok(None)),
            }
        }
    }

    /// Opens again after `e` if the rule allows, else ends with `e`.
    fn failed(&mut self, e: Error) -> Result<()> {
        let e = match &self.deadline {
            Some(sleep) => at_deadline(e, sleep.deadline()),
            None => e,
        };
        // The deadline is the caller's: no rule reopens past it.
        if self.received || e.kind() == ErrorKind::DeadlineExceeded {
            self.phase = Phase::Done;
            return Err(e);
        }
        match self.core.failed(e) {
            Recovery::Reopen(pause) => {
                self.open(pause);
                Ok(())
            }
            Recovery::Stop(e) => {
                self.phase = Phase::Done;
                Err(e)
            }
        }
    }

    fn open(&mut self, pause: Duration) {
        // What is left of the deadline: the first poll set it.
        let left = self
            .deadline
            .as_ref()
            .map_or(self.timeout, |d| d.deadline().saturating_duration_since(tokio::time::Instant::now()));
        let left = left.saturating_sub(pause).max(Duration::from_millis(1));
        self.phase = Phase::Opening(self.core.open_with(pause, Some(left), &self.request));
    }

    /// The endpoint the stream runs on, once open.
    pub(crate) fn endpoint(&self) -> Option<&str> {
        match &self.phase {
            Phase::Open(source) => Some(source.endpoint()),
            _ => None,
        }
    }
}
