//! Plain gRPC dialed to a TLS member, or TLS dialed to a plain one. Either
//! way etcd just closes the socket (or resets it, by timing), which says
//! nothing. When a dial ends that way, one short probe asks the member in
//! the other language, and the answer names the mistake.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, ErrorKind};
use crate::transport::endpoint::Endpoint;

/// A probe waits no longer than this (a member answers at once).
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// A minimal TLS 1.2 ClientHello. Any TLS server answers it with a
/// handshake record or an alert, both starting 0x16/0x15, 0x03.
const CLIENT_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x00, 0x4b, // record: handshake, 75 bytes
    0x01, 0x00, 0x00, 0x47, // ClientHello, 71 bytes
    0x03, 0x03, // TLS 1.2
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // random
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    //
    0x00, // no session id
    0x00, 0x04, 0xc0, 0x2f, 0xc0, 0x2b, // ECDHE-RSA/ECDSA-AES128-GCM-SHA256
    0x01, 0x00, // no compression
    0x00, 0x1a, // extensions, 26 bytes
    0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17, // groups: x25519, P-256
    0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // point formats: uncompressed
    0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x01, 0x04, 0x03, // signatures: RSA and ECDSA SHA-256
];

/// The HTTP/2 client preface and an empty SETTINGS frame; an HTTP/2 server
/// answers with its own SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// The error for an `http://` (or `unix://`) endpoint whose member serves
/// TLS.
pub(super) fn speaks_tls(endpoint: &Endpoint) -> Error {
    let at = &endpoint.original;
    let secure = if endpoint.unix { "unixs://" } else { "https://" };
    Error::new(
        ErrorKind::Protocol,
        format!(
            "{at} speaks TLS: the member serves clients over TLS only; use {secure} with a TLS configuration \
             (Config::tls, feature `tls`)"
        ),
    )
    .with_endpoint(at.clone())
}

/// Whether the first bytes a server sent are a TLS record.
pub(super) fn is_tls_record(first: &[u8]) -> bool {
    matches!(first.first(), Some(0x15 | 0x16)) && first.get(1) == Some(&3)
}

/// Whether the member answers a TLS ClientHello in TLS.
pub(super) async fn answers_tls(endpoint: &Endpoint, dial_timeout: Duration) -> bool {
    exchange(endpoint, CLIENT_HELLO, dial_timeout).await.is_some_and(|reply| is_tls_record(&reply))
}

/// Whether the member answers the HTTP/2 preface with a SETTINGS frame on
/// stream 0: plain HTTP/2, no TLS.
pub(super) async fn answers_plain_http2(endpoint: &Endpoint, dial_timeout: Duration) -> bool {
    exchange(endpoint, H2_PREFACE, dial_timeout)
        .await
        .is_some_and(|reply| reply.len() >= 9 && reply[3] == 0x04 && reply[5..9] == [0, 0, 0, 0])
}

/// Sends `hello` on a new connection and returns the first bytes of the
/// answer (up to a frame header), or `None` when nothing came.
async fn exchange(endpoint: &Endpoint, hello: &[u8], dial_timeout: Duration) -> Option<Vec<u8>> {
    let talk = async {
        if endpoint.unix {
            #[cfg(unix)]
            return talk(tokio::net::UnixStream::connect(&endpoint.host).await.ok()?, hello).await;
            #[cfg(not(unix))]
            return None;
        }
        talk(tokio::net::TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await.ok()?, hello).await
    };
    tokio::time::timeout(PROBE_WAIT.min(dial_timeout), talk).await.ok().flatten()
}

async fn talk<S: AsyncRead + AsyncWrite + Unpin>(mut socket: S, hello: &[u8]) -> Option<Vec<u8>> {
    socket.write_all(hello).await.ok()?;
    let mut reply = [0u8; 9];
    let mut filled = 0;
    while filled < reply.len() {
        match socket.read(&mut reply[filled..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    (filled > 0).then(|| reply[..filled].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_hello_lengths_add_up() {
        let record = u16::from_be_bytes([CLIENT_HELLO[3], CLIENT_HELLO[4]]) as usize;
        assert_eq!(record, CLIENT_HELLO.len() - 5);
        let hello = u32::from_be_bytes([0, CLIENT_HELLO[6], CLIENT_HELLO[7], CLIENT_HELLO[8]]) as usize;
        assert_eq!(hello, CLIENT_HELLO.len() - 9);
        let extensions = u16::from_be_bytes([CLIENT_HELLO[52], CLIENT_HELLO[53]]) as usize;
        assert_eq!(extensions, CLIENT_HELLO.len() - 54);
        assert!(is_tls_record(&[0x15, 0x03, 0x03]) && !is_tls_record(b"HTTP/1.1"));
    }
}
