//! TLS for the connections (feature `tls`): rustls with its `ring`
//! provider. Built once from the [`TlsConfig`](crate::auth::TlsConfig) at
//! connect time (`setup.rs`), trusting the CAs given or the system's roots,
//! with webpki's check of the server certificate wrapped to recognise v1
//! certificates (`verifier.rs`). Every refusal becomes an error of kind
//! [`Tls`](crate::ErrorKind::Tls) that says what was refused and why
//! (`refusal.rs`).

#[cfg(feature = "tls")]
mod certificate;
#[cfg(feature = "tls")]
mod refusal;
#[cfg(feature = "tls")]
mod setup;
#[cfg(feature = "tls")]
mod verifier;

#[cfg(feature = "tls")]
pub(crate) use refusal::{classify_io, closed_after_handshake};
#[cfg(feature = "tls")]
pub(crate) use setup::Tls;

#[cfg(not(feature = "tls"))]
pub(crate) use disabled::{classify_io, closed_after_handshake, Tls};

#[cfg(not(feature = "tls"))]
mod disabled {
    use crate::error::{Error, Result};
    use crate::transport::endpoint::Endpoint;

    /// Without the `tls` feature there is no TLS setup to hold.
    pub(crate) enum Tls {}

    impl Tls {
        pub(crate) async fn connect<S>(&self, _socket: S, _endpoint: &Endpoint) -> Result<S> {
            match *self {}
        }

        pub(crate) fn has_identity(&self) -> bool {
            match *self {}
        }

        pub(crate) fn not_tls(&self, _endpoint: &Endpoint) -> Error {
            match *self {}
        }
    }

    pub(crate) fn classify_io(_io: &std::io::Error, _endpoint: &Endpoint, _identity: bool) -> Option<Error> {
        None
    }

    pub(crate) fn closed_after_handshake(_io: &std::io::Error, _endpoint: &Endpoint, _identity: bool) -> Option<Error> {
        None
    }
}
