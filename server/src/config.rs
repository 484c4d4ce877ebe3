//! The server's settings: built-in defaults, then a TOML file (`--config`), then flags.
//!
//! The TOML keys mirror the long flags with underscores:
//!
//! ```toml
//! listen = ["0.0.0.0:21", "[::]:21"]
//! root = "/srv/ftp"            # relative paths are relative to this file's directory
//! users = "/etc/ringftpd/users.toml"
//! passive_ports = "50000-50100"
//! passive_address = "203.0.113.7"
//! workers = 2
//! max_clients = 10000
//! max_per_ip = 0               # 0 = unlimited
//! max_passive_per_ip = 25      # passive listeners pending per client address; 0 = unlimited
//!                              # default: a quarter of passive_ports (at least 16), no cap without a range
//! ban_after = 10               # failed logins from one address within ban_window ban it; 0 = off
//! ban_window = 600             # seconds
//! ban_time = 3600              # seconds the ban lasts (421 at connect)
//! idle_timeout = 300           # seconds
//! login_timeout = 60
//! data_timeout = 60
//! shutdown_timeout = 5         # SIGTERM: how long running transfers may go on
//! login_fail_delay = 2
//! max_login_failures = 3
//! banner = "ringftpd ready"
//! umask = "022"                # octal, as a string or a TOML integer (0o022)
//! tls = "optional"             # off | optional | required
//! tls_cert = "/etc/ringftpd/cert.pem"   # PEM chain [default: tls-cert.pem beside the users file, self-signed, made on the first start]
//! tls_key = "/etc/ringftpd/key.pem"     # PEM private key (with tls_cert)
//! tls_required = false         # true: the same as tls = "required"
//! log_format = "json"          # text (default) or json, on stderr (the journal)
//! xferlog = "/var/log/ringftpd/xferlog"  # also append an xferlog(5) record per transfer
//! proxy_protocol = ["127.0.0.1", "10.0.0.0/8"]  # balancers whose PROXY header is required
//!
//! # root = "s3://bucket/some/prefix" serves an S3 bucket instead of a directory:
//! [s3]
//! endpoint = "http://127.0.0.1:9000"  # absent: AWS
//! region = "us-east-1"        # default: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1
//! path_style = true            # default: true when an endpoint is given (also by AWS_ENDPOINT_URL)
//! part_size = "8M"             # multipart part size, at least 5M
//! timeout = 30                 # seconds, per S3 request (and per body chunk)
//! access_key_id = "AKIA..."    # else AWS_ACCESS_KEY_ID etc. from the environment
//! secret_access_key_file = "/etc/ringftpd/s3-secret"  # mode 0600; never the secret itself
//! ```
//!
//! Unknown keys are an error, so a typo never goes unnoticed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::cert::TlsFiles;
use crate::log::LogFormat;
use crate::tls::{TlsConfig, TlsError, TlsMode};

/// Everything the server needs to know to run; see [`Config::from_args`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Control-connection listen addresses.
    pub listen: Vec<SocketAddr>,
    /// The served directory (unused when `s3` is set).
    pub root: PathBuf,
    /// `root = "s3://bucket/prefix"`: the bucket served instead of a directory.
    pub s3: Option<S3Settings>,
    pub users_file: PathBuf,
    /// `None`: the kernel picks ephemeral ports for passive listeners.
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// Address announced in PASV replies (NAT); default: the control connection's local one.
    pub passive_address: Option<Ipv4Addr>,
    pub workers: usize,
    pub max_clients: usize,
    /// 0 = unlimited.
    pub max_per_ip: usize,
    /// Passive listeners pending at once per client address; 0 = unlimited;
    /// `None`: see [`Config::passive_per_ip`].
    pub max_passive_per_ip: Option<usize>,
    /// Failed logins within `ban_window` that ban an address for `ban_time`; 0 = off.
    pub ban_after: u32,
    pub ban_window: Duration,
    pub ban_time: Duration,
    pub idle_timeout: Duration,
    /// Time allowed to complete USER/PASS.
    pub login_timeout: Duration,
    /// Waiting for a data connection, and the longest stall of a transfer.
    pub data_timeout: Duration,
    /// After SIGTERM/SIGINT, how long running transfers may go on before they are cut.
    pub shutdown_timeout: Duration,
    pub login_fail_delay: Duration,
    pub max_login_failures: u32,
    pub banner: String,
    pub umask: u32,
    /// `required`: USER before AUTH TLS gets 530, clear data connections 521,
    /// data connections that do not resume the control session 522.
    pub tls_mode: TlsMode,
    /// The certificate and key to use; `None` with `--tls off`.
    pub tls_files: Option<TlsFiles>,
    /// The loaded certificate and key: AUTH TLS is offered when set. A
    /// self-signed pair is loaded by `main`, after it is made if need be.
    pub tls: Option<TlsConfig>,
    pub log_format: LogFormat,
    /// Append an xferlog(5) record per transfer to this file.
    pub xferlog: Option<PathBuf>,
    /// Load balancers (addresses or networks) that must start each connection with a PROXY
    /// protocol header naming the real client; empty: PROXY protocol off.
    pub proxy_protocol: Vec<IpNet>,
}

/// Where and how to reach the S3 bucket of an `s3://` root.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix: "" or "a/b" (no leading or trailing slash).
    pub prefix: String,
    /// `None`: AWS.
    pub endpoint: Option<String>,
    /// `None`: the AWS environment's (`AWS_REGION`, `AWS_DEFAULT_REGION`), else us-east-1.
    pub region: Option<String>,
    /// Path-style URLs (`endpoint/bucket/key`) instead of virtual-hosted ones.
    /// `None`: path style when an endpoint is set (here or by `AWS_ENDPOINT_URL`).
    pub path_style: Option<bool>,
    /// Multipart part size in bytes (5 MiB to 5 GiB).
    pub part_size: usize,
    /// Each S3 request (and each wait for a body chunk) may take this long.
    pub timeout: Duration,
    pub access_key_id: Option<String>,
    /// A file holding the secret key (mode 0600); the secret is never in the TOML.
    pub secret_access_key_file: Option<PathBuf>,
}

impl std::fmt::Debug for S3Settings {
    /// Names, never secrets (the secret lives only in its file).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("url", &self.url())
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("part_size", &self.part_size)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl S3Settings {
    /// `s3://bucket/prefix`, as configured.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

const MIN_PART: u64 = 5 << 20;
const MAX_PART: u64 = 5 << 30;

/// `s3://bucket` or `s3://bucket/some/prefix` (`None`: not an S3 root).
pub fn parse_s3_root(root: &str) -> Option<Result<(String, String), String>> {
    let rest = root.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid_bucket {
        return Some(Err(format!(
            "'{bucket}' is not an S3 bucket name (3-63 of a-z 0-9 . -)"
        )));
    }
    let parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
    if parts
        .iter()
        .any(|p| *p == "." || *p == ".." || p.contains('\0'))
    {
        return Some(Err(format!("'{prefix}': no . or .. in the key prefix")));
    }
    Some(Ok((bucket.to_string(), parts.join("/"))))
}

/// A size such as `8M`, `16MiB`, `5242880` (also the parser of `part_size`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = t.get(digits.len()..).unwrap_or("");
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a size such as 8M"))?;
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (K, M or G)")),
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// The `[s3]` table of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileS3 {
    endpoint: Option<String>,
    region: Option<String>,
    path_style: Option<bool>,
    part_size: Option<Size>,
    timeout: Option<u64>,
    access_key_id: Option<String>,
    secret_access_key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Int(u64),
    Text(String),
}

/// The `serve` flags (also the flags of a bare `ringftpd`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Read settings from this TOML file (flags override it)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen on ADDR:PORT; repeat for several [default: 0.0.0.0:21 as root, else 0.0.0.0:2121]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// Serve this directory, or an S3 bucket: s3://BUCKET[/PREFIX] [default: /srv/ftp as root, else the current directory]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// S3 endpoint URL (MinIO, Ceph, a loopback test server) [default: AWS]
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region [default: us-east-1]
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// The users file [default: /etc/ringftpd/users.toml as root, else ~/.config/ringftpd/users.toml]
    #[arg(long, value_name = "FILE", env = "RINGFTPD_USERS")]
    pub users: Option<PathBuf>,
    /// Passive data ports, e.g. 50000-50100 [default: ephemeral ports chosen by the kernel]
    #[arg(long, value_name = "LO-HI", value_parser = parse_port_range)]
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// IPv4 address announced in PASV replies, for NAT [default: the control connection's]
    #[arg(long, value_name = "IP")]
    pub passive_address: Option<Ipv4Addr>,
    /// Worker threads, each with its own io_uring [default: number of CPUs]
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Most sessions at once [default: 10000]
    #[arg(long, value_name = "N")]
    pub max_clients: Option<usize>,
    /// Most sessions from one IP address, 0 = unlimited [default: 0]
    #[arg(long, value_name = "N")]
    pub max_per_ip: Option<usize>,
    /// Most passive listeners pending at once per client address, 0 = unlimited [default: a quarter of --passive-ports, at least 16; no cap without it]
    #[arg(long, value_name = "N")]
    pub max_passive_per_ip: Option<usize>,
    /// Ban an address after N failed logins within --ban-window, 0 = never [default: 10]
    #[arg(long, value_name = "N")]
    pub ban_after: Option<u32>,
    /// The window in which --ban-after failures count [default: 600]
    #[arg(long, value_name = "SECS")]
    pub ban_window: Option<u64>,
    /// How long a banned address is refused (421) [default: 3600]
    #[arg(long, value_name = "SECS")]
    pub ban_time: Option<u64>,
    /// Close sessions idle this long [default: 300]
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Time allowed to log in [default: 60]
    #[arg(long, value_name = "SECS")]
    pub login_timeout: Option<u64>,
    /// Wait this long for a data connection or a stalled transfer [default: 60]
    #[arg(long, value_name = "SECS")]
    pub data_timeout: Option<u64>,
    /// On SIGTERM, let running transfers go on this long, then cut them (426, 421) [default: 5]
    #[arg(long, value_name = "SECS")]
    pub shutdown_timeout: Option<u64>,
    /// Delay before answering a failed login [default: 2]
    #[arg(long, value_name = "SECS")]
    pub login_fail_delay: Option<u64>,
    /// Close the connection after this many failed logins [default: 3]
    #[arg(long, value_name = "N")]
    pub max_login_failures: Option<u32>,
    /// Text of the 220 greeting [default: "ringftpd ready"]
    #[arg(long, value_name = "TEXT")]
    pub banner: Option<String>,
    /// File creation mask, octal [default: 022]
    #[arg(long, value_name = "OCTAL", value_parser = parse_umask)]
    pub umask: Option<u32>,
    /// FTPS (AUTH TLS, RFC 4217): off, optional or required (no login, no
    /// transfer without TLS; data connections must resume the control session)
    /// [default: optional]
    #[arg(long, value_name = "MODE", value_enum)]
    pub tls: Option<TlsMode>,
    /// TLS certificate chain (PEM); needs --tls-key [default: tls-cert.pem beside
    /// the users file, self-signed ECDSA, made on the first start]
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// The same as --tls required
    #[arg(long, conflicts_with = "tls")]
    pub tls_required: bool,
    /// Trusted load balancers, e.g. 127.0.0.1,10.0.0.0/8: their connections must start with a PROXY protocol v1/v2 header
    #[arg(long, value_name = "ADDRS", value_delimiter = ',', value_parser = parse_trusted)]
    pub proxy_protocol: Vec<IpNet>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive [default: info]
    #[arg(long, value_name = "LEVEL", env = "RINGFTPD_LOG")]
    pub log: Option<String>,
    /// Log lines as text or as one JSON object per line [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Also append an xferlog(5) record (as wu-ftpd and vsftpd write) per transfer to FILE
    #[arg(long, value_name = "FILE")]
    pub xferlog: Option<PathBuf>,
}

/// Why the settings are unusable; each message is one line naming the cause.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("root directory {}: {message}", path.display())]
    Root { path: PathBuf, message: String },
    #[error("invalid {key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("{0}")]
    Tls(#[from] TlsError),
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// `LO-HI` with `1024 <= LO <= HI` (also the clap parser of `--passive-ports`).
pub fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (lo, hi) = s
        .split_once('-')
        .ok_or_else(|| format!("'{s}' is not LO-HI, e.g. 50000-50100"))?;
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("'{}' is not a port number (1024-65535)", p.trim()))
    };
    let (lo, hi) = (port(lo)?, port(hi)?);
    if lo < 1024 {
        return Err(format!("{lo}-{hi}: ports below 1024 are not allowed"));
    }
    if lo > hi {
        return Err(format!("{lo}-{hi}: the first port is above the last"));
    }
    Ok(lo..=hi)
}

/// An address (`10.0.0.5`, `::1`) or a network (`10.0.0.0/8`) of a trusted load balancer (also
/// the clap parser of `--proxy-protocol`).
pub fn parse_trusted(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{s}' is not an IP address or network (e.g. 10.0.0.0/8)"))
}

/// An octal mask such as `022` or `0o027` (also the clap parser of `--umask`).
pub fn parse_umask(s: &str) -> Result<u32, String> {
    let digits = s.trim().trim_start_matches("0o");
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!("'{s}' is not an octal mask between 000 and 777")),
    }
}

fn euid_is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The default served directory as root.
pub const SYSTEM_ROOT: &str = "/srv/ftp";

/// The default users file: `/etc/ringftpd/users.toml` as root, else
/// `$XDG_CONFIG_HOME/ringftpd/users.toml` (or `~/.config/ringftpd/users.toml`).
pub fn default_users_file() -> PathBuf {
    if euid_is_root() {
        return PathBuf::from("/etc/ringftpd/users.toml");
    }
    let env_dir = |k: &str| {
        std::env::var_os(k)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = env_dir("XDG_CONFIG_HOME")
        .or_else(|| env_dir("HOME").map(|h| h.join(".config")))
        .unwrap_or_else(|| PathBuf::from(".config"));
    base.join("ringftpd").join("users.toml")
}

/// The TOML file; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<Listen>,
    root: Option<PathBuf>,
    users: Option<PathBuf>,
    passive_ports: Option<String>,
    passive_address: Option<Ipv4Addr>,
    workers: Option<usize>,
    max_clients: Option<usize>,
    max_per_ip: Option<usize>,
    max_passive_per_ip: Option<usize>,
    ban_after: Option<u32>,
    ban_window: Option<u64>,
    ban_time: Option<u64>,
    idle_timeout: Option<u64>,
    login_timeout: Option<u64>,
    data_timeout: Option<u64>,
    shutdown_timeout: Option<u64>,
    login_fail_delay: Option<u64>,
    max_login_failures: Option<u32>,
    banner: Option<String>,
    umask: Option<Umask>,
    tls: Option<TlsMode>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_required: Option<bool>,
    log_format: Option<LogFormat>,
    xferlog: Option<PathBuf>,
    proxy_protocol: Option<Vec<String>>,
    s3: Option<FileS3>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Listen {
    One(SocketAddr),
    Many(Vec<SocketAddr>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Umask {
    Int(u32),
    Text(String),
}

impl FileConfig {
    fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| {
            // toml's Display is a multi-line snippet; keep one line with the line number.
            let line = e
                .span()
                .map(|s| text.get(..s.start).unwrap_or("").lines().count().max(1));
            let message = e.message().trim().replace('\n', " ");
            ConfigError::Parse {
                path: path.to_path_buf(),
                message: match line {
                    Some(l) => format!("line {l}: {message}"),
                    None => message,
                },
            }
        })
    }
}

impl Default for Config {
    /// The built-in defaults, unvalidated (the root is not checked or created).
    fn default() -> Config {
        let root = euid_is_root();
        let port = if root { 21 } else { 2121 };
        Config {
            listen: vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))],
            root: if root {
                PathBuf::from(SYSTEM_ROOT)
            } else {
                std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
            },
            s3: None,
            users_file: default_users_file(),
            passive_ports: None,
            passive_address: None,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_clients: 10_000,
            max_per_ip: 0,
            max_passive_per_ip: None,
            ban_after: 10,
            ban_window: Duration::from_secs(600),
            ban_time: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(300),
            login_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(5),
            login_fail_delay: Duration::from_secs(2),
            max_login_failures: 3,
            banner: "ringftpd ready".to_string(),
            umask: 0o022,
            tls_mode: TlsMode::Optional,
            tls_files: None,
            tls: None,
            log_format: LogFormat::Text,
            xferlog: None,
            proxy_protocol: Vec::new(),
        }
    }
}

impl Config {
    /// Defaults, overridden by the `--config` file, overridden by flags; then validated.
    /// The default root `/srv/ftp` is created (0755) when it is missing; any other root
    /// must be an existing directory.
    pub fn from_args(args: &ServeArgs) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let mut root_given = false;
        let (mut tls_cert, mut tls_key) = (None, None);
        let mut s3_root: Option<String> = None;
        let mut s3_file: Option<FileS3> = None;
        if let Some(path) = &args.config {
            let f = FileConfig::load(path)?;
            let base = path.parent().unwrap_or(Path::new("."));
            let rel = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
            if let Some(l) = f.listen {
                c.listen = match l {
                    Listen::One(a) => vec![a],
                    Listen::Many(v) => v,
                };
            }
            match f.root {
                Some(r) if r.to_string_lossy().starts_with("s3://") => {
                    s3_root = Some(r.to_string_lossy().into_owned());
                    root_given = true;
                }
                Some(r) => {
                    c.root = rel(r);
                    root_given = true;
                }
                None => {}
            }
            s3_file = f.s3.map(|mut s| {
                s.secret_access_key_file = s.secret_access_key_file.take().map(rel);
                s
            });
            if let Some(u) = f.users {
                c.users_file = rel(u);
            }
            if let Some(p) = f.passive_ports {
                c.passive_ports =
                    Some(parse_port_range(&p).map_err(|m| invalid("passive_ports", m))?);
            }
            set(&mut c.passive_address, f.passive_address.map(Some));
            set(&mut c.workers, f.workers);
            set(&mut c.max_clients, f.max_clients);
            set(&mut c.max_per_ip, f.max_per_ip);
            set(&mut c.max_passive_per_ip, f.max_passive_per_ip.map(Some));
            set(&mut c.ban_after, f.ban_after);
            set(&mut c.ban_window, f.ban_window.map(Duration::from_secs));
            set(&mut c.ban_time, f.ban_time.map(Duration::from_secs));
            set(&mut c.idle_timeout, f.idle_timeout.map(Duration::from_secs));
            set(
                &mut c.login_timeout,
                f.login_timeout.map(Duration::from_secs),
            );
            set(&mut c.data_timeout, f.data_timeout.map(Duration::from_secs));
            set(
                &mut c.shutdown_timeout,
                f.shutdown_timeout.map(Duration::from_secs),
            );
            set(
                &mut c.login_fail_delay,
                f.login_fail_delay.map(Duration::from_secs),
            );
            set(&mut c.max_login_failures, f.max_login_failures);
            set(&mut c.banner, f.banner);
            if let Some(u) = f.umask {
                c.umask = match u {
                    Umask::Int(m) if m <= 0o777 => m,
                    Umask::Int(m) => return Err(invalid("umask", format!("{m:o} is above 777"))),
                    Umask::Text(t) => parse_umask(&t).map_err(|m| invalid("umask", m))?,
                };
            }
            tls_cert = f.tls_cert.map(rel);
            tls_key = f.tls_key.map(rel);
            set(&mut c.tls_mode, f.tls);
            if f.tls_required == Some(true) {
                c.tls_mode = TlsMode::Required;
            }
            set(&mut c.log_format, f.log_format);
            set(&mut c.xferlog, f.xferlog.map(|p| Some(rel(p))));
            if let Some(list) = f.proxy_protocol {
                c.proxy_protocol = list
                    .iter()
                    .map(|a| parse_trusted(a).map_err(|m| invalid("proxy_protocol", m)))
                    .collect::<Result<_, _>>()?;
            }
        }
        if !args.listen.is_empty() {
            c.listen = args.listen.clone();
        }
        match &args.root {
            Some(r) if r.to_string_lossy().starts_with("s3://") => {
                s3_root = Some(r.to_string_lossy().into_owned());
                root_given = true;
            }
            Some(r) => {
                c.root = r.clone();
                s3_root = None;
                root_given = true;
            }
            None => {}
        }
        c.s3 = s3_settings(
            s3_root.as_deref(),
            s3_file,
            args.s3_endpoint.clone(),
            args.s3_region.clone(),
        )?;
        set(&mut c.users_file, args.users.clone());
        set(&mut c.log_format, args.log_format);
        set(&mut c.xferlog, args.xferlog.clone().map(Some));
        set(&mut c.passive_ports, args.passive_ports.clone().map(Some));
        set(&mut c.passive_address, args.passive_address.map(Some));
        set(&mut c.workers, args.workers);
        set(&mut c.max_clients, args.max_clients);
        set(&mut c.max_per_ip, args.max_per_ip);
        set(&mut c.max_passive_per_ip, args.max_passive_per_ip.map(Some));
        set(&mut c.ban_after, args.ban_after);
        set(&mut c.ban_window, args.ban_window.map(Duration::from_secs));
        set(&mut c.ban_time, args.ban_time.map(Duration::from_secs));
        set(
            &mut c.idle_timeout,
            args.idle_timeout.map(Duration::from_secs),
        );
        set(
            &mut c.login_timeout,
            args.login_timeout.map(Duration::from_secs),
        );
        set(
            &mut c.data_timeout,
            args.data_timeout.map(Duration::from_secs),
        );
        set(
            &mut c.shutdown_timeout,
            args.shutdown_timeout.map(Duration::from_secs),
        );
        set(
            &mut c.login_fail_delay,
            args.login_fail_delay.map(Duration::from_secs),
        );
        set(&mut c.max_login_failures, args.max_login_failures);
        set(&mut c.banner, args.banner.clone());
        set(&mut c.umask, args.umask);
        set(&mut tls_cert, args.tls_cert.clone().map(Some));
        set(&mut tls_key, args.tls_key.clone().map(Some));
        set(&mut c.tls_mode, args.tls);
        if args.tls_required {
            c.tls_mode = TlsMode::Required;
        }
        if !args.proxy_protocol.is_empty() {
            c.proxy_protocol = args.proxy_protocol.clone();
        }
        c.validate(root_given)?;
        c.tls_files = match (tls_cert, tls_key) {
            // Off means no TLS at all: a certificate in the file is not read.
            _ if c.tls_mode == TlsMode::Off => None,
            (Some(cert), Some(key)) => {
                c.tls = Some(TlsConfig::load(&cert, &key)?);
                Some(TlsFiles {
                    cert,
                    key,
                    self_signed: false,
                })
            }
            (Some(_), None) => return Err(invalid("tls_cert", "needs tls_key (--tls-key) too")),
            (None, Some(_)) => return Err(invalid("tls_key", "needs tls_cert (--tls-cert) too")),
            (None, None) => Some(TlsFiles::beside(&c.users_file)),
        };
        Ok(c)
    }

    /// `--tls required`.
    pub fn tls_required(&self) -> bool {
        self.tls_mode == TlsMode::Required
    }

    /// The certificate the server would use, for `ringftpd fingerprint`:
    /// `--tls-cert`, else the file's `tls_cert`, else the self-signed one
    /// beside the users file (`--users`, the file's `users`, the default).
    pub fn certificate_path(
        config: Option<&Path>,
        users: Option<&Path>,
        tls_cert: Option<&Path>,
    ) -> Result<PathBuf, ConfigError> {
        if let Some(c) = tls_cert {
            return Ok(c.to_path_buf());
        }
        let mut users_file = default_users_file();
        if let Some(path) = config {
            let f = FileConfig::load(path)?;
            let base = path.parent().unwrap_or(Path::new("."));
            let rel = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
            if let Some(c) = f.tls_cert {
                return Ok(rel(c));
            }
            if let Some(u) = f.users {
                users_file = rel(u);
            }
        }
        if let Some(u) = users {
            users_file = u.to_path_buf();
        }
        Ok(TlsFiles::beside(&users_file).cert)
    }

    fn validate(&mut self, root_given: bool) -> Result<(), ConfigError> {
        if self.listen.is_empty() {
            return Err(invalid("listen", "no address to listen on"));
        }
        if let Some(r) = &self.passive_ports {
            let text = format!("{}-{}", r.start(), r.end());
            parse_port_range(&text).map_err(|m| invalid("passive_ports", m))?;
        }
        if self.workers == 0 {
            return Err(invalid("workers", "must be at least 1"));
        }
        if self.max_clients == 0 {
            return Err(invalid("max_clients", "must be at least 1"));
        }
        for (key, d) in [
            ("idle_timeout", self.idle_timeout),
            ("login_timeout", self.login_timeout),
            ("data_timeout", self.data_timeout),
        ] {
            if d.is_zero() {
                return Err(invalid(key, "must be more than 0 seconds"));
            }
        }
        if self.ban_after > 0 {
            for (key, d) in [("ban_window", self.ban_window), ("ban_time", self.ban_time)] {
                if d.is_zero() {
                    return Err(invalid(
                        key,
                        "must be more than 0 seconds (ban_after = 0 turns bans off)",
                    ));
                }
            }
        }
        if self.max_login_failures == 0 {
            return Err(invalid("max_login_failures", "must be at least 1"));
        }
        if self.banner.contains(['\r', '\n', '\0']) {
            return Err(invalid("banner", "must be a single line"));
        }
        if self.umask > 0o777 {
            return Err(invalid("umask", format!("{:o} is above 777", self.umask)));
        }
        if self.s3.is_some() {
            // The bucket is checked when the server starts (storage::s3).
            return Ok(());
        }
        let root_err = |message: String| ConfigError::Root {
            path: self.root.clone(),
            message,
        };
        match std::fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(root_err("not a directory".to_string())),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && !root_given
                    && self.root == Path::new(SYSTEM_ROOT) =>
            {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&self.root)
                    .map_err(|e| root_err(format!("cannot create it: {e}")))?;
            }
            Err(e) => return Err(root_err(e.to_string())),
        }
        Ok(())
    }
}

/// The S3 settings from an `s3://` root, the `[s3]` table and the flags;
/// `[s3]` settings or `--s3-*` flags without an S3 root are an error.
fn s3_settings(
    root: Option<&str>,
    file: Option<FileS3>,
    endpoint_flag: Option<String>,
    region_flag: Option<String>,
) -> Result<Option<S3Settings>, ConfigError> {
    let Some(root) = root else {
        if file.is_some() || endpoint_flag.is_some() || region_flag.is_some() {
            return Err(invalid(
                "s3",
                "S3 settings need root = \"s3://BUCKET[/PREFIX]\" (--root s3://...)",
            ));
        }
        return Ok(None);
    };
    let (bucket, prefix) = match parse_s3_root(root) {
        Some(r) => r.map_err(|m| invalid("root", m))?,
        None => return Ok(None),
    };
    let f = file.unwrap_or_default();
    let endpoint = endpoint_flag.or(f.endpoint);
    if let Some(ep) = &endpoint {
        if !(ep.starts_with("http://") || ep.starts_with("https://")) {
            return Err(invalid(
                "s3.endpoint",
                format!("'{ep}' is not an http:// or https:// URL"),
            ));
        }
    }
    let part_size = match f.part_size {
        None => 8 << 20,
        Some(Size::Int(n)) => n,
        Some(Size::Text(t)) => parse_size(&t).map_err(|m| invalid("s3.part_size", m))?,
    };
    if !(MIN_PART..=MAX_PART).contains(&part_size) {
        return Err(invalid(
            "s3.part_size",
            format!("{part_size} bytes: S3 parts are 5M to 5G"),
        ));
    }
    let timeout = Duration::from_secs(f.timeout.unwrap_or(30));
    if timeout.is_zero() {
        return Err(invalid("s3.timeout", "must be more than 0 seconds"));
    }
    if f.secret_access_key_file.is_some() != f.access_key_id.is_some() {
        return Err(invalid(
            "s3.access_key_id",
            "access_key_id and secret_access_key_file go together",
        ));
    }
    Ok(Some(S3Settings {
        bucket,
        prefix,
        path_style: f.path_style,
        endpoint,
        region: region_flag.or(f.region),
        part_size: usize::try_from(part_size).unwrap_or(usize::MAX),
        timeout,
        access_key_id: f.access_key_id,
        secret_access_key_file: f.secret_access_key_file,
    }))
}

impl Config {
    /// The cap on passive listeners per client address (0 = none): as set, or by default a
    /// quarter of the passive range but at least 16, so one address cannot take a range of
    /// 64 ports or more, while a few parallel clients still fit a small one; without a range
    /// the kernel's ephemeral ports are the pool, and there is no cap.
    pub fn passive_per_ip(&self) -> usize {
        match (self.max_passive_per_ip, &self.passive_ports) {
            (Some(n), _) => n,
            (None, Some(r)) => ((usize::from(r.end() - r.start()) + 1) / 4).max(16),
            (None, None) => 0,
        }
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dirs {
        tmp: tempfile::TempDir,
    }

    impl Dirs {
        fn new() -> Dirs {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::create_dir(tmp.path().join("from_file")).unwrap();
            std::fs::create_dir(tmp.path().join("from_flag")).unwrap();
            Dirs { tmp }
        }
        fn path(&self, p: &str) -> PathBuf {
            self.tmp.path().join(p)
        }
        fn config(&self, text: &str) -> PathBuf {
            let p = self.path("ringftpd.toml");
            std::fs::write(&p, text).unwrap();
            p
        }
        fn args(&self) -> ServeArgs {
            ServeArgs {
                root: Some(self.path("from_flag")),
                ..ServeArgs::default()
            }
        }
    }

    #[test]
    fn defaults() {
        let d = Dirs::new();
        let c = Config::from_args(&d.args()).unwrap();
        let port = if euid_is_root() { 21 } else { 2121 };
        assert_eq!(c.listen, vec![SocketAddr::from(([0, 0, 0, 0], port))]);
        assert_eq!(c.root, d.path("from_flag"));
        assert_eq!(c.users_file, default_users_file());
        assert_eq!(c.passive_ports, None);
        assert!(c.workers >= 1);
        assert_eq!(c.max_clients, 10_000);
        assert_eq!(c.max_per_ip, 0);
        assert_eq!(c.max_passive_per_ip, None);
        assert_eq!(c.passive_per_ip(), 0, "no range: no cap");
        let ranged = Config {
            passive_ports: Some(46000..=46100),
            ..c.clone()
        };
        assert_eq!(ranged.passive_per_ip(), 25, "a quarter of 101 ports");
        let tiny = Config {
            passive_ports: Some(46000..=46002),
            ..c.clone()
        };
        assert_eq!(tiny.passive_per_ip(), 16, "at least 16");
        assert_eq!(c.ban_after, 10);
        assert_eq!(c.ban_window, Duration::from_secs(600));
        assert_eq!(c.ban_time, Duration::from_secs(3600));
        assert_eq!(c.idle_timeout, Duration::from_secs(300));
        assert_eq!(c.login_timeout, Duration::from_secs(60));
        assert_eq!(c.data_timeout, Duration::from_secs(60));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(5));
        assert_eq!(c.login_fail_delay, Duration::from_secs(2));
        assert_eq!(c.max_login_failures, 3);
        assert_eq!(c.banner, "ringftpd ready");
        assert_eq!(c.umask, 0o022);
    }

    #[test]
    fn file_overrides_defaults_and_flags_override_file() {
        let d = Dirs::new();
        let file = d.config(
            r#"
listen = ["127.0.0.1:2200", "[::1]:2201"]
root = "from_file"
users = "/tmp/u.toml"
passive_ports = "50000-50100"
passive_address = "203.0.113.7"
workers = 3
max_clients = 50
max_per_ip = 4
max_passive_per_ip = 2
ban_after = 5
ban_window = 60
ban_time = 120
idle_timeout = 7
login_timeout = 8
data_timeout = 9
shutdown_timeout = 11
login_fail_delay = 0
max_login_failures = 5
banner = "hello there"
umask = 0o027
log_format = "json"
xferlog = "xfer.log"
proxy_protocol = ["127.0.0.1", "10.0.0.0/8", "::1"]
"#,
        );
        let args = ServeArgs {
            config: Some(file.clone()),
            ..ServeArgs::default()
        };
        let c = Config::from_args(&args).unwrap();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.listen[1], "[::1]:2201".parse().unwrap());
        assert_eq!(c.root, d.path("from_file"), "relative to the config file");
        assert_eq!(c.users_file, PathBuf::from("/tmp/u.toml"));
        assert_eq!(c.passive_ports, Some(50000..=50100));
        assert_eq!(c.passive_address, Some(Ipv4Addr::new(203, 0, 113, 7)));
        assert_eq!((c.workers, c.max_clients, c.max_per_ip), (3, 50, 4));
        assert_eq!((c.passive_per_ip(), c.ban_after), (2, 5));
        assert_eq!(c.ban_window, Duration::from_secs(60));
        assert_eq!(c.ban_time, Duration::from_secs(120));
        assert_eq!(c.idle_timeout, Duration::from_secs(7));
        assert_eq!(c.login_timeout, Duration::from_secs(8));
        assert_eq!(c.data_timeout, Duration::from_secs(9));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(11));
        assert_eq!(c.login_fail_delay, Duration::ZERO);
        assert_eq!(c.max_login_failures, 5);
        assert_eq!(c.banner, "hello there");
        assert_eq!(c.umask, 0o027);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            c.xferlog,
            Some(d.path("xfer.log")),
            "relative to the config file"
        );
        let nets: Vec<String> = c.proxy_protocol.iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);

        let args = ServeArgs {
            config: Some(file),
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            root: Some(d.path("from_flag")),
            users: Some(PathBuf::from("/tmp/flag.toml")),
            passive_ports: Some(60000..=60001),
            workers: Some(1),
            ban_after: Some(0),
            ban_time: Some(0),
            idle_timeout: Some(1),
            banner: Some("flag".into()),
            umask: Some(0o077),
            log_format: Some(LogFormat::Text),
            proxy_protocol: vec![parse_trusted("192.0.2.1").unwrap()],
            ..ServeArgs::default()
        };
        let c = Config::from_args(&args).unwrap();
        assert_eq!(c.listen, vec!["127.0.0.1:0".parse().unwrap()]);
        assert_eq!(c.root, d.path("from_flag"));
        assert_eq!(c.users_file, PathBuf::from("/tmp/flag.toml"));
        assert_eq!(c.passive_ports, Some(60000..=60001));
        assert_eq!(c.workers, 1);
        assert_eq!((c.ban_after, c.ban_time), (0, Duration::ZERO), "0 = off");
        assert_eq!(c.max_passive_per_ip, Some(2));
        assert_eq!(c.idle_timeout, Duration::from_secs(1));
        assert_eq!(c.banner, "flag");
        assert_eq!(c.umask, 0o077);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.proxy_protocol, [parse_trusted("192.0.2.1").unwrap()]);
        // not overridden: still from the file
        assert_eq!(c.max_clients, 50);
        assert_eq!(c.login_timeout, Duration::from_secs(8));
    }

    fn err_of(d: &Dirs, toml: &str) -> String {
        let args = ServeArgs {
            config: Some(d.config(toml)),
            ..d.args()
        };
        let e = Config::from_args(&args).unwrap_err().to_string();
        assert!(!e.contains('\n'), "one line: {e}");
        e
    }

    #[test]
    fn file_errors() {
        let d = Dirs::new();
        let cases = [
            ("idle_timout = 3\n", "unknown field `idle_timout`"),
            ("workers = \"two\"\n", "line 1"),
            ("\n\nworkers = 0\n", "invalid workers"),
            ("idle_timeout = 0\n", "invalid idle_timeout"),
            ("login_timeout = 0\n", "invalid login_timeout"),
            ("data_timeout = 0\n", "invalid data_timeout"),
            ("passive_ports = \"100-200\"\n", "below 1024"),
            ("passive_ports = \"3000-2000\"\n", "above the last"),
            ("passive_ports = \"3000\"\n", "LO-HI"),
            ("listen = [\"nowhere\"]\n", "ringftpd.toml"),
            ("listen = []\n", "no address"),
            ("banner = \"a\\r\\nb\"\n", "single line"),
            ("umask = \"999\"\n", "octal"),
            ("max_login_failures = 0\n", "max_login_failures"),
            ("ban_window = 0\n", "invalid ban_window"),
            ("ban_time = 0\n", "invalid ban_time"),
            ("ban_after = -1\n", "line 1"),
            ("tls_cert = \"c.pem\"\n", "needs tls_key"),
            ("tls_key = \"k.pem\"\n", "needs tls_cert"),
            ("tls = \"on\"\n", "unknown variant `on`"),
            (
                "tls_cert = \"missing.pem\"\ntls_key = \"k.pem\"\n",
                "cannot read TLS certificate",
            ),
            ("tls_required = \"yes\"\n", "line 1"),
            (
                "proxy_protocol = [\"10.0.0.0/33\"]\n",
                "invalid proxy_protocol: '10.0.0.0/33'",
            ),
            ("proxy_protocol = \"10.0.0.1\"\n", "line 1"),
        ];
        for (text, needle) in cases {
            let e = err_of(&d, text);
            assert!(e.contains(needle), "{text:?}: {e:?} lacks {needle:?}");
        }
        let missing = ServeArgs {
            config: Some(d.path("nope.toml")),
            ..d.args()
        };
        let e = Config::from_args(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot read config file") && e.contains("nope.toml"),
            "{e}"
        );
    }

    #[test]
    fn tls_modes_and_files() {
        let d = Dirs::new();
        let users = d.path("etc/users.toml");
        let base = ServeArgs {
            users: Some(users.clone()),
            ..d.args()
        };
        let c = Config::from_args(&base).unwrap();
        assert_eq!(c.tls_mode, TlsMode::Optional, "TLS on by default");
        let files = c.tls_files.unwrap();
        assert_eq!(files.cert, d.path("etc/tls-cert.pem"));
        assert_eq!(files.key, d.path("etc/tls-key.pem"));
        assert!(files.self_signed);
        assert!(c.tls.is_none(), "made and loaded by main, not here");
        assert!(!files.cert.exists());
        let mode = |args: ServeArgs| Config::from_args(&args).unwrap().tls_mode;
        let with = |tls: TlsMode, alias: bool| ServeArgs {
            tls: Some(tls),
            tls_required: alias,
            ..base.clone()
        };
        assert_eq!(mode(with(TlsMode::Required, false)), TlsMode::Required);
        let alias = ServeArgs {
            tls_required: true,
            ..base.clone()
        };
        assert_eq!(mode(alias), TlsMode::Required);
        let off = Config::from_args(&with(TlsMode::Off, false)).unwrap();
        assert!(off.tls_files.is_none() && off.tls.is_none());
        for (text, want) in [
            ("tls = \"off\"\n", TlsMode::Off),
            ("tls = \"required\"\n", TlsMode::Required),
            ("tls_required = true\n", TlsMode::Required),
            ("tls_required = false\n", TlsMode::Optional),
            // Off ignores a certificate that would not even load.
            ("tls = \"off\"\ntls_cert = \"none.pem\"\n", TlsMode::Off),
        ] {
            let args = ServeArgs {
                config: Some(d.config(text)),
                ..base.clone()
            };
            assert_eq!(mode(args.clone()), want, "{text}");
            if text.contains("tls_cert") {
                continue;
            }
            // A flag overrides the file.
            let flagged = ServeArgs {
                tls: Some(TlsMode::Optional),
                ..args
            };
            assert_eq!(mode(flagged), TlsMode::Optional, "{text}");
        }
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["ringftpd", "--tls", "off"]).unwrap();
        assert_eq!(cli.serve.tls, Some(TlsMode::Off));
        assert!(crate::cli::Cli::try_parse_from([
            "ringftpd",
            "--tls",
            "required",
            "--tls-required"
        ])
        .is_err());
        assert!(crate::cli::Cli::try_parse_from(["ringftpd", "--tls", "on"]).is_err());
    }

    #[test]
    fn the_shipped_config_file_parses() {
        let f: FileConfig = toml::from_str(include_str!("../dist/ringftpd.toml")).unwrap();
        assert_eq!(f.tls, Some(TlsMode::Optional));
    }

    #[test]
    fn certificate_path_for_fingerprint() {
        let d = Dirs::new();
        let given = Config::certificate_path(None, None, Some(Path::new("/x/c.pem"))).unwrap();
        assert_eq!(given, PathBuf::from("/x/c.pem"));
        let users = Config::certificate_path(None, Some(&d.path("u/users.toml")), None).unwrap();
        assert_eq!(users, d.path("u/tls-cert.pem"));
        let file = d.config("users = \"sub/users.toml\"\n");
        let from_file = Config::certificate_path(Some(&file), None, None).unwrap();
        assert_eq!(from_file, d.path("sub/tls-cert.pem"));
        let file = d.config("tls_cert = \"mine.pem\"\ntls_key = \"k.pem\"\n");
        let from_file = Config::certificate_path(Some(&file), None, None).unwrap();
        assert_eq!(from_file, d.path("mine.pem"));
    }

    #[test]
    fn flag_errors_and_root_checks() {
        let d = Dirs::new();
        let bad = |args: ServeArgs| Config::from_args(&args).unwrap_err().to_string();
        let e = bad(ServeArgs {
            workers: Some(0),
            ..d.args()
        });
        assert_eq!(e, "invalid workers: must be at least 1");
        let e = bad(ServeArgs {
            data_timeout: Some(0),
            ..d.args()
        });
        assert!(e.contains("data_timeout"), "{e}");
        let e = bad(ServeArgs {
            passive_ports: Some(RangeInclusive::new(2000, 1500)),
            ..d.args()
        });
        assert!(e.contains("passive_ports"), "{e}");
        let e = bad(ServeArgs {
            root: Some(d.path("missing")),
            ..d.args()
        });
        assert!(
            e.starts_with("root directory") && e.contains("No such file"),
            "{e}"
        );
        assert!(!d.path("missing").exists(), "a given root is never created");
        std::fs::write(d.path("file"), b"x").unwrap();
        let e = bad(ServeArgs {
            root: Some(d.path("file")),
            ..d.args()
        });
        assert!(e.ends_with("not a directory"), "{e}");
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_port_range("50000-50100"), Ok(50000..=50100));
        assert_eq!(parse_port_range("1024-1024"), Ok(1024..=1024));
        assert!(parse_port_range("1023-2000").is_err());
        assert!(parse_port_range("2000-70000").is_err());
        assert!(parse_port_range("a-b").is_err());
        assert_eq!(parse_umask("022"), Ok(0o022));
        assert_eq!(parse_umask("0o077"), Ok(0o077));
        assert_eq!(parse_umask("0"), Ok(0));
        assert!(parse_umask("8").is_err());
        assert!(parse_umask("1000").is_err());
        assert_eq!(
            parse_trusted(" 10.1.2.3 ").unwrap().to_string(),
            "10.1.2.3/32"
        );
        assert_eq!(parse_trusted("fd00::/8").unwrap().to_string(), "fd00::/8");
        assert!(parse_trusted("localhost").is_err());
    }
    #[test]
    fn s3_roots_and_settings() {
        let d = Dirs::new();
        // From the file: the s3:// root is not made relative to the file's directory.
        let cfg = d.config(
            "root = \"s3://my-bucket/some//prefix/\"\n[s3]\nendpoint = \"http://127.0.0.1:9000\"\n\
             part_size = \"16M\"\ntimeout = 7\naccess_key_id = \"AKIA1\"\n\
             secret_access_key_file = \"secret\"\n",
        );
        let args = ServeArgs {
            config: Some(cfg),
            ..ServeArgs::default()
        };
        let c = Config::from_args(&args).unwrap();
        let s3 = c.s3.clone().unwrap();
        assert_eq!(s3.url(), "s3://my-bucket/some/prefix");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!((s3.path_style, s3.region.as_deref()), (None, None));
        assert_eq!(s3.part_size, 16 << 20);
        assert_eq!(s3.timeout, Duration::from_secs(7));
        assert_eq!(s3.secret_access_key_file, Some(d.path("secret")));
        assert!(!format!("{s3:?}").contains("AKIA1"));
        // Flags: --root s3://, --s3-endpoint, --s3-region; AWS needs no endpoint.
        let args = ServeArgs {
            root: Some(PathBuf::from("s3://bucket")),
            s3_region: Some("eu-west-1".to_string()),
            ..ServeArgs::default()
        };
        let s3 = Config::from_args(&args).unwrap().s3.unwrap();
        assert_eq!(
            (s3.prefix.as_str(), s3.region.as_deref()),
            ("", Some("eu-west-1"))
        );
        assert!(s3.path_style.is_none() && s3.endpoint.is_none());
        assert_eq!(s3.part_size, 8 << 20);
        // A local --root flag wins over the file's s3:// root.
        let cfg = d.config("root = \"s3://bucket\"\n");
        let args = ServeArgs {
            config: Some(cfg),
            root: Some(d.path("from_flag")),
            ..ServeArgs::default()
        };
        assert!(Config::from_args(&args).unwrap().s3.is_none());
        // Errors, each naming its key.
        for (text, key) in [
            ("root = \"s3://B\"\n", "root"),
            ("root = \"s3://bucket/a/../b\"\n", "root"),
            (
                "root = \"s3://bucket\"\n[s3]\npart_size = \"4M\"\n",
                "s3.part_size",
            ),
            (
                "root = \"s3://bucket\"\n[s3]\npart_size = \"8X\"\n",
                "s3.part_size",
            ),
            (
                "root = \"s3://bucket\"\n[s3]\nendpoint = \"ftp://x\"\n",
                "s3.endpoint",
            ),
            ("root = \"s3://bucket\"\n[s3]\ntimeout = 0\n", "s3.timeout"),
            (
                "root = \"s3://bucket\"\n[s3]\naccess_key_id = \"A\"\n",
                "s3.access_key_id",
            ),
        ] {
            let args = ServeArgs {
                config: Some(d.config(text)),
                ..ServeArgs::default()
            };
            match Config::from_args(&args) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        // [s3] without an S3 root is a mistake, not silently ignored.
        let args = ServeArgs {
            config: Some(d.config("[s3]\nregion = \"x\"\n")),
            root: Some(d.path("from_flag")),
            ..ServeArgs::default()
        };
        assert!(matches!(
            Config::from_args(&args),
            Err(ConfigError::Invalid { key: "s3", .. })
        ));
        let mut args = d.args();
        args.s3_endpoint = Some("http://127.0.0.1:1".to_string());
        assert!(Config::from_args(&args).is_err());
        assert_eq!(parse_size("5242880"), Ok(5 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("M").is_err());
    }
}
