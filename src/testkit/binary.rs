//! Finding the etcd and etcdctl binaries and reading their version.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::{TestkitError, TestkitErrorKind};

/// The version used when `ETCD_VERSION` is not set.
pub const DEFAULT_VERSION: &str = "3.5.1";

const INSTALL_HINT: &str = "run `scripts/install-etcd.sh` from the etcd-raw repo, \
     or set ETCD_BIN to an etcd binary (or ETCD_VERSION to an installed version: \
     `scripts/install-etcd.sh --list` names them)";

/// An etcd server binary, the etcdctl beside it if any, and its version.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtcdBinary {
    /// Path of the `etcd` server binary.
    pub etcd: PathBuf,
    /// Path of the matching `etcdctl`, when one was found.
    pub etcdctl: Option<PathBuf>,
    /// The version printed by `etcd --version`, e.g. `3.5.1`.
    pub version: String,
}

impl EtcdBinary {
    /// Finds etcd: `ETCD_BIN` (with `ETCDCTL_BIN`, else the etcdctl beside it); else
    /// `.etcd/<ETCD_VERSION or 3.5.1>/` in the crate under test or in etcd-raw's repo;
    /// else `etcd` on `PATH`.
    pub fn locate() -> Result<EtcdBinary, TestkitError> {
        if let Some(bin) = env_path("ETCD_BIN") {
            if !bin.is_file() {
                return Err(not_found(format!("ETCD_BIN={} is not a file", bin.display())));
            }
            let ctl = env_path("ETCDCTL_BIN").or_else(|| sibling_ctl(&bin));
            return EtcdBinary::with_etcdctl(bin, ctl);
        }
        match env::var("ETCD_VERSION").ok().filter(|v| !v.trim().is_empty()) {
            Some(version) => find_version(version.trim(), true),
            None => find_version(DEFAULT_VERSION, false),
        }
    }

    /// Finds etcd `version` in `.etcd/<version>/`, else on `PATH` if it is that version;
    /// ignores `ETCD_BIN` and `ETCD_VERSION`. A full version (`3.4.23`) must match exactly;
    /// a minor (`3.6`) takes the newest installed patch of it, so `locate_version("3.5")`
    /// prefers 3.5.35 over 3.5.1. `ETCD_VERSION` takes both forms too.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), etcd_raw::testkit::TestkitError> {
    /// use etcd_raw::testkit::EtcdBinary;
    /// let newest_36 = EtcdBinary::locate_version("3.6")?;
    /// assert_eq!(newest_36.major_minor(), (3, 6));
    /// # Ok(()) }
    /// ```
    pub fn locate_version(version: &str) -> Result<EtcdBinary, TestkitError> {
        find_version(version.trim(), true)
    }

    /// Uses the etcd binary at `etcd`, with the etcdctl beside it if there is one.
    pub fn from_path(etcd: impl Into<PathBuf>) -> Result<EtcdBinary, TestkitError> {
        let etcd = etcd.into();
        let ctl = sibling_ctl(&etcd);
        EtcdBinary::with_etcdctl(etcd, ctl)
    }

    /// Uses the given etcd and etcdctl binaries; runs `etcd --version` to learn the version.
    pub fn with_etcdctl(etcd: PathBuf, etcdctl: Option<PathBuf>) -> Result<EtcdBinary, TestkitError> {
        let version = read_version(&etcd)?;
        Ok(EtcdBinary { etcd, etcdctl, version })
    }

    /// The major and minor version, e.g. `(3, 5)`; `(0, 0)` if the version does not parse.
    pub fn major_minor(&self) -> (u32, u32) {
        parse_major_minor(&self.version).unwrap_or((0, 0))
    }

    /// The major, minor and patch version, e.g. `(3, 5, 35)`, for checks such as
    /// `binary.release() >= (3, 5, 28)`; `(0, 0, 0)` if the version does not parse.
    pub fn release(&self) -> (u32, u32, u32) {
        parse_release(&self.version).unwrap_or((0, 0, 0))
    }

    /// The `etcdutl` beside the server binary (built from etcd's modules for 3.5.x and later
    /// by `scripts/install-etcd.sh`), if there is one.
    pub fn etcdutl(&self) -> Option<PathBuf> {
        let utl = self.etcd.with_file_name("etcdutl");
        utl.is_file().then_some(utl)
    }
}

/// `.etcd/<version>/etcd` (for a minor, the newest `.etcd/<minor>.N/`), else `etcd` on PATH;
/// `strict`: the PATH one must be `version`.
fn find_version(version: &str, strict: bool) -> Result<EtcdBinary, TestkitError> {
    for root in repo_roots() {
        let Some(dir) = installed_dir(&root.join(".etcd"), version) else { continue };
        let bin = dir.join("etcd");
        if bin.is_file() {
            let ctl = sibling_ctl(&bin);
            return EtcdBinary::with_etcdctl(bin, ctl);
        }
    }
    let Some(bin) = on_path("etcd") else {
        return Err(not_found(format!("etcd {version} is in no .etcd/ directory and not on PATH")));
    };
    let ctl = sibling_ctl(&bin).or_else(|| on_path("etcdctl"));
    let found = EtcdBinary::with_etcdctl(bin, ctl)?;
    if strict && !version_matches(&found.version, version) {
        return Err(not_found(format!(
            "etcd {version} is in no .etcd/ directory, and the etcd on PATH ({}) is {}",
            found.etcd.display(),
            found.version
        )));
    }
    Ok(found)
}

/// Where `.etcd/` may live: the crate being tested (cargo sets this at run time), then etcd-raw's.
fn repo_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(dir) = env_path("CARGO_MANIFEST_DIR") {
        roots.push(dir);
    }
    let ours = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !roots.contains(&ours) {
        roots.push(ours);
    }
    roots
}

fn read_version(etcd: &Path) -> Result<String, TestkitError> {
    let mut cmd = Command::new(etcd);
    cmd.arg("--version").stdin(Stdio::null());
    scrub_env(&mut cmd);
    let out = cmd.output().map_err(|e| not_found(format!("cannot run `{} --version`: {e}", etcd.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("etcd Version:"))
        .map(|v| v.trim().to_string())
        .filter(|v| parse_major_minor(v).is_some());
    version.ok_or_else(|| {
        not_found(format!(
            "`{} --version` printed no `etcd Version: X.Y.Z` line ({}); is it an etcd server binary?",
            etcd.display(),
            out.status
        ))
    })
}

/// The directory under `etcd_dir` that holds `version`: `<version>/` itself, or for a
/// minor such as `3.6` the `3.6.N/` with the highest N.
fn installed_dir(etcd_dir: &Path, version: &str) -> Option<PathBuf> {
    let exact = etcd_dir.join(version);
    if exact.join("etcd").is_file() || parse_release(version).is_some() {
        return Some(exact);
    }
    let entries = std::fs::read_dir(etcd_dir).ok()?;
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let release = parse_release(&name).filter(|_| version_matches(&name, version))?;
            entry.path().join("etcd").is_file().then_some((release, entry.path()))
        })
        .max_by_key(|(release, _)| *release)
        .map(|(_, path)| path)
}

/// Whether `found` (`3.6.16`) is `wanted`: the same full version, or a patch of the minor.
fn version_matches(found: &str, wanted: &str) -> bool {
    match parse_release(wanted) {
        Some(_) => found == wanted,
        None => parse_major_minor(wanted).is_some_and(|mm| parse_major_minor(found) == Some(mm)),
    }
}

fn parse_major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    Some((major, minor))
}

/// `3.5.35` (or `v3.6.0-rc.1`) as `(3, 5, 35)`; `None` without a patch number.
fn parse_release(version: &str) -> Option<(u32, u32, u32)> {
    let (major, minor) = parse_major_minor(version)?;
    let patch = version.trim().trim_start_matches('v').split('.').nth(2)?;
    let patch = patch.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    Some((major, minor, patch))
}

/// Removes `ETCD_*` and `ETCDCTL_*` variables: etcd and etcdctl read them as flags.
pub(crate) fn scrub_env(cmd: &mut Command) {
    for (key, _) in env::vars_os() {
        if key.to_string_lossy().starts_with("ETCD") {
            cmd.env_remove(key);
        }
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn sibling_ctl(etcd: &Path) -> Option<PathBuf> {
    let ctl = etcd.with_file_name("etcdctl");
    ctl.is_file().then_some(ctl)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path: OsString = env::var_os("PATH")?;
    env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

fn not_found(what: String) -> TestkitError {
    TestkitError::new(TestkitErrorKind::BinaryNotFound, format!("testkit: {what}; {INSTALL_HINT}"))
}

#[cfg(test)]
mod tests {
    use super::{parse_major_minor, parse_release, version_matches};

    #[test]
    fn versions_parse() {
        assert_eq!(parse_major_minor("3.5.1"), Some((3, 5)));
        assert_eq!(parse_major_minor("3.4.23"), Some((3, 4)));
        assert_eq!(parse_major_minor("v3.6.0-rc.1"), Some((3, 6)));
        assert_eq!(parse_major_minor("x"), None);
        assert_eq!(parse_release("3.5.35"), Some((3, 5, 35)));
        assert_eq!(parse_release("v3.6.0-rc.1"), Some((3, 6, 0)));
        assert_eq!(parse_release("3.7"), None);
    }

    #[test]
    fn a_minor_matches_each_of_its_patches() {
        assert!(version_matches("3.6.16", "3.6"));
        assert!(version_matches("3.6.16", "3.6.16"));
        assert!(!version_matches("3.6.16", "3.6.1"));
        assert!(!version_matches("3.7.3", "3.6"));
        assert!(!version_matches("3.60.1", "3.6"));
    }
}
