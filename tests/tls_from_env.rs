//! etcdctl's environment, end to end, against a TLS member:
//! `ETCDCTL_ENDPOINTS=https://...` with `ETCDCTL_CERT`/`ETCDCTL_KEY` and no
//! `ETCDCTL_CACERT` trusts the system's roots, as etcdctl does (here the
//! tutorial's CA, made the system's through `SSL_CERT_FILE`). This file
//! sets process environment variables, so it holds this one test alone.
#![cfg(all(feature = "testkit", feature = "tls"))]

mod support;
mod tutorial_certs;

use etcd_raw::testkit::{Cluster, Etcd};
use etcd_raw::{Client, Config, ErrorKind, TlsConfig};
use support::TestResult;
use tutorial_certs::TutorialCerts;

#[tokio::test]
async fn with_no_ca_the_system_roots_are_trusted() -> TestResult {
    let certs = TutorialCerts::make("system-roots")?;
    let etcd = Etcd::start_with(Cluster::builder().https(true).args([
        format!("--cert-file={}", certs.path("server.pem")),
        format!("--key-file={}", certs.path("server-key.pem")),
        format!("--trusted-ca-file={}", certs.path("ca.pem")),
        "--client-cert-auth".to_string(),
    ]))?;
    // The only environment changes in this test binary, made before any
    // client reads it.
    std::env::set_var("SSL_CERT_FILE", certs.path("ca.pem"));
    std::env::set_var("ETCDCTL_ENDPOINTS", etcd.endpoint());
    std::env::set_var("ETCDCTL_CERT", certs.path("client.pem"));
    std::env::set_var("ETCDCTL_KEY", certs.path("client-key.pem"));
    std::env::set_var("ETCDCTL_DIAL_TIMEOUT", "3s");

    let client = Client::new(Config::from_env()?).await?;
    client.put("env/k", "from etcdctl's variables").await?;
    let config = Config::new([etcd.endpoint()])
        .tls(TlsConfig::new().identity_files(certs.path("client.pem"), certs.path("client-key.pem")));
    assert_eq!(Client::new(config).await?.get("env/k").await?.count(), 1);

    // A system store without the CA refuses the member, and says so.
    std::env::set_var("SSL_CERT_FILE", "/nonexistent/roots.pem");
    std::env::set_var("SSL_CERT_DIR", "/nonexistent");
    let error = Client::new(Config::from_env()?).await.err().ok_or("connected without the CA")?;
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    Ok(())
}
