//! Our own HTTP/2 client: just what gRPC over one connection needs, and no
//! more work per request than that takes.
//!
//! - [`handshake`] gives a [`SendRequest`] handle and the [`Connection`]
//!   future that must be polled (by a task of its own) for anything to move.
//! - A request is an HPACK header block that the caller encodes (see
//!   [`hpack::encode_literal`]) and a body; the answer is a [`Head`], a
//!   body of `Bytes` chunks and [`Fields`] for the trailers.
//! - Flow control both ways, CONTINUATION, the server's concurrency limit,
//!   GOAWAY (streams it never processed say so), resets, and PINGs either
//!   way are handled here; the layers above see typed [`Error`]s.
//!
//! The state is one lock per connection ([`state`]); callers queue frames
//! into it and the driver writes everything queued in one go, which is how
//! concurrent requests share socket writes.

pub(crate) mod driver;
pub(crate) mod error;
pub(crate) mod fields;
pub(crate) mod frame;
pub(crate) mod handles;
pub(crate) mod hpack;
pub(crate) mod reason;
pub(crate) mod state;

pub(crate) use self::driver::handshake;
pub(crate) use self::error::Error;
pub(crate) use self::fields::{Fields, Head};
pub(crate) use self::handles::{Pinger, RecvStream, ResponseFuture, SendRequest, SendStream};
pub(crate) use self::reason::Reason;
pub(crate) use self::state::Config;

#[cfg(test)]
mod tests;
