//! A TLS refusal, by either side, said in words: which certificate was
//! refused, why, and what mends it. Never a Debug dump of rustls' errors.

use rustls::CertificateError;

use super::verifier::V1ServerCertificate;
use crate::error::{Error, ErrorKind};
use crate::transport::endpoint::Endpoint;

pub(super) fn tls_error(message: String) -> Error {
    Error::new(ErrorKind::Tls, message)
}

/// A TLS session the server ended right after the handshake, before
/// answering anything: with TLS 1.3 a refused client certificate shows
/// up this way when the server closes without an alert we can read
/// (etcd 3.4 does), so say so.
pub(crate) fn closed_after_handshake(io: &std::io::Error, endpoint: &Endpoint, has_identity: bool) -> Option<Error> {
    use std::io::ErrorKind as Io;
    if !matches!(io.kind(), Io::ConnectionReset | Io::BrokenPipe | Io::UnexpectedEof | Io::ConnectionAborted) {
        return None;
    }
    let at = &endpoint.original;
    let message = if has_identity {
        format!(
            "{at} closed the connection right after the TLS handshake ({io}): it refused the client certificate \
             (expired, or not signed by a CA the server trusts, or not valid for client authentication)"
        )
    } else {
        format!(
            "{at} closed the connection right after the TLS handshake ({io}): it requires a client certificate \
             and none is configured (set identity on the TLS config)"
        )
    };
    Some(Error::new(ErrorKind::Tls, message).with_endpoint(at.clone()))
}

/// The TLS error inside an I/O error, said in words (`has_identity`:
/// whether the client sent a certificate).
pub(crate) fn classify_io(io: &std::io::Error, endpoint: &Endpoint, has_identity: bool) -> Option<Error> {
    let at = &endpoint.original;
    let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
        // An error that kept only the text of the TLS one (a layer that
        // wrapped it): find the alert in it.
        let text = io.to_string();
        let alert = text.split("received fatal alert: ").nth(1)?.split_whitespace().next()?;
        let message = alert_message(at, alert, has_identity);
        return Some(Error::new(ErrorKind::Tls, message).with_endpoint(at.clone()));
    };
    let message = match tls {
        rustls::Error::InvalidCertificate(refusal) => server_certificate(at, endpoint.tls_name(), refusal),
        rustls::Error::AlertReceived(alert) => alert_message(at, &format!("{alert:?}"), has_identity),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => format!(
            "{at} does not speak TLS: it answered something else ({tls}); use http:// without a TLS \
             configuration, or give the member --cert-file and --key-file"
        ),
        other => format!("TLS with {at}: {other}"),
    };
    Some(Error::new(ErrorKind::Tls, message).with_endpoint(at.clone()).with_source(tls.clone()))
}

/// Why the server's certificate was refused, and what to do about it.
fn server_certificate(at: &str, host: &str, refusal: &CertificateError) -> String {
    let san = match host.parse::<std::net::IpAddr>() {
        Ok(_) => format!("IP:{host}"),
        Err(_) => format!("DNS:{host}"),
    };
    match refusal {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
            "the server certificate of {at} is not signed by the configured CA (unknown issuer): check ca_pem/ca_file"
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
            "the server certificate of {at} has no subject alternative name matching {host} \
             (certificates need an IP or DNS SAN for the name dialed, such as subjectAltName = {san}; \
             set server_name to check another)"
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("the server certificate of {at} has expired")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("the server certificate of {at} is not valid yet (check the clocks)")
        }
        CertificateError::Other(other) if other.0.downcast_ref::<V1ServerCertificate>().is_some() => format!(
            "the server certificate of {at} is an X.509 v1 certificate: it has no subject alternative name, and \
             clients check {host} against those, never against the CN. Sign it again with \
             `openssl x509 -req ... -extfile server.ext`, where server.ext holds `subjectAltName = {san}`"
        ),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => format!(
            "the server certificate of {at} is not for server authentication: its extendedKeyUsage needs serverAuth"
        ),
        CertificateError::BadEncoding => format!("the server certificate of {at} is not a readable X.509 certificate"),
        CertificateError::Revoked => format!("the server certificate of {at} has been revoked"),
        CertificateError::Other(other) => format!("the server certificate of {at} was refused: {}", other.0),
        other => format!("the server certificate of {at} was refused: {other}"),
    }
}

/// What a fatal alert from the server means, by the alert's name.
fn alert_message(at: &str, alert: &str, has_identity: bool) -> String {
    const ABOUT_CLIENT_CERT: &[&str] = &[
        "BadCertificate",
        "UnknownCA",
        "CertificateExpired",
        "CertificateUnknown",
        "UnsupportedCertificate",
        "CertificateRevoked",
        "CertificateRequired",
        "HandshakeFailure",
    ];
    if !ABOUT_CLIENT_CERT.contains(&alert) {
        return format!("{at} ended the TLS handshake (alert: {alert})");
    }
    if !has_identity {
        format!("{at} requires a client certificate and none is configured (alert: {alert}); set identity on the TLS config")
    } else {
        format!(
            "{at} refused the client certificate (alert: {alert}): it is expired, or not signed by \
             a CA the server trusts (--trusted-ca-file), or not valid for client authentication"
        )
    }
}
