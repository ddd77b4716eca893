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
pub struct Compact {
    request: CompactionRequest,
    options: CallOptions,
    client: Client,
}

impl Compact {
    pub(crate) fn new(client: &Client, revision: i64) -> Self {
        Compact {
            request: CompactionRequest { revision, physical: false },
            options: CallOptions::default(),
            client: client.clone(),
        }
    }

    /// Waits until the compacted entries are removed from the backend, not
    /// only from the index (`WithCompactPhysical`).
    pub fn physical(mut self) -> Self {
        self.request.physical = true;
        self
    }

    timeout_setter!();
}

impl IntoFuture for Compact {
    type Output = Result<CompactResponse>;
    type IntoFuture = ResponseFuture<CompactResponse>;

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
