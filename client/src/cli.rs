//! Command-line arguments (clap) and the destination forms sftp accepts:
//! `[user@]host[:path]` and `ftp://[user@]host[:port][/path]`.

use std::path::PathBuf;

use clap::Parser;

/// Streams per transfer (and files in flight) unless `--parallel` says otherwise.
pub const DEFAULT_STREAMS: u64 = 4;
/// The most streams `--parallel` accepts.
pub const MAX_STREAMS: u64 = 32;
/// Files smaller than this go over one connection unless `--parallel-min` says otherwise.
pub const DEFAULT_SEGMENT_MIN: u64 = 64 << 20;

/// ringftp: an FTP client that behaves like OpenSSH sftp.
#[derive(Parser, Debug)]
#[command(
    name = "ringftp",
    version,
    override_usage = "ringftp [-afNpqrv] [-b batchfile] [-l limit] [-o ssh_option] [-P port]\n               [--netrc-file file] [user@]host[:path [localpath]]\n               | ftp://[user@]host[:port][/path]"
)]
pub struct Args {
    /// Resume transfers (like get -a / put -a).
    #[arg(short = 'a')]
    pub resume: bool,
    /// Batch file of commands ("-" for stdin).
    #[arg(short = 'b', value_name = "batchfile")]
    pub batchfile: Option<String>,
    /// fsync files after download.
    #[arg(short = 'f')]
    pub fsync: bool,
    /// Bandwidth limit in Kbit/s.
    #[arg(short = 'l', value_name = "limit", value_parser = clap::value_parser!(u64).range(1..=100 * 1024 * 1024))]
    pub limit: Option<u64>,
    /// Undo -q / batch quietness for messages.
    #[arg(short = 'N')]
    pub noisy: bool,
    /// ssh-style option: StrictHostKeyChecking=yes|accept-new|no|ask,
    /// UserKnownHostsFile=FILE, BatchMode=yes|no, Port=N, User=NAME.
    #[arg(short = 'o', value_name = "ssh_option")]
    pub options: Vec<String>,
    /// Preserve modes and times.
    #[arg(short = 'p')]
    pub preserve: bool,
    /// Server port (default 21).
    #[arg(short = 'P', value_name = "port")]
    pub port: Option<u16>,
    /// Quiet: no progress meter, no informational messages.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Recurse into directories on get/put.
    #[arg(short = 'r')]
    pub recursive: bool,
    /// Verbose protocol log on stderr (repeat for more).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Read login and password from this netrc file instead of ~/.netrc.
    #[arg(long = "netrc-file", value_name = "file")]
    pub netrc_file: Option<PathBuf>,
    /// Connections per transfer: big files in that many segments, `-r` and
    /// globs with that many files in flight; 1 = off. Hidden, so that the
    /// help stays sftp's (documented in client/README.md).
    #[arg(long = "parallel", value_name = "n", hide = true,
          default_value_t = DEFAULT_STREAMS,
          value_parser = clap::value_parser!(u64).range(1..=MAX_STREAMS))]
    pub parallel: u64,
    /// Smallest file cut into segments, in bytes (K, M, G suffixes).
    #[arg(long = "parallel-min", value_name = "size", hide = true,
          default_value_t = DEFAULT_SEGMENT_MIN,
          value_parser = parse_size)]
    pub parallel_min: u64,
    /// Never use block mode (`MODE B`) for `-r` and globs: every file on its
    /// own data connection, as in stream mode. Hidden (for A/B benches).
    #[arg(long = "no-block-mode", hide = true)]
    pub no_block_mode: bool,
    /// [user@]host[:path] or ftp://[user@]host[:port][/path]
    pub destination: String,
    /// Local path for a host:file download.
    pub localpath: Option<String>,
}

/// `123`, `64K`, `64M`, `1G` (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("bad size suffix in \"{s}\"")),
            };
            (s.get(..i).unwrap_or(""), m)
        }
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("bad size \"{s}\""))
}

/// Where to connect and what to do first.
#[derive(Debug, PartialEq, Eq)]
pub struct Destination {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub path: Option<String>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or(0);
        if c == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse the destination argument.
pub fn parse_destination(arg: &str) -> Result<Destination, String> {
    if let Some(rest) = arg
        .strip_prefix("ftp://")
        .or_else(|| arg.strip_prefix("sftp://"))
    {
        let (auth, path) = match rest.find('/') {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i + 1..)),
            None => (rest, None),
        };
        let (user, hostport) = match auth.rfind('@') {
            Some(i) => (
                Some(percent_decode(auth.get(..i).unwrap_or(""))),
                auth.get(i + 1..).unwrap_or(""),
            ),
            None => (None, auth),
        };
        let user = user.map(|u| u.split(';').next().unwrap_or("").to_string());
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err("Missing hostname".into());
        }
        let path = path.filter(|p| !p.is_empty()).map(percent_decode);
        return Ok(Destination {
            user,
            host,
            port,
            path,
        });
    }
    let (user, rest) = match arg.rfind('@') {
        Some(i) => (
            Some(arg.get(..i).unwrap_or("").to_string()),
            arg.get(i + 1..).unwrap_or(""),
        ),
        None => (None, arg),
    };
    let (host, path) = if let Some(r) = rest.strip_prefix('[') {
        match r.find(']') {
            Some(i) => {
                let h = r.get(..i).unwrap_or("").to_string();
                let after = r.get(i + 1..).unwrap_or("");
                (h, after.strip_prefix(':').map(str::to_string))
            }
            None => return Err("Missing hostname".into()),
        }
    } else {
        match rest.find(':') {
            Some(i) => (
                rest.get(..i).unwrap_or("").to_string(),
                Some(rest.get(i + 1..).unwrap_or("").to_string()),
            ),
            None => (rest.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("Missing hostname".into());
    }
    Ok(Destination {
        user: user.filter(|u| !u.is_empty()),
        host,
        port: None,
        path: path.filter(|p| !p.is_empty()),
    })
}

fn split_host_port(hp: &str) -> Result<(String, Option<u16>), String> {
    if let Some(r) = hp.strip_prefix('[') {
        let i = r.find(']').ok_or("bad address")?;
        let host = r.get(..i).unwrap_or("").to_string();
        let port = match r.get(i + 1..).and_then(|p| p.strip_prefix(':')) {
            Some(p) => Some(p.parse::<u16>().map_err(|_| format!("Bad port \"{p}\""))?),
            None => None,
        };
        return Ok((host, port));
    }
    match hp.rsplit_once(':') {
        Some((h, p)) => {
            let port = p.parse::<u16>().map_err(|_| format!("Bad port \"{p}\""))?;
            Ok((h.to_string(), Some(port)))
        }
        None => Ok((hp.to_string(), None)),
    }
}

/// One `machine` entry of a netrc file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NetrcEntry {
    pub login: Option<String>,
    pub password: Option<String>,
}

/// Find the entry for `host` (and `user` when given) in netrc text; falls
/// back to a `default` entry.
pub fn netrc_lookup(text: &str, host: &str, user: Option<&str>) -> Option<NetrcEntry> {
    let mut tokens = text.split_whitespace();
    let mut entries: Vec<(Option<String>, NetrcEntry)> = Vec::new();
    while let Some(t) = tokens.next() {
        match t {
            "machine" => {
                let m = tokens.next().map(str::to_string);
                entries.push((m, NetrcEntry::default()));
            }
            "default" => entries.push((None, NetrcEntry::default())),
            "login" => {
                let v = tokens.next().map(str::to_string);
                if let Some(e) = entries.last_mut() {
                    e.1.login = v;
                }
            }
            "password" => {
                let v = tokens.next().map(str::to_string);
                if let Some(e) = entries.last_mut() {
                    e.1.password = v;
                }
            }
            "account" => {
                tokens.next();
            }
            "macdef" => break,
            _ => {}
        }
    }
    let fits = |e: &NetrcEntry| match (user, &e.login) {
        (Some(u), Some(l)) => u == l,
        _ => true,
    };
    entries
        .iter()
        .find(|(m, e)| m.as_deref() == Some(host) && fits(e))
        .or_else(|| entries.iter().find(|(m, e)| m.is_none() && fits(e)))
        .map(|(_, e)| e.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let d = parse_destination("alice@example.org:dir/x").unwrap();
        assert_eq!(d.user.as_deref(), Some("alice"));
        assert_eq!(d.host, "example.org");
        assert_eq!(d.path.as_deref(), Some("dir/x"));
        let d = parse_destination("127.0.0.1").unwrap();
        assert_eq!(d.user, None);
        assert_eq!(d.path, None);
        let d = parse_destination("ftp://bob@127.0.0.1:2121/a%20b").unwrap();
        assert_eq!(d.user.as_deref(), Some("bob"));
        assert_eq!(d.port, Some(2121));
        assert_eq!(d.path.as_deref(), Some("a b"));
        let d = parse_destination("u@[::1]:/tmp").unwrap();
        assert_eq!(d.host, "::1");
        assert_eq!(d.path.as_deref(), Some("/tmp"));
        assert!(parse_destination("u@:x").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("1X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }

    #[test]
    fn netrc() {
        let t = "machine a login u password p\nmachine b login v password q\ndefault login anonymous password x";
        assert_eq!(
            netrc_lookup(t, "b", None),
            Some(NetrcEntry {
                login: Some("v".into()),
                password: Some("q".into())
            })
        );
        assert_eq!(
            netrc_lookup(t, "c", None).and_then(|e| e.login),
            Some("anonymous".into())
        );
        assert_eq!(netrc_lookup(t, "a", Some("zz")), None);
        assert_eq!(netrc_lookup("", "a", None), None);
    }
}
