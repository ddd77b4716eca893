//! Txn: compares, then a list of operations if they all hold, another if
//! not, applied atomically at one revision.

use crate::IntoBytes;
use bytes::Bytes;
use std::future::IntoFuture;

use super::{Delete, DeleteResponse, Get, GetResponse, Put, PutResponse, RangeEnd};
use crate::call::{CallOptions, ResponseFuture};
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::pb::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::pb::etcdserverpb::{
    request_op, response_op, Compare as RawCompare, RequestOp, TxnRequest, TxnResponse as RawTxnResponse,
};
use crate::transport::rpc;
use crate::Client;

/// A transaction. From [`Client::txn`] it is awaited directly; from
/// [`Txn::new`] it nests inside another transaction.
///
/// An operation is a [`Get`], [`Put`], [`Delete`] or nested [`Txn`] made
/// with its `new` function.
#[derive(Clone, Debug)]
#[must_use = "a txn does nothing until awaited"]
pub struct Txn<C = ()> {
    compares: Vec<Compare>,
    success: Vec<TxnOp>,
    failure: Vec<TxnOp>,
    options: CallOptions,
    client: C,
}

impl Txn<()> {
    /// An empty transaction, for nesting.
    pub fn new() -> Txn<()> {
        Txn {
            compares: Vec::new(),
            success: Vec::new(),
            failure: Vec::new(),
            options: CallOptions::default(),
            client: (),
        }
    }

    pub(crate) fn bind(self, client: &Client) -> Txn<Client> {
        Txn {
            compares: self.compares,
            success: self.success,
            failure: self.failure,
            options: self.options,
            client: client.clone(),
        }
    }
}

impl Default for Txn<()> {
    fn default() -> Self {
        Txn::new()
    }
}

impl<C> Txn<C> {
    /// Conditions that must all hold for the success branch (Go's `If`).
    pub fn when(mut self, compares: impl IntoIterator<Item = Compare>) -> Self {
        self.compares.extend(compares);
        self
    }

    /// Operations applied when every compare holds (Go's `Then`).
    pub fn and_then<O: Into<TxnOp>>(mut self, ops: impl IntoIterator<Item = O>) -> Self {
        self.success.extend(ops.into_iter().map(Into::into));
        self
    }

    /// Operations applied otherwise (Go's `Else`).
    pub fn or_else<O: Into<TxnOp>>(mut self, ops: impl IntoIterator<Item = O>) -> Self {
        self.failure.extend(ops.into_iter().map(Into::into));
        self
    }

    timeout_setter!();

    /// The request without its client, and the client.
    fn unbind(self) -> (Txn<()>, C) {
        let Txn { compares, success, failure, options, client } = self;
        (Txn { compares, success, failure, options, client: () }, client)
    }

    /// The wire request in `namespace`: every compare and operation,
    /// nested ones too.
    fn into_request(self, namespace: &Namespace) -> Result<TxnRequest> {
        let branch = |ops: Vec<TxnOp>| ops.into_iter().map(|op| op.into_request(namespace)).collect::<Result<Vec<_>>>();
        let compares = self.compares.into_iter().map(|compare| compare.into_request(namespace));
        Ok(TxnRequest {
            compare: compares.collect::<Result<Vec<_>>>()?,
            success: branch(self.success)?,
            failure: branch(self.failure)?,
        })
    }
}

impl IntoFuture for Txn<Client> {
    type Output = Result<TxnResponse>;
    type IntoFuture = ResponseFuture<TxnResponse>;

    fn into_future(self) -> Self::IntoFuture {
        let timeout = self.options.timeout;
        let (unbound, client) = self.unbind();
        let request = match unbound.into_request(&client.namespace) {
            Ok(request) => request,
            // Refused before anything is sent; the future only reports it.
            Err(e) => return ResponseFuture::failed(e),
        };
        ResponseFuture::new(async move {
            let response: RawTxnResponse = client.transport.unary(&rpc::TXN, &request, timeout).await?;
            Ok(TxnResponse(client.namespace.strip(response)))
        })
    }
}

/// One operation of a transaction branch.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TxnOp {
    /// Read keys.
    Get(Get),
    /// Write a key.
    Put(Put),
    /// Delete keys.
    Delete(Delete),
    /// A nested transaction.
    Txn(Txn),
}

impl TxnOp {
    fn into_request(self, namespace: &Namespace) -> Result<RequestOp> {
        let request = match self {
            TxnOp::Get(get) => request_op::Request::RequestRange(get.into_request(namespace)?),
            TxnOp::Put(put) => request_op::Request::RequestPut(put.into_request(namespace)?),
            TxnOp::Delete(delete) => request_op::Request::RequestDeleteRange(delete.into_request(namespace)?),
            TxnOp::Txn(txn) => request_op::Request::RequestTxn(txn.into_request(namespace)?),
        };
        Ok(RequestOp { request: Some(request) })
    }
}

impl From<Get> for TxnOp {
    fn from(op: Get) -> Self {
        TxnOp::Get(op)
    }
}

impl From<Put> for TxnOp {
    fn from(op: Put) -> Self {
        TxnOp::Put(op)
    }
}

impl From<Delete> for TxnOp {
    fn from(op: Delete) -> Self {
        TxnOp::Delete(op)
    }
}

impl From<Txn> for TxnOp {
    fn from(op: Txn) -> Self {
        TxnOp::Txn(op)
    }
}

/// How a compare relates the key's current state to the given value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompareOp {
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
    /// `>`
    Greater,
    /// `<`
    Less,
}

impl From<CompareOp> for CompareResult {
    fn from(op: CompareOp) -> Self {
        match op {
            CompareOp::Equal => CompareResult::Equal,
            CompareOp::NotEqual => CompareResult::NotEqual,
            CompareOp::Greater => CompareResult::Greater,
            CompareOp::Less => CompareResult::Less,
        }
    }
}

/// A condition of a transaction, on one key or (with
/// [`range_end`](Compare::range_end) / [`prefix`](Compare::prefix)) on
/// every key of a range. Go's `clientv3.Compare`.
#[derive(Clone, Debug)]
pub struct Compare {
    raw: RawCompare,
    range: RangeEnd,
}

impl Compare {
    fn build(key: impl IntoBytes, op: CompareOp, target: CompareTarget, value: TargetUnion) -> Compare {
        let raw = RawCompare {
            result: CompareResult::from(op) as i32,
            target: target as i32,
            key: key.into_bytes(),
            target_union: Some(value),
            range_end: Bytes::new(),
        };
        Compare { raw, range: RangeEnd::Single }
    }

    /// Compares the value (Go's `Value(key)`).
    pub fn value(key: impl IntoBytes, op: CompareOp, value: impl IntoBytes) -> Compare {
        Compare::build(key, op, CompareTarget::Value, TargetUnion::Value(value.into_bytes()))
    }

    /// Compares the version, the number of writes since creation; 0 means
    /// the key does not exist (`Version(key)`).
    pub fn version(key: impl IntoBytes, op: CompareOp, version: i64) -> Compare {
        Compare::build(key, op, CompareTarget::Version, TargetUnion::Version(version))
    }

    /// Compares the revision that created the key (`CreateRevision(key)`).
    pub fn create_revision(key: impl IntoBytes, op: CompareOp, revision: i64) -> Compare {
        Compare::build(key, op, CompareTarget::Create, TargetUnion::CreateRevision(revision))
    }

    /// Compares the revision of the last write to the key (`ModRevision(key)`).
    pub fn mod_revision(key: impl IntoBytes, op: CompareOp, revision: i64) -> Compare {
        Compare::build(key, op, CompareTarget::Mod, TargetUnion::ModRevision(revision))
    }

    /// Compares the lease the key is attached to (`LeaseValue(key)`).
    pub fn lease(key: impl IntoBytes, op: CompareOp, lease: i64) -> Compare {
        Compare::build(key, op, CompareTarget::Lease, TargetUnion::Lease(lease))
    }

    /// Applies the compare to every key in `[key, end)`.
    pub fn range_end(mut self, end: impl IntoBytes) -> Self {
        self.range = RangeEnd::End(end.into_bytes());
        self
    }

    /// Applies the compare to every key starting with the key.
    pub fn prefix(mut self) -> Self {
        self.range = RangeEnd::Prefix;
        self
    }

    fn into_request(self, namespace: &Namespace) -> Result<RawCompare> {
        let mut raw = self.raw;
        namespace.fill(&self.range, &mut raw.key, &mut raw.range_end)?;
        Ok(raw)
    }
}

wire_response! {
    /// The answer to a transaction.
    TxnResponse(RawTxnResponse)
}

impl TxnResponse {
    /// Whether every compare held (the success branch ran).
    pub fn succeeded(&self) -> bool {
        self.0.succeeded
    }

    /// The answers of the branch that ran, in order.
    pub fn op_responses(&self) -> Result<Vec<TxnOpResponse>> {
        self.0.responses.iter().cloned().map(TxnOpResponse::try_from).collect()
    }
}

/// The answer to one operation of a transaction.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TxnOpResponse {
    /// From a [`Get`].
    Get(GetResponse),
    /// From a [`Put`].
    Put(PutResponse),
    /// From a [`Delete`].
    Delete(DeleteResponse),
    /// From a nested [`Txn`].
    Txn(TxnResponse),
}

impl TryFrom<crate::pb::etcdserverpb::ResponseOp> for TxnOpResponse {
    type Error = Error;

    fn try_from(raw: crate::pb::etcdserverpb::ResponseOp) -> Result<Self> {
        Ok(match raw.response {
            Some(response_op::Response::ResponseRange(r)) => TxnOpResponse::Get(r.into()),
            Some(response_op::Response::ResponsePut(r)) => TxnOpResponse::Put(r.into()),
            Some(response_op::Response::ResponseDeleteRange(r)) => TxnOpResponse::Delete(r.into()),
            Some(response_op::Response::ResponseTxn(r)) => TxnOpResponse::Txn(r.into()),
            None => return Err(Error::protocol("txn response operation without a body")),
        })
    }
}
