//! An in-process HTTP/2 server on loopback that answers gRPC requests the
//! way a test tells it to: for replies a real etcd never sends (malformed
//! ones), or sends only in states that are hard to reach on demand (a
//! stream refused under load). It counts the requests it receives, so a
//! test can tell one attempt from a retry loop.

use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use h2::server::SendResponse;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use tokio::net::TcpListener;

/// One request as the fake received it, before it answers.
pub type Incoming = (Request<h2::RecvStream>, SendResponse<Bytes>);

/// A running fake server; it stops with the test's runtime.
pub struct FakeServer {
    endpoint: String,
    paths: Arc<Mutex<Vec<String>>>,
}

impl FakeServer {
    /// Starts a server on 127.0.0.1 that hands every request to `answer`.
    pub async fn start<F, Fut>(answer: F) -> Result<FakeServer, std::io::Error>
    where
        F: Fn(Incoming) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&paths);
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                let answer = Arc::clone(&answer);
                tokio::spawn(async move {
                    let Ok(mut connection) = h2::server::handshake(socket).await else { return };
                    while let Some(Ok((request, respond))) = connection.accept().await {
                        if let Ok(mut paths) = seen.lock() {
                            paths.push(request.uri().path().to_string());
                        }
                        tokio::spawn(answer((request, respond)));
                    }
                });
            }
        });
        Ok(FakeServer { endpoint, paths })
    }

    /// Its client URL.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// How many requests (HTTP/2 streams) it received.
    pub fn requests(&self) -> usize {
        self.paths.lock().map_or(0, |paths| paths.len())
    }

    /// The paths of the requests it received, oldest first.
    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().map_or_else(|_| Vec::new(), |paths| paths.clone())
    }
}

/// A listener that accepts connections and never speaks: a member whose
/// dial hangs. Returns its client URL.
pub async fn silent_endpoint() -> Result<String, std::io::Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    Ok(endpoint)
}

/// A gRPC frame: flag, big-endian length, payload.
pub fn frame(compressed: bool, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(5 + payload.len());
    buf.put_u8(u8::from(compressed));
    buf.put_u32(u32::try_from(payload.len()).expect("a test frame under 4 GiB"));
    buf.put_slice(payload);
    buf.freeze()
}

/// An empty message: valid for every etcd response type.
pub fn empty_message() -> Bytes {
    frame(false, &[])
}

/// Trailers carrying grpc-status `code` and, unless empty, `message`.
pub fn status_headers(code: u32, message: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("grpc-status", HeaderValue::from(code));
    if let Ok(value) = HeaderValue::from_str(message) {
        if !message.is_empty() {
            headers.insert("grpc-message", value);
        }
    }
    headers
}

/// Response headers of a gRPC answer.
fn grpc_head() -> Response<()> {
    let mut head = Response::new(());
    *head.status_mut() = StatusCode::OK;
    head.headers_mut().insert("content-type", HeaderValue::from_static("application/grpc"));
    head
}

/// Answers as etcd does to a call that succeeded: an empty message, which
/// every response type decodes, then status 0.
pub async fn answer_ok((_request, mut respond): Incoming) {
    let Ok(mut stream) = respond.send_response(grpc_head(), false) else { return };
    if stream.send_data(empty_message(), false).is_ok() {
        let _ = stream.send_trailers(status_headers(0, ""));
    }
}

/// Answers with an error status and no message, in the headers
/// (trailers-only), as grpc-go does when an interceptor refuses a call.
pub async fn answer_status((_request, mut respond): Incoming, code: u32, message: &'static str) {
    let mut head = grpc_head();
    head.headers_mut().extend(status_headers(code, message));
    let _ = respond.send_response(head, true);
}

/// Refuses the stream with RST_STREAM REFUSED_STREAM, before reading or
/// answering anything: HTTP/2's promise that nothing was processed.
pub async fn refuse_stream((_request, mut respond): Incoming) {
    respond.send_reset(h2::Reason::REFUSED_STREAM);
}
