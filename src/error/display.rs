//! How an [`Error`] prints: `Display` as one short line for logs and users,
//! `Debug` with every field.

use std::fmt;

use super::Error;

/// The most of a message that `Display` shows. A server's `grpc-message` is
/// bounded only by its trailers, and an error should stay one short line;
/// [`Error::message`] keeps the whole text.
const SHOWN_MESSAGE_BYTES: usize = 512;

/// Writes `text` with line breaks turned into spaces, so an error is always
/// one line.
fn write_one_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for (i, part) in text.split(['\n', '\r']).enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        f.write_str(part)?;
    }
    Ok(())
}

/// Writes at most [`SHOWN_MESSAGE_BYTES`] of `message`, cut on a character
/// boundary, and says how many bytes were left out.
fn write_message(f: &mut fmt::Formatter<'_>, message: &str) -> fmt::Result {
    let shown = shown_len(message, SHOWN_MESSAGE_BYTES);
    write_one_line(f, &message[..shown])?;
    if shown < message.len() {
        write!(f, "... [{} bytes cut]", message.len() - shown)?;
    }
    Ok(())
}

/// The length of the longest prefix of `text` that fits in `max` bytes and
/// ends on a character boundary.
fn shown_len(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    // A character is at most 4 bytes, so a boundary is at most 3 bytes back.
    (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
}

impl fmt::Display for Error {
    /// One line: the message, then in parentheses the kind, the gRPC code
    /// (when it adds something), the endpoint and the outcome flag. For
    /// example: `etcdserver: key is not provided (EmptyKey, code
    /// InvalidArgument, endpoint http://10.0.0.1:2379)`. A message over 512
    /// bytes is cut there, on a character boundary, with a note of how many
    /// bytes were cut; [`Error::message`] returns it whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        // An empty message gives its place to the kind.
        let kind_in_details = !inner.message.is_empty();
        if kind_in_details {
            write_message(f, &inner.message)?;
        } else {
            f.write_str(inner.kind.as_str())?;
        }
        let code = inner.code.filter(|code| code.as_str() != inner.kind.as_str());
        let mut sep = " (";
        if kind_in_details {
            write!(f, "{sep}{}", inner.kind)?;
            sep = ", ";
        }
        if let Some(code) = code {
            write!(f, "{sep}code {code}")?;
            sep = ", ";
        }
        if let Some(endpoint) = &inner.endpoint {
            write!(f, "{sep}endpoint ")?;
            write_one_line(f, endpoint)?;
            sep = ", ";
        }
        if inner.outcome_unknown {
            write!(f, "{sep}write outcome unknown")?;
            sep = ", ";
        }
        if sep == ", " {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &inner.kind);
        if let Some(code) = inner.code {
            d.field("code", &code);
        }
        d.field("message", &inner.message);
        if let Some(endpoint) = &inner.endpoint {
            d.field("endpoint", endpoint);
        }
        if inner.outcome_unknown {
            d.field("outcome_unknown", &true);
        }
        if let Some(source) = &inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, GrpcCode::*};

    #[test]
    fn display_is_one_line_with_message_kind_code_endpoint() {
        let err =
            Error::from_grpc(InvalidArgument, "etcdserver: key is not provided").with_endpoint("http://10.0.0.1:2379");
        assert_eq!(
            err.to_string(),
            "etcdserver: key is not provided (EmptyKey, code InvalidArgument, endpoint http://10.0.0.1:2379)"
        );

        // the code is left out when it only repeats the kind
        let err = Error::from_grpc(Unavailable, "connection refused");
        assert_eq!(err.to_string(), "connection refused (Unavailable)");

        let err = Error::invalid_argument("endpoint list is empty");
        assert_eq!(err.to_string(), "endpoint list is empty (InvalidArgument)");
        assert_eq!(err.grpc_code(), None);

        let err = Error::from_grpc(Unavailable, "");
        assert_eq!(err.to_string(), "Unavailable");
        let err = Error::from_grpc(Internal, "").with_endpoint("e:1");
        assert_eq!(err.to_string(), "Other (code Internal, endpoint e:1)");

        let err = Error::new(ErrorKind::Protocol, "bad frame\nsecond line\r\nthird");
        let shown = err.to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
        assert!(shown.contains("bad frame second line"), "{shown}");
        assert!(shown.contains("Protocol"), "{shown}");
    }

    #[test]
    fn a_long_server_message_is_cut_in_display_but_kept_whole() {
        // 64 KiB of text, with a 3-byte character across the cut and a line
        // break before it.
        let mut message = String::from("first line\nsecond ");
        while message.len() < SHOWN_MESSAGE_BYTES - 1 {
            message.push('x');
        }
        message.push('€');
        while message.len() < 64 * 1024 {
            message.push('y');
        }
        let err = Error::from_grpc(Internal, &message).with_endpoint("e:1");
        assert_eq!(err.message(), message);

        let shown = err.to_string();
        let kept = SHOWN_MESSAGE_BYTES - 1; // the euro sign would end past the limit
        let expected_head = message[..kept].replace('\n', " ");
        let cut = message.len() - kept;
        assert_eq!(shown, format!("{expected_head}... [{cut} bytes cut] (Other, code Internal, endpoint e:1)"));
        assert!(shown.len() < 600, "{}", shown.len());

        // at the limit nothing is cut
        let exact = "z".repeat(SHOWN_MESSAGE_BYTES);
        assert_eq!(Error::from_grpc(Internal, &exact).to_string(), format!("{exact} (Other, code Internal)"));
    }

    #[test]
    fn cut_points_are_character_boundaries() {
        assert_eq!(shown_len("", 4), 0);
        assert_eq!(shown_len("abcd", 4), 4);
        assert_eq!(shown_len("abcde", 4), 4);
        assert_eq!(shown_len("ab€", 4), 2);
        assert_eq!(shown_len("€€", 4), 3);
        assert_eq!(shown_len("😀x", 3), 0);
    }
}
