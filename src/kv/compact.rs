//! Compact: discard the key-value history before a revision.

use crate::call::{CallOptions, ResponseFuture};
use crate::error::Result;
use crate::pb::etcdserverpb::{CompactionRequest, CompactionResponse};
use crate::transport::rpc;
use crate::Client;
use std::future::IntoFuture;

/// A compaction request, from [`Client::compact`].
#[derive(Clone, Debug)]
#[must_use = "a compaction does nothing until awaited"]
pub struct Compact<'a> {
    request: CompactionRequest,
    options: CallOptions,
    client: &'a Client,
}

impl<'a> Compact<'a> {
    pub(crate) fn new(client: &'a Client, revision: i64) -> Self {
        Compact { request: CompactionRequest { revision, physical: false }, options: CallOptions::default(), client }
    }

    /// Waits until the compacted entries are removed from the backend, not
    /// only from the index (`WithCompactPhysical`).
    pub fn physical(mut self) -> Self {
        self.request.physical = true;
        self
    }

    timeout_setter!();
}

impl<'a> IntoFuture for Compact<'a> {
    type Output = Result<CompactResponse>;
    type IntoFuture = ResponseFuture<'a, CompactResponse>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            let response: CompactionResponse =
                self.client.transport.unary(&rpc::COMPACT, &self.request, self.options.timeout).await?;
            Ok(CompactResponse(response))
        })
    }
}

wire_response! {
    /// The answer to a compaction.
    CompactResponse(CompactionResponse)
}
