//! What can end a stream or a connection, as the layers above need to
//! tell it apart: whether the server reset the stream and with which code,
//! whether the request surely went unprocessed, and the socket's own error
//! (which says what a TLS peer refused).

use std::fmt;
use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::reason::Reason;

/// A stream's or a connection's failure. Cheap to clone: a connection's
/// failure is handed to every stream on it.
#[derive(Clone, Debug)]
pub(crate) struct Error {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    /// RST_STREAM, from the server (`remote`) or sent by us.
    Reset { code: Reason, remote: bool },
    /// The server's GOAWAY. `unprocessed`: this stream was above its last
    /// stream id (or opened after it), so the server never saw it.
    GoAway { code: Reason, debug: Bytes, unprocessed: bool },
    /// The socket failed, or the server closed it.
    Io(Arc<io::Error>),
    /// The server broke the protocol (found by us), or a stream was
    /// refused before it was sent (ids used up).
    Local { code: Reason, what: String, unprocessed: bool },
}

impl Error {
    pub(crate) fn reset(code: Reason, remote: bool) -> Error {
        Error { kind: Kind::Reset { code, remote } }
    }

    pub(crate) fn go_away(code: Reason, debug: Bytes, unprocessed: bool) -> Error {
        Error { kind: Kind::GoAway { code, debug, unprocessed } }
    }

    pub(crate) fn io(error: io::Error) -> Error {
        Error { kind: Kind::Io(Arc::new(error)) }
    }

    /// The server closed the connection.
    pub(crate) fn eof() -> Error {
        Error::io(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection (end of file)"))
    }

    /// A violation of the protocol that we found.
    pub(crate) fn protocol(code: Reason, what: impl Into<String>) -> Error {
        Error { kind: Kind::Local { code, what: what.into(), unprocessed: false } }
    }

    /// A request that was never sent, for `why`.
    pub(crate) fn not_sent(why: impl Into<String>) -> Error {
        Error { kind: Kind::Local { code: Reason::REFUSED_STREAM, what: why.into(), unprocessed: true } }
    }

    /// The same failure, for a stream the server cannot have processed.
    pub(crate) fn into_unprocessed(mut self) -> Error {
        match &mut self.kind {
            Kind::GoAway { unprocessed, .. } | Kind::Local { unprocessed, .. } => *unprocessed = true,
            Kind::Reset { .. } | Kind::Io(_) => {}
        }
        self
    }

    /// The HTTP/2 error code, if one was sent or received.
    pub(crate) fn reason(&self) -> Option<Reason> {
        match &self.kind {
            Kind::Reset { code, .. } | Kind::GoAway { code, .. } | Kind::Local { code, .. } => Some(*code),
            Kind::Io(_) => None,
        }
    }

    /// Whether the server surely did not process the request: it refused
    /// the stream, its GOAWAY's last stream id is below it, or it was never
    /// sent (RFC 9113, section 8.7).
    pub(crate) fn unprocessed(&self) -> bool {
        match &self.kind {
            Kind::Reset { code, remote } => *remote && *code == Reason::REFUSED_STREAM,
            Kind::GoAway { unprocessed, .. } | Kind::Local { unprocessed, .. } => *unprocessed,
            Kind::Io(_) => false,
        }
    }

    /// The socket's error, when that is what ended the connection.
    pub(crate) fn get_io(&self) -> Option<&io::Error> {
        match &self.kind {
            Kind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Reset { code, remote: true } => write!(f, "stream reset by the server: {code}"),
            Kind::Reset { code, remote: false } => write!(f, "stream reset by the client: {code}"),
            Kind::GoAway { code, debug, unprocessed } => {
                write!(f, "the server is closing the connection (GOAWAY {code}")?;
                if !debug.is_empty() {
                    write!(f, ", {:?}", String::from_utf8_lossy(debug))?;
                }
                f.write_str(")")?;
                if *unprocessed {
                    f.write_str("; this request was not processed")?;
                }
                Ok(())
            }
            Kind::Io(e) => write!(f, "{e}"),
            Kind::Local { code, what, .. } => write!(f, "{what} ({code})"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Io(e) => Some(&**e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_goaways_above_the_last_id_and_unsent_requests_are_unprocessed() {
        assert!(Error::reset(Reason::REFUSED_STREAM, true).unprocessed());
        assert!(!Error::reset(Reason::REFUSED_STREAM, false).unprocessed());
        assert!(!Error::reset(Reason::CANCEL, true).unprocessed());
        assert!(!Error::go_away(Reason::NO_ERROR, Bytes::new(), false).unprocessed());
        assert!(Error::go_away(Reason::NO_ERROR, Bytes::new(), false).into_unprocessed().unprocessed());
        assert!(Error::not_sent("stream ids used up").unprocessed());
        assert!(!Error::eof().unprocessed());
        assert!(!Error::io(io::Error::from(io::ErrorKind::ConnectionReset)).into_unprocessed().unprocessed());
    }

    #[test]
    fn messages_name_the_code_and_the_side() {
        assert_eq!(Error::reset(Reason::CANCEL, true).to_string(), "stream reset by the server: CANCEL");
        let away = Error::go_away(Reason::ENHANCE_YOUR_CALM, Bytes::from_static(b"too_many_pings"), true);
        assert_eq!(
            away.to_string(),
            "the server is closing the connection (GOAWAY ENHANCE_YOUR_CALM, \"too_many_pings\"); \
             this request was not processed"
        );
        assert!(Error::eof().to_string().contains("end of file"));
        assert_eq!(Error::eof().get_io().map(io::Error::kind), Some(io::ErrorKind::UnexpectedEof));
        assert_eq!(Error::protocol(Reason::PROTOCOL_ERROR, "bad").reason(), Some(Reason::PROTOCOL_ERROR));
    }
}
