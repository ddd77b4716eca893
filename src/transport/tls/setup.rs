//! The rustls client configuration, built once from the
//! [`TlsConfig`] at connect time, and the handshake of each connection.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;

use super::certificate;
use super::refusal::{classify_io, tls_error};
use super::verifier::Verifier;
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
    /// Reads the CA and identity and builds the rustls configuration, or
    /// takes the one the user gave.
    pub(crate) fn new(config: &TlsConfig) -> Result<Tls> {
        let mut client = match &config.rustls {
            Some(given) if !config.ca.is_empty() || config.identity.is_some() => {
                return Err(Error::invalid_argument(
                    "the TLS configuration has both a rustls ClientConfig and a CA or identity: \
                     put the CA and identity into the rustls config, or give them without it",
                ))
            }
            Some(given) => rustls::ClientConfig::clone(given),
            None => build(config)?,
        };
        // gRPC runs over HTTP/2, which TLS negotiates by ALPN.
        if client.alpn_protocols.is_empty() {
            client.alpn_protocols = vec![b"h2".to_vec()];
        }
        let server_name = match &config.server_name {
            None => None,
            Some(name) => Some(ServerName::try_from(name.clone()).map_err(|_| {
                Error::invalid_argument(format!("TLS server name {name:?} is neither a DNS name nor an IP address"))
            })?),
        };
        Ok(Tls {
            has_identity: client.client_auth_cert_resolver.has_certs(),
            connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
            server_name,
        })
    }

    pub(crate) fn has_identity(&self) -> bool {
        self.has_identity
    }

    /// The TLS handshake over `socket` (TCP or unix), verifying the
    /// server's certificate against the endpoint's host (an IP or DNS
    /// name; a unix socket's file name) or the configured server name. A
    /// failure that is no TLS refusal (the socket closed or reset) is
    /// Unavailable: the caller looks at what the member speaks.
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
            classify_io(&e, endpoint, self.has_identity).unwrap_or_else(|| {
                Error::new(ErrorKind::Unavailable, format!("TLS handshake with {}: {e}", endpoint.original))
                    .with_endpoint(endpoint.original.clone())
            })
        })
    }

    /// The error for a member that answered plain HTTP/2 where TLS was
    /// expected: not retryable, since no retry will change it.
    pub(crate) fn not_tls(&self, endpoint: &Endpoint) -> Error {
        let at = &endpoint.original;
        Error::new(
            ErrorKind::Tls,
            format!(
                "{at} does not speak TLS: it answers plain gRPC (HTTP/2 without TLS). Connect without a TLS \
                 configuration and with http://, or start the member with --cert-file and --key-file"
            ),
        )
        .with_endpoint(at.clone())
    }
}

/// Our own rustls configuration: the CAs given, or the system's roots;
/// the client certificate, if any, sent as given.
fn build(config: &TlsConfig) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = if config.ca.is_empty() { system_roots()? } else { given_roots(&config.ca)? };
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls_error(format!("TLS setup: {e}")))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier::new(webpki)));
    Ok(match &config.identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let identity = identity(cert, key, &provider)?;
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(identity)))
        }
    })
}

fn given_roots(sources: &[PemSource]) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for source in sources {
        let what = source.describe("CA certificate");
        for cert in certificates(&source.read("CA certificate")?, &what)? {
            roots.add(cert).map_err(|e| tls_error(format!("{what} is not a usable CA certificate: {e}")))?;
        }
    }
    Ok(roots)
}

/// The system's trusted roots, as Go's client uses when given no CA.
fn system_roots() -> Result<rustls::RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
        return Err(tls_error(format!(
            "no CA was given and no system root certificate was found{why}: \
             give the CA that signed the servers' certificates with ca_file or ca_pem"
        )));
    }
    Ok(roots)
}

/// The client certificate and key, checked to belong together. webpki
/// cannot parse the X.509 v1 certificates that `openssl x509 -req` makes
/// without `-extfile` (which etcd accepts), so the check reads the
/// certificate's public key itself instead of asking rustls.
fn identity(cert: &PemSource, key: &PemSource, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let cert_what = cert.describe("client certificate");
    let chain = certificates(&cert.read("client certificate")?, &cert_what)?;
    if let Some(not_after) = chain.first().and_then(|c| certificate::not_after(c)) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        if not_after < now {
            return Err(tls_error(format!(
                "the client certificate ({cert_what}) expired at {} (unix time {not_after}); etcd would refuse it",
                certificate::format_utc(not_after),
            )));
        }
    }
    let key_what = key.describe("client key");
    let key_der = PrivateKeyDer::from_pem_slice(&key.read("client key")?).map_err(|e| {
        Error::invalid_argument(format!(
            "{key_what} holds no usable private key (PKCS#8, PKCS#1 or SEC1 PEM expected): {e}"
        ))
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| Error::invalid_argument(format!("{key_what} cannot be used for signing: {e}")))?;
    let Some(cert_key) = chain.first().and_then(|c| certificate::public_key_info(c)) else {
        return Err(Error::invalid_argument(format!("{cert_what} is not a readable X.509 certificate")));
    };
    if signing_key.public_key().is_some_and(|key| key.as_ref() != cert_key) {
        return Err(Error::invalid_argument(format!(
            "the client certificate and key cannot be used together: {key_what} does not belong to {cert_what}"
        )));
    }
    Ok(CertifiedKey::new(chain, signing_key))
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
            PemSource::File(path) => std::fs::read(path)
                .map_err(|e| Error::invalid_argument(format!("cannot read the {what} file {}: {e}", path.display()))),
        }
    }

    pub(crate) fn describe(&self, what: &str) -> String {
        match self {
            PemSource::Bytes(_) => format!("the {what} given as PEM"),
            PemSource::File(path) => format!("the {what} file {}", path.display()),
        }
    }
}
