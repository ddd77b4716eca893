//! Which endpoints are in the rotation. An endpoint that refuses or drops
//! connections, stops answering pings (hung), or says it has no leader is
//! taken out; a background prober dials it again with growing pauses, asks
//! it for its status, and puts it back once it answers with a leader. The
//! bookkeeping is a few atomics per endpoint, touched only on failures:
//! the hot path reads one counter.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::backoff::Backoff;
use super::policy::{self, Decision, Failure, Rule};
use super::rpc;
use super::{Shared, Transport};
use crate::error::ErrorKind;
use crate::pb::etcdserverpb::{StatusRequest, StatusResponse};

/// Pauses before probing an endpoint again: 100 ms doubling to 5 s, with
/// jitter so clients do not probe a recovering member in lockstep.
const PROBE_BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).jittered();
/// Deadline of the Status call that proves an endpoint can serve.
const PROBE_RPC_TIMEOUT: Duration = Duration::from_secs(2);

/// Why an endpoint left the rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reason {
    /// Refused, reset or unresolvable: a dial failed.
    Unreachable = 1,
    /// Accepted TCP but stopped answering pings.
    Hung = 2,
    /// Answered "no leader" (with require-leader on).
    NoLeader = 3,
    /// No longer a member (auto-sync): out for good unless it comes back.
    Retired = 4,
}

/// One endpoint's health.
#[derive(Default)]
pub(super) struct Health {
    down: AtomicBool,
    reason: AtomicU8,
    /// A prober task runs for this endpoint.
    probing: AtomicBool,
    /// The last connection was dropped because the member hung.
    hung: AtomicBool,
    /// Failed probes in a row, for the backoff.
    failures: AtomicU32,
    /// Left the cluster's member list (auto-sync); never probed.
    retired: AtomicBool,
}

impl Health {
    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    pub(super) fn reason(&self) -> Option<Reason> {
        match self.reason.load(Ordering::Relaxed) {
            1 => Some(Reason::Unreachable),
            2 => Some(Reason::Hung),
            3 => Some(Reason::NoLeader),
            4 => Some(Reason::Retired),
            _ => None,
        }
    }

    pub(super) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    pub(super) fn note_hang(&self) {
        self.hung.store(true, Ordering::Release);
    }

    pub(super) fn take_hang(&self) -> bool {
        self.hung.swap(false, Ordering::AcqRel)
    }
}

impl Transport {
    /// Takes endpoint `index` out of the rotation and starts its prober.
    pub(super) fn mark_down(&self, index: usize, reason: Reason) {
        let slot = &self.shared.slots[index];
        if slot.health.is_retired() {
            return;
        }
        slot.health.reason.store(reason as u8, Ordering::Relaxed);
        if slot.health.down.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.shared.down.fetch_add(1, Ordering::Relaxed);
            tracing::info!(endpoint = %slot.endpoint.original, ?reason, "endpoint out of the rotation");
        }
        self.ensure_prober(index);
    }

    /// Puts endpoint `index` back into the rotation (not a retired one).
    pub(super) fn mark_up(&self, index: usize) {
        let slot = &self.shared.slots[index];
        if slot.health.is_retired() {
            return;
        }
        if slot.health.down.compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.shared.down.fetch_sub(1, Ordering::Relaxed);
            slot.health.reason.store(0, Ordering::Relaxed);
            slot.health.failures.store(0, Ordering::Relaxed);
            tracing::info!(endpoint = %slot.endpoint.original, "endpoint back in the rotation");
        }
    }

    /// Takes endpoint `index` out for good: it left the cluster. Calls in
    /// flight on its connection finish; no new one goes there.
    pub(super) fn retire(&self, index: usize) {
        let slot = &self.shared.slots[index];
        if slot.health.retired.swap(true, Ordering::AcqRel) {
            return;
        }
        slot.health.reason.store(Reason::Retired as u8, Ordering::Relaxed);
        if slot.health.down.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.shared.down.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut connection) = slot.connection.lock() {
            *connection = None;
        }
        tracing::info!(endpoint = %slot.endpoint.original, "endpoint retired: no longer a member");
    }

    /// Brings a retired endpoint back (it is a member again): its prober
    /// puts it into the rotation once it answers.
    pub(super) fn unretire(&self, index: usize) {
        let slot = &self.shared.slots[index];
        if slot.health.retired.swap(false, Ordering::AcqRel) {
            tracing::info!(endpoint = %slot.endpoint.original, "endpoint is a member again");
            self.mark_down(index, Reason::Unreachable);
        }
    }

    /// Whether endpoint `index` is out of the rotation.
    pub(super) fn is_down(&self, index: usize) -> bool {
        self.shared.slots[index].health.is_down()
    }

    /// Whether endpoint `index` left the cluster.
    pub(super) fn is_retired(&self, index: usize) -> bool {
        self.shared.slots[index].health.is_retired()
    }

    /// Whether every endpoint is out of the rotation (then the ones that
    /// are down, not retired, are tried anyway).
    pub(super) fn all_down(&self) -> bool {
        self.shared.down.load(Ordering::Relaxed) >= self.shared.slots.len()
    }

    fn ensure_prober(&self, index: usize) {
        let health = &self.shared.slots[index].health;
        if health.probing.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            // Weak: a prober must not keep a dropped client's transport alive.
            tokio::spawn(probe_loop(Arc::downgrade(&self.shared), index));
        }
    }

    /// Whether endpoint `index` can serve: a connection, and a Status that
    /// names a leader. An auth refusal still proves a live member.
    async fn probe(&self, index: usize) -> bool {
        let Ok(connection) = self.connection_within(index, self.shared.dial_timeout).await else { return false };
        let status: crate::Result<StatusResponse> =
            self.once(index, &connection, &rpc::STATUS, &StatusRequest {}, PROBE_RPC_TIMEOUT).await;
        match status {
            Ok(status) => status.leader != 0,
            // A member that refuses the probe for a reason the retry rule
            // would not send a call elsewhere for (auth, say) can serve.
            Err(e) => {
                !matches!(e.kind(), ErrorKind::Protocol | ErrorKind::DeadlineExceeded | ErrorKind::Canceled)
                    && e.grpc_code().is_some()
                    && !matches!(policy::decide(Failure::Status(e), Rule::unary(&rpc::STATUS)), Decision::Next(_))
            }
        }
    }
}

async fn probe_loop(shared: Weak<Shared>, index: usize) {
    loop {
        let pause = match shared.upgrade() {
            Some(shared) => PROBE_BACKOFF.pause(shared.slots[index].health.failures.load(Ordering::Relaxed) + 1),
            None => return,
        };
        tokio::time::sleep(pause).await;
        let Some(shared) = shared.upgrade() else { return };
        let transport = Transport { shared };
        let health = &transport.shared.slots[index].health;
        if !health.is_down() || health.is_retired() {
            break;
        }
        if transport.probe(index).await {
            transport.mark_up(index);
            break;
        }
        health.failures.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(shared) = shared.upgrade() {
        let transport = Transport { shared };
        let health = &transport.shared.slots[index].health;
        health.probing.store(false, Ordering::Release);
        // Marked down again between the last check and here: probe again.
        if health.is_down() && !health.is_retired() {
            transport.ensure_prober(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_flags() {
        let health = Health::default();
        assert!(!health.is_down());
        assert_eq!(health.reason(), None);
        health.note_hang();
        assert!(health.take_hang());
        assert!(!health.take_hang());
    }
}
