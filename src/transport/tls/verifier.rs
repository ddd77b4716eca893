//! The server certificate check: webpki's, which refuses X.509 v1
//! certificates with an error that only names the version. Seen from the
//! certificate itself, the cause is plain: it was signed without an
//! extension file, so it has no subjectAltName. We keep the certificate's
//! side of the story so the message can say that and how to mend it.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

/// A refusal of a v1 server certificate, recognised in `refusal.rs`.
#[derive(Debug)]
pub(super) struct V1ServerCertificate;

impl std::fmt::Display for V1ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an X.509 v1 certificate, which has no subjectAltName")
    }
}

impl std::error::Error for V1ServerCertificate {}

/// webpki's verifier, with v1 certificates' refusals said as such.
#[derive(Debug)]
pub(super) struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl Verifier {
    pub(super) fn new(inner: Arc<WebPkiServerVerifier>) -> Verifier {
        Verifier { inner }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now).map_err(|refusal| {
            if super::certificate::is_v1(end_entity) {
                CertificateError::Other(OtherError(Arc::new(V1ServerCertificate))).into()
            } else {
                refusal
            }
        })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
