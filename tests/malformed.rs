//! Replies that break the gRPC protocol, from an in-process HTTP/2 server
//! on loopback (a real etcd never sends them). A protocol violation is not
//! a reason to ask again: each call fails with `Protocol` after exactly one
//! request, reads and writes alike, and a stream is not opened again.
// tests/support is built on the testkit, though no etcd is started here.
#![cfg(feature = "testkit")]

mod support;

use std::time::{Duration, Instant};

use http::{Response, StatusCode};

use etcd_raw::{Client, Config, ErrorKind};
use support::fake_server::{empty_message, frame, status_headers, FakeServer, Incoming};
use support::TestResult;

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

async fn answer(reply: Reply, (_request, mut respond): Incoming) {
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
        Reply::TwoMessages => [empty_message(), empty_message()].concat().into(),
        _ => empty_message(),
    };
    let end_without_trailers = matches!(reply, Reply::NoStatus);
    if stream.send_data(body, end_without_trailers).is_err() || end_without_trailers {
        return;
    }
    let _ = stream.send_trailers(status_headers(0, ""));
}

#[tokio::test]
async fn malformed_replies_fail_after_one_request() -> TestResult {
    let deadline = Duration::from_millis(1800);
    for reply in ALL {
        let server = FakeServer::start(move |incoming| answer(reply, incoming)).await?;
        let client = Client::new(Config::new([server.endpoint()]).request_timeout(deadline)).await?;

        let started = Instant::now();
        let read = client.get("k").await;
        let error = read.err().ok_or_else(|| format!("{reply:?}: a read succeeded"))?;
        assert_eq!(error.kind(), ErrorKind::Protocol, "{reply:?}: {error}");
        assert_eq!(server.requests(), 1, "{reply:?}: a read was asked more than once");
        assert!(started.elapsed() < deadline / 2, "{reply:?}: the read took {:?}", started.elapsed());

        let write = client.put("k", "v").await;
        let error = write.err().ok_or_else(|| format!("{reply:?}: a write succeeded"))?;
        assert_eq!(error.kind(), ErrorKind::Protocol, "{reply:?}: {error}");
        assert!(error.outcome_unknown(), "{reply:?}: the write reached the server: {error}");
        assert_eq!(server.requests(), 2, "{reply:?}: a write was sent more than once");
    }
    Ok(())
}

#[tokio::test]
async fn malformed_stream_replies_end_a_watch_after_one_stream() -> TestResult {
    let deadline = Duration::from_millis(1800);
    // Two messages are fine on a stream.
    for reply in ALL.into_iter().filter(|reply| !matches!(reply, Reply::TwoMessages)) {
        let server = FakeServer::start(move |incoming| answer(reply, incoming)).await?;
        let client = Client::new(Config::new([server.endpoint()]).request_timeout(deadline)).await?;

        let started = Instant::now();
        let created = client.watch("k").timeout(deadline).await;
        let error = created.err().ok_or_else(|| format!("{reply:?}: a watch was created"))?;
        assert_eq!(error.kind(), ErrorKind::Protocol, "{reply:?}: {error}");
        assert_eq!(server.requests(), 1, "{reply:?}: the stream was opened again: {:?}", server.paths());
        assert!(started.elapsed() < deadline / 2, "{reply:?}: the create took {:?}", started.elapsed());
    }
    Ok(())
}
