//! The operator's log: one line per login, per transfer and per refusal, with
//! the same field names in text and JSON (`--log-format`), and the optional
//! xferlog file (`--xferlog`) in the wu-ftpd/vsftpd format that log tools read.
//!
//! Lines (message, then fields):
//! - `login`: `user`, `peer`, `result` (`ok` | `failed`), `failures` when failed;
//! - `transfer`: `user`, `peer`, `direction` (`download` | `upload`), `path`,
//!   `bytes`, `seconds`, `rate` (bytes per second), `result` (`ok` | `failed` |
//!   `aborted`), `error` when failed;
//! - `refused`: `peer`, `what` (the command or connection refused), `why`.
//!
//! Nothing here takes a password. Other modules call these functions rather
//! than writing such lines themselves, so the fields stay the same everywhere.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// `--log-format`: how lines on stderr (the journal) look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Time, level, source, message, then the fields as key=value
    #[default]
    Text,
    /// One JSON object per line, fields at the top level
    Json,
}

/// Installs the global subscriber: `filter` in tracing's syntax (default `info`),
/// on stderr, in `format`.
pub fn init(filter: Option<&str>, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = filter
        .and_then(|l| EnvFilter::try_new(l).ok())
        .or_else(|| EnvFilter::try_from_env("RINGFTPD_LOG").ok())
        // rustls warns about harmless client quirks (lftp sends an IP
        // address as SNI) on every connection: its own messages at error only.
        .unwrap_or_else(|| EnvFilter::new("info,rustls=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// A login attempt: `ok` after a good password, else the count of failures so far.
pub fn login(user: &str, peer: SocketAddr, result: Result<(), u32>) {
    match result {
        Ok(()) => tracing::info!(user, %peer, result = "ok", "login"),
        Err(failures) => tracing::warn!(user, %peer, result = "failed", failures, "login"),
    }
}

/// Something refused for policy reasons (not an ordinary failed command):
/// `what` names the command or connection, `why` the rule.
pub fn refused(peer: SocketAddr, what: &str, why: &str) {
    tracing::warn!(%peer, what, why, "refused");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Download,
    Upload,
}

/// How a transfer ended.
pub enum Outcome<'a> {
    Ok,
    /// The client sent ABOR or went away.
    Aborted,
    Failed(&'a dyn std::fmt::Display),
}

/// One transfer, from the 150 to the final reply.
#[derive(Debug)]
pub struct Transfer<'a> {
    pub user: String,
    pub peer: SocketAddr,
    pub direction: Direction,
    /// The virtual path, as the user sees it.
    pub path: &'a str,
    pub ascii: bool,
    pub started: Instant,
}

impl Transfer<'_> {
    /// Logs the line and, with an xferlog, appends its record. `bytes` counts
    /// what crossed the data connection (0 when a failed download does not know).
    pub fn done(&self, bytes: u64, outcome: Outcome<'_>, xferlog: Option<&Xferlog>) {
        let elapsed = self.started.elapsed();
        let seconds = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
        let rate = rate(bytes, elapsed);
        let direction = match self.direction {
            Direction::Download => "download",
            Direction::Upload => "upload",
        };
        let (user, peer, path) = (self.user.as_str(), self.peer, self.path);
        match &outcome {
            Outcome::Ok => {
                tracing::info!(user, %peer, direction, path, bytes, seconds, rate, result = "ok", "transfer")
            }
            Outcome::Aborted => {
                tracing::info!(user, %peer, direction, path, bytes, seconds, rate, result = "aborted", "transfer")
            }
            Outcome::Failed(error) => {
                tracing::info!(user, %peer, direction, path, bytes, seconds, rate, result = "failed", error = %error, "transfer")
            }
        }
        if let Some(x) = xferlog {
            let line = xferlog_line(
                time::OffsetDateTime::now_utc(),
                self,
                elapsed,
                bytes,
                matches!(outcome, Outcome::Ok),
            );
            x.write(line);
        }
    }
}

/// Bytes per second, whole; a transfer too quick to time counts as 1 ms.
fn rate(bytes: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64().max(0.001);
    (bytes as f64 / secs).round() as u64
}

/// One xferlog(5) record, as wu-ftpd and vsftpd (`xferlog_std_format`) write it:
/// `current-time transfer-time remote-host file-size filename transfer-type
/// special-action-flag direction access-mode username service-name
/// authentication-method authenticated-user-id completion-status`.
/// The time is ctime-style in UTC (vsftpd's default); the transfer time is whole
/// seconds, at least 1; spaces in the file name become `_` and control
/// characters `?`, so the record always splits into 18 words.
fn xferlog_line(
    now: time::OffsetDateTime,
    t: &Transfer<'_>,
    elapsed: Duration,
    bytes: u64,
    complete: bool,
) -> String {
    let date = now
        .format(time::macros::format_description!(
            "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
        ))
        .unwrap_or_else(|_| "Thu Jan  1 00:00:00 1970".to_string());
    let secs = elapsed.as_secs().max(1);
    let name: String = t
        .path
        .chars()
        .map(|c| match c {
            ' ' => '_',
            c if c.is_control() || c.is_whitespace() => '?',
            c => c,
        })
        .collect();
    let host = crate::data::canonical_ip(t.peer.ip());
    format!(
        "{date} {secs} {host} {bytes} {name} {ty} _ {dir} r {user} ftp 0 * {status}\n",
        ty = if t.ascii { 'a' } else { 'b' },
        dir = match t.direction {
            Direction::Download => 'o',
            Direction::Upload => 'i',
        },
        user = t.user.as_str(),
        status = if complete { 'c' } else { 'i' },
    )
}

/// The xferlog file: records go through a bounded queue to a thread of its own,
/// so a slow disk never stalls a ring thread; when the queue is full the record
/// is dropped with a warning rather than waited for.
#[derive(Debug)]
pub struct Xferlog {
    queue: SyncSender<String>,
}

impl Xferlog {
    /// Opens (creates, mode 0640) `path` for appending and starts the writer thread.
    pub fn open(path: &Path) -> std::io::Result<Xferlog> {
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)?;
        let (queue, records) = sync_channel::<String>(4096);
        std::thread::Builder::new()
            .name("ringftpd-xferlog".into())
            .spawn(move || {
                for line in records {
                    // One write per record: O_APPEND keeps records whole.
                    if let Err(e) = file.write_all(line.as_bytes()) {
                        tracing::error!(error = %e, "cannot write the xferlog");
                    }
                }
            })?;
        Ok(Xferlog { queue })
    }

    fn write(&self, line: String) {
        match self.queue.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => tracing::warn!("xferlog queue full: record dropped"),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(path: &str, direction: Direction) -> Transfer<'_> {
        Transfer {
            user: "alice".to_string(),
            peer: "[::ffff:192.0.2.7]:40000".parse().unwrap(),
            direction,
            path,
            ascii: false,
            started: Instant::now(),
        }
    }

    #[test]
    fn xferlog_record_has_the_standard_fields() {
        let now = time::macros::datetime!(2026-12-02 09:05:07 UTC);
        let t = transfer("/dir/a file\tname.bin", Direction::Upload);
        let line = xferlog_line(now, &t, Duration::from_millis(2500), 1234, true);
        assert_eq!(
            line,
            "Wed Dec  2 09:05:07 2026 2 192.0.2.7 1234 /dir/a_file?name.bin b _ i r alice ftp 0 * c\n"
        );
        assert_eq!(line.split_whitespace().count(), 18);
        let t = transfer("/x", Direction::Download);
        let line = xferlog_line(now, &t, Duration::from_millis(10), 0, false);
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 18);
        assert_eq!(words[5], "1", "at least one second");
        assert_eq!(words[11], "o");
        assert_eq!(words[17], "i", "incomplete");
    }

    #[test]
    fn rates() {
        assert_eq!(rate(1_000_000, Duration::from_secs(2)), 500_000);
        assert_eq!(rate(5, Duration::ZERO), 5000);
        assert_eq!(rate(0, Duration::from_secs(1)), 0);
    }

    #[test]
    fn xferlog_file_gets_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xferlog");
        let x = Xferlog::open(&path).unwrap();
        let t = transfer("/f", Direction::Download);
        t.done(10, Outcome::Ok, Some(&x));
        t.done(3, Outcome::Aborted, Some(&x));
        drop(x);
        let deadline = Instant::now() + Duration::from_secs(10);
        let text = loop {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.lines().count() == 2 || Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].ends_with(" 10 /f b _ o r alice ftp 0 * c"),
            "{text}"
        );
        assert!(
            lines[1].ends_with(" 3 /f b _ o r alice ftp 0 * i"),
            "{text}"
        );
    }
}
