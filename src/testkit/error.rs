//! The one error type of the test kit.

use std::fmt;

/// What went wrong, coarsely; the message says the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TestkitErrorKind {
    /// No etcd binary was found, or the one found does not run.
    BinaryNotFound,
    /// etcd could not listen because a port was taken (the kit retries this itself).
    AddrInUse,
    /// An etcd process exited on its own.
    Exited,
    /// etcd did not report healthy in time.
    Timeout,
    /// The member index or the member's state does not allow the call.
    InvalidState,
    /// A file, directory, socket or process call failed.
    Io,
}

/// An error from the test kit; its message says what happened and what to do.
#[derive(Clone, PartialEq, Eq)]
pub struct TestkitError {
    kind: TestkitErrorKind,
    message: String,
}

impl TestkitError {
    pub(crate) fn new(kind: TestkitErrorKind, message: impl Into<String>) -> Self {
        TestkitError { kind, message: message.into() }
    }

    /// An I/O failure while doing `what`.
    pub(crate) fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        TestkitError::new(TestkitErrorKind::Io, format!("testkit: {what}: {err}"))
    }

    /// An index or state error.
    pub(crate) fn state(message: impl Into<String>) -> Self {
        TestkitError::new(TestkitErrorKind::InvalidState, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> TestkitErrorKind {
        self.kind
    }

    /// The full message, the same text as `Display`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TestkitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for TestkitError {
    // Debug shows the message as written, so `Result::unwrap` in a test prints a readable log tail.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TestkitError({:?}): {}", self.kind, self.message)
    }
}

impl std::error::Error for TestkitError {}
