//! The connection's state against a scripted server: frames in, frames
//! out, no sockets. These are the cases a real etcd rarely or never
//! produces on demand (windows run dry, a GOAWAY mid-flight, a header
//! block split over CONTINUATIONs, a concurrency limit of one).

use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

use super::error::Error;
use super::frame::{self, Frame};
use super::hpack;
use super::reason::Reason;
use super::state::{Config, State};

const CONFIG: Config = Config { stream_window: 1 << 20, connection_window: 1 << 22 };

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// A state past the handshake: our preface is taken, the server's
/// SETTINGS (`values`) applied and our ACK of them taken too.
fn connected(values: &[(u16, u32)]) -> State {
    let mut state = State::new(CONFIG);
    let sent = written(&mut state);
    assert!(sent.starts_with(frame::PREFACE));
    let mut input = BytesMut::new();
    frame::put_settings(&mut input, values);
    assert!(state.receive(&mut input).is_ok());
    assert_eq!(frames(&mut state), [Frame::Settings { ack: true, values: vec![] }]);
    state
}

fn written(state: &mut State) -> BytesMut {
    let mut out = BytesMut::new();
    state.take_out(&mut out);
    out
}

/// Everything the state has queued, as frames.
fn frames(state: &mut State) -> Vec<Frame> {
    let mut out = written(state);
    let mut frames = Vec::new();
    while let Ok(Some(frame)) = frame::decode(&mut out, frame::MAX_FRAME_SIZE_LIMIT) {
        frames.push(frame);
    }
    assert!(out.is_empty(), "a partial frame was queued");
    frames
}

fn feed(state: &mut State, build: impl FnOnce(&mut BytesMut)) -> Result<(), Error> {
    let mut input = BytesMut::new();
    build(&mut input);
    state.receive(&mut input)
}

fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = BytesMut::new();
    for (name, value) in fields {
        hpack::encode_literal(&mut block, name.as_bytes(), value.as_bytes(), false);
    }
    block.to_vec()
}

fn grpc_head() -> Vec<u8> {
    block(&[(":status", "200"), ("content-type", "application/grpc")])
}

fn ok_trailers() -> Vec<u8> {
    block(&[("grpc-status", "0")])
}

fn open(state: &mut State, body: &'static [u8], end: bool) -> u32 {
    let opened = state.open(&block(&[(":path", "/p")]), Bytes::from_static(body), end);
    opened.unwrap_or_else(|e| panic!("open failed: {e}"))
}

#[test]
fn a_unary_call_goes_out_as_headers_and_one_data_frame_and_its_answer_comes_back_whole() {
    let mut state = connected(&[]);
    let id = open(&mut state, b"request", true);
    assert_eq!(id, 1);
    let sent = frames(&mut state);
    assert!(matches!(&sent[0], Frame::Headers { stream: 1, end_stream: false, end_headers: true, .. }));
    assert!(matches!(&sent[1], Frame::Data { stream: 1, end_stream: true, data, .. } if data == &b"request"[..]));
    let fed = feed(&mut state, |input| {
        frame::put_headers(input, 1, &grpc_head(), false, 16_384);
        frame::put_data(input, 1, b"answer", false);
        frame::put_headers(input, 1, &ok_trailers(), true, 16_384);
    });
    assert!(fed.is_ok());
    let Poll::Ready(Ok(head)) = state.poll_head(id, &mut cx()) else { panic!("no head") };
    assert_eq!(head.status, 200);
    assert_eq!(head.fields.get("content-type"), Some(&b"application/grpc"[..]));
    assert!(matches!(state.poll_data(id, &mut cx()), Poll::Ready(Some(Ok(data))) if data == "answer"));
    assert!(matches!(state.poll_data(id, &mut cx()), Poll::Ready(None)));
    let Poll::Ready(Ok(Some(trailers))) = state.poll_trailers(id, &mut cx()) else { panic!("no trailers") };
    assert_eq!(trailers.get("grpc-status"), Some(&b"0"[..]));
    // Both handles gone after a complete exchange: no reset is sent.
    state.drop_ref(id);
    state.drop_ref(id);
    assert!(frames(&mut state).is_empty());
}

#[test]
fn a_stream_dropped_before_its_answer_is_reset_with_cancel() {
    let mut state = connected(&[]);
    let id = open(&mut state, b"", false);
    frames(&mut state);
    state.drop_ref(id);
    state.drop_ref(id);
    assert_eq!(frames(&mut state), [Frame::RstStream { stream: id, code: Reason::CANCEL }]);
}

#[test]
fn data_waits_for_the_servers_windows_and_goes_out_as_they_open() {
    // A stream window of 10 bytes: the rest waits for WINDOW_UPDATE.
    let mut state = connected(&[(frame::INITIAL_WINDOW_SIZE, 10)]);
    let id = open(&mut state, b"0123456789abcdef", true);
    let sent = frames(&mut state);
    assert_eq!(sent.len(), 2);
    assert!(matches!(&sent[1], Frame::Data { end_stream: false, data, .. } if data == "0123456789"));
    assert!(feed(&mut state, |input| frame::put_window_update(input, id, 4)).is_ok());
    assert!(matches!(&frames(&mut state)[..], [Frame::Data { end_stream: false, data, .. }] if data == "abcd"));
    // A larger initial window gives every stream the difference.
    assert!(feed(&mut state, |input| frame::put_settings(input, &[(frame::INITIAL_WINDOW_SIZE, 100)])).is_ok());
    let sent = frames(&mut state);
    assert!(matches!(&sent[0], Frame::Settings { ack: true, .. }));
    assert!(matches!(&sent[1], Frame::Data { end_stream: true, data, .. } if data == "ef"));
}

#[test]
fn the_connection_window_is_shared_and_blocked_streams_go_in_turn() {
    let mut state = connected(&[]);
    // Use up the connection's 65,535 bytes on one stream.
    let big = vec![7u8; 65_535];
    let first = state.open(&block(&[(":path", "/p")]), Bytes::from(big), true);
    assert!(first.is_ok());
    frames(&mut state);
    let second = open(&mut state, b"waits", true);
    assert!(matches!(&frames(&mut state)[..], [Frame::Headers { .. }]), "no data without connection window");
    assert!(feed(&mut state, |input| frame::put_window_update(input, 0, 5)).is_ok());
    assert!(
        matches!(&frames(&mut state)[..], [Frame::Data { stream, end_stream: true, data, .. }] if *stream == second && data == "waits")
    );
}

#[test]
fn over_the_servers_concurrency_limit_streams_wait_and_open_in_order() {
    let mut state = connected(&[(frame::MAX_CONCURRENT_STREAMS, 1)]);
    let first = open(&mut state, b"a", true);
    let second = open(&mut state, b"b", true);
    let sent = frames(&mut state);
    assert_eq!(sent.len(), 2, "only the first stream opens: {sent:?}");
    let done = feed(&mut state, |input| {
        frame::put_headers(input, first, &grpc_head(), false, 16_384);
        frame::put_headers(input, first, &ok_trailers(), true, 16_384);
    });
    assert!(done.is_ok());
    let sent = frames(&mut state);
    assert!(matches!(&sent[0], Frame::Headers { stream, .. } if *stream == second), "{sent:?}");
    assert!(matches!(&sent[1], Frame::Data { stream, end_stream: true, .. } if *stream == second));
}

#[test]
fn a_goaway_fails_only_the_streams_above_its_last_id_into_unprocessed() {
    let mut state = connected(&[]);
    let taken = open(&mut state, b"", false);
    let refused = open(&mut state, b"", false);
    frames(&mut state);
    assert!(feed(&mut state, |input| frame::put_goaway(input, taken, Reason::NO_ERROR, b"")).is_ok());
    let Poll::Ready(Err(error)) = state.poll_head(refused, &mut cx()) else { panic!("stream above the last id") };
    assert!(error.unprocessed(), "{error}");
    assert!(state.poll_head(taken, &mut cx()).is_pending(), "a stream the server took goes on");
    assert!(!state.accepts_streams());
    let again = state.open(&block(&[]), Bytes::new(), true);
    assert!(again.is_err_and(|e| e.unprocessed()));
}

#[test]
fn a_header_block_split_over_continuations_is_joined() {
    let mut state = connected(&[]);
    let id = open(&mut state, b"", false);
    let long = "v".repeat(40_000);
    let head = block(&[(":status", "200"), ("content-type", "application/grpc"), ("x-long", &long)]);
    assert!(feed(&mut state, |input| frame::put_headers(input, id, &head, false, 16_384)).is_ok());
    let Poll::Ready(Ok(head)) = state.poll_head(id, &mut cx()) else { panic!("no head") };
    assert_eq!(head.fields.get("x-long").map(<[u8]>::len), Some(40_000));
}

#[test]
fn pings_from_the_server_are_answered_and_ours_complete_on_their_answer() {
    let mut state = connected(&[]);
    assert!(feed(&mut state, |input| frame::put_ping(input, false, *b"12345678")).is_ok());
    assert_eq!(frames(&mut state), [Frame::Ping { ack: true, payload: *b"12345678" }]);
    let Ok(count) = state.start_ping() else { panic!("ping refused") };
    let [Frame::Ping { ack: false, payload }] = frames(&mut state)[..] else { panic!("no ping sent") };
    assert!(state.poll_ping(count, &mut cx()).is_pending());
    assert!(feed(&mut state, |input| frame::put_ping(input, true, payload)).is_ok());
    assert!(matches!(state.poll_ping(count, &mut cx()), Poll::Ready(Ok(()))));
}

/// What a case is called, and the frames it sends.
type Case = (&'static str, fn(&mut BytesMut));

#[test]
fn protocol_violations_end_the_connection_with_a_goaway_and_fail_every_waiting_stream() {
    let cases: [Case; 3] = [
        ("push promise", |input| {
            let mut payload = BytesMut::new();
            payload.extend_from_slice(&2u32.to_be_bytes());
            // PUSH_PROMISE on stream 1: type 0x5, END_HEADERS.
            input.extend_from_slice(&[0, 0, 4, 0x5, 0x4, 0, 0, 0, 1]);
            input.extend_from_slice(&payload);
        }),
        ("headers on a stream never opened", |input| frame::put_headers(input, 9, &grpc_head(), false, 16_384)),
        ("a broken header block", |input| frame::put_headers(input, 1, &[0x80], false, 16_384)),
    ];
    for (what, build) in cases {
        let mut state = connected(&[]);
        let id = open(&mut state, b"", false);
        frames(&mut state);
        assert!(feed(&mut state, build).is_err(), "{what}");
        assert!(matches!(frames(&mut state)[..], [Frame::GoAway { .. }]), "{what}");
        assert!(matches!(state.poll_head(id, &mut cx()), Poll::Ready(Err(_))), "{what}");
        assert!(!state.accepts_streams(), "{what}");
    }
}

#[test]
fn a_server_that_does_not_begin_with_settings_is_not_http2() {
    let mut state = State::new(CONFIG);
    written(&mut state);
    let mut input = BytesMut::from(&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..]);
    assert!(state.receive(&mut input).is_err());
}

#[test]
fn data_for_a_stream_already_let_go_still_returns_connection_window() {
    let mut state = connected(&[]);
    let id = open(&mut state, b"", false);
    assert!(feed(&mut state, |input| frame::put_headers(input, id, &grpc_head(), false, 16_384)).is_ok());
    state.drop_ref(id);
    state.drop_ref(id);
    frames(&mut state);
    // Half the connection window, sent after the stream went: announced
    // again, a quarter of the window at a time.
    let chunk = vec![0u8; 16_384];
    let fed = feed(&mut state, |input| {
        for _ in 0..(CONFIG.connection_window / 2 / 16_384) {
            frame::put_data(input, id, &chunk, false);
        }
    });
    assert!(fed.is_ok());
    let updates: Vec<Frame> =
        frames(&mut state).into_iter().filter(|f| matches!(f, Frame::WindowUpdate { stream: 0, .. })).collect();
    let quarter = || Frame::WindowUpdate { stream: 0, increment: CONFIG.connection_window / 4 };
    assert_eq!(updates, [quarter(), quarter()]);
}

#[test]
fn a_reset_from_the_server_reaches_the_stream_with_its_code() {
    let mut state = connected(&[]);
    let id = open(&mut state, b"", false);
    assert!(feed(&mut state, |input| frame::put_rst_stream(input, id, Reason::REFUSED_STREAM)).is_ok());
    let Poll::Ready(Err(error)) = state.poll_head(id, &mut cx()) else { panic!("the reset did not arrive") };
    assert_eq!(error.reason(), Some(Reason::REFUSED_STREAM));
    assert!(error.unprocessed());
}
