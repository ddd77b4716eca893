//! A TCP proxy on 127.0.0.1 that tests can cut or block, in front of an etcd member.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::error::TestkitError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A TCP proxy on 127.0.0.1 in front of `target`; point a client at [`url`](Proxy::url).
///
/// Each accepted connection is forwarded to the target by two threads (one per direction).
/// Dropping the proxy closes its listener and every connection.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    blocked: bool,
    stopped: bool,
    /// Bumped by `cut`, so a connection held or being set up at that moment is dropped too.
    generation: u64,
    accepted: u64,
    next_id: u64,
    conns: HashMap<u64, Conn>,
    /// etcd members (by id) whose peer connections are refused and cut.
    refused_senders: Vec<String>,
    /// The id of the member behind the proxy, as its peers address it.
    peer_target: Option<String>,
}

#[derive(Debug)]
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    /// Directions that have finished; the entry goes when both have.
    done: u8,
    /// For a connection between etcd members: the member that opened it.
    sender: Option<String>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `target`.
    pub fn start(target: SocketAddr) -> Result<Proxy, TestkitError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| TestkitError::io("bind the proxy to 127.0.0.1:0", e))?;
        let addr = listener.local_addr().map_err(|e| TestkitError::io("read the proxy's address", e))?;
        let shared = Arc::new(Shared::default());
        let for_thread = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name(format!("etcd-raw-proxy-{}", addr.port()))
            .spawn(move || accept_loop(listener, target, for_thread))
            .map_err(|e| TestkitError::io("start the proxy thread", e))?;
        Ok(Proxy { addr, target, shared, acceptor: Some(acceptor) })
    }

    /// The proxy's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// The proxy's listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address it forwards to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Closes every current connection in both directions (the client sees the server close);
    /// new connections are accepted as before.
    pub fn cut(&self) {
        let mut state = self.shared.lock();
        state.generation += 1;
        for (_, conn) in state.conns.drain() {
            let _ = conn.client.shutdown(Shutdown::Both);
            let _ = conn.upstream.shutdown(Shutdown::Both);
        }
        self.shared.changed.notify_all();
    }

    /// While `true`, new connections are held: the kernel completes the handshake, but no
    /// byte is forwarded until `block(false)` (or dropped by `cut`). Current ones keep flowing.
    pub fn block(&self, blocked: bool) {
        self.shared.lock().blocked = blocked;
        self.shared.changed.notify_all();
    }

    /// How many connections the proxy accepted so far, held ones included.
    pub fn connections(&self) -> u64 {
        self.shared.lock().accepted
    }

    /// Refuses (and cuts) peer connections opened by the etcd member with
    /// id `sender` (hex, as etcd writes it in `X-Server-From`), or accepts
    /// them again.
    pub(crate) fn refuse_sender(&self, sender: &str, refused: bool) {
        let mut state = self.shared.lock();
        state.refused_senders.retain(|s| s != sender);
        if !refused {
            return;
        }
        state.refused_senders.push(sender.to_string());
        let refused: Vec<u64> = state
            .conns
            .iter()
            .filter(|(_, c)| c.sender.as_deref().is_some_and(|s| state.refused_senders.iter().any(|r| r == s)))
            .map(|(id, _)| *id)
            .collect();
        for id in refused {
            if let Some(conn) = state.conns.remove(&id) {
                let _ = conn.client.shutdown(Shutdown::Both);
                let _ = conn.upstream.shutdown(Shutdown::Both);
            }
        }
    }

    /// The id of the etcd member behind this proxy, once a peer has
    /// addressed it (`X-Raft-To`).
    pub(crate) fn peer_target(&self) -> Option<String> {
        self.shared.lock().peer_target.clone()
    }

    /// How many connections are being forwarded right now.
    pub fn active(&self) -> usize {
        self.shared.lock().conns.len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.cut();
        // Wake the acceptor from `accept` with a connection of our own, then wait for it.
        let woke = TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT).is_ok();
        if let Some(acceptor) = self.acceptor.take() {
            if woke {
                let _ = acceptor.join();
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        let generation = {
            let mut state = shared.lock();
            if state.stopped {
                return;
            }
            if accepted.is_ok() {
                state.accepted += 1;
            }
            let generation = state.generation;
            while state.blocked && !state.stopped && state.generation == generation {
                state = shared.changed.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if state.stopped {
                return;
            }
            generation
        };
        match accepted {
            Ok((client, _)) => forward(client, target, generation, &shared),
            // E.g. out of file descriptors: back off instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Connects `client` to `target` and starts the two pumps; drops `client` if anything fails.
fn forward(client: TcpStream, target: SocketAddr, generation: u64, shared: &Arc<Shared>) {
    let Ok(upstream) = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(c2), Ok(u2), Ok(c3), Ok(u3)) =
        (client.try_clone(), upstream.try_clone(), client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let id = {
        let mut state = shared.lock();
        if state.generation != generation || state.stopped {
            return; // cut while we were connecting
        }
        let id = state.next_id;
        state.next_id += 1;
        state.conns.insert(id, Conn { client: c3, upstream: u3, done: 0, sender: None });
        id
    };
    let spawn = |from: TcpStream, to: TcpStream, outbound: bool| {
        let shared = Arc::clone(shared);
        thread::Builder::new().name("etcd-raw-proxy-pump".into()).spawn(move || pump(from, to, id, outbound, &shared))
    };
    if spawn(client, u2, true).is_err() || spawn(upstream, c2, false).is_err() {
        if let Some(conn) = shared.lock().conns.remove(&id) {
            let _ = conn.client.shutdown(Shutdown::Both);
            let _ = conn.upstream.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` until end of stream (passed on as a half close) or an error (closes both).
/// On the `outbound` side (client to target), the first bytes are read for the peer headers
/// of etcd's member-to-member HTTP requests.
fn pump(mut from: TcpStream, mut to: TcpStream, id: u64, outbound: bool, shared: &Shared) {
    let mut buf = [0u8; 16 * 1024];
    let mut first = outbound;
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                break;
            }
            Ok(n) => {
                if std::mem::take(&mut first) && !admit_peer(&buf[..n], id, shared) {
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                    break;
                }
                if to.write_all(&buf[..n]).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                let _ = from.shutdown(Shutdown::Both);
                let _ = to.shutdown(Shutdown::Both);
                break;
            }
        }
    }
    let mut state = shared.lock();
    let finished = state.conns.get_mut(&id).map(|conn| {
        conn.done += 1;
        conn.done >= 2
    });
    if finished == Some(true) {
        state.conns.remove(&id);
    }
}

/// Notes who opened a connection between etcd members and whom it addresses, from the
/// `X-Server-From` and `X-Raft-To` headers of its first request; false if the sender is refused.
fn admit_peer(head: &[u8], id: u64, shared: &Shared) -> bool {
    let sender = header(head, "x-server-from");
    let mut state = shared.lock();
    if let Some(target) = header(head, "x-raft-to") {
        state.peer_target = Some(target);
    }
    let Some(sender) = sender else { return true };
    if state.refused_senders.contains(&sender) {
        state.conns.remove(&id);
        return false;
    }
    if let Some(conn) = state.conns.get_mut(&id) {
        conn.sender = Some(sender);
    }
    true
}

/// The value of header `name` (lower case) in an HTTP/1.1 request head.
fn header(head: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let end = text.find("\r\n\r\n").unwrap_or(text.len());
    text[..end].lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
    })
}
