//! Replies that break the gRPC protocol, from an in-process HTTP/2 server
//! on loopback (a real etcd never sends them). A protocol violation is not
//! a reason to ask again: each call fails with `Protocol` after exactly one
//! request, reads and writes alike.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use tokio::net::TcpListener;

use etcd_raw::{Client, Config, ErrorKind};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// What the fake server answers every request with.
#[derive(Clone, Copy, Debug)]
enum Reply {
    /// A frame whose payload is not protobuf.
    NotProtobuf,
    /// A valid message with the compressed flag set.
    Compressed,
    /// A valid message, then the stream ends without trailers.
    NoStatus,
    /// HTTP 500, no gRPC at all.
    Http500,
    /// A valid message and status, labelled `application/json`.
    WrongContentType,
    /// Two messages where a unary call has one.
    TwoMessages,
}

const ALL: [Reply; 6] = [
    Reply::NotProtobuf,
    Reply::Compressed,
    Reply::NoStatus,
    Reply::Http500,
    Reply::WrongContentType,
    Reply::TwoMessages,
];

/// A gRPC frame: flag, big-endian length, payload.
fn frame(compressed: bool, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(5 + payload.len());
    buf.put_u8(u8::from(compressed));
    buf.put_u32(payload.len() as u32);
    buf.put_slice(payload);
    buf.freeze()
}

/// An empty message: valid for every etcd response type.
fn empty() -> Bytes {
    frame(false, &[])
}

fn ok_trailers() -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    trailers
}

/// A fake server on 127.0.0.1 answering with `reply`; counts requests.
async fn fake_server(reply: Reply) -> Result<(String, Arc<AtomicUsize>), std::io::Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(socket).await else { return };
                while let Some(Ok((_request, respond))) = connection.accept().await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(answer(reply, respond));
                }
            });
        }
    });
    Ok((endpoint, requests))
}

async fn answer(reply: Reply, mut respond: h2::server::SendResponse<Bytes>) {
    let content_type = match reply {
        Reply::WrongContentType => "application/json",
        _ => "application/grpc",
    };
    let status = match reply {
        Reply::Http500 => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::OK,
    };
    let Ok(head) = Response::builder().status(status).header("content-type", content_type).body(()) else { return };
    if let Reply::Http500 = reply {
        let _ = respond.send_response(head, true);
        return;
    }
    let Ok(mut stream) = respond.send_response(head, false) else { return };
    let body = match reply {
        Reply::NotProtobuf => frame(false, &[0xff; 7]),
        Reply::Compressed => frame(true, &[]),
        Reply::TwoMessages => [empty(), empty()].concat().into(),
        _ => empty(),
    };
    let end_without_trailers = matches!(reply, Reply::NoStatus);
    if stream.send_data(body, end_without_trailers).is_err() || end_without_trailers {
        return;
    }
    let _ = stream.send_trailers(ok_trailers());
}

#[tokio::test]
async fn malformed_replies_fail_after_one_request() -> TestResult {
    let deadline = Duration::from_millis(1800);
    for reply in ALL {
        let (endpoint, requests) = fake_server(reply).await?;
        let client = Client::new(Config::new([endpoint]).request_timeout(deadline)).await?;

        let started = Instant::now();
        let read = client.get("k").await;
        let error = read.err().ok_or_else(|| format!("{reply:?}: a read succeeded"))?;
        assert_eq!(error.kind(), ErrorKind::Protocol, "{reply:?}: {error}");
        assert_eq!(requests.load(Ordering::SeqCst), 1, "{reply:?}: a read was asked more than once");
        assert!(started.elapsed() < deadline / 2, "{reply:?}: the read took {:?}", started.elapsed());

        let write = client.put("k", "v").await;
        let error = write.err().ok_or_else(|| format!("{reply:?}: a write succeeded"))?;
        assert_eq!(error.kind(), ErrorKind::Protocol, "{reply:?}: {error}");
        assert!(error.outcome_unknown(), "{reply:?}: the write reached the server: {error}");
        assert_eq!(requests.load(Ordering::SeqCst), 2, "{reply:?}: a write was sent more than once");
    }
    Ok(())
}
