//! `known_hosts`: the servers whose TLS certificate the user accepted.
//!
//! `$XDG_CONFIG_HOME/ringftp/known_hosts` (else `~/.config/ringftp/known_hosts`),
//! or `-o UserKnownHostsFile=FILE`. Created 0600, its directory 0700. One line
//! per host, fields separated by blanks, `#` comments and blank lines ignored:
//!
//! ```text
//! ftp.example.com ECDSA SHA256:1dT+CC01o17DHBFkxEbJg1BI6ERjMjMUzAY5GVsf+gw
//! [127.0.0.1]:2121 ED25519 SHA256:4ltIOaVFxMc8BuHbSaf0RxJtzWJ0OQjDnaRuEjRGodA
//! files.example.org CA system-roots
//! ```
//!
//! The host is written as ssh writes it: the name as typed (lower case),
//! `[host]:port` when the port is not 21. The fingerprint is
//! `ringftp_proto::fingerprint` of the certificate's public key. A `CA` line
//! records a host whose certificate was valid under the system roots: no key
//! is pinned (such certificates are renewed with new keys), but the host is
//! known to speak TLS. Any line for a host means "it had TLS": a later
//! offer without TLS is a downgrade.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The key-type field of a host recorded because of its CA-valid certificate.
pub const CA_KIND: &str = "CA";
/// Its third field.
pub const CA_MARK: &str = "system-roots";

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    pub host: String,
    /// `ECDSA`, `ED25519`, `RSA`, ... or [`CA_KIND`].
    pub kind: String,
    pub fingerprint: String,
}

impl Entry {
    pub fn is_ca(&self) -> bool {
        self.kind == CA_KIND
    }
}

/// The parsed file.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

/// Files longer than this are not read further (a known_hosts of 1 MiB is
/// already ~10,000 hosts).
const MAX_FILE: u64 = 4 << 20;

/// How ssh names a host in known_hosts and its messages.
pub fn host_name(host: &str, port: u16) -> String {
    let h = host.to_ascii_lowercase();
    if port == 21 {
        h
    } else {
        format!("[{h}]:{port}")
    }
}

/// The default file: `$XDG_CONFIG_HOME/ringftp/known_hosts`, else
/// `$HOME/.config/ringftp/known_hosts`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("ringftp").join("known_hosts"))
}

/// Parse the text of a known_hosts file; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split_whitespace();
        if let (Some(host), Some(kind), Some(fp)) = (f.next(), f.next(), f.next()) {
            out.push(Entry {
                line: i + 1,
                host: host.to_string(),
                kind: kind.to_string(),
                fingerprint: fp.to_string(),
            });
        }
    }
    out
}

impl KnownHosts {
    /// Read the file; a missing file is an empty list.
    pub fn load(path: &Path) -> io::Result<KnownHosts> {
        use std::io::Read;
        let text = match std::fs::File::open(path) {
            Ok(f) => {
                let mut s = String::new();
                f.take(MAX_FILE).read_to_string(&mut s)?;
                s
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        Ok(KnownHosts {
            path: path.to_path_buf(),
            entries: parse(&text),
        })
    }

    /// The first line for `host` (as [`host_name`] writes it).
    pub fn lookup(&self, host: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.host == host)
    }

    /// Other hosts known with this fingerprint.
    pub fn others_with(&self, fingerprint: &str, host: &str) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.fingerprint == fingerprint && e.host != host)
            .collect()
    }

    /// Append a line, creating the directory (0700) and the file (0600).
    pub fn append(&self, host: &str, kind: &str, fingerprint: &str) -> io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
            }
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        // One write, so two clients adding at once do not interleave a line.
        f.write_all(format!("{host} {kind} {fingerprint}\n").as_bytes())
    }

    /// The path as ssh prints it in "known by other names" lines: `~/` for
    /// the home directory.
    pub fn display_path(&self) -> String {
        let p = self.path.display().to_string();
        if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
            if let Ok(rest) = self.path.strip_prefix(&home) {
                return format!("~/{}", rest.display());
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_as_ssh_writes_them() {
        assert_eq!(host_name("FTP.Example.com", 21), "ftp.example.com");
        assert_eq!(host_name("127.0.0.1", 2121), "[127.0.0.1]:2121");
        assert_eq!(host_name("::1", 990), "[::1]:990");
    }

    #[test]
    fn parses_lines_and_skips_junk() {
        let t = "# c\n\nh1 ECDSA SHA256:a\nbroken line\n[h2]:2121 CA system-roots\n  h3  RSA  SHA256:b  extra\n";
        let e = parse(t);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].line, 3);
        assert_eq!(e[0].host, "h1");
        assert!(e[1].is_ca());
        assert_eq!(e[1].line, 5);
        assert_eq!(e[2].fingerprint, "SHA256:b");
    }

    #[test]
    fn append_creates_private_file_and_dir() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cfg").join("ringftp").join("known_hosts");
        let kh = KnownHosts::load(&path).unwrap();
        assert!(kh.entries.is_empty());
        kh.append("[h]:2121", "ECDSA", "SHA256:x").unwrap();
        kh.append("h", "CA", CA_MARK).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.lookup("[h]:2121").unwrap().fingerprint, "SHA256:x");
        assert_eq!(kh.lookup("h").unwrap().line, 2);
        assert_eq!(kh.others_with("SHA256:x", "other").len(), 1);
        assert!(kh.others_with("SHA256:x", "[h]:2121").is_empty());
    }
}
