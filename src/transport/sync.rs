//! Auto-sync: the endpoint list follows the cluster's voting members, as
//! MemberList reports their client URLs (Go's `AutoSyncInterval` and
//! `Sync`). New members are added, members gone are retired; learners are
//! left out, since they serve only serializable reads. Endpoints the user
//! gave that no member advertises (a load balancer, a proxy) are kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::endpoint::Endpoint;
use super::rpc;
use super::{Shared, Transport};
use crate::error::Result;
use crate::pb::etcdserverpb::{Member, MemberListRequest, MemberListResponse};

impl Transport {
    /// Syncs every `interval` for as long as the client lives.
    pub(super) fn start_auto_sync(&self, interval: Duration) {
        tokio::spawn(sync_loop(Arc::downgrade(&self.shared), interval));
    }

    /// Replaces the endpoint list with the client URLs of the voting
    /// members. An empty or unusable list (no URL this client can dial)
    /// changes nothing.
    pub(crate) async fn sync_endpoints(&self) -> Result<()> {
        let ticket = self.shared.syncs.start();
        // Linearizable, as Go's client asks: a member's own view can be stale
        // and would bring back members already removed.
        let list: MemberListResponse =
            self.unary(&rpc::MEMBER_LIST, &MemberListRequest { linearizable: true }, None).await?;
        let tls = self.shared.tls.is_some();
        let wanted: Vec<Endpoint> =
            voting_client_urls(&list.members).iter().filter_map(|url| Endpoint::parse(url, tls).ok()).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        self.shared.syncs.apply_if_newest(ticket, || self.follow_members(&wanted));
        Ok(())
    }
}

/// Orders syncs by when they asked. The auto-sync loop and a caller's
/// `sync()` can overlap; without this, an answer asked for before a member
/// was removed could land after the answer that left it out, and bring the
/// member back.
#[derive(Default)]
pub(super) struct SyncOrder {
    started: AtomicU64,
    /// The ticket of the last list applied.
    applied: Mutex<u64>,
}

impl SyncOrder {
    fn start(&self) -> u64 {
        self.started.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Runs `apply` unless a sync that asked later has applied already.
    fn apply_if_newest(&self, ticket: u64, apply: impl FnOnce()) {
        // A poisoned lock only means an earlier apply panicked; the ticket
        // it guards is still a plain number.
        let mut applied = self.applied.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if ticket > *applied {
            *applied = ticket;
            apply();
        }
    }
}

async fn sync_loop(shared: Weak<Shared>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(shared) = shared.upgrade() else { return };
        let transport = Transport { shared };
        if transport.is_closed() {
            return;
        }
        if let Err(e) = transport.sync_endpoints().await {
            tracing::debug!(error = %e, "endpoint sync failed; the list stays as it is");
        }
    }
}

/// The client URLs of the voting members, in list order, without repeats.
fn voting_client_urls(members: &[Member]) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for url in members.iter().filter(|m| !m.is_learner).flat_map(|m| m.client_ur_ls.iter()) {
        if !urls.contains(url) {
            urls.push(url.clone());
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, urls: &[&str], is_learner: bool) -> Member {
        Member {
            id,
            name: format!("m{id}"),
            peer_ur_ls: Vec::new(),
            client_ur_ls: urls.iter().map(|u| u.to_string()).collect(),
            is_learner,
        }
    }

    #[test]
    fn an_older_answer_never_overrides_a_newer_one() {
        let order = SyncOrder::default();
        let (first, second) = (order.start(), order.start());
        let mut applied = Vec::new();
        order.apply_if_newest(second, || applied.push(second));
        order.apply_if_newest(first, || applied.push(first));
        assert_eq!(applied, [second]);
        let third = order.start();
        order.apply_if_newest(third, || applied.push(third));
        assert_eq!(applied, [second, third]);
    }

    #[test]
    fn learners_and_unstarted_members_are_left_out() {
        let members = [
            member(1, &["http://10.0.0.1:2379"], false),
            member(2, &["http://10.0.0.2:2379", "http://10.0.1.2:2379"], false),
            member(3, &["http://10.0.0.3:2379"], true),
            member(4, &[], false),
            member(5, &["http://10.0.0.1:2379"], false),
        ];
        assert_eq!(
            voting_client_urls(&members),
            ["http://10.0.0.1:2379", "http://10.0.0.2:2379", "http://10.0.1.2:2379"]
        );
    }
}
