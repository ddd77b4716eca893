//! Free TCP ports on 127.0.0.1.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, OnceLock};

use super::error::TestkitError;

/// Ports this process handed out already; never handed out twice, so parallel tests
/// in one process do not pick the same port between our `bind` and etcd's.
static TAKEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();

/// Returns `n` distinct ports that were free a moment ago. Another process may still take
/// one before etcd binds it; callers retry with new ports when etcd reports the address in use.
pub(crate) fn free_ports(n: usize) -> Result<Vec<u16>, TestkitError> {
    let taken = TAKEN.get_or_init(|| Mutex::new(HashSet::new()));
    let mut taken = taken.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Hold every listener until all ports are chosen, so the kernel gives distinct ones.
    let mut held = Vec::with_capacity(n);
    let mut ports = Vec::with_capacity(n);
    let mut tries = 0;
    while ports.len() < n {
        tries += 1;
        if tries > 100 + 10 * n {
            return Err(TestkitError::state("testkit: found no free port on 127.0.0.1 after 100 tries"));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| TestkitError::io("bind 127.0.0.1:0 to find a free port", e))?;
        let port = listener.local_addr().map_err(|e| TestkitError::io("read the port of 127.0.0.1:0", e))?.port();
        if taken.insert(port) {
            ports.push(port);
        }
        held.push(listener);
    }
    Ok(ports)
}
