//! [`TlsConfig`]: which servers to trust and which certificate to present
//! (feature `tls`). Read and checked in `transport/tls.rs` when the client
//! connects.

use std::sync::Arc;

/// Where a PEM text comes from.
#[derive(Clone)]
pub(crate) enum PemSource {
    Bytes(bytes::Bytes),
    /// Read when the client connects.
    File(std::path::PathBuf),
}

/// TLS settings for [`Config::tls`](crate::Config::tls) (feature `tls`), as
/// etcdctl's `--cacert`, `--cert`, `--key`:
///
/// ```no_run
/// use etcd_raw::{Client, Config, TlsConfig};
///
/// #[tokio::main]
/// async fn main() -> Result<(), etcd_raw::Error> {
///     let tls = TlsConfig::new()
///         .ca_file("ca.pem")
///         .identity_files("client.pem", "client-key.pem");
///     let client = Client::new(Config::new(["https://127.0.0.1:2379"]).tls(tls)).await?;
///     client.put("greeting", "hello over TLS").await?;
///     Ok(())
/// }
/// ```
///
/// Servers are verified against the CAs given or, when none is, against
/// the system's roots (as Go's client does; `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` are honoured). The name checked is each endpoint's host,
/// an IP address (the certificate needs an IP SAN, as in
/// `subjectAltName = IP:10.0.0.1`) or a DNS name, unless
/// [`server_name`](TlsConfig::server_name) sets one for all. Keys may be
/// PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM; client certificates may be
/// X.509 v1 (signed without an extension file), as etcd accepts them.
/// Refusals, by either side, fail with
/// [`ErrorKind::Tls`](crate::ErrorKind::Tls) and a message that says which
/// certificate was refused and why. `Debug` never shows key material.
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
#[derive(Clone, Default)]
pub struct TlsConfig {
    pub(crate) ca: Vec<PemSource>,
    pub(crate) identity: Option<(PemSource, PemSource)>,
    pub(crate) server_name: Option<String>,
    pub(crate) rustls: Option<Arc<rustls::ClientConfig>>,
}

impl TlsConfig {
    /// Trust the system's roots and present no client certificate, until
    /// told otherwise.
    pub fn new() -> TlsConfig {
        TlsConfig::default()
    }

    /// Trust the CA certificates in this PEM text (may be called again to
    /// add more). Once a CA is given, the system's roots are not used.
    pub fn ca_pem(mut self, pem: impl Into<bytes::Bytes>) -> Self {
        self.ca.push(PemSource::Bytes(pem.into()));
        self
    }

    /// Trust the CA certificates in this PEM file, read when the client
    /// connects (etcdctl's `--cacert`).
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca.push(PemSource::File(path.into()));
        self
    }

    /// Present this client certificate (chain) and private key, both PEM,
    /// for servers started with `--client-cert-auth`.
    pub fn identity(mut self, cert_pem: impl Into<bytes::Bytes>, key_pem: impl Into<bytes::Bytes>) -> Self {
        self.identity = Some((PemSource::Bytes(cert_pem.into()), PemSource::Bytes(key_pem.into())));
        self
    }

    /// Like [`identity`](TlsConfig::identity), from files read when the
    /// client connects (etcdctl's `--cert` and `--key`).
    pub fn identity_files(mut self, cert: impl Into<std::path::PathBuf>, key: impl Into<std::path::PathBuf>) -> Self {
        self.identity = Some((PemSource::File(cert.into()), PemSource::File(key.into())));
        self
    }

    /// Check every server's certificate for this DNS name or IP address
    /// instead of the endpoint's host (Go's `tls.Config.ServerName`).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Use this rustls configuration (rustls 0.23) as it is: its roots,
    /// verifier, client certificate and protocol versions replace
    /// everything the other setters would build, so giving it together with
    /// a CA or an identity is refused when the client connects.
    /// [`server_name`](TlsConfig::server_name) still applies, and `h2` is
    /// added to its ALPN protocols when it has none (gRPC needs HTTP/2).
    ///
    /// This is the one place where a dependency's type is part of our API:
    /// an upgrade of rustls past 0.23 will change it.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    ///
    /// use rustls::pki_types::{pem::PemObject, CertificateDer};
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let mut roots = rustls::RootCertStore::empty();
    ///     let ca = std::fs::read("ca.pem")?;
    ///     for cert in CertificateDer::pem_slice_iter(&ca) {
    ///         roots.add(cert?)?;
    ///     }
    ///     let provider = Arc::new(rustls::crypto::ring::default_provider());
    ///     let rustls_config = rustls::ClientConfig::builder_with_provider(provider)
    ///         .with_safe_default_protocol_versions()?
    ///         .with_root_certificates(roots)
    ///         .with_no_client_auth();
    ///     let tls = etcd_raw::TlsConfig::new().rustls_client_config(Arc::new(rustls_config));
    ///     let client = etcd_raw::Client::new(etcd_raw::Config::new(["https://127.0.0.1:2379"]).tls(tls)).await?;
    ///     client.get("greeting").await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn rustls_client_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.rustls = Some(config);
        self
    }
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let describe = |s: &PemSource| match s {
            PemSource::Bytes(b) => format!("<{} bytes of PEM>", b.len()),
            PemSource::File(p) => p.display().to_string(),
        };
        f.debug_struct("TlsConfig")
            .field("ca", &self.ca.iter().map(describe).collect::<Vec<_>>())
            .field("identity", &self.identity.as_ref().map(|(cert, _)| (describe(cert), "<key redacted>")))
            .field("server_name", &self.server_name)
            .field("rustls_client_config", &self.rustls.as_ref().map(|_| "<given>"))
            .finish()
    }
}
