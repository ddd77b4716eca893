//! Election: campaign for leadership with a session, proclaim, resign.

use crate::IntoBytes;
use bytes::Bytes;
use tokio::task::JoinHandle;

use super::wait::wait_for_turn;
use super::{queue_key, queue_prefix, retrying, session, settle, unless_expired, Abandon, Session};
use crate::election::{LeaderResponse, Observe};
use crate::error::{Error, ErrorKind, Result};
use crate::kv::{Compare, CompareOp, Delete, Get, Put, ResponseHeader, SortOrder, SortTarget, TxnOpResponse};
use crate::pb::v3electionpb::LeaderResponse as RawLeaderResponse;

/// A candidate in a named election, with a [`Session`] (Go's
/// `concurrency.Election`).
///
/// Candidates are elected in the order they campaigned (by the create
/// revision of their key `<name>/<lease in hex>`); the leader's key holds
/// the value it proclaims. Leadership lasts until [`resign`](Election::resign)
/// or until the session is lost; [`revision`](Election::revision) is the
/// term's fencing token.
pub struct Election {
    session: Session,
    name: Bytes,
    prefix: Bytes,
    key: Bytes,
    leader: Option<Term>,
    /// Removal of a key left by a failed or dropped campaign.
    cleanup: Option<JoinHandle<()>>,
}

#[derive(Clone, Copy, Debug)]
struct Term {
    revision: i64,
    header: ResponseHeader,
}

impl Election {
    /// Election `name`, for candidates of `session`.
    pub fn new(session: &Session, name: impl IntoBytes) -> Election {
        let name = name.into_bytes();
        let prefix = queue_prefix(name.clone());
        let key = queue_key(&prefix, session.lease());
        Election { session: session.clone(), name, prefix, key, leader: None, cleanup: None }
    }

    /// Campaigns with `value` and returns once elected (Go's `Campaign`),
    /// waiting as long as it takes: bound it with `tokio::time::timeout` if
    /// needed. Dropping the future withdraws the candidacy. Fails with
    /// [`SessionExpired`](ErrorKind::SessionExpired) when the session is
    /// lost first, never with a leadership that is not held. Campaigning
    /// as leader proclaims `value`.
    pub async fn campaign(&mut self, value: impl IntoBytes) -> Result<()> {
        let value = value.into_bytes();
        let Election { session, prefix, key, leader, cleanup, .. } = self;
        settle(cleanup).await;
        if session.is_expired() {
            *leader = None;
            return Err(session.expired_error());
        }
        let client = session.client();
        let lease = session.lease();
        let mut abandon = Abandon::new(cleanup, session, key);
        if leader.is_some() {
            // A leader campaigning again must not lose its key on failure.
            abandon.disarm();
        }
        let elected = unless_expired(session, async {
            let response = retrying(|| {
                client
                    .txn()
                    .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                    .and_then([Put::new(key.clone(), value.clone()).lease(lease)])
                    .or_else([Get::new(key.clone())])
            })
            .await
            .map_err(|e| {
                if e.kind() == ErrorKind::LeaseNotFound {
                    session::expired(lease, Some(&e))
                } else {
                    e
                }
            })?;
            let revision = if response.succeeded() {
                response.header().revision()
            } else {
                let ours = match response.op_responses()?.into_iter().next() {
                    Some(TxnOpResponse::Get(ours)) => ours.into_kvs().into_iter().next(),
                    _ => None,
                };
                let ours =
                    ours.ok_or_else(|| Error::protocol("campaign transaction: our key is neither created nor found"))?;
                abandon.revision = Some(ours.create_revision());
                if ours.value() != value {
                    let term = Compare::create_revision(key.clone(), CompareOp::Equal, ours.create_revision());
                    let update = retrying(|| {
                        client.txn().when([term.clone()]).and_then([Put::new(key.clone(), value.clone()).lease(lease)])
                    })
                    .await?;
                    if !update.succeeded() {
                        return Err(session::expired(lease, None));
                    }
                }
                ours.create_revision()
            };
            abandon.revision = Some(revision);
            let header = wait_for_turn(client, prefix, key, revision, lease).await?;
            Ok(Term { revision, header })
        })
        .await;
        match elected {
            Ok(term) => {
                abandon.disarm();
                *leader = Some(term);
                Ok(())
            }
            Err(e) => {
                if e.kind() == ErrorKind::SessionExpired {
                    *leader = None;
                }
                Err(e)
            }
        }
    }

    /// Sets the leader's value (Go's `Proclaim`). Fails with
    /// [`ElectionNotLeader`](ErrorKind::ElectionNotLeader) when this
    /// candidate does not lead (any more: its key is checked in the same
    /// transaction).
    pub async fn proclaim(&mut self, value: impl IntoBytes) -> Result<()> {
        let Some(term) = self.leader else {
            return Err(not_leader("this candidate is not the leader"));
        };
        if self.session.is_expired() {
            self.leader = None;
            return Err(self.session.expired_error());
        }
        let response = self
            .session
            .client()
            .txn()
            .when([Compare::create_revision(self.key.clone(), CompareOp::Equal, term.revision)])
            .and_then([Put::new(self.key.clone(), value).lease(self.session.lease())])
            .await?;
        if !response.succeeded() {
            self.leader = None;
            return Err(not_leader("the leader key is gone: leadership was lost with the session's lease"));
        }
        self.leader = Some(Term { revision: term.revision, header: response.header() });
        Ok(())
    }

    /// Gives up leadership (Go's `Resign`), letting the next candidate in;
    /// nothing to do when not leader. After an error the leadership is
    /// still taken to be held, so `resign` may be called again.
    pub async fn resign(&mut self) -> Result<()> {
        settle(&mut self.cleanup).await;
        let Some(term) = self.leader else { return Ok(()) };
        self.session
            .client()
            .txn()
            .when([Compare::create_revision(self.key.clone(), CompareOp::Equal, term.revision)])
            .and_then([Delete::new(self.key.clone())])
            .await?;
        self.leader = None;
        Ok(())
    }

    /// The current leader, whoever it is (Go's `Leader`); fails with
    /// [`ElectionNoLeader`](ErrorKind::ElectionNoLeader) when there is none.
    pub async fn leader(&self) -> Result<LeaderResponse> {
        let first = Get::new(self.prefix.clone()).prefix().sort(SortTarget::Create, SortOrder::Ascend).limit(1);
        let response = self.session.client().txn().and_then([first]).await?;
        let header = response.header();
        let kv = match response.op_responses()?.into_iter().next() {
            Some(TxnOpResponse::Get(got)) => got.into_kvs().into_iter().next(),
            _ => None,
        };
        let Some(kv) = kv else {
            return Err(Error::new(ErrorKind::ElectionNoLeader, "election: no leader"));
        };
        Ok(LeaderResponse::from(RawLeaderResponse { header: Some(header.into()), kv: Some(kv.into()) }))
    }

    /// The leaders and their values, in order (Go's `Observe`); see
    /// [`ObserveStream`](crate::election::ObserveStream).
    pub fn observe(&self) -> Observe {
        self.session.client().observe(self.name.clone())
    }

    /// While leader: the leader key (Go's `Key`).
    pub fn key(&self) -> Option<&Bytes> {
        self.leader.map(|_| &self.key)
    }

    /// While leader: the create revision of the leader key (Go's `Rev`),
    /// the fencing token of this term.
    pub fn revision(&self) -> Option<i64> {
        self.leader.map(|term| term.revision)
    }

    /// While leader: the header of the last read or write that showed the
    /// leadership (Go's `Header`).
    pub fn header(&self) -> Option<ResponseHeader> {
        self.leader.map(|term| term.header)
    }

    /// The session the candidacy belongs to.
    pub fn session(&self) -> &Session {
        &self.session
    }
}

impl std::fmt::Debug for Election {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Election")
            .field("name", &String::from_utf8_lossy(&self.name))
            .field("revision", &self.revision())
            .finish()
    }
}

fn not_leader(why: &str) -> Error {
    Error::new(ErrorKind::ElectionNotLeader, format!("election: not leader: {why}"))
}
