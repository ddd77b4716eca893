//! etcd's `GET /health` over a plain HTTP/1.1 connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Asks the member at `addr` for `/health`; `Ok` if it answers 200 with `"health":"true"`,
/// else a short reason (refused, timed out, or the answer it gave).
pub(crate) fn check(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let request =
        format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| format!("send: {e}"))?;
    let mut response = Vec::new();
    // Connection: close, so the server ends the body by closing; cap what we keep.
    stream.take(64 * 1024).read_to_end(&mut response).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let status_ok = text.lines().next().is_some_and(|l| l.split_whitespace().nth(1) == Some("200"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let healthy = body.replace(' ', "").contains(r#""health":"true""#);
    if status_ok && healthy {
        Ok(())
    } else {
        let status = text.lines().next().unwrap_or("no answer").trim().to_string();
        Err(format!("{status} {}", body.trim()))
    }
}
