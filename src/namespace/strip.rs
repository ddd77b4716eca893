//! Answers through a namespace: keys come back without the prefix.
//!
//! A key in an answer that is not under the namespace is left whole: a
//! request inside the namespace reaches no such key, so only a server
//! answering outside the request could send one, and dropping it would
//! hide that. Lease listings are the exception: a lease's keys may lie
//! anywhere, so those outside the namespace are left out (as Go's
//! `namespace.NewLease` does).

use bytes::Bytes;

use super::Namespace;
use crate::pb::etcdserverpb::{
    response_op, DeleteRangeResponse, PutResponse, RangeResponse, RangeStreamResponse, ResponseOp, TxnResponse,
};
use crate::pb::mvccpb::{Event, KeyValue};
use crate::pb::v3electionpb::{LeaderKey, LeaderResponse};

/// An answer that carries keys.
pub(crate) trait Strip {
    /// Takes `namespace` off every key in it.
    fn strip(&mut self, namespace: &Namespace);
}

impl Namespace {
    /// `answer` with the namespace taken off its keys.
    pub(crate) fn strip<T: Strip>(&self, mut answer: T) -> T {
        if !self.0.is_empty() {
            answer.strip(self);
        }
        answer
    }

    /// Takes the namespace off `key`; false (and `key` left whole) when
    /// it is not under the namespace.
    fn strip_key(&self, key: &mut Bytes) -> bool {
        if !key.starts_with(&self.0) {
            return false;
        }
        *key = key.slice(self.0.len()..);
        true
    }

    /// The keys under the namespace, without it; the others left out.
    pub(crate) fn keys_within(&self, keys: Vec<Bytes>) -> Vec<Bytes> {
        keys.into_iter().filter_map(|mut key| self.strip_key(&mut key).then_some(key)).collect()
    }
}

/// A key by itself (a lock's, say).
impl Strip for Bytes {
    fn strip(&mut self, namespace: &Namespace) {
        namespace.strip_key(self);
    }
}

impl Strip for KeyValue {
    fn strip(&mut self, namespace: &Namespace) {
        namespace.strip_key(&mut self.key);
    }
}

impl<T: Strip> Strip for Option<T> {
    fn strip(&mut self, namespace: &Namespace) {
        if let Some(inner) = self {
            inner.strip(namespace);
        }
    }
}

impl<T: Strip> Strip for Vec<T> {
    fn strip(&mut self, namespace: &Namespace) {
        self.iter_mut().for_each(|item| item.strip(namespace));
    }
}

impl Strip for RangeResponse {
    fn strip(&mut self, namespace: &Namespace) {
        self.kvs.strip(namespace);
    }
}

impl Strip for RangeStreamResponse {
    fn strip(&mut self, namespace: &Namespace) {
        self.range_response.strip(namespace);
    }
}

impl Strip for PutResponse {
    fn strip(&mut self, namespace: &Namespace) {
        self.prev_kv.strip(namespace);
    }
}

impl Strip for DeleteRangeResponse {
    fn strip(&mut self, namespace: &Namespace) {
        self.prev_kvs.strip(namespace);
    }
}

impl Strip for TxnResponse {
    fn strip(&mut self, namespace: &Namespace) {
        self.responses.strip(namespace);
    }
}

impl Strip for ResponseOp {
    fn strip(&mut self, namespace: &Namespace) {
        match &mut self.response {
            Some(response_op::Response::ResponseRange(r)) => r.strip(namespace),
            Some(response_op::Response::ResponsePut(r)) => r.strip(namespace),
            Some(response_op::Response::ResponseDeleteRange(r)) => r.strip(namespace),
            Some(response_op::Response::ResponseTxn(r)) => r.strip(namespace),
            None => {}
        }
    }
}

impl Strip for Event {
    fn strip(&mut self, namespace: &Namespace) {
        self.kv.strip(namespace);
        self.prev_kv.strip(namespace);
    }
}

impl Strip for crate::watch::Event {
    fn strip(&mut self, namespace: &Namespace) {
        let mut raw = std::mem::replace(self, Event::default().into()).into_inner();
        raw.strip(namespace);
        *self = raw.into();
    }
}

impl Strip for crate::watch::WatchResponse {
    fn strip(&mut self, namespace: &Namespace) {
        self.events.strip(namespace);
    }
}

impl Strip for LeaderResponse {
    fn strip(&mut self, namespace: &Namespace) {
        self.kv.strip(namespace);
    }
}

impl Strip for LeaderKey {
    fn strip(&mut self, namespace: &Namespace) {
        namespace.strip_key(&mut self.name);
        namespace.strip_key(&mut self.key);
    }
}
