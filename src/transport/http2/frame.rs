//! HTTP/2 frames (RFC 9113, sections 4 and 6): decoding with the validation a client owes its
//! peer, and encoding of the frames a client sends.
//!
//! Decoding works on the connection's read buffer: a whole frame is split off it without copying
//! its payload. What this module checks is what a single frame can tell; stream states, flow
//! control windows and header-block sequencing belong to the connection.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::reason::Reason;

/// The client connection preface (RFC 9113, 3.4), sent before the first SETTINGS frame.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Length of the fixed frame header: 24-bit length, type, flags, 32-bit stream id.
pub(crate) const HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE until a peer says otherwise, and the least it may say.
pub(crate) const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// The largest SETTINGS_MAX_FRAME_SIZE allowed: what the 24-bit length field can carry.
pub(crate) const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;
/// The largest flow-control window (RFC 9113, 6.9.1).
pub(crate) const MAX_WINDOW: u32 = (1 << 31) - 1;

/// SETTINGS identifier: SETTINGS_HEADER_TABLE_SIZE.
pub(crate) const HEADER_TABLE_SIZE: u16 = 0x1;
/// SETTINGS identifier: SETTINGS_ENABLE_PUSH.
pub(crate) const ENABLE_PUSH: u16 = 0x2;
/// SETTINGS identifier: SETTINGS_MAX_CONCURRENT_STREAMS.
pub(crate) const MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// SETTINGS identifier: SETTINGS_INITIAL_WINDOW_SIZE.
pub(crate) const INITIAL_WINDOW_SIZE: u16 = 0x4;
/// SETTINGS identifier: SETTINGS_MAX_FRAME_SIZE.
pub(crate) const MAX_FRAME_SIZE: u16 = 0x5;
/// SETTINGS identifier: SETTINGS_MAX_HEADER_LIST_SIZE.
pub(crate) const MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// Frame type codes (RFC 9113, 6).
mod kind {
    pub(super) const DATA: u8 = 0x0;
    pub(super) const HEADERS: u8 = 0x1;
    pub(super) const PRIORITY: u8 = 0x2;
    pub(super) const RST_STREAM: u8 = 0x3;
    pub(super) const SETTINGS: u8 = 0x4;
    pub(super) const PUSH_PROMISE: u8 = 0x5;
    pub(super) const PING: u8 = 0x6;
    pub(super) const GOAWAY: u8 = 0x7;
    pub(super) const WINDOW_UPDATE: u8 = 0x8;
    pub(super) const CONTINUATION: u8 = 0x9;
}

/// Frame flags (RFC 9113, 6). Each means something only on the frame types that define it.
mod flag {
    /// DATA, HEADERS.
    pub(super) const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING.
    pub(super) const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION.
    pub(super) const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE.
    pub(super) const PADDED: u8 = 0x8;
    /// HEADERS.
    pub(super) const PRIORITY: u8 = 0x20;
}

/// The 31 bits of a stream id or window increment; the top bit is reserved and ignored.
const U31_MASK: u32 = MAX_WINDOW;
/// Length of the stream dependency and weight a HEADERS frame carries under its PRIORITY flag.
const PRIORITY_LEN: usize = 5;
/// Length of one SETTINGS entry: 16-bit identifier, 32-bit value.
const SETTING_LEN: usize = 6;

/// One received frame, validated. Padding and priority fields are already stripped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// `flow_len` is the whole payload length (padding and pad-length byte included): what flow
    /// control counts.
    Data { stream: u32, end_stream: bool, data: Bytes, flow_len: u32 },
    /// A header block fragment; more follows in CONTINUATION frames unless `end_headers`.
    Headers { stream: u32, end_stream: bool, end_headers: bool, block: Bytes },
    /// Priority signals are deprecated (RFC 9113, 5.3.2): only the stream is kept.
    Priority { stream: u32 },
    /// The peer ends a stream.
    RstStream { stream: u32, code: Reason },
    /// `values` empty for an ACK. Unknown identifiers are dropped here (RFC: ignore them).
    Settings { ack: bool, values: Vec<(u16, u32)> },
    /// A push we never asked for (we advertise ENABLE_PUSH 0); its header block is dropped.
    PushPromise { stream: u32, promised: u32 },
    /// A PING, or with `ack` the answer to ours.
    Ping { ack: bool, payload: [u8; 8] },
    /// The peer shuts the connection down; streams above `last_stream` were not processed.
    GoAway { last_stream: u32, code: Reason, debug: Bytes },
    /// Flow-control credit for a stream, or for the connection on stream 0.
    WindowUpdate { stream: u32, increment: u32 },
    /// The next fragment of a header block.
    Continuation { stream: u32, end_headers: bool, block: Bytes },
    /// A frame type we do not know: to be ignored (RFC 9113 5.5).
    Unknown { kind: u8, stream: u32 },
}

/// A frame that breaks the protocol. `stream: None` is a connection error (GOAWAY with `code`);
/// `Some(id)` a stream error (RST_STREAM on that stream, the connection goes on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameError {
    /// The error code to send.
    pub(crate) code: Reason,
    /// The stream in error, or `None` for the whole connection.
    pub(crate) stream: Option<u32>,
    /// What was wrong, for logs.
    pub(crate) what: &'static str,
}

impl FrameError {
    /// A connection error.
    fn conn(code: Reason, what: &'static str) -> FrameError {
        FrameError { code, stream: None, what }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.what, self.code)
    }
}

impl std::error::Error for FrameError {}

/// If `buf` starts with a whole frame, removes it from `buf` and returns it (payload sliced out
/// of a frozen split, no copy); `Ok(None)` when more bytes are needed (buf untouched).
/// `max_frame_size` is the SETTINGS_MAX_FRAME_SIZE we advertised: a longer payload is a
/// connection FRAME_SIZE_ERROR, detected from the 9-byte header alone.
///
/// An invalid frame that arrived whole is removed from `buf` too, so that after a stream error
/// decoding goes on with the next frame.
pub(crate) fn decode(buf: &mut BytesMut, max_frame_size: u32) -> Result<Option<Frame>, FrameError> {
    let Some(&[l0, l1, l2, kind, flags, s0, s1, s2, s3]) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([0, l0, l1, l2]);
    let stream = u32::from_be_bytes([s0, s1, s2, s3]) & U31_MASK;
    if len > max_frame_size {
        return Err(FrameError::conn(Reason::FRAME_SIZE_ERROR, "frame larger than SETTINGS_MAX_FRAME_SIZE"));
    }
    // At most 2^24 - 1 + 9: no overflow even with a 32-bit usize.
    let total = HEADER_LEN + len as usize;
    let Some(payload) = buf.get(HEADER_LEN..total) else {
        return Ok(None);
    };
    let frame = match kind {
        // Frames whose payload is handed on: split it off, shared with the read buffer.
        kind::DATA | kind::HEADERS | kind::CONTINUATION | kind::GOAWAY => {
            buf.advance(HEADER_LEN);
            let payload = buf.split_to(len as usize).freeze();
            decode_shared(kind, flags, stream, len, payload)
        }
        // The others are read in place, then dropped from the buffer.
        _ => {
            let frame = decode_in_place(kind, flags, stream, payload);
            buf.advance(total);
            frame
        }
    };
    frame.map(Some)
}

/// Decodes DATA, HEADERS, CONTINUATION and GOAWAY, whose payload is kept as `Bytes`.
fn decode_shared(kind: u8, flags: u8, stream: u32, len: u32, mut payload: Bytes) -> Result<Frame, FrameError> {
    match kind {
        kind::DATA => {
            require_stream(stream, "DATA on stream 0")?;
            strip_padding(&mut payload, flags, 0)?;
            Ok(Frame::Data { stream, end_stream: flags & flag::END_STREAM != 0, data: payload, flow_len: len })
        }
        kind::HEADERS => {
            require_stream(stream, "HEADERS on stream 0")?;
            // The priority fields sit between the pad length and the block (RFC 9113, 6.2).
            let skip = if flags & flag::PRIORITY != 0 { PRIORITY_LEN } else { 0 };
            strip_padding(&mut payload, flags, skip)?;
            Ok(Frame::Headers {
                stream,
                end_stream: flags & flag::END_STREAM != 0,
                end_headers: flags & flag::END_HEADERS != 0,
                block: payload,
            })
        }
        kind::CONTINUATION => {
            require_stream(stream, "CONTINUATION on stream 0")?;
            Ok(Frame::Continuation { stream, end_headers: flags & flag::END_HEADERS != 0, block: payload })
        }
        _ => {
            require_connection(stream, "GOAWAY on a stream")?;
            let Some(&[a, b, c, d, e, f, g, h]) = payload.get(..8) else {
                return Err(FrameError::conn(Reason::FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes"));
            };
            let last_stream = u32::from_be_bytes([a, b, c, d]) & U31_MASK;
            let code = Reason(u32::from_be_bytes([e, f, g, h]));
            payload.advance(8);
            Ok(Frame::GoAway { last_stream, code, debug: payload })
        }
    }
}

/// Decodes the frames whose payload is read in place: fixed-size fields, nothing kept.
fn decode_in_place(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Result<Frame, FrameError> {
    match kind {
        kind::PRIORITY => {
            require_stream(stream, "PRIORITY on stream 0")?;
            if payload.len() != PRIORITY_LEN {
                // A stream error (RFC 9113, 6.3): the frame is harmless to the connection.
                let what = "PRIORITY not 5 bytes long";
                return Err(FrameError { code: Reason::FRAME_SIZE_ERROR, stream: Some(stream), what });
            }
            Ok(Frame::Priority { stream })
        }
        kind::RST_STREAM => {
            require_stream(stream, "RST_STREAM on stream 0")?;
            let &[a, b, c, d] = payload else {
                return Err(FrameError::conn(Reason::FRAME_SIZE_ERROR, "RST_STREAM not 4 bytes long"));
            };
            Ok(Frame::RstStream { stream, code: Reason(u32::from_be_bytes([a, b, c, d])) })
        }
        kind::SETTINGS => decode_settings(flags, stream, payload),
        kind::PUSH_PROMISE => {
            require_stream(stream, "PUSH_PROMISE on stream 0")?;
            // The promised stream id follows the pad length, when there is one.
            let at = if flags & flag::PADDED != 0 { padded_body(payload, 4).map(|_| 1)? } else { 0 };
            let Some(&[a, b, c, d]) = payload.get(at..at + 4) else {
                return Err(FrameError::conn(Reason::FRAME_SIZE_ERROR, "PUSH_PROMISE without promised stream"));
            };
            Ok(Frame::PushPromise { stream, promised: u32::from_be_bytes([a, b, c, d]) & U31_MASK })
        }
        kind::PING => {
            require_connection(stream, "PING on a stream")?;
            let Ok(&payload) = <&[u8; 8]>::try_from(payload) else {
                return Err(FrameError::conn(Reason::FRAME_SIZE_ERROR, "PING not 8 bytes long"));
            };
            Ok(Frame::Ping { ack: flags & flag::ACK != 0, payload })
        }
        kind::WINDOW_UPDATE => {
            let &[a, b, c, d] = payload else {
                return Err(FrameError::conn(Reason::FRAME_SIZE_ERROR, "WINDOW_UPDATE not 4 bytes long"));
            };
            let increment = u32::from_be_bytes([a, b, c, d]) & U31_MASK;
            if increment == 0 {
                // On a stream only that stream is in error (RFC 9113, 6.9).
                let what = "WINDOW_UPDATE with increment 0";
                let stream = if stream == 0 { None } else { Some(stream) };
                return Err(FrameError { code: Reason::PROTOCOL_ERROR, stream, what });
            }
            Ok(Frame::WindowUpdate { stream, increment })
        }
        _ => Ok(Frame::Unknown { kind, stream }),
    }
}

/// Decodes a SETTINGS payload, checking the values whose range the RFC fixes (6.5.2).
fn decode_settings(flags: u8, stream: u32, payload: &[u8]) -> Result<Frame, FrameError> {
    require_connection(stream, "SETTINGS on a stream")?;
    let ack = flags & flag::ACK != 0;
    if ack && !payload.is_empty() {
        return Err(FrameError::conn(Reason::FRAME_SIZE_ERROR, "SETTINGS ACK with a payload"));
    }
    let (entries, rest) = payload.as_chunks::<SETTING_LEN>();
    if !rest.is_empty() {
        return Err(FrameError::conn(Reason::FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6"));
    }
    // Peers send a handful; the cap keeps a padded-out frame from sizing the allocation.
    let mut values = Vec::with_capacity(entries.len().min(8));
    for &[i0, i1, v0, v1, v2, v3] in entries {
        let id = u16::from_be_bytes([i0, i1]);
        let value = u32::from_be_bytes([v0, v1, v2, v3]);
        match id {
            HEADER_TABLE_SIZE | MAX_CONCURRENT_STREAMS | MAX_HEADER_LIST_SIZE => {}
            ENABLE_PUSH if value > 1 => {
                return Err(FrameError::conn(Reason::PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH not 0 or 1"));
            }
            ENABLE_PUSH => {}
            INITIAL_WINDOW_SIZE if value > MAX_WINDOW => {
                let what = "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1";
                return Err(FrameError::conn(Reason::FLOW_CONTROL_ERROR, what));
            }
            INITIAL_WINDOW_SIZE => {}
            MAX_FRAME_SIZE if !(DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&value) => {
                let what = "SETTINGS_MAX_FRAME_SIZE out of range";
                return Err(FrameError::conn(Reason::PROTOCOL_ERROR, what));
            }
            MAX_FRAME_SIZE => {}
            // Unknown settings must be ignored (RFC 9113, 6.5.2).
            _ => continue,
        }
        values.push((id, value));
    }
    Ok(Frame::Settings { ack, values })
}

/// Fails with a connection PROTOCOL_ERROR when a stream frame came on stream 0.
fn require_stream(stream: u32, what: &'static str) -> Result<(), FrameError> {
    if stream == 0 {
        return Err(FrameError::conn(Reason::PROTOCOL_ERROR, what));
    }
    Ok(())
}

/// Fails with a connection PROTOCOL_ERROR when a connection frame came on a stream.
fn require_connection(stream: u32, what: &'static str) -> Result<(), FrameError> {
    if stream != 0 {
        return Err(FrameError::conn(Reason::PROTOCOL_ERROR, what));
    }
    Ok(())
}

/// Leaves in `payload` only the content of a DATA or HEADERS frame: drops the pad length (when
/// PADDED), `skip` bytes of fixed fields after it, and the trailing padding.
fn strip_padding(payload: &mut Bytes, flags: u8, skip: usize) -> Result<(), FrameError> {
    if flags & flag::PADDED == 0 {
        if payload.len() < skip {
            return Err(FrameError::conn(Reason::FRAME_SIZE_ERROR, "frame too short for its fields"));
        }
        payload.advance(skip);
        return Ok(());
    }
    let body_len = padded_body(payload, skip)?.len();
    // padded_body checked the lengths: the body lies right after pad length and fields.
    payload.advance(1 + skip);
    payload.truncate(body_len);
    Ok(())
}

/// The content of a PADDED frame's payload: after the pad-length byte and `skip` bytes of fixed
/// fields, before the padding.
fn padded_body(payload: &[u8], skip: usize) -> Result<&[u8], FrameError> {
    let Some((&pad_len, rest)) = payload.split_first() else {
        return Err(FrameError::conn(Reason::FRAME_SIZE_ERROR, "PADDED frame without pad length"));
    };
    let Some(rest) = rest.get(skip..) else {
        return Err(FrameError::conn(Reason::FRAME_SIZE_ERROR, "frame too short for its fields"));
    };
    // Padding as long as the payload or longer is a PROTOCOL_ERROR (RFC 9113, 6.1 and 6.2).
    let Some(body_len) = rest.len().checked_sub(usize::from(pad_len)) else {
        return Err(FrameError::conn(Reason::PROTOCOL_ERROR, "padding longer than the frame"));
    };
    rest.get(..body_len).ok_or(FrameError::conn(Reason::PROTOCOL_ERROR, "padding longer than the frame"))
}

/// Appends a frame header. `len` must fit the 24-bit length field (the encoders see to it).
fn put_head(out: &mut BytesMut, len: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(len <= MAX_FRAME_SIZE_LIMIT as usize, "frame payload too long: {len}");
    let [_, l0, l1, l2] = (len as u32).to_be_bytes();
    let [s0, s1, s2, s3] = (stream & U31_MASK).to_be_bytes();
    out.put_slice(&[l0, l1, l2, kind, flags, s0, s1, s2, s3]);
}

/// HEADERS, then CONTINUATION frames when `block` is longer than `max_frame_size`; END_HEADERS
/// on the last; END_STREAM on HEADERS when `end_stream`.
pub(crate) fn put_headers(out: &mut BytesMut, stream: u32, block: &[u8], end_stream: bool, max_frame_size: u32) {
    // A zero size would never make progress; above the limit the length field cannot say it.
    let max = max_frame_size.clamp(1, MAX_FRAME_SIZE_LIMIT) as usize;
    let frames = block.len().div_ceil(max).max(1);
    out.reserve(frames * HEADER_LEN + block.len());
    let (first, mut rest) = block.split_at(block.len().min(max));
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    if rest.is_empty() {
        flags |= flag::END_HEADERS;
    }
    put_head(out, first.len(), kind::HEADERS, flags, stream);
    out.put_slice(first);
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(max));
        rest = tail;
        let flags = if rest.is_empty() { flag::END_HEADERS } else { 0 };
        put_head(out, chunk.len(), kind::CONTINUATION, flags, stream);
        out.put_slice(chunk);
    }
}

/// One DATA frame without padding; the caller keeps `data.len()` within the peer's max frame size.
pub(crate) fn put_data(out: &mut BytesMut, stream: u32, data: &[u8], end_stream: bool) {
    out.reserve(HEADER_LEN + data.len());
    put_head(out, data.len(), kind::DATA, if end_stream { flag::END_STREAM } else { 0 }, stream);
    out.put_slice(data);
}

/// A SETTINGS frame carrying `values` in order.
pub(crate) fn put_settings(out: &mut BytesMut, values: &[(u16, u32)]) {
    let len = values.len() * SETTING_LEN;
    out.reserve(HEADER_LEN + len);
    put_head(out, len, kind::SETTINGS, 0, 0);
    for &(id, value) in values {
        out.put_u16(id);
        out.put_u32(value);
    }
}

/// The acknowledgement of the peer's SETTINGS.
pub(crate) fn put_settings_ack(out: &mut BytesMut) {
    put_head(out, 0, kind::SETTINGS, flag::ACK, 0);
}

/// A PING, or with `ack` the answer to the peer's (echoing its payload).
pub(crate) fn put_ping(out: &mut BytesMut, ack: bool, payload: [u8; 8]) {
    out.reserve(HEADER_LEN + payload.len());
    put_head(out, payload.len(), kind::PING, if ack { flag::ACK } else { 0 }, 0);
    out.put_slice(&payload);
}

/// Flow-control credit for `stream`, or for the connection on stream 0. The increment must be
/// in 1..=2^31-1; the reserved top bit is cleared.
pub(crate) fn put_window_update(out: &mut BytesMut, stream: u32, increment: u32) {
    out.reserve(HEADER_LEN + 4);
    put_head(out, 4, kind::WINDOW_UPDATE, 0, stream);
    out.put_u32(increment & U31_MASK);
}

/// Ends `stream` with `code`.
pub(crate) fn put_rst_stream(out: &mut BytesMut, stream: u32, code: Reason) {
    out.reserve(HEADER_LEN + 4);
    put_head(out, 4, kind::RST_STREAM, 0, stream);
    out.put_u32(code.0);
}

/// Shuts the connection down. `debug` is cut so that the frame fits the smallest frame size a
/// peer may advertise: it is only a diagnostic.
pub(crate) fn put_goaway(out: &mut BytesMut, last_stream: u32, code: Reason, debug: &[u8]) {
    let debug = debug.get(..DEFAULT_MAX_FRAME_SIZE as usize - 8).unwrap_or(debug);
    out.reserve(HEADER_LEN + 8 + debug.len());
    put_head(out, 8 + debug.len(), kind::GOAWAY, 0, 0);
    out.put_u32(last_stream & U31_MASK);
    out.put_u32(code.0);
    out.put_slice(debug);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes from hex digits, spaces ignored.
    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    /// A frame laid out by hand, independently of the encoders.
    fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> BytesMut {
        let len = payload.len() as u32;
        let mut out = BytesMut::new();
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Decodes exactly one whole frame, checking it was consumed entirely.
    fn one(mut buf: BytesMut) -> Result<Frame, FrameError> {
        let frame = decode(&mut buf, DEFAULT_MAX_FRAME_SIZE)?.expect("a whole frame");
        assert!(buf.is_empty(), "frame not fully consumed: {} bytes left", buf.len());
        Ok(frame)
    }

    /// Asserts that `buf` is a connection error with `code`.
    fn conn_err(buf: BytesMut, code: Reason) {
        let err = one(buf).expect_err("an error");
        assert_eq!((err.code, err.stream), (code, None), "{err}");
    }

    /// Asserts that `buf` is a stream error on `stream` with `code`.
    fn stream_err(buf: BytesMut, code: Reason, stream: u32) {
        let err = one(buf).expect_err("an error");
        assert_eq!((err.code, err.stream), (code, Some(stream)), "{err}");
    }

    /// A SETTINGS payload from (id, value) pairs.
    fn settings_payload(values: &[(u16, u32)]) -> Vec<u8> {
        values.iter().flat_map(|&(id, v)| id.to_be_bytes().into_iter().chain(v.to_be_bytes())).collect()
    }

    #[test]
    fn preface_is_the_rfc_octets() {
        assert_eq!(PREFACE, hex("505249202a20485454502f322e300d0a0d0a534d0d0a0d0a").as_slice());
    }

    #[test]
    fn data_round_trips() {
        for (data, end_stream) in [(&b"hello"[..], false), (b"", true), (&[7u8; 16_384][..], true)] {
            let mut out = BytesMut::new();
            put_data(&mut out, 5, data, end_stream);
            assert_eq!(out.len(), HEADER_LEN + data.len());
            let expected =
                Frame::Data { stream: 5, end_stream, data: Bytes::copy_from_slice(data), flow_len: data.len() as u32 };
            assert_eq!(one(out).unwrap(), expected);
        }
    }

    #[test]
    fn small_headers_round_trip_in_one_frame() {
        for end_stream in [false, true] {
            let mut out = BytesMut::new();
            put_headers(&mut out, 3, b"\x82\x86\x84", end_stream, DEFAULT_MAX_FRAME_SIZE);
            let block = Bytes::from_static(b"\x82\x86\x84");
            assert_eq!(one(out).unwrap(), Frame::Headers { stream: 3, end_stream, end_headers: true, block });
        }
        // An empty block still makes one HEADERS frame, which ends the block.
        let mut out = BytesMut::new();
        put_headers(&mut out, 1, b"", false, DEFAULT_MAX_FRAME_SIZE);
        let block = Bytes::new();
        assert_eq!(one(out).unwrap(), Frame::Headers { stream: 1, end_stream: false, end_headers: true, block });
        // Exactly max_frame_size: still one frame.
        let mut out = BytesMut::new();
        put_headers(&mut out, 1, &[1; 16_384], false, DEFAULT_MAX_FRAME_SIZE);
        assert_eq!(out.len(), HEADER_LEN + 16_384);
        assert!(matches!(one(out).unwrap(), Frame::Headers { end_headers: true, .. }));
    }

    #[test]
    fn large_header_block_is_split_into_continuations() {
        let block: Vec<u8> = (0..40 * 1024).map(|i| (i % 251) as u8).collect();
        let mut out = BytesMut::new();
        put_headers(&mut out, 9, &block, true, DEFAULT_MAX_FRAME_SIZE);
        assert_eq!(out.len(), 3 * HEADER_LEN + block.len());
        // Flags as sent: END_STREAM only on HEADERS, END_HEADERS only on the last frame.
        assert_eq!(out[4], flag::END_STREAM);
        assert_eq!(&out[HEADER_LEN + 16_384..][3..5], &[kind::CONTINUATION, 0]);
        assert_eq!(&out[2 * (HEADER_LEN + 16_384)..][3..5], &[kind::CONTINUATION, flag::END_HEADERS]);

        let mut frames = Vec::new();
        while let Some(frame) = decode(&mut out, DEFAULT_MAX_FRAME_SIZE).unwrap() {
            frames.push(frame);
        }
        assert!(out.is_empty());
        let mut joined = Vec::new();
        match &frames[..] {
            [Frame::Headers { stream: 9, end_stream: true, end_headers: false, block: b0 }, Frame::Continuation { stream: 9, end_headers: false, block: b1 }, Frame::Continuation { stream: 9, end_headers: true, block: b2 }] =>
            {
                assert_eq!((b0.len(), b1.len(), b2.len()), (16_384, 16_384, 40 * 1024 - 2 * 16_384));
                for b in [b0, b1, b2] {
                    joined.extend_from_slice(b);
                }
            }
            other => panic!("unexpected frames {other:?}"),
        }
        assert_eq!(joined, block);
    }

    #[test]
    fn put_headers_survives_a_zero_max_frame_size() {
        let mut out = BytesMut::new();
        put_headers(&mut out, 1, b"ab", false, 0);
        // Treated as 1: HEADERS "a" then CONTINUATION "b".
        assert_eq!(&out[..], hex("000001 01 00 00000001 61  000001 09 04 00000001 62").as_slice());
    }

    #[test]
    fn control_frames_round_trip() {
        let values = vec![(ENABLE_PUSH, 0), (INITIAL_WINDOW_SIZE, MAX_WINDOW), (MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT)];
        let mut out = BytesMut::new();
        put_settings(&mut out, &values);
        assert_eq!(one(out).unwrap(), Frame::Settings { ack: false, values });

        let mut out = BytesMut::new();
        put_settings(&mut out, &[]);
        assert_eq!(one(out).unwrap(), Frame::Settings { ack: false, values: vec![] });

        let mut out = BytesMut::new();
        put_settings_ack(&mut out);
        assert_eq!(one(out).unwrap(), Frame::Settings { ack: true, values: vec![] });

        for ack in [false, true] {
            let mut out = BytesMut::new();
            put_ping(&mut out, ack, *b"12345678");
            assert_eq!(one(out).unwrap(), Frame::Ping { ack, payload: *b"12345678" });
        }

        for (stream, increment) in [(0, 1), (7, MAX_WINDOW)] {
            let mut out = BytesMut::new();
            put_window_update(&mut out, stream, increment);
            assert_eq!(one(out).unwrap(), Frame::WindowUpdate { stream, increment });
        }

        let mut out = BytesMut::new();
        put_rst_stream(&mut out, 11, Reason::CANCEL);
        assert_eq!(one(out).unwrap(), Frame::RstStream { stream: 11, code: Reason::CANCEL });

        let mut out = BytesMut::new();
        put_goaway(&mut out, 13, Reason::ENHANCE_YOUR_CALM, b"too many");
        let debug = Bytes::from_static(b"too many");
        assert_eq!(one(out).unwrap(), Frame::GoAway { last_stream: 13, code: Reason::ENHANCE_YOUR_CALM, debug });

        // Unknown error codes travel as they are.
        let mut out = BytesMut::new();
        put_rst_stream(&mut out, 1, Reason(0xdead));
        assert_eq!(one(out).unwrap(), Frame::RstStream { stream: 1, code: Reason(0xdead) });
    }

    #[test]
    fn goaway_debug_data_is_cut_to_fit_the_smallest_frame_size() {
        let mut out = BytesMut::new();
        put_goaway(&mut out, 1, Reason::NO_ERROR, &[b'x'; 20_000]);
        assert_eq!(out.len(), HEADER_LEN + DEFAULT_MAX_FRAME_SIZE as usize);
        match one(out).unwrap() {
            Frame::GoAway { debug, .. } => assert_eq!(debug.len(), DEFAULT_MAX_FRAME_SIZE as usize - 8),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn encoders_write_the_rfc_layout() {
        let mut out = BytesMut::new();
        put_data(&mut out, 1, b"abc", true);
        assert_eq!(&out[..], hex("000003 00 01 00000001 616263").as_slice());

        let mut out = BytesMut::new();
        put_headers(&mut out, 3, &[0x82], true, DEFAULT_MAX_FRAME_SIZE);
        assert_eq!(&out[..], hex("000001 01 05 00000003 82").as_slice());

        let mut out = BytesMut::new();
        put_settings(&mut out, &[(ENABLE_PUSH, 0), (INITIAL_WINDOW_SIZE, 65_535)]);
        assert_eq!(&out[..], hex("00000c 04 00 00000000 0002 00000000 0004 0000ffff").as_slice());

        let mut out = BytesMut::new();
        put_settings_ack(&mut out);
        assert_eq!(&out[..], hex("000000 04 01 00000000").as_slice());

        let mut out = BytesMut::new();
        put_ping(&mut out, true, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&out[..], hex("000008 06 01 00000000 0102030405060708").as_slice());

        let mut out = BytesMut::new();
        put_window_update(&mut out, 1, 0x0001_0000);
        assert_eq!(&out[..], hex("000004 08 00 00000001 00010000").as_slice());

        let mut out = BytesMut::new();
        put_rst_stream(&mut out, 3, Reason::CANCEL);
        assert_eq!(&out[..], hex("000004 03 00 00000003 00000008").as_slice());

        let mut out = BytesMut::new();
        put_goaway(&mut out, 5, Reason::PROTOCOL_ERROR, b"hi");
        assert_eq!(&out[..], hex("00000a 07 00 00000000 00000005 00000001 6869").as_slice());

        // Reserved bits are cleared on the way out.
        let mut out = BytesMut::new();
        put_window_update(&mut out, 0x8000_0001, 0xffff_ffff);
        assert_eq!(&out[..], hex("000004 08 00 00000001 7fffffff").as_slice());

        // Encoders append, they do not overwrite.
        let mut out = BytesMut::from(&b"xy"[..]);
        put_settings_ack(&mut out);
        assert_eq!(&out[..], hex("7879 000000 04 01 00000000").as_slice());
    }

    #[test]
    fn partial_input_waits_at_every_cut_point() {
        let mut all = BytesMut::new();
        let mut ends = Vec::new();
        put_settings(&mut all, &[(MAX_CONCURRENT_STREAMS, 100)]);
        ends.push(all.len());
        put_headers(&mut all, 1, &[0x55; 20_000], false, DEFAULT_MAX_FRAME_SIZE);
        ends.push(all.len() - (20_000 - 16_384) - HEADER_LEN);
        ends.push(all.len());
        put_data(&mut all, 1, b"payload", true);
        ends.push(all.len());
        put_settings_ack(&mut all);
        ends.push(all.len());
        put_ping(&mut all, false, [9; 8]);
        ends.push(all.len());
        put_goaway(&mut all, 1, Reason::NO_ERROR, b"bye");
        ends.push(all.len());
        let all = all.freeze();

        let mut expected = Vec::new();
        let mut whole = BytesMut::from(&all[..]);
        while let Some(frame) = decode(&mut whole, DEFAULT_MAX_FRAME_SIZE).unwrap() {
            expected.push(frame);
        }
        assert_eq!(expected.len(), ends.len());
        assert!(whole.is_empty());

        for cut in 0..=all.len() {
            let mut buf = BytesMut::from(&all[..cut]);
            let mut got = 0;
            loop {
                let before = buf.clone();
                match decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap() {
                    Some(frame) => {
                        assert_eq!(frame, expected[got], "cut {cut}");
                        got += 1;
                    }
                    None => {
                        assert_eq!(buf, before, "cut {cut}: buffer touched");
                        break;
                    }
                }
            }
            let complete = ends.iter().filter(|&&end| end <= cut).count();
            assert_eq!(got, complete, "cut {cut}");
            let consumed = if complete == 0 { 0 } else { ends[complete - 1] };
            assert_eq!(&buf[..], &all[consumed..cut], "cut {cut}");
        }
    }

    #[test]
    fn oversized_frame_is_refused_from_its_header_alone() {
        let mut buf = BytesMut::from(&hex("004001 00 00 00000001")[..]);
        let err = decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
        assert_eq!((err.code, err.stream), (Reason::FRAME_SIZE_ERROR, None));
        // With a larger advertised size the same header just waits for its payload.
        let mut buf = BytesMut::from(&hex("004001 00 00 00000001")[..]);
        assert_eq!(decode(&mut buf, 32_768).unwrap(), None);
        assert_eq!(buf.len(), HEADER_LEN);
        buf.extend_from_slice(&[0; 16_385]);
        assert!(matches!(decode(&mut buf, 32_768).unwrap(), Some(Frame::Data { flow_len: 16_385, .. })));
    }

    #[test]
    fn stream_frames_on_stream_zero_are_connection_errors() {
        conn_err(raw(kind::DATA, 0, 0, b"x"), Reason::PROTOCOL_ERROR);
        conn_err(raw(kind::HEADERS, flag::END_HEADERS, 0, b"x"), Reason::PROTOCOL_ERROR);
        conn_err(raw(kind::PRIORITY, 0, 0, &[0; 5]), Reason::PROTOCOL_ERROR);
        conn_err(raw(kind::RST_STREAM, 0, 0, &[0; 4]), Reason::PROTOCOL_ERROR);
        conn_err(raw(kind::PUSH_PROMISE, 0, 0, &[0, 0, 0, 2]), Reason::PROTOCOL_ERROR);
        conn_err(raw(kind::CONTINUATION, 0, 0, b"x"), Reason::PROTOCOL_ERROR);
        // Only the reserved bit set: still stream 0.
        conn_err(raw(kind::DATA, 0, 0x8000_0000, b"x"), Reason::PROTOCOL_ERROR);
    }

    #[test]
    fn connection_frames_on_a_stream_are_connection_errors() {
        conn_err(raw(kind::SETTINGS, 0, 1, &[]), Reason::PROTOCOL_ERROR);
        conn_err(raw(kind::SETTINGS, flag::ACK, 3, &[]), Reason::PROTOCOL_ERROR);
        conn_err(raw(kind::PING, 0, 1, &[0; 8]), Reason::PROTOCOL_ERROR);
        conn_err(raw(kind::GOAWAY, 0, 1, &[0; 8]), Reason::PROTOCOL_ERROR);
    }

    #[test]
    fn reserved_bits_are_ignored() {
        let frame = one(raw(kind::DATA, 0, 0x8000_0001, b"x")).unwrap();
        assert_eq!(frame, Frame::Data { stream: 1, end_stream: false, data: Bytes::from_static(b"x"), flow_len: 1 });
        let frame = one(raw(kind::WINDOW_UPDATE, 0, 0x8000_0003, &hex("80000005"))).unwrap();
        assert_eq!(frame, Frame::WindowUpdate { stream: 3, increment: 5 });
        let frame = one(raw(kind::GOAWAY, 0, 0, &hex("80000007 00000000"))).unwrap();
        assert_eq!(frame, Frame::GoAway { last_stream: 7, code: Reason::NO_ERROR, debug: Bytes::new() });
        let frame = one(raw(kind::PUSH_PROMISE, flag::END_HEADERS, 1, &hex("80000002 82"))).unwrap();
        assert_eq!(frame, Frame::PushPromise { stream: 1, promised: 2 });
        // An increment of only the reserved bit is an increment of 0.
        stream_err(raw(kind::WINDOW_UPDATE, 0, 3, &hex("80000000")), Reason::PROTOCOL_ERROR, 3);
    }

    #[test]
    fn padding_is_stripped_and_counted_by_flow_control() {
        let frame = one(raw(kind::DATA, flag::PADDED | flag::END_STREAM, 1, &hex("03 6869 000000"))).unwrap();
        let data = Bytes::from_static(b"hi");
        assert_eq!(frame, Frame::Data { stream: 1, end_stream: true, data, flow_len: 6 });
        // Padding filling all the rest: allowed, no data.
        let frame = one(raw(kind::DATA, flag::PADDED, 1, &hex("02 0000"))).unwrap();
        assert_eq!(frame, Frame::Data { stream: 1, end_stream: false, data: Bytes::new(), flow_len: 3 });
        // Pad length 0: just the pad-length byte.
        let frame = one(raw(kind::DATA, flag::PADDED, 1, &hex("00 6869"))).unwrap();
        assert_eq!(frame, Frame::Data { stream: 1, end_stream: false, data: Bytes::from_static(b"hi"), flow_len: 3 });

        let frame = one(raw(kind::HEADERS, flag::PADDED | flag::END_HEADERS, 1, &hex("01 8286 00"))).unwrap();
        let block = Bytes::from_static(b"\x82\x86");
        assert_eq!(frame, Frame::Headers { stream: 1, end_stream: false, end_headers: true, block });

        let frame = one(raw(kind::PUSH_PROMISE, flag::PADDED, 1, &hex("02 00000004 82 0000"))).unwrap();
        assert_eq!(frame, Frame::PushPromise { stream: 1, promised: 4 });
    }

    #[test]
    fn too_much_padding_is_a_protocol_error() {
        conn_err(raw(kind::DATA, flag::PADDED, 1, &hex("03 0000")), Reason::PROTOCOL_ERROR);
        conn_err(raw(kind::DATA, flag::PADDED, 1, &hex("ff 00")), Reason::PROTOCOL_ERROR);
        conn_err(raw(kind::HEADERS, flag::PADDED, 1, &hex("02 00")), Reason::PROTOCOL_ERROR);
        // With PRIORITY the five priority bytes are not room for padding.
        conn_err(raw(kind::HEADERS, flag::PADDED | flag::PRIORITY, 1, &hex("01 0000000010")), Reason::PROTOCOL_ERROR);
        conn_err(raw(kind::PUSH_PROMISE, flag::PADDED, 1, &hex("01 00000002")), Reason::PROTOCOL_ERROR);
        // PADDED without even the pad-length byte.
        conn_err(raw(kind::DATA, flag::PADDED, 1, &[]), Reason::FRAME_SIZE_ERROR);
        conn_err(raw(kind::HEADERS, flag::PADDED, 1, &[]), Reason::FRAME_SIZE_ERROR);
    }

    #[test]
    fn headers_priority_fields_are_skipped() {
        let payload = hex("80000003 0f 8286");
        let frame = one(raw(kind::HEADERS, flag::PRIORITY | flag::END_HEADERS, 5, &payload)).unwrap();
        let block = Bytes::from_static(b"\x82\x86");
        assert_eq!(frame, Frame::Headers { stream: 5, end_stream: false, end_headers: true, block });

        let payload = hex("02 00000003 0f 8286 0000");
        let flags = flag::PADDED | flag::PRIORITY | flag::END_STREAM;
        let frame = one(raw(kind::HEADERS, flags, 5, &payload)).unwrap();
        let block = Bytes::from_static(b"\x82\x86");
        assert_eq!(frame, Frame::Headers { stream: 5, end_stream: true, end_headers: false, block });

        // Too short for the priority fields.
        conn_err(raw(kind::HEADERS, flag::PRIORITY, 5, &hex("00000003")), Reason::FRAME_SIZE_ERROR);
        conn_err(raw(kind::HEADERS, flag::PRIORITY | flag::PADDED, 5, &hex("00 00000003")), Reason::FRAME_SIZE_ERROR);
    }

    #[test]
    fn fixed_size_frames_of_the_wrong_size() {
        stream_err(raw(kind::PRIORITY, 0, 3, &[0; 4]), Reason::FRAME_SIZE_ERROR, 3);
        stream_err(raw(kind::PRIORITY, 0, 3, &[0; 6]), Reason::FRAME_SIZE_ERROR, 3);
        assert_eq!(one(raw(kind::PRIORITY, 0, 3, &[0; 5])).unwrap(), Frame::Priority { stream: 3 });
        for len in [0, 3, 5] {
            conn_err(raw(kind::RST_STREAM, 0, 1, &vec![0; len]), Reason::FRAME_SIZE_ERROR);
            conn_err(raw(kind::WINDOW_UPDATE, 0, 1, &vec![1; len]), Reason::FRAME_SIZE_ERROR);
            conn_err(raw(kind::WINDOW_UPDATE, 0, 0, &vec![1; len]), Reason::FRAME_SIZE_ERROR);
        }
        for len in [0, 7, 9] {
            conn_err(raw(kind::PING, 0, 0, &vec![0; len]), Reason::FRAME_SIZE_ERROR);
        }
        for len in [0, 4, 7] {
            conn_err(raw(kind::GOAWAY, 0, 0, &vec![0; len]), Reason::FRAME_SIZE_ERROR);
        }
        for len in [1, 5, 7, 13] {
            conn_err(raw(kind::SETTINGS, 0, 0, &vec![0; len]), Reason::FRAME_SIZE_ERROR);
        }
        conn_err(raw(kind::SETTINGS, flag::ACK, 0, &settings_payload(&[(ENABLE_PUSH, 0)])), Reason::FRAME_SIZE_ERROR);
        conn_err(raw(kind::PUSH_PROMISE, 0, 1, &[0; 3]), Reason::FRAME_SIZE_ERROR);
    }

    #[test]
    fn settings_values_are_range_checked() {
        let bad = |values: &[(u16, u32)], code| conn_err(raw(kind::SETTINGS, 0, 0, &settings_payload(values)), code);
        bad(&[(ENABLE_PUSH, 2)], Reason::PROTOCOL_ERROR);
        bad(&[(INITIAL_WINDOW_SIZE, MAX_WINDOW + 1)], Reason::FLOW_CONTROL_ERROR);
        bad(&[(INITIAL_WINDOW_SIZE, u32::MAX)], Reason::FLOW_CONTROL_ERROR);
        bad(&[(MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE - 1)], Reason::PROTOCOL_ERROR);
        bad(&[(MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT + 1)], Reason::PROTOCOL_ERROR);
        // A bad value after good ones still fails the frame.
        bad(&[(HEADER_TABLE_SIZE, 0), (ENABLE_PUSH, 7)], Reason::PROTOCOL_ERROR);

        let good = [
            (HEADER_TABLE_SIZE, u32::MAX),
            (ENABLE_PUSH, 0),
            (ENABLE_PUSH, 1),
            (MAX_CONCURRENT_STREAMS, 0),
            (INITIAL_WINDOW_SIZE, MAX_WINDOW),
            (INITIAL_WINDOW_SIZE, 0),
            (MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE),
            (MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT),
            (MAX_HEADER_LIST_SIZE, 8192),
        ];
        let frame = one(raw(kind::SETTINGS, 0, 0, &settings_payload(&good))).unwrap();
        assert_eq!(frame, Frame::Settings { ack: false, values: good.to_vec() });
    }

    #[test]
    fn unknown_settings_are_dropped() {
        let payload = settings_payload(&[(0x0, 5), (MAX_CONCURRENT_STREAMS, 100), (0x8, 1), (0xffff, 9)]);
        let frame = one(raw(kind::SETTINGS, 0, 0, &payload)).unwrap();
        assert_eq!(frame, Frame::Settings { ack: false, values: vec![(MAX_CONCURRENT_STREAMS, 100)] });
    }

    #[test]
    fn zero_window_increment_is_a_stream_or_connection_error() {
        conn_err(raw(kind::WINDOW_UPDATE, 0, 0, &[0; 4]), Reason::PROTOCOL_ERROR);
        stream_err(raw(kind::WINDOW_UPDATE, 0, 7, &[0; 4]), Reason::PROTOCOL_ERROR, 7);
    }

    #[test]
    fn a_stream_error_consumes_its_frame_and_decoding_goes_on() {
        let mut buf = raw(kind::PRIORITY, 0, 3, &[0; 4]);
        buf.extend_from_slice(&raw(kind::WINDOW_UPDATE, 0, 5, &[0; 4]));
        put_ping(&mut buf, false, [1; 8]);
        let err = decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
        assert_eq!((err.code, err.stream), (Reason::FRAME_SIZE_ERROR, Some(3)));
        let err = decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
        assert_eq!((err.code, err.stream), (Reason::PROTOCOL_ERROR, Some(5)));
        assert_eq!(
            decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap(),
            Some(Frame::Ping { ack: false, payload: [1; 8] })
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn unknown_flags_are_ignored() {
        // Every flag but END_STREAM and PADDED.
        let frame = one(raw(kind::DATA, !(flag::END_STREAM | flag::PADDED), 1, b"ab")).unwrap();
        assert_eq!(frame, Frame::Data { stream: 1, end_stream: false, data: Bytes::from_static(b"ab"), flow_len: 2 });
        let frame = one(raw(kind::PING, !flag::ACK, 0, &[2; 8])).unwrap();
        assert_eq!(frame, Frame::Ping { ack: false, payload: [2; 8] });
        let frame = one(raw(kind::CONTINUATION, !flag::END_HEADERS, 1, b"c")).unwrap();
        assert_eq!(frame, Frame::Continuation { stream: 1, end_headers: false, block: Bytes::from_static(b"c") });
        let frame = one(raw(kind::RST_STREAM, 0xff, 1, &[0, 0, 0, 2])).unwrap();
        assert_eq!(frame, Frame::RstStream { stream: 1, code: Reason::INTERNAL_ERROR });
    }

    #[test]
    fn unknown_frame_types_are_passed_on_to_be_ignored() {
        let mut buf = raw(0x0a, 0xff, 3, b"some alt-svc");
        buf.extend_from_slice(&raw(0xff, 0, 0, &[]));
        put_settings_ack(&mut buf);
        assert_eq!(decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap(), Some(Frame::Unknown { kind: 0x0a, stream: 3 }));
        assert_eq!(decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap(), Some(Frame::Unknown { kind: 0xff, stream: 0 }));
        let ack = Frame::Settings { ack: true, values: vec![] };
        assert_eq!(decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap(), Some(ack));
        assert!(buf.is_empty());
    }

    #[test]
    fn decoded_payloads_share_the_read_buffer() {
        let mut buf = BytesMut::with_capacity(64);
        put_data(&mut buf, 1, b"shared", false);
        let start = buf.as_ptr() as usize;
        match decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap() {
            Some(Frame::Data { data, .. }) => assert_eq!(data.as_ptr() as usize, start + HEADER_LEN),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn errors_display_what_and_code() {
        let err = one(raw(kind::PING, 0, 0, &[0; 3])).unwrap_err();
        assert_eq!(err.to_string(), "PING not 8 bytes long (FRAME_SIZE_ERROR)");
    }

    #[test]
    fn random_input_never_panics() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut frames, mut errors) = (0, 0);
        for round in 0..5_000 {
            let mut buf = BytesMut::new();
            if round % 4 == 0 {
                // Pure noise.
                let len = next() % 64;
                buf.extend((0..len).map(|_| next() as u8));
            } else {
                // Plausible headers with random bits: reaches deeper into each frame type.
                for _ in 0..1 + next() % 4 {
                    let len = (next() % 24) as usize;
                    let kind = (next() % 12) as u8;
                    let flags = next() as u8;
                    let stream = if next() % 4 == 0 { 0 } else { next() as u32 };
                    let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                    buf.extend_from_slice(&raw(kind, flags, stream, &payload));
                }
                // Sometimes cut off mid-frame.
                if next() % 3 == 0 {
                    let cut = (next() as usize) % (buf.len() + 1);
                    buf.truncate(cut);
                }
            }
            let max = if next() % 8 == 0 { (next() % 32) as u32 } else { DEFAULT_MAX_FRAME_SIZE };
            loop {
                let before = buf.clone();
                match decode(&mut buf, max) {
                    Ok(None) => {
                        assert_eq!(buf, before);
                        break;
                    }
                    Ok(Some(_)) => {
                        frames += 1;
                        let len = u32::from_be_bytes([0, before[0], before[1], before[2]]) as usize;
                        assert_eq!(buf.len(), before.len() - HEADER_LEN - len);
                    }
                    Err(err) => {
                        errors += 1;
                        assert!(!err.to_string().is_empty());
                        match err.stream {
                            // Stream errors drop the frame and leave the connection usable.
                            Some(id) => {
                                assert_ne!(id, 0);
                                assert!(buf.len() < before.len());
                            }
                            None => break,
                        }
                    }
                }
            }
        }
        // The generator reaches both outcomes often.
        assert!(frames > 1_000 && errors > 1_000, "frames {frames}, errors {errors}");
    }
}
