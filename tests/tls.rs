//! TLS against real etcd over https: certificates with an IP SAN and with
//! a DNS name work; every misconfiguration (wrong CA, name mismatch,
//! missing, foreign or expired client certificate, expired server
//! certificate, scheme and TLS config at odds) fails at once with a typed
//! error that says which. Certificates are made here with rcgen.
#![cfg(all(feature = "testkit", feature = "tls"))]

mod support;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use etcd_raw::auth::TlsConfig;
use etcd_raw::testkit::{Cluster, Etcd};
use etcd_raw::{Client, Config, Error, ErrorKind};
use support::ca::{Ca, Leaf};
use support::scratch::Scratch;
use support::TestResult;

const DIAL: Duration = Duration::from_secs(3);

/// The servers and certificates every test here shares.
struct Fixtures {
    ca: String,
    client: Leaf,
    other_ca: String,
    foreign_client: Leaf,
    expired_client: Leaf,
    /// IP SAN 127.0.0.1 only; client certificates required.
    mtls: Etcd,
    /// DNS SAN localhost only; no client certificates.
    dns: Etcd,
    /// An expired server certificate (IP SAN).
    expired: Etcd,
    _dir: Scratch,
}

fn fixtures() -> Result<&'static Fixtures, String> {
    static FIXTURES: OnceLock<Result<Fixtures, String>> = OnceLock::new();
    FIXTURES.get_or_init(|| make_fixtures().map_err(|e| e.to_string())).as_ref().map_err(Clone::clone)
}

fn make_fixtures() -> Result<Fixtures, Box<dyn std::error::Error>> {
    let dir = Scratch::new("tls")?;
    let write = |name: &str, text: &str| -> std::io::Result<String> {
        let path = dir.dir.join(name);
        std::fs::write(&path, text)?;
        Ok(path.display().to_string())
    };
    let ca = Ca::new("etcd-raw test CA")?;
    let other = Ca::new("some other CA")?;
    let ca_file = write("ca.pem", &ca.pem())?;
    let server = |name: &str, sans: &[&str], expired: bool, mtls: bool| -> Result<Etcd, Box<dyn std::error::Error>> {
        let leaf = ca.leaf(name, sans, expired)?;
        let mut args = vec![
            format!("--cert-file={}", write(&format!("{name}.pem"), &leaf.cert)?),
            format!("--key-file={}", write(&format!("{name}-key.pem"), &leaf.key)?),
        ];
        if mtls {
            args.push(format!("--trusted-ca-file={ca_file}"));
            args.push("--client-cert-auth".into());
        }
        Ok(Etcd::start_with(Cluster::builder().https(true).args(args))?)
    };
    Ok(Fixtures {
        mtls: server("mtls", &["127.0.0.1"], false, true)?,
        dns: server("dns", &["localhost"], false, false)?,
        expired: server("expired", &["127.0.0.1"], true, false)?,
        client: ca.leaf("client", &[], false)?,
        foreign_client: other.leaf("client", &[], false)?,
        expired_client: ca.leaf("client", &[], true)?,
        ca: ca.pem(),
        other_ca: other.pem(),
        _dir: dir,
    })
}

/// The error of connecting with `tls` to `endpoint`, checked to come well
/// within the dial timeout.
async fn refused(endpoint: String, tls: TlsConfig) -> Result<Error, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let outcome = Client::new(Config::new([endpoint]).tls(tls).dial_timeout(DIAL)).await;
    let error = outcome.err().ok_or("connected")?;
    assert!(started.elapsed() < DIAL, "took {:?}: {error}", started.elapsed());
    Ok(error)
}

fn assert_tls(error: &Error, says: &str) {
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert!(error.message().contains(says), "expected {says:?} in: {error}");
}

#[tokio::test]
async fn an_ip_san_certificate_and_a_client_certificate_work() -> TestResult {
    let f = fixtures()?;
    let tls = TlsConfig::new().ca_pem(f.ca.clone()).identity(f.client.cert.clone(), f.client.key.clone());
    let client = Client::new(Config::new([f.mtls.endpoint()]).tls(tls.clone())).await?;
    client.put("tls/k", "v").await?;
    assert_eq!(client.get("tls/k").await?.kvs()[0].value_str()?, "v");
    // Many calls in flight at once: their requests share TLS records.
    let puts: Vec<_> = (0..64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.put(format!("tls/many/{i:02}"), "v").await })
        })
        .collect();
    for put in puts {
        put.await??;
    }
    assert_eq!(client.get("tls/many/").prefix().count_only().await?.count(), 64);
    // A bare host:port means https when TLS is configured.
    let bare = f.mtls.endpoint().trim_start_matches("https://").to_string();
    let client = Client::new(Config::new([bare]).tls(tls)).await?;
    assert_eq!(client.get("tls/k").await?.count(), 1);
    // Debug shows no key material.
    let shown = format!("{:?}", TlsConfig::new().identity(f.client.cert.clone(), f.client.key.clone()));
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    Ok(())
}

#[tokio::test]
async fn a_dns_name_certificate_works_by_name_and_files_work() -> TestResult {
    let f = fixtures()?;
    let by_name = f.dns.endpoint().replace("127.0.0.1", "localhost");
    let client = Client::new(Config::new([by_name]).tls(TlsConfig::new().ca_pem(f.ca.clone()))).await?;
    client.put("tls/dns", "v").await?;
    // The name to check can be set apart from the address dialed.
    let tls = TlsConfig::new().ca_pem(f.ca.clone()).server_name("localhost");
    let client = Client::new(Config::new([f.dns.endpoint()]).tls(tls)).await?;
    assert_eq!(client.get("tls/dns").await?.count(), 1);
    // From files, as etcdctl's --cacert/--cert/--key.
    let dir = std::env::temp_dir().join(format!("etcd-raw-tls-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("ca.pem"), &f.ca)?;
    std::fs::write(dir.join("client.pem"), &f.client.cert)?;
    std::fs::write(dir.join("client-key.pem"), &f.client.key)?;
    let tls =
        TlsConfig::new().ca_file(dir.join("ca.pem")).identity_files(dir.join("client.pem"), dir.join("client-key.pem"));
    let client = Client::new(Config::new([f.mtls.endpoint()]).tls(tls)).await;
    std::fs::remove_dir_all(&dir)?;
    client?.get("tls/k").await?;
    Ok(())
}

#[tokio::test]
async fn a_wrong_ca_says_the_server_certificate_is_not_signed_by_it() -> TestResult {
    let f = fixtures()?;
    let tls = TlsConfig::new().ca_pem(f.other_ca.clone()).identity(f.client.cert.clone(), f.client.key.clone());
    assert_tls(&refused(f.mtls.endpoint(), tls).await?, "not signed by the configured CA");
    Ok(())
}

#[tokio::test]
async fn a_name_mismatch_says_which_name() -> TestResult {
    let f = fixtures()?;
    // IP-only certificate dialed by name, DNS-only certificate dialed by IP.
    let by_name = f.mtls.endpoint().replace("127.0.0.1", "localhost");
    let tls = TlsConfig::new().ca_pem(f.ca.clone()).identity(f.client.cert.clone(), f.client.key.clone());
    assert_tls(&refused(by_name, tls).await?, "no subject alternative name matching localhost");
    let tls = TlsConfig::new().ca_pem(f.ca.clone());
    assert_tls(&refused(f.dns.endpoint(), tls).await?, "no subject alternative name matching 127.0.0.1");
    Ok(())
}

#[tokio::test]
async fn a_missing_client_certificate_says_one_is_required() -> TestResult {
    let f = fixtures()?;
    let error = refused(f.mtls.endpoint(), TlsConfig::new().ca_pem(f.ca.clone())).await?;
    assert_tls(&error, "requires a client certificate and none is configured");
    Ok(())
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused_by_the_server() -> TestResult {
    let f = fixtures()?;
    let tls =
        TlsConfig::new().ca_pem(f.ca.clone()).identity(f.foreign_client.cert.clone(), f.foreign_client.key.clone());
    assert_tls(&refused(f.mtls.endpoint(), tls).await?, "refused the client certificate");
    Ok(())
}

#[tokio::test]
async fn an_expired_client_certificate_says_so() -> TestResult {
    let f = fixtures()?;
    let tls =
        TlsConfig::new().ca_pem(f.ca.clone()).identity(f.expired_client.cert.clone(), f.expired_client.key.clone());
    assert_tls(
        &refused(f.mtls.endpoint(), tls).await?,
        "the client certificate (the client certificate given as PEM) expired at 2001-01-01",
    );
    Ok(())
}

#[tokio::test]
async fn with_no_ca_the_system_roots_are_used_and_our_ca_is_not_among_them() -> TestResult {
    let f = fixtures()?;
    let tls = TlsConfig::new().identity(f.client.cert.clone(), f.client.key.clone());
    let error = refused(f.mtls.endpoint(), tls).await?;
    // No system store trusts the test CA; a machine without any says so.
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    let message = error.message();
    assert!(message.contains("not signed by the configured CA") || message.contains("no system root"), "{error}");
    Ok(())
}

#[tokio::test]
async fn an_expired_server_certificate_says_so() -> TestResult {
    let f = fixtures()?;
    assert_tls(&refused(f.expired.endpoint(), TlsConfig::new().ca_pem(f.ca.clone())).await?, "has expired");
    Ok(())
}

#[tokio::test]
async fn scheme_and_tls_configuration_must_agree() -> TestResult {
    let f = fixtures()?;
    let https = f.mtls.endpoint();
    let http = https.replace("https://", "http://");
    let error = Client::new(Config::new([https])).await.err().ok_or("https without TLS")?;
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    assert!(error.message().contains("no TLS configuration"), "{error}");
    let tls = TlsConfig::new().ca_pem(f.ca.clone());
    let error = Client::new(Config::new([http.clone()]).tls(tls)).await.err().ok_or("http with TLS")?;
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    assert!(error.message().contains("uses http://"), "{error}");
    // Plain HTTP/2 to a TLS port fails at once, saying the member speaks TLS.
    let started = Instant::now();
    let error = Client::new(Config::new([http]).dial_timeout(DIAL)).await.err().ok_or("h2c to a TLS port")?;
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    assert!(error.message().contains("speaks TLS"), "{error}");
    assert!(started.elapsed() < DIAL, "took {:?}", started.elapsed());
    Ok(())
}

#[tokio::test]
async fn unreadable_material_is_a_configuration_error() -> TestResult {
    let f = fixtures()?;
    let endpoint = f.mtls.endpoint();
    let cases = [
        (TlsConfig::new().ca_pem("not pem"), "holds no certificate"),
        (TlsConfig::new().ca_file("/nonexistent/ca.pem"), "cannot read the CA certificate file"),
        (TlsConfig::new().ca_pem(f.ca.clone()).identity(f.client.cert.clone(), "garbage"), "no usable private key"),
        (
            TlsConfig::new().ca_pem(f.ca.clone()).identity(f.client.cert.clone(), f.foreign_client.key.clone()),
            "cannot be used together",
        ),
    ];
    for (tls, says) in cases {
        let error = Client::new(Config::new([endpoint.clone()]).tls(tls)).await.err().ok_or(says)?;
        assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
        assert!(error.message().contains(says), "expected {says:?} in: {error}");
    }
    Ok(())
}
