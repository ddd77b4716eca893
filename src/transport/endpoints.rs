//! The endpoint list at run time: what the user sets (Go's `SetEndpoints`)
//! and what auto-sync finds. The slot list only grows, so an endpoint that
//! goes is retired, and one that comes back is brought back.

use std::sync::atomic::Ordering;

use super::endpoint::Endpoint;
use super::slots::Slot;
use super::Transport;
use crate::error::{Error, Result};

impl Transport {
    /// Makes `endpoints` the client's endpoint list: new ones are dialed,
    /// ones left out are drained (see [`drain`](Self::drain)).
    pub(crate) fn set_endpoints(&self, endpoints: &[String]) -> Result<()> {
        let wanted = self.parse_all(endpoints)?;
        if wanted.is_empty() {
            return Err(Error::invalid_argument("set_endpoints needs at least one endpoint"));
        }
        let kept = self.add_all(&wanted);
        let slots = &self.shared.slots;
        for index in 0..slots.len() {
            if !kept.contains(&index) {
                self.drain(index);
            }
        }
        Ok(())
    }

    /// Adds `endpoint` to the list (or brings it back), and dials it.
    pub(crate) fn add_endpoint(&self, endpoint: &str) -> Result<()> {
        let wanted = self.parse_all(&[endpoint.to_string()])?;
        self.add_all(&wanted);
        Ok(())
    }

    /// Takes `endpoint` out of the list; the last one cannot go.
    pub(crate) fn remove_endpoint(&self, endpoint: &str) -> Result<()> {
        let super::EndpointId(index) = self.endpoint_id(endpoint)?;
        if self.live_endpoint_count() <= 1 {
            return Err(Error::invalid_argument(format!(
                "{endpoint} is the client's last endpoint; add another before removing it"
            )));
        }
        self.drain(index);
        Ok(())
    }

    /// Follows the members' client URLs (auto-sync): adds the new, retires
    /// the members gone, keeps what no member ever advertised (a proxy).
    pub(super) fn follow_members(&self, wanted: &[Endpoint]) {
        let kept = self.add_all(wanted);
        let slots = &self.shared.slots;
        for &index in &kept {
            slots[index].member.store(true, Ordering::Relaxed);
        }
        for index in 0..slots.len() {
            if !kept.contains(&index) && slots[index].member.load(Ordering::Relaxed) {
                self.retire(index);
            }
        }
    }

    /// Makes sure every endpoint of `wanted` has a slot in the rotation:
    /// brings back retired ones, appends and dials new ones. Returns their
    /// indexes.
    fn add_all(&self, wanted: &[Endpoint]) -> Vec<usize> {
        let slots = &self.shared.slots;
        let (kept, added) = slots.growing(|append| {
            let mut kept = Vec::new();
            let mut added = Vec::new();
            for endpoint in wanted {
                match slots.iter().position(|s| s.is(endpoint)) {
                    Some(index) => {
                        self.unretire(index);
                        kept.push(index);
                    }
                    None => match append(Slot::new(endpoint.clone())) {
                        Some(index) => {
                            kept.push(index);
                            added.push(index);
                        }
                        None => {
                            tracing::warn!(endpoint = %endpoint.original, "too many endpoints over time; not added")
                        }
                    },
                }
            }
            (kept, added)
        });
        for index in added {
            tracing::info!(endpoint = %slots[index].endpoint.original, "endpoint added");
            self.start_dial(index);
        }
        kept
    }

    /// Takes endpoint `index` out of the rotation at once. Calls in flight
    /// on it get the rest of their deadline; then its connection ends, and
    /// the streams still on it reopen on another endpoint from where they
    /// stopped, as after any failure.
    fn drain(&self, index: usize) {
        let connection = self.shared.slots[index].live();
        self.retire(index);
        if let Some(connection) = connection {
            let grace = self.shared.request_timeout;
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                connection.shutdown();
            });
        }
    }

    fn parse_all(&self, endpoints: &[String]) -> Result<Vec<Endpoint>> {
        let tls = self.shared.tls.is_some();
        endpoints.iter().map(|e| Endpoint::parse(e, tls)).collect()
    }
}
