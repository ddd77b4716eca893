//! TLS for the connections (feature `tls`): rustls with its `ring`
//! provider. Built once from the [`TlsConfig`](crate::auth::TlsConfig) at
//! connect time; every refusal is turned into an error of kind
//! [`Tls`](crate::ErrorKind::Tls) that says what was refused and why.

#[cfg(feature = "tls")]
pub(crate) use enabled::{classify_io, closed_after_handshake, Tls};

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
    }

    pub(crate) fn classify_io(_io: &std::io::Error, _endpoint: &Endpoint, _identity: bool) -> Option<Error> {
        None
    }

    pub(crate) fn closed_after_handshake(_io: &std::io::Error, _endpoint: &Endpoint, _identity: bool) -> Option<Error> {
        None
    }
}

#[cfg(feature = "tls")]
mod enabled {
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use rustls::CertificateError;
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio_rustls::client::TlsStream;

    use crate::config::{PemSource, TlsConfig};
    use crate::error::{Error, ErrorKind, Result};
    use crate::transport::endpoint::Endpoint;

    /// A client TLS setup, shared by every connection.
    pub(crate) struct Tls {
        connector: tokio_rustls::TlsConnector,
        /// Checked instead of each endpoint's host when set.
        server_name: Option<ServerName<'static>>,
        has_identity: bool,
    }

    impl Tls {
        /// Reads the CA and identity and builds the rustls configuration.
        pub(crate) fn new(config: &TlsConfig) -> Result<Tls> {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = rustls::RootCertStore::empty();
            if config.ca.is_empty() {
                return Err(Error::invalid_argument(
                    "TLS configuration has no CA: give the CA that signed the servers' certificates with ca_pem or ca_file",
                ));
            }
            for source in &config.ca {
                let pem = source.read("CA certificate")?;
                let certs = certificates(&pem, &source.describe("CA certificate"))?;
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        tls_error(format!("{} is not a usable CA certificate: {e}", source.describe("CA certificate")))
                    })?;
                }
            }
            let builder = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| tls_error(format!("TLS setup: {e}")))?
                .with_root_certificates(roots);
            let mut client = match &config.identity {
                None => builder.with_no_client_auth(),
                Some((cert_source, key_source)) => {
                    let cert_pem = cert_source.read("client certificate")?;
                    let chain = certificates(&cert_pem, &cert_source.describe("client certificate"))?;
                    if let Some(not_after) = chain.first().and_then(|c| super::validity::not_after(c)) {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs() as i64);
                        if not_after < now {
                            return Err(tls_error(format!(
                                "the client certificate ({}) expired at {} (unix time {not_after}); etcd would refuse it",
                                cert_source.describe("client certificate"),
                                super::validity::format_utc(not_after),
                            )));
                        }
                    }
                    let key_pem = key_source.read("client key")?;
                    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                        Error::invalid_argument(format!(
                            "{} holds no usable private key (PKCS#8, PKCS#1 or SEC1 PEM expected): {e}",
                            key_source.describe("client key")
                        ))
                    })?;
                    builder.with_client_auth_cert(chain, key).map_err(|e| {
                        Error::invalid_argument(format!(
                            "the client certificate and key cannot be used together (does the key belong to the certificate?): {e}"
                        ))
                    })?
                }
            };
            // gRPC runs over HTTP/2, which TLS negotiates by ALPN.
            client.alpn_protocols = vec![b"h2".to_vec()];
            let server_name = match &config.server_name {
                None => None,
                Some(name) => Some(ServerName::try_from(name.clone()).map_err(|_| {
                    Error::invalid_argument(format!("TLS server name {name:?} is neither a DNS name nor an IP address"))
                })?),
            };
            Ok(Tls {
                connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
                server_name,
                has_identity: config.identity.is_some(),
            })
        }

        pub(crate) fn has_identity(&self) -> bool {
            self.has_identity
        }

        /// The TLS handshake over `socket` (TCP or unix), verifying the
        /// server's certificate against the endpoint's host (an IP or DNS
        /// name; a unix socket's file name) or the configured server name.
        pub(crate) async fn connect<S>(&self, socket: S, endpoint: &Endpoint) -> Result<TlsStream<S>>
        where
            S: AsyncRead + AsyncWrite + Unpin,
        {
            let name = match &self.server_name {
                Some(name) => name.clone(),
                None => ServerName::try_from(endpoint.tls_name().to_string()).map_err(|_| {
                    Error::invalid_argument(format!(
                        "endpoint {}: {:?} is neither a DNS name nor an IP address (set server_name on the TLS config)",
                        endpoint.original,
                        endpoint.tls_name()
                    ))
                })?,
            };
            self.connector.connect(name, socket).await.map_err(|e| {
                classify_io_with(&e, endpoint, self.has_identity).unwrap_or_else(|| {
                    Error::new(ErrorKind::Unavailable, format!("TLS handshake with {}: {e}", endpoint.original))
                        .with_endpoint(endpoint.original.clone())
                })
            })
        }
    }

    /// The TLS error inside an I/O error, said in words: which certificate
    /// was refused and why (`has_identity`: whether the client sent one).
    pub(crate) fn classify_io(io: &std::io::Error, endpoint: &Endpoint, has_identity: bool) -> Option<Error> {
        classify_io_with(io, endpoint, has_identity)
    }

    /// A TLS session the server ended right after the handshake, before
    /// answering anything: with TLS 1.3 a refused client certificate shows
    /// up this way when the server closes without an alert we can read
    /// (etcd 3.4 does), so say so.
    pub(crate) fn closed_after_handshake(
        io: &std::io::Error,
        endpoint: &Endpoint,
        has_identity: bool,
    ) -> Option<Error> {
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

    fn classify_io_with(io: &std::io::Error, endpoint: &Endpoint, has_identity: bool) -> Option<Error> {
        let at = &endpoint.original;
        let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
            // h2 keeps only the text of I/O errors it passes on: find the
            // alert in it.
            let text = io.to_string();
            let alert = text.split("received fatal alert: ").nth(1)?.split_whitespace().next()?;
            let message = alert_message(at, alert, has_identity);
            return Some(Error::new(ErrorKind::Tls, message).with_endpoint(at.clone()));
        };
        let host = endpoint.tls_name();
        let message = match tls {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                    "the server certificate of {at} is not signed by the configured CA (unknown issuer): \
                     check ca_pem/ca_file"
                ),
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
                    "the server certificate of {at} has no subject alternative name matching {host} \
                     (certificates need an IP or DNS SAN for the name dialed; set server_name to check another)"
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    format!("the server certificate of {at} has expired")
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    format!("the server certificate of {at} is not valid yet (check the clocks)")
                }
                other => format!("the server certificate of {at} was refused: {other:?}"),
            },
            rustls::Error::AlertReceived(alert) => alert_message(at, &format!("{alert:?}"), has_identity),
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                format!("{at} did not answer with TLS ({tls}); is it serving plain http://?")
            }
            other => format!("TLS with {at}: {other}"),
        };
        Some(Error::new(ErrorKind::Tls, message).with_endpoint(at.clone()).with_source(tls.clone()))
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

    fn tls_error(message: String) -> Error {
        Error::new(ErrorKind::Tls, message)
    }

    /// Every certificate in a PEM text, at least one.
    fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::invalid_argument(format!("{what} is not readable PEM: {e}")))?;
        if certs.is_empty() {
            return Err(Error::invalid_argument(format!("{what} holds no certificate (no BEGIN CERTIFICATE block)")));
        }
        Ok(certs)
    }

    impl PemSource {
        pub(crate) fn read(&self, what: &str) -> Result<Vec<u8>> {
            match self {
                PemSource::Bytes(bytes) => Ok(bytes.to_vec()),
                PemSource::File(path) => std::fs::read(path).map_err(|e| {
                    Error::invalid_argument(format!("cannot read the {what} file {}: {e}", path.display()))
                }),
            }
        }

        pub(crate) fn describe(&self, what: &str) -> String {
            match self {
                PemSource::Bytes(_) => format!("the {what} given as PEM"),
                PemSource::File(path) => format!("the {what} file {}", path.display()),
            }
        }
    }
}

/// The validity of an X.509 certificate, read from its DER without a
/// parser dependency: only the client's own certificate is read, to say
/// "expired" before the server does.
#[cfg(feature = "tls")]
mod validity {
    /// The certificate's notAfter as unix seconds.
    pub(super) fn not_after(der: &[u8]) -> Option<i64> {
        let (_, certificate, _) = element(der)?;
        let (_, tbs, _) = element(certificate)?;
        let mut rest = tbs;
        // version [0] is optional
        let (tag, _, after) = element(rest)?;
        if tag == 0xa0 {
            rest = after;
        }
        // serialNumber, signature, issuer
        for _ in 0..3 {
            rest = element(rest)?.2;
        }
        let (_, validity, _) = element(rest)?;
        let (_, _, after_not_before) = element(validity)?;
        let (tag, time, _) = element(after_not_before)?;
        parse_time(tag, time)
    }

    /// One DER element: (tag, contents, what follows).
    fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *input.first()?;
        let first = *input.get(1)? as usize;
        let (len, header) = if first < 0x80 {
            (first, 2)
        } else {
            let count = first & 0x7f;
            if count == 0 || count > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..count {
                len = (len << 8) | *input.get(2 + i)? as usize;
            }
            (len, 2 + count)
        };
        let end = header.checked_add(len)?;
        Some((tag, input.get(header..end)?, input.get(end..)?))
    }

    /// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ).
    fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
        let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
        let (year, rest) = match tag {
            0x17 => {
                let yy: i64 = text.get(0..2)?.parse().ok()?;
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
            }
            0x18 => (text.get(0..4)?.parse().ok()?, text.get(4..)?),
            _ => return None,
        };
        let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
        let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
        Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
    pub(super) fn format_utc(secs: i64) -> String {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn civil_dates_round_trip() {
            assert_eq!(days_from_civil(1970, 1, 1), 0);
            assert_eq!(days_from_civil(2000, 3, 1), 11_017);
            assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
            assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
            assert_eq!(parse_time(0x17, b"000229000000Z"), Some(951_782_400));
            assert_eq!(parse_time(0x18, b"20000229000000Z"), Some(951_782_400));
            assert_eq!(parse_time(0x17, b"garbage"), None);
        }

        #[test]
        fn truncated_der_is_none() {
            assert_eq!(not_after(&[]), None);
            assert_eq!(not_after(&[0x30, 0x82, 0xff]), None);
        }
    }
}
