//! etcd's plain-HTTP endpoints on the client port: `/health`, `/metrics`, `/version`.

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

/// The body of `GET path` on the member at `addr`. Asked as HTTP/1.0, so the body is never
/// chunked (etcd chunks a large HTTP/1.1 answer such as `/metrics`, which splits its lines).
pub(crate) fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| format!("send: {e}"))?;
    let mut response = Vec::new();
    stream.take(64 << 20).read_to_end(&mut response).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no HTTP answer: {text:.200}"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{status} {body:.200}"));
    }
    Ok(body.to_string())
}
