//! For tests that start an etcd process of their own, outside the testkit:
//! a directory that is cleaned up, free loopback ports, and a command that
//! does not hand the test's `ETCD*` variables to the process.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A fresh directory under the system's temp dir, and the process a test
/// runs in it: on drop the process is killed and the directory removed.
pub struct Scratch {
    pub dir: PathBuf,
    pub child: Option<Child>,
}

impl Scratch {
    /// The empty directory `etcd-raw-<name>-<pid>`, with no process yet.
    pub fn new(name: &str) -> std::io::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("etcd-raw-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch { dir, child: None })
    }

    /// What the process wrote to `etcd.log` in the directory, if anything.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `127.0.0.1:PORT` where nothing listens (the port was free a moment
/// ago): a member that is down, or the address for a process to bind.
pub fn free_address() -> std::io::Result<String> {
    Ok(format!("127.0.0.1:{}", TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()))
}

/// [`free_address`] as an `http://` URL.
pub fn free_url() -> std::io::Result<String> {
    Ok(format!("http://{}", free_address()?))
}

/// A command for `program` (etcd or one of its tools) without the `ETCD*`
/// variables, which they read as flags (`ETCD_VERSION` among them).
pub fn etcd_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCD") {
            command.env_remove(name);
        }
    }
    command
}
