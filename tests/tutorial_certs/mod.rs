//! Certificates made the way etcd's TLS tutorials make them, with the
//! `openssl` command line (the commands of `docker-compose.tls.yml`): a CA
//! from `req -x509`, a server certificate signed with an extension file
//! (IP and DNS SANs), and a client certificate signed without one, which
//! makes it X.509 v1. Also a server certificate signed without the
//! extension file (v1, no SAN), and a v3 client certificate.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// A directory of certificates, removed when dropped.
pub struct TutorialCerts {
    dir: PathBuf,
}

impl TutorialCerts {
    pub fn make(name: &str) -> Result<TutorialCerts, Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("etcd-raw-tutorial-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let certs = TutorialCerts { dir };
        std::fs::write(
            certs.dir.join("server.ext"),
            "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth, clientAuth\n",
        )?;
        std::fs::write(certs.dir.join("client.ext"), "extendedKeyUsage = clientAuth\n")?;
        for command in [
            "req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=etcd-demo-ca -keyout ca-key.pem -out ca.pem",
            "req -newkey rsa:2048 -nodes -subj /CN=etcd -keyout server-key.pem -out server.csr",
            "x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 -extfile server.ext -out server.pem",
            "x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 -out server-v1.pem",
            "req -newkey rsa:2048 -nodes -subj /CN=root -keyout client-key.pem -out client.csr",
            "x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 -out client.pem",
            "x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 -extfile client.ext -out client-v3.pem",
        ] {
            certs.openssl(command)?;
        }
        Ok(certs)
    }

    fn openssl(&self, args: &str) -> Result<(), Box<dyn std::error::Error>> {
        let output = Command::new("openssl")
            .args(args.split(' '))
            .current_dir(&self.dir)
            .output()
            .map_err(|e| format!("these tests need the openssl command line tool: {e}"))?;
        if !output.status.success() {
            return Err(format!("openssl {args}: {}", String::from_utf8_lossy(&output.stderr)).into());
        }
        Ok(())
    }

    /// The path of one of the files, as a string for etcd's flags.
    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// The text `openssl x509 -text` shows for a certificate.
    pub fn text(&self, file: &str) -> Result<String, Box<dyn std::error::Error>> {
        let output = Command::new("openssl").args(["x509", "-noout", "-text", "-in", &self.path(file)]).output()?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl Drop for TutorialCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
