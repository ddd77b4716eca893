//! gRPC over HTTP/2, the parts a client needs: the 5-byte message prefix,
//! the request headers, and `grpc-status`/`grpc-message` in trailers.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};

use crate::error::{Error, ErrorKind, GrpcCode, Result};

/// The names of the fields that carry a call's outcome.
const GRPC_STATUS: &str = "grpc-status";
const GRPC_MESSAGE: &str = "grpc-message";

/// Refuses an answer that is not gRPC (a web server's or a proxy's page):
/// neither its body nor its status can be trusted.
pub(crate) fn check_content_type(headers: &impl Lookup, endpoint: &str) -> Result<()> {
    let content_type = headers.value("content-type");
    if content_type.is_some_and(|t| t.starts_with(b"application/grpc")) {
        return Ok(());
    }
    let shown = content_type.map_or("none".into(), String::from_utf8_lossy);
    Err(Error::protocol(format!("response content-type {shown:?} from {endpoint} is not gRPC")).with_endpoint(endpoint))
}

/// Length of the prefix before every gRPC message: a compression flag and
/// a big-endian u32 length.
pub(crate) const PREFIX_LEN: usize = 5;

/// Encodes `message` behind its gRPC prefix, in one buffer.
pub(crate) fn encode<M: prost::Message>(message: &M, max_len: usize) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    encode_into(message, max_len, &mut buf)?;
    Ok(buf.freeze())
}

/// The largest message a gRPC prefix can announce: its length is a u32.
pub(crate) const MAX_FRAME_LEN: usize = u32::MAX as usize;

/// A configured send limit, lowered to what a gRPC prefix can carry.
pub(crate) fn send_limit(configured: usize) -> usize {
    configured.min(MAX_FRAME_LEN)
}

/// Refuses a request message of `len` bytes over the send limit, or too
/// long for the prefix's u32 length whatever the limit.
pub(crate) fn check_len(len: usize, max_len: usize) -> Result<()> {
    if len > MAX_FRAME_LEN {
        return Err(Error::new(
            ErrorKind::RequestTooLarge,
            format!("request of {len} bytes is over gRPC's message size limit of {MAX_FRAME_LEN} bytes"),
        ));
    }
    if len > max_len {
        return Err(Error::new(
            ErrorKind::RequestTooLarge,
            format!("request of {len} bytes is over the client's send limit of {max_len} bytes"),
        ));
    }
    Ok(())
}

/// Appends `message` behind its gRPC prefix to `buf`.
pub(crate) fn encode_into<M: prost::Message>(message: &M, max_len: usize, buf: &mut BytesMut) -> Result<()> {
    let len = message.encoded_len();
    check_len(len, max_len)?;
    // check_len refused anything longer than a u32 can say.
    let prefix_len = u32::try_from(len).map_err(|_| Error::new(ErrorKind::RequestTooLarge, "request over 4 GiB"))?;
    buf.reserve(PREFIX_LEN + len);
    buf.put_u8(0);
    buf.put_u32(prefix_len);
    // Encoding into a buffer with room enough cannot fail.
    message.encode(buf).map_err(|e| Error::new(ErrorKind::Internal, format!("encoding request: {e}")))
}

/// Decodes one message from a complete gRPC frame (prefix included).
pub(crate) fn decode<M: prost::Message + Default>(mut frame: Bytes) -> Result<M> {
    if frame.len() < PREFIX_LEN {
        return Err(Error::protocol("response frame shorter than its prefix"));
    }
    let compressed = frame.get_u8();
    let len = frame.get_u32() as usize;
    if compressed != 0 {
        return Err(Error::protocol("compressed response, but no compression was negotiated"));
    }
    if frame.len() != len {
        return Err(Error::protocol("response frame length does not match its prefix"));
    }
    M::decode(frame).map_err(|e| Error::protocol(format!("undecodable response message: {e}")))
}

/// Reads the message length from a prefix, when enough bytes have arrived.
pub(crate) fn frame_len(buffered: &[u8]) -> Option<usize> {
    if buffered.len() < PREFIX_LEN {
        return None;
    }
    let len = u32::from_be_bytes([buffered[1], buffered[2], buffered[3], buffered[4]]) as usize;
    Some(PREFIX_LEN + len)
}

/// The `grpc-timeout` header value for a deadline: at most 8 digits, so
/// long deadlines are sent in coarser units.
pub(crate) fn timeout_header(timeout: Duration) -> HeaderValue {
    let millis = timeout.as_millis();
    // Calls with one timeout mostly send one value: reuse its header (the
    // formatting and its allocation were a tenth of a put's header cost).
    let cached = LAST_TIMEOUT.try_with(|last| {
        let mut last = last.borrow_mut();
        match last.as_ref() {
            Some((cached, value)) if *cached == millis => value.clone(),
            _ => {
                let value = format_timeout(timeout);
                *last = Some((millis, value.clone()));
                value
            }
        }
    });
    // Only while the thread's locals are being torn down is there no cache.
    cached.unwrap_or_else(|_| format_timeout(timeout))
}

/// `timeout` in the `grpc-timeout` form: milliseconds, or seconds when
/// milliseconds take more than 8 digits.
fn format_timeout(timeout: Duration) -> HeaderValue {
    let millis = timeout.as_millis();
    let text = if millis < 100_000_000 {
        format!("{}m", millis.max(1))
    } else {
        format!("{}S", timeout.as_secs().min(99_999_999))
    };
    // Digits and one ASCII letter always make a valid header value.
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("99999999S"))
}

thread_local! {
    /// The last `grpc-timeout` made on this thread, by its milliseconds.
    static LAST_TIMEOUT: std::cell::RefCell<Option<(u128, HeaderValue)>> = const { std::cell::RefCell::new(None) };
}

/// The deadline a `grpc-timeout` header asks for (tonic sends one for
/// `Request::set_timeout`): up to 8 digits and a unit. `None` when the
/// value is not one.
pub(crate) fn parse_timeout(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?;
    let split = text.len().checked_sub(1)?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The status in trailers (or in headers of a trailers-only response):
/// `Ok(None)` for grpc-status 0, `Ok(Some(err))` for a failure, and `Err` when
/// there is no status at all.
pub(crate) fn status(headers: &impl Lookup) -> Option<Result<(), Error>> {
    let code = headers.value(GRPC_STATUS)?;
    if code == b"0" {
        return Some(Ok(()));
    }
    let code = std::str::from_utf8(code).ok().and_then(|c| c.parse::<i32>().ok());
    let Some(code) = code else {
        return Some(Err(Error::protocol("unparsable grpc-status")));
    };
    if code == 0 {
        return Some(Ok(()));
    }
    let message = headers.value(GRPC_MESSAGE).map(percent_decode).unwrap_or_default();
    Some(Err(Error::from_grpc(GrpcCode::from_i32(code), &message)))
}

/// `grpc-message` is percent-encoded UTF-8.
fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok();
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The error for an HTTP status other than 200 in place of a gRPC answer.
/// A proxy that cannot reach etcd says so with 429, 502, 503 or 504, which
/// gRPC counts as Unavailable (worth another member); any other status is a
/// server that does not speak gRPC, a protocol violation.
pub(crate) fn http_status_error(status: u16) -> Error {
    let unavailable = matches!(status, 429 | 502 | 503 | 504);
    let kind = if unavailable { ErrorKind::Unavailable } else { ErrorKind::Protocol };
    let shown = http::StatusCode::from_u16(status).map_or_else(|_| status.to_string(), |s| s.to_string());
    Error::new(kind, format!("HTTP status {shown} instead of a gRPC answer"))
}

/// Header fields looked up by (lower-case) name: an `http` map, or the
/// fields of our own HTTP/2 layer.
pub(crate) trait Lookup {
    /// The first value of `name`.
    fn value(&self, name: &str) -> Option<&[u8]>;
}

impl Lookup for HeaderMap {
    fn value(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(HeaderValue::as_bytes)
    }
}

impl Lookup for super::http2::Fields {
    fn value(&self, name: &str) -> Option<&[u8]> {
        self.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let message = crate::pb::etcdserverpb::PutRequest {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"v"),
            ..Default::default()
        };
        let frame = encode(&message, 1 << 20).map_err(|e| e.to_string());
        let frame = frame.unwrap_or_default();
        assert_eq!(frame_len(&frame), Some(frame.len()));
        let back: Result<crate::pb::etcdserverpb::PutRequest> = decode(frame);
        assert_eq!(back.ok(), Some(message));
    }

    #[test]
    fn send_limit_is_enforced_before_encoding() {
        let message = crate::pb::etcdserverpb::PutRequest {
            key: Bytes::from_static(b"k"),
            value: Bytes::from(vec![0u8; 100]),
            ..Default::default()
        };
        assert_eq!(encode(&message, 10).err().map(|e| e.kind()), Some(ErrorKind::RequestTooLarge));
    }

    #[test]
    fn lengths_over_u32_are_refused_and_limits_clamped() {
        let over = MAX_FRAME_LEN + 1;
        let refused = check_len(over, usize::MAX).err();
        assert_eq!(refused.as_ref().map(|e| e.kind()), Some(ErrorKind::RequestTooLarge));
        assert!(refused.is_some_and(|e| e.message().contains("4294967295")));
        assert!(check_len(MAX_FRAME_LEN, usize::MAX).is_ok());
        assert_eq!(send_limit(usize::MAX), MAX_FRAME_LEN);
        assert_eq!(send_limit(2 << 20), 2 << 20);
    }

    #[test]
    fn truncated_and_compressed_frames_are_protocol_errors() {
        let short: Result<crate::pb::etcdserverpb::PutRequest> = decode(Bytes::from_static(&[0, 0, 0]));
        assert_eq!(short.err().map(|e| e.kind()), Some(ErrorKind::Protocol));
        let compressed: Result<crate::pb::etcdserverpb::PutRequest> = decode(Bytes::from_static(&[1, 0, 0, 0, 0]));
        assert_eq!(compressed.err().map(|e| e.kind()), Some(ErrorKind::Protocol));
    }

    #[test]
    fn status_from_trailers() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("3"));
        trailers.insert("grpc-message", HeaderValue::from_static("etcdserver: key is not provided"));
        let err = status(&trailers).and_then(|s| s.err());
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::EmptyKey));
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        assert!(matches!(status(&trailers), Some(Ok(()))));
        assert!(status(&HeaderMap::new()).is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"a%20b%25"), "a b%");
        assert_eq!(percent_decode(b"100%"), "100%");
        assert_eq!(percent_decode(b"%zz"), "%zz");
    }

    #[test]
    fn timeout_headers_parse() {
        let parse = |text: &'static str| parse_timeout(&HeaderValue::from_static(text));
        assert_eq!(parse("300000u"), Some(Duration::from_millis(300)));
        assert_eq!(parse("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("0n"), Some(Duration::ZERO));
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("99999999M"), Some(Duration::from_secs(99_999_999 * 60)));
        for bad in ["", "m", "10", "10x", "123456789S", "-1S", "1.5S"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse_timeout(&timeout_header(Duration::from_secs(7))), Some(Duration::from_secs(7)));
    }

    #[test]
    fn timeout_header_fits_eight_digits() {
        assert_eq!(timeout_header(Duration::from_millis(1500)), "1500m");
        assert_eq!(timeout_header(Duration::from_micros(10)), "1m");
        assert_eq!(timeout_header(Duration::from_secs(1_000_000)), "1000000S");
    }
}
