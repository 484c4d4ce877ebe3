//! The FTP connection: blocking `std::net` control channel, replies parsed with
//! `ringftp_proto`, login, EPSV with PASV fallback, listings (MLSD, LIST where a
//! server lacks it) and zero-copy transfers.
//!
//! Downloads move socket bytes into the file with splice(2) through a pipe
//! sized to 1 MiB; uploads use sendfile(2). Both poll the data socket with a
//! one second timeout so the progress meter can show `- stalled -` and a
//! SIGINT (which interrupts the poll with EINTR) aborts promptly. The data
//! socket is always closed before the final 226 is read.
//!
//! FTPS (RFC 4217, `tls.rs`): after `AUTH TLS` the control connection is a
//! rustls stream; with `PROT P` every data connection is one too, resuming
//! the control connection's session. Protected transfers are buffered reads
//! and writes (256 KiB), not splice/sendfile: the bytes must pass through
//! the cipher in user space.
//!
//! Block mode (`MODE B`, RFC 959 3.4.2; framing in `ringftp_proto::block`):
//! `set_block(true)` asks once per connection (a refusal means stream mode
//! for that connection, silently). Every transfer is then framed in blocks
//! and, after its `250`, the data connection is kept and reused by the next
//! transfer command (`125`), so a small file costs no EPSV, connect or
//! close. A kept connection that turns out dead (closed under us, a `425`
//! to the command, or an error before any byte of it) is dropped and the
//! command retried once on a new one. Block-mode data passes through a
//! buffer (no splice/sendfile): it is meant for small files; `begin_retr`,
//! `begin_stor` and `stor` (big files, REST, segments) switch back to
//! `MODE S` first.
//!
//! Socket buffers: we leave Linux TCP autotuning on (it grows to
//! `tcp_rmem`/`tcp_wmem` max, 4-6 MiB by default), because setting
//! SO_RCVBUF/SO_SNDBUF explicitly disables autotuning and clamps the size
//! at `net.core.rmem_max` (often only 208 KiB).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ringftp_proto::block::{self as blk, Decoded, Deframer};
use ringftp_proto::command::{Command, EpsvArg, OptsArg, Password, SiteCmd, TransferType};
use ringftp_proto::listing::{parse_list_line, parse_mlsx, FileInfo, FileKind};
use ringftp_proto::reply::{parse_reply, Reply};

use crate::tls::{self, Ctrl, TlsClient, TlsStream};

/// Errors of the FTP layer.
#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("Connection closed")]
    Closed,
    #[error("{}", .0.text())]
    Reply(Reply),
    #[error("malformed reply: {0}")]
    Malformed(String),
    #[error("Interrupted")]
    Interrupted,
    /// A TLS handshake or record failed.
    #[error("{0}")]
    Tls(io::Error),
    /// Writing or reading the local file failed during a transfer.
    #[error("{0}")]
    Local(io::Error),
}

impl FtpError {
    /// The sftp status text (fx2txt) closest to this error.
    pub fn status(&self) -> &'static str {
        match self {
            FtpError::Reply(r) => status_of(r),
            FtpError::Io(e) => match e.kind() {
                io::ErrorKind::PermissionDenied => "Permission denied",
                io::ErrorKind::NotFound => "No such file or directory",
                _ => "Failure",
            },
            FtpError::Closed => "Connection lost",
            FtpError::Malformed(_) => "Bad message",
            FtpError::Interrupted | FtpError::Local(_) | FtpError::Tls(_) => "Failure",
        }
    }

    /// True when the server does not implement the verb (500/502/504).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, FtpError::Reply(r) if matches!(r.code, 500 | 502 | 504))
    }

    /// True when the error means the control connection is gone.
    pub fn is_fatal(&self) -> bool {
        matches!(self, FtpError::Closed | FtpError::Malformed(_))
            || matches!(self, FtpError::Reply(r) if r.code == 421)
    }
}

/// Map a negative FTP reply to the wording sftp uses for SSH2_FX_* codes.
pub fn status_of(reply: &Reply) -> &'static str {
    let text = reply.text().to_ascii_lowercase();
    if matches!(reply.code, 500 | 502 | 504) {
        return "Operation unsupported";
    }
    if text.contains("permission") || text.contains("denied") || text.contains("not allowed") {
        return "Permission denied";
    }
    if text.contains("no such")
        || text.contains("not found")
        || text.contains("not exist")
        || text.contains("doesn't exist")
        || text.contains("can't find")
        || text.contains("cannot find")
    {
        return "No such file or directory";
    }
    "Failure"
}

/// What the server announced in FEAT (RFC 2389).
#[derive(Debug, Default, Clone)]
pub struct Features {
    pub mlsd: bool,
    pub mlst: bool,
    pub size: bool,
    pub mdtm: bool,
    pub mfmt: bool,
    pub utf8: bool,
    pub epsv: bool,
    pub rest_stream: bool,
    pub avbl: bool,
}

/// How a transfer is driven: interruption flag, rate limit, progress callback.
pub struct TransferCtl<'a> {
    pub interrupt: &'a AtomicBool,
    /// Bytes per second, 0 = unlimited.
    pub limit: u64,
    /// Called with the absolute position (offset + bytes moved so far) after
    /// every chunk and at least once a second while the transfer stalls.
    pub progress: &'a mut dyn FnMut(u64),
}

/// Result of a login attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Login {
    Ok,
    Denied,
}

/// An FTP control connection.
pub struct Ftp {
    ctrl: Ctrl,
    /// Set once `AUTH TLS` succeeded.
    tls: Option<TlsClient>,
    /// PROT P accepted: data connections are TLS too.
    prot_p: bool,
    rbuf: Vec<u8>,
    peer: IpAddr,
    pub features: Features,
    no_epsv: bool,
    no_mlsd: bool,
    /// Block mode state of this connection.
    block: Block,
}

/// Block mode (`MODE B`) on one control connection.
#[derive(Default)]
struct Block {
    /// The server answered `MODE B` with an error: stream mode for good.
    refused: bool,
    /// The server is in block mode.
    on: bool,
    /// The data connection kept after the last transfer's 250.
    kept: Option<Data>,
    /// The transfer command just started on the kept connection (to retry
    /// once on a new connection if that one fails before any byte).
    reused: Option<Command>,
    /// The receive buffer, kept across files (allocated once).
    buf: Vec<u8>,
}

/// Files up to this size go in block mode in `get -r`/`put -r` jobs;
/// bigger ones in stream mode (zero copy).
pub const BLOCK_MAX: u64 = 1 << 20;
/// The block-mode receive buffer.
const BLOCK_BUF: usize = 256 * 1024;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_MS: i32 = 1000;
const CHUNK: usize = 1 << 20;

/// Resolve `host:port`, connect with a timeout to the first address that answers.
pub fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl Ftp {
    /// Wrap a connected control socket and read the greeting.
    pub fn from_stream(ctrl: TcpStream) -> Result<(Ftp, Reply), FtpError> {
        let peer = ctrl.peer_addr()?.ip();
        let _ = ctrl.set_nodelay(true);
        let mut ftp = Ftp {
            ctrl: Ctrl::Plain(ctrl),
            tls: None,
            prot_p: false,
            rbuf: Vec::new(),
            peer,
            features: Features::default(),
            no_epsv: false,
            no_mlsd: false,
            block: Block::default(),
        };
        let mut greet = ftp.read_reply()?;
        while greet.is_preliminary() {
            greet = ftp.read_reply()?;
        }
        if !greet.is_success() {
            return Err(FtpError::Reply(greet));
        }
        Ok((ftp, greet))
    }

    /// The server's address (of the control connection).
    pub fn peer_ip(&self) -> IpAddr {
        self.peer
    }

    /// `AUTH TLS`; on 234 the TLS handshake. Ok(false) when the server
    /// declines (any other reply): the session stays in the clear.
    pub fn auth_tls(&mut self, tls: &TlsClient) -> Result<bool, FtpError> {
        let r = self.cmd(&Command::Auth("TLS".into()))?;
        if r.code != 234 {
            return Ok(false);
        }
        if !self.rbuf.is_empty() {
            // Clear text after 234 would be taken as protected replies.
            return Err(FtpError::Malformed("data after 234".into()));
        }
        let tls = tls.for_new_session();
        let sock = self.ctrl.tcp().try_clone()?;
        let s = tls.connect(sock).map_err(FtpError::Tls)?;
        self.ctrl = Ctrl::Tls(Box::new(s));
        self.tls = Some(tls);
        Ok(true)
    }

    /// Whether data connections are protected (AUTH TLS + PROT P).
    pub fn data_protected(&self) -> bool {
        self.tls.is_some() && self.prot_p
    }

    /// After AUTH TLS: `PBSZ 0`, `PROT P`. Ok(false) when the server keeps
    /// data connections in the clear.
    pub fn protect_data(&mut self) -> Result<bool, FtpError> {
        let r = self.cmd(&Command::Pbsz(0))?;
        if !r.is_success() {
            return Ok(false);
        }
        let r = self.cmd(&Command::Prot('P'))?;
        self.prot_p = r.is_success();
        Ok(self.prot_p)
    }

    /// Read one complete reply from the control connection.
    pub fn read_reply(&mut self) -> Result<Reply, FtpError> {
        loop {
            match parse_reply(&self.rbuf) {
                Ok(Some((reply, used))) => {
                    self.rbuf.drain(..used);
                    tracing::debug!(code = reply.code, text = %reply.text(), "reply");
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(FtpError::Malformed(e.to_string())),
            }
            let mut chunk = [0u8; 4096];
            let n = loop {
                match self.ctrl.read(&mut chunk) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            if n == 0 {
                return Err(FtpError::Closed);
            }
            self.rbuf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    /// Send a command without reading its reply.
    pub fn send(&mut self, cmd: &Command) -> Result<(), FtpError> {
        if matches!(cmd, Command::Pass(_)) {
            tracing::debug!("> PASS ****");
        } else {
            tracing::debug!(cmd = %cmd.encode().trim_end(), "send");
        }
        self.ctrl.write_all(cmd.encode().as_bytes())?;
        self.ctrl.flush()?;
        Ok(())
    }

    /// Send a command and read its reply (skipping preliminary 1xx replies).
    pub fn cmd(&mut self, cmd: &Command) -> Result<Reply, FtpError> {
        self.send(cmd)?;
        let mut r = self.read_reply()?;
        while r.is_preliminary() {
            r = self.read_reply()?;
        }
        if r.code == 421 {
            return Err(FtpError::Closed);
        }
        Ok(r)
    }

    /// Send a command and require a 2xx (or the given codes) reply.
    fn expect_ok(&mut self, cmd: &Command) -> Result<Reply, FtpError> {
        let r = self.cmd(cmd)?;
        if r.is_success() {
            Ok(r)
        } else {
            Err(FtpError::Reply(r))
        }
    }

    /// USER + PASS (+ ACCT is not supported).
    pub fn login(&mut self, user: &str, password: &Password) -> Result<Login, FtpError> {
        let r = self.cmd(&Command::User(user.to_string()))?;
        let r = match r.code {
            230 => return Ok(Login::Ok),
            331 | 332 => self.cmd(&Command::Pass(password.clone()))?,
            _ if r.class() == 5 => return Ok(Login::Denied),
            _ => return Err(FtpError::Reply(r)),
        };
        match r.code {
            230 | 202 => Ok(Login::Ok),
            530 | 430 => Ok(Login::Denied),
            _ if r.class() == 5 => Ok(Login::Denied),
            _ => Err(FtpError::Reply(r)),
        }
    }

    /// After login: binary type, FEAT, UTF-8.
    pub fn setup(&mut self) -> Result<(), FtpError> {
        self.expect_ok(&Command::Type(TransferType::Image))?;
        let feat = self.cmd(&Command::Feat)?;
        if feat.code == 211 {
            for line in feat.lines.iter().skip(1) {
                let l = line.trim().to_ascii_uppercase();
                let verb = l.split_whitespace().next().unwrap_or("");
                match verb {
                    "MLSD" => self.features.mlsd = true,
                    "MLST" => {
                        self.features.mlst = true;
                        self.features.mlsd = true;
                    }
                    "SIZE" => self.features.size = true,
                    "MDTM" => self.features.mdtm = true,
                    "MFMT" => self.features.mfmt = true,
                    "UTF8" => self.features.utf8 = true,
                    "EPSV" => self.features.epsv = true,
                    "AVBL" => self.features.avbl = true,
                    "REST" => self.features.rest_stream = l.contains("STREAM"),
                    _ => {}
                }
            }
        }
        if self.features.utf8 {
            let _ = self.cmd(&Command::Opts(OptsArg::Utf8(true)))?;
        }
        Ok(())
    }

    /// PWD, parsed with RFC 959's 257 quoting.
    pub fn pwd(&mut self) -> Result<String, FtpError> {
        let r = self.expect_ok(&Command::Pwd)?;
        ringftp_proto::path::parse_257(&r.text()).ok_or_else(|| FtpError::Malformed(r.text()))
    }

    /// CWD to an absolute path.
    pub fn cwd(&mut self, path: &str) -> Result<(), FtpError> {
        self.expect_ok(&Command::Cwd(path.to_string())).map(|_| ())
    }

    pub fn mkd(&mut self, path: &str) -> Result<(), FtpError> {
        self.expect_ok(&Command::Mkd(path.to_string())).map(|_| ())
    }

    pub fn rmd(&mut self, path: &str) -> Result<(), FtpError> {
        self.expect_ok(&Command::Rmd(path.to_string())).map(|_| ())
    }

    pub fn dele(&mut self, path: &str) -> Result<(), FtpError> {
        self.expect_ok(&Command::Dele(path.to_string())).map(|_| ())
    }

    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), FtpError> {
        let r = self.cmd(&Command::Rnfr(from.to_string()))?;
        if r.code != 350 {
            return Err(FtpError::Reply(r));
        }
        self.expect_ok(&Command::Rnto(to.to_string())).map(|_| ())
    }

    pub fn chmod(&mut self, mode: u32, path: &str) -> Result<(), FtpError> {
        self.expect_ok(&Command::Site(SiteCmd::Chmod {
            mode: mode & 0o7777,
            path: path.to_string(),
        }))
        .map(|_| ())
    }

    /// `SITE CHOWN`/`SITE CHGRP` are not standard; servers that lack them get
    /// "Operation unsupported".
    pub fn site_other(&mut self, text: String) -> Result<(), FtpError> {
        self.expect_ok(&Command::Site(SiteCmd::Other(text)))
            .map(|_| ())
    }

    pub fn symlink(&mut self, target: &str, link: &str) -> Result<(), FtpError> {
        self.expect_ok(&Command::Site(SiteCmd::Symlink {
            target: target.to_string(),
            link: link.to_string(),
        }))
        .map(|_| ())
    }

    pub fn mfmt(&mut self, mtime: i64, path: &str) -> Result<(), FtpError> {
        self.expect_ok(&Command::Mfmt {
            mtime,
            path: path.to_string(),
        })
        .map(|_| ())
    }

    /// SITE STATVFS (ringftpd): filesystem totals for `df`. Ok(None) when the
    /// server does not have it (then only AVBL's free bytes are known).
    pub fn statvfs(
        &mut self,
        path: &str,
    ) -> Result<Option<ringftp_proto::statvfs::FsStats>, FtpError> {
        match self.expect_ok(&Command::Site(SiteCmd::Statvfs(path.to_string()))) {
            Ok(r) => Ok(ringftp_proto::statvfs::FsStats::parse(&r.text())),
            Err(e) if e.is_unsupported() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// AVBL: free bytes available to the user (213 reply).
    pub fn avbl(&mut self, path: &str) -> Result<u64, FtpError> {
        let r = self.expect_ok(&Command::Avbl(Some(path.to_string())))?;
        r.text()
            .split_whitespace()
            .find_map(|w| w.parse::<u64>().ok())
            .ok_or_else(|| FtpError::Malformed(r.text()))
    }

    pub fn size(&mut self, path: &str) -> Result<u64, FtpError> {
        let r = self.expect_ok(&Command::Size(path.to_string()))?;
        r.text()
            .split_whitespace()
            .last()
            .and_then(|w| w.parse::<u64>().ok())
            .ok_or_else(|| FtpError::Malformed(r.text()))
    }

    pub fn quit(&mut self) {
        let _ = self.cmd(&Command::Quit);
    }

    /// Attributes of one path: MLST where the server has it, otherwise the
    /// parent's listing (or CWD for the root and unlistable parents).
    /// Ok(None) means "does not exist".
    pub fn stat(&mut self, path: &str) -> Result<Option<FileInfo>, FtpError> {
        let norm = ringftp_proto::path::normalize("/", path).unwrap_or_else(|_| "/".into());
        let name = ringftp_proto::path::file_name(&norm)
            .unwrap_or("/")
            .to_string();
        if self.features.mlst {
            let r = self.cmd(&Command::Mlst(Some(path.to_string())))?;
            if r.is_success() {
                if let Some(line) = r.lines.get(1) {
                    if let Ok(mut info) = parse_mlsx(line) {
                        info.name = name;
                        return Ok(Some(info));
                    }
                }
            } else if r.class() == 5 && !matches!(r.code, 500 | 502) {
                return Ok(None);
            }
        }
        if norm != "/" {
            let parent = ringftp_proto::path::parent(&norm).to_string();
            if let Ok(list) = self.list(&parent) {
                if let Some(info) = list.into_iter().find(|i| i.name == name) {
                    if info.kind != FileKind::Symlink {
                        return Ok(Some(info));
                    }
                    // stat(2) follows links: ask what the target is.
                    if self.cwd(path).is_ok() {
                        return Ok(Some(FileInfo {
                            kind: FileKind::Dir,
                            ..info
                        }));
                    }
                    if let Ok(size) = self.size(path) {
                        return Ok(Some(FileInfo {
                            kind: FileKind::File,
                            size,
                            ..info
                        }));
                    }
                    return Ok(Some(info));
                }
            }
        }
        // Last resort: is it a directory we can enter, or a file with a size?
        if self.cwd(path).is_ok() {
            return Ok(Some(dir_info(&name)));
        }
        match self.size(path) {
            Ok(size) => Ok(Some(FileInfo {
                size,
                ..file_info(&name)
            })),
            Err(FtpError::Reply(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Open a passive data connection: EPSV first, PASV when the server lacks it.
    fn open_data(&mut self) -> Result<TcpStream, FtpError> {
        // EPSV/PASV close a kept connection on the server (block mode rule 3).
        self.block.kept = None;
        if !self.no_epsv {
            let r = self.cmd(&Command::Epsv(EpsvArg::Any))?;
            if r.code == 229 {
                let port = ringftp_proto::addr::parse_epsv(&r.text())
                    .map_err(|e| FtpError::Malformed(e.to_string()))?;
                return Ok(TcpStream::connect_timeout(
                    &SocketAddr::new(self.peer, port),
                    CONNECT_TIMEOUT,
                )?);
            }
            self.no_epsv = true;
        }
        let r = self.expect_ok(&Command::Pasv)?;
        let addr = ringftp_proto::addr::parse_pasv(&r.text())
            .map_err(|e| FtpError::Malformed(e.to_string()))?;
        // Connect to the control peer: the address in 227 is often wrong
        // behind NAT and must not be trusted blindly (FTP bounce).
        Ok(TcpStream::connect_timeout(
            &SocketAddr::new(self.peer, addr.port()),
            CONNECT_TIMEOUT,
        )?)
    }

    /// Start a transfer command on a fresh data connection; returns the data
    /// socket once the server answered 1xx.
    fn start_transfer(&mut self, cmd: Command, rest: u64) -> Result<Data, FtpError> {
        self.block.reused = None;
        if let Some(data) = self.take_kept(rest) {
            self.send(&cmd)?;
            let r = self.read_reply()?;
            if r.is_preliminary() {
                self.block.reused = Some(cmd);
                return Ok(data);
            }
            if r.code != 425 {
                // Refused before any data (550, 553...): still in step.
                self.block.kept = Some(data);
                return Err(FtpError::Reply(r));
            }
            // The server found it dead: a new one, the command once more.
            tracing::debug!("kept data connection refused; opening a new one");
        }
        let data = self.open_data()?;
        if self.block.on {
            // Each block-mode write is a whole file's blocks: nothing to
            // coalesce, and with Nagle the next file's write would wait
            // for the delayed ACK of this one's (40 ms a file).
            let _ = data.set_nodelay(true);
        }
        if rest > 0 {
            let r = self.cmd(&Command::Rest(rest))?;
            if r.code != 350 {
                return Err(FtpError::Reply(r));
            }
        }
        self.send(&cmd)?;
        let r = self.read_reply()?;
        if !r.is_preliminary() {
            return Err(FtpError::Reply(r));
        }
        // The server starts its side of the handshake after the 1xx
        // (RFC 4217 7; vsftpd, ringftpd): only now is it safe to begin.
        match (&self.tls, self.prot_p) {
            (Some(tls), true) => match tls.connect(data) {
                Ok(s) => Ok(Data::Tls(Box::new(s))),
                Err(e) => {
                    // The server waits for a handshake that failed: its
                    // reply (425/426) ends this transfer.
                    let _ = self.finish_transfer();
                    Err(FtpError::Tls(e))
                }
            },
            _ => Ok(Data::Plain(data)),
        }
    }

    /// Start `STOR path` (after `REST rest` when rest > 0) on a fresh data
    /// connection; returns the data socket once the server answered 1xx.
    /// Used for the parts of a segmented upload (`parallel`).
    pub fn begin_stor(&mut self, path: &str, rest: u64) -> Result<Data, FtpError> {
        self.set_block(false)?;
        self.start_transfer(Command::Stor(path.to_string()), rest)
    }

    /// NOOP: is this control connection still usable?
    pub fn noop(&mut self) -> Result<(), FtpError> {
        self.expect_ok(&Command::Noop).map(|_| ())
    }

    /// Read the final reply of a transfer after the data socket was closed.
    pub fn finish_transfer(&mut self) -> Result<(), FtpError> {
        let r = self.read_reply()?;
        if r.is_success() {
            Ok(())
        } else {
            Err(FtpError::Reply(r))
        }
    }

    /// Abort after an interrupted transfer: ABOR, then NOOP, and read replies
    /// until the NOOP's 200 so the control channel is in step again.
    pub fn abort(&mut self) -> Result<(), FtpError> {
        self.send(&Command::Abor)?;
        self.send(&Command::Noop)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let _ = self
            .ctrl
            .tcp()
            .set_read_timeout(Some(Duration::from_secs(30)));
        let res = loop {
            match self.read_reply() {
                Ok(r) if r.code == 200 => break Ok(()),
                Ok(_) if Instant::now() < deadline => continue,
                Ok(r) => break Err(FtpError::Reply(r)),
                Err(e) => break Err(e),
            }
        };
        let _ = self.ctrl.tcp().set_read_timeout(None);
        res
    }

    /// List a directory: MLSD, or `LIST -a` where MLSD is missing.
    pub fn list(&mut self, dir: &str) -> Result<Vec<FileInfo>, FtpError> {
        if self.features.mlsd && !self.no_mlsd {
            match self.list_with(Command::Mlsd(Some(dir.to_string())), true) {
                Err(e) if e.is_unsupported() => self.no_mlsd = true,
                other => return other,
            }
        }
        self.list_with(Command::List(Some(format!("-a {dir}"))), false)
    }

    fn list_with(&mut self, cmd: Command, mlsd: bool) -> Result<Vec<FileInfo>, FtpError> {
        let mut data = self.start_transfer(cmd, 0)?;
        let mut raw = Vec::new();
        if self.block.on {
            let never = AtomicBool::new(false);
            let mut sink = |chunk: &[u8]| {
                if raw.len() as u64 + chunk.len() as u64 > MAX_LISTING {
                    return Err(FtpError::Malformed("listing too long".into()));
                }
                raw.extend_from_slice(chunk);
                Ok(())
            };
            let mut buf = std::mem::take(&mut self.block.buf);
            let read = recv_blocks(&mut data, &mut buf, &never, &mut sink, &mut |_| {});
            self.block.buf = buf;
            match read {
                Ok(r) => self.finish_block(data, !r.extra)?,
                Err(e) => {
                    drop(data);
                    let _ = self.finish_transfer();
                    return Err(e.error);
                }
            }
        } else {
            let read = data.read_to_end_bounded(&mut raw);
            drop(data);
            let fin = self.finish_transfer();
            read?;
            fin?;
        }
        let text = String::from_utf8_lossy(&raw);
        let mut out = Vec::new();
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let info = if mlsd {
                match parse_mlsx(line) {
                    Ok(i) => i,
                    Err(_) => continue,
                }
            } else {
                match parse_list_line(line) {
                    Some(i) => i,
                    None => continue,
                }
            };
            if info.name == "." || info.name == ".." || info.name.is_empty() {
                continue;
            }
            // A LIST of a path may print it with directories in front.
            let name = match info.name.rsplit_once('/') {
                Some((_, n)) if !mlsd && !n.is_empty() => n.to_string(),
                _ => info.name.clone(),
            };
            out.push(FileInfo { name, ..info });
        }
        Ok(out)
    }

    /// Start RETR of `path` at `offset`; returns the data socket after 1xx.
    pub fn begin_retr(&mut self, path: &str, offset: u64) -> Result<Data, FtpError> {
        self.set_block(false)?;
        self.start_transfer(Command::Retr(path.to_string()), offset)
    }

    /// Receive the data of a started RETR into `file` (positioned at
    /// `offset`), close the data socket, read the final reply. Returns bytes
    /// received. On interrupt, aborts and returns Interrupted.
    pub fn finish_retr(
        &mut self,
        data: Data,
        file: &std::fs::File,
        offset: u64,
        ctl: &mut TransferCtl<'_>,
    ) -> Result<u64, FtpError> {
        if self.block.on {
            return self.finish_retr_blocks(data, file, ctl);
        }
        let moved = match data {
            Data::Plain(data) => recv_into_file(&data, file, offset, ctl),
            Data::Tls(mut s) => {
                let r = recv_tls_into_file(&mut s, file, offset, ctl);
                if r.is_ok() {
                    tls::close(&mut s);
                }
                r
            }
        };
        match moved {
            Ok(n) => {
                self.finish_transfer()?;
                Ok(n)
            }
            Err(
                e @ (FtpError::Interrupted
                | FtpError::Local(_)
                | FtpError::Io(_)
                | FtpError::Tls(_)),
            ) => {
                self.abort()?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// STOR (or APPE when `append`) the rest of `file` from `offset`.
    pub fn stor(
        &mut self,
        path: &str,
        file: &std::fs::File,
        offset: u64,
        size: u64,
        append: bool,
        ctl: &mut TransferCtl<'_>,
    ) -> Result<u64, FtpError> {
        self.set_block(false)?;
        let cmd = if append {
            Command::Appe(path.to_string())
        } else {
            Command::Stor(path.to_string())
        };
        let sent = match self.start_transfer(cmd, 0)? {
            Data::Plain(data) => {
                let sent = send_from_file(&data, file, offset, size, ctl);
                let _ = data.shutdown(std::net::Shutdown::Write);
                sent
            }
            Data::Tls(mut s) => {
                let sent = send_tls_from_file(&mut s, file, offset, ctl);
                if sent.is_ok() {
                    finish_tls_upload(&mut s);
                }
                sent
            }
        };
        match sent {
            Ok(n) => {
                self.finish_transfer()?;
                Ok(n)
            }
            Err(
                e @ (FtpError::Interrupted
                | FtpError::Local(_)
                | FtpError::Io(_)
                | FtpError::Tls(_)),
            ) => {
                self.abort()?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Block mode on (`want`, where the server has it) or off for the next
    /// transfers. `MODE B` is asked once per connection: a refusal (any
    /// error reply) leaves it in stream mode for good, with no message.
    /// `MODE S` closes a kept connection (on both sides).
    pub fn set_block(&mut self, want: bool) -> Result<(), FtpError> {
        if want == self.block.on || (want && self.block.refused) {
            return Ok(());
        }
        self.block.kept = None;
        if want {
            let r = self.cmd(&Command::Mode('B'))?;
            self.block.on = r.is_success();
            self.block.refused = !self.block.on;
            if self.block.refused {
                tracing::debug!(
                    code = r.code,
                    "no block mode: stream mode on this connection"
                );
            }
        } else {
            let r = self.cmd(&Command::Mode('S'))?;
            if !r.is_success() {
                return Err(FtpError::Reply(r));
            }
            self.block.on = false;
        }
        Ok(())
    }

    /// The kept data connection, for a transfer without REST, if it still
    /// looks alive (nothing to read on it: no EOF, reset or stray bytes).
    fn take_kept(&mut self, rest: u64) -> Option<Data> {
        let mut data = self.block.kept.take()?;
        if rest > 0 || !self.block.on {
            return None;
        }
        if idle_and_open(&mut data) {
            Some(data)
        } else {
            tracing::debug!("kept data connection closed by the server; dropped");
            None
        }
    }

    /// The final reply of a block-mode transfer whose data is complete:
    /// `250` keeps the data connection (unless `keep` is false: the framing
    /// is not to be trusted), `226` means the server closed it.
    fn finish_block(&mut self, data: Data, keep: bool) -> Result<(), FtpError> {
        let r = self.read_reply()?;
        if r.code == 250 && keep {
            self.block.kept = Some(data);
        }
        if r.is_success() {
            Ok(())
        } else {
            Err(FtpError::Reply(r))
        }
    }

    /// Start `RETR path` for a whole file, in block mode when `block` (and
    /// the server has it), else in stream mode.
    pub fn begin_get(&mut self, path: &str, block: bool) -> Result<Data, FtpError> {
        self.set_block(block)?;
        self.start_transfer(Command::Retr(path.to_string()), 0)
    }

    /// `finish_retr` in block mode: deframe into the file, then the reply.
    fn finish_retr_blocks(
        &mut self,
        mut data: Data,
        file: &std::fs::File,
        ctl: &mut TransferCtl<'_>,
    ) -> Result<u64, FtpError> {
        let reused = self.block.reused.take();
        let start = Instant::now();
        let mut total = 0u64;
        let mut write = |chunk: &[u8]| {
            let mut f = file;
            f.write_all(chunk).map_err(FtpError::Local)?;
            total += chunk.len() as u64;
            throttle(ctl.limit, start, total);
            Ok(())
        };
        let mut buf = std::mem::take(&mut self.block.buf);
        (ctl.progress)(0);
        let read = recv_blocks(&mut data, &mut buf, ctl.interrupt, &mut write, ctl.progress);
        self.block.buf = buf;
        match read {
            Ok(r) => {
                self.finish_block(data, !r.extra)?;
                Ok(r.data)
            }
            Err(RecvError { error, wire: 0 })
                if reused.is_some() && matches!(error, FtpError::Io(_) | FtpError::Tls(_)) =>
            {
                // The kept connection was dead: nothing arrived, nothing
                // was written. Once more on a new connection.
                tracing::debug!(%error, "kept data connection failed before any byte; retrying");
                drop(data);
                self.abort()?;
                let cmd = reused.ok_or(FtpError::Interrupted)?;
                let data = self.start_transfer(cmd, 0)?;
                self.finish_retr_blocks(data, file, ctl)
            }
            Err(RecvError { error, .. }) => {
                drop(data);
                match error {
                    e @ (FtpError::Interrupted
                    | FtpError::Local(_)
                    | FtpError::Io(_)
                    | FtpError::Tls(_)) => {
                        self.abort()?;
                        Err(e)
                    }
                    e => Err(e),
                }
            }
        }
    }

    /// STOR a whole `file` (of about `size` bytes), in block mode when
    /// `block` (and the server has it): the file is read into memory and
    /// sent as header + data + EOF in one write. Else as `stor`.
    pub fn put_file(
        &mut self,
        path: &str,
        file: &std::fs::File,
        size: u64,
        block: bool,
        ctl: &mut TransferCtl<'_>,
    ) -> Result<u64, FtpError> {
        if !block {
            return self.stor(path, file, 0, size, false, ctl);
        }
        self.set_block(true)?;
        if !self.block.on {
            return self.stor(path, file, 0, size, false, ctl);
        }
        let mut body = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        {
            let mut f = file;
            f.read_to_end(&mut body).map_err(FtpError::Local)?;
        }
        let mut wire = Vec::new();
        blk::frame(&body, true, &mut wire);
        let cmd = Command::Stor(path.to_string());
        let mut data = self.start_transfer(cmd, 0)?;
        let mut retried = false;
        (ctl.progress)(0);
        loop {
            let reused = self.block.reused.take();
            let retry = reused.filter(|_| !retried);
            match send_all(&mut data, &wire, ctl.interrupt) {
                Ok(()) => match (self.finish_block(data, true), retry) {
                    // The kept connection was gone under the upload: the
                    // server saw no EOF block and committed nothing (426,
                    // block mode rule 6). Once more on a new connection.
                    (Err(FtpError::Reply(r)), Some(cmd)) if matches!(r.code, 425 | 426) => {
                        tracing::debug!(
                            code = r.code,
                            "upload on the kept data connection lost; retrying"
                        );
                        retried = true;
                        data = self.start_transfer(cmd, 0)?;
                    }
                    (r, _) => {
                        (ctl.progress)(body.len() as u64);
                        r?;
                        return Ok(body.len() as u64);
                    }
                },
                Err((FtpError::Io(error), 0)) if retry.is_some() => {
                    tracing::debug!(%error, "kept data connection failed before any byte; retrying");
                    drop(data);
                    self.abort()?;
                    retried = true;
                    data = self.start_transfer(retry.ok_or(FtpError::Interrupted)?, 0)?;
                }
                Err((e, sent)) => {
                    drop(data);
                    (ctl.progress)((sent as u64).min(body.len() as u64));
                    self.abort()?;
                    return Err(e);
                }
            }
        }
    }
}

/// A data connection: clear (spliced) or TLS (PROT P, buffered).
pub enum Data {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// Listings bigger than this are cut off (a directory of ~1 million entries).
const MAX_LISTING: u64 = 256 << 20;

impl Data {
    /// After the last byte of an upload: shut down our side (clear), or
    /// close_notify and wait for the server's close (TLS).
    pub fn finish_upload(&mut self) {
        match self {
            Data::Plain(s) => {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            Data::Tls(s) => finish_tls_upload(s),
        }
    }

    /// Read a listing to its end. Over TLS a missing close_notify counts as
    /// the end: the final reply on the protected control connection says
    /// whether the listing was complete.
    fn read_to_end_bounded(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Data::Plain(s) => s.take(MAX_LISTING).read_to_end(out),
            Data::Tls(s) => {
                let r = match (&mut **s).take(MAX_LISTING).read_to_end(out) {
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(out.len()),
                    other => other,
                };
                tls::close(s);
                r
            }
        }
    }
}

/// Buffer of one protected read or write.
const TLS_CHUNK: usize = 256 * 1024;

/// Is this error "try again" (a socket timeout tick or a signal)?
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Receive a protected download into `file`: decrypted reads, written at
/// the file's position. The socket has a one second timeout so the meter
/// can say `- stalled -` and SIGINT is seen.
fn recv_tls_into_file(
    s: &mut TlsStream,
    file: &std::fs::File,
    offset: u64,
    ctl: &mut TransferCtl<'_>,
) -> Result<u64, FtpError> {
    s.sock
        .set_read_timeout(Some(Duration::from_millis(POLL_MS as u64)))?;
    let chunk = chunk_for(ctl.limit).min(TLS_CHUNK);
    let mut buf = vec![0u8; chunk];
    let start = Instant::now();
    let mut total = 0u64;
    (ctl.progress)(offset);
    loop {
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            // No close_notify: the 226 on the protected control connection
            // (read next) is what says the file is complete.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) if transient(&e) => {
                if ctl.interrupt.load(Ordering::SeqCst) {
                    return Err(FtpError::Interrupted);
                }
                (ctl.progress)(offset + total);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            break;
        }
        let mut f = file;
        f.write_all(buf.get(..n).unwrap_or_default())
            .map_err(FtpError::Local)?;
        total += n as u64;
        (ctl.progress)(offset + total);
        throttle(ctl.limit, start, total);
        if ctl.interrupt.load(Ordering::SeqCst) {
            return Err(FtpError::Interrupted);
        }
    }
    Ok(total)
}

/// Send `file` from `offset` to its end over a protected data connection.
fn send_tls_from_file(
    s: &mut TlsStream,
    file: &std::fs::File,
    offset: u64,
    ctl: &mut TransferCtl<'_>,
) -> Result<u64, FtpError> {
    use std::os::unix::fs::FileExt;
    s.sock
        .set_write_timeout(Some(Duration::from_millis(POLL_MS as u64)))?;
    let chunk = chunk_for(ctl.limit).min(TLS_CHUNK);
    let mut buf = vec![0u8; chunk];
    let start = Instant::now();
    let mut total = 0u64;
    (ctl.progress)(offset);
    loop {
        let n = loop {
            match file.read_at(&mut buf, offset + total) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FtpError::Local(e)),
            }
        };
        if n == 0 {
            break;
        }
        let mut rest = buf.get(..n).unwrap_or_default();
        while !rest.is_empty() {
            match s.write(rest) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(m) => rest = rest.get(m..).unwrap_or_default(),
                Err(e) if transient(&e) => {
                    if ctl.interrupt.load(Ordering::SeqCst) {
                        return Err(FtpError::Interrupted);
                    }
                    (ctl.progress)(offset + total);
                }
                Err(e) => return Err(e.into()),
            }
        }
        total += n as u64;
        (ctl.progress)(offset + total);
        throttle(ctl.limit, start, total);
        if ctl.interrupt.load(Ordering::SeqCst) {
            return Err(FtpError::Interrupted);
        }
    }
    // Everything rustls still holds must reach the socket.
    loop {
        match s.flush() {
            Ok(()) => break,
            Err(e) if transient(&e) => {
                if ctl.interrupt.load(Ordering::SeqCst) {
                    return Err(FtpError::Interrupted);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(total)
}

/// How long to wait for the server's close_notify after an upload.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// End a protected upload: our close_notify marks the end of the file (a
/// bare FIN could be forged), then wait, bounded, for the server's answer
/// so our close does not reset a connection it is still shutting down.
fn finish_tls_upload(s: &mut TlsStream) {
    tls::close(s);
    let _ = s.sock.set_read_timeout(Some(CLOSE_WAIT));
    let deadline = Instant::now() + CLOSE_WAIT;
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// A FileInfo for a directory known only by name.
pub fn dir_info(name: &str) -> FileInfo {
    FileInfo {
        kind: FileKind::Dir,
        ..file_info(name)
    }
}

/// A FileInfo for a regular file known only by name.
pub fn file_info(name: &str) -> FileInfo {
    FileInfo {
        name: name.to_string(),
        kind: FileKind::File,
        size: 0,
        mtime: 0,
        mode: 0,
        nlink: 0, // unknown: `ls -l` shows `?`
        owner: String::new(),
        group: String::new(),
        uid: None,
        gid: None,
        link_target: None,
        perm: None,
    }
}

/// poll(2) one fd; Ok(true) when ready, Ok(false) on timeout; EINTR -> Interrupted
/// when the flag is set, otherwise Ok(false).
fn poll_fd(fd: RawFd, events: i16, interrupt: &AtomicBool) -> Result<bool, FtpError> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: pfd is a valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
    if interrupt.load(Ordering::SeqCst) {
        return Err(FtpError::Interrupted);
    }
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e.into());
    }
    Ok(n > 0)
}

/// Sleep as needed to keep `moved` bytes since `start` under `limit` bytes/s.
fn throttle(limit: u64, start: Instant, moved: u64) {
    if limit == 0 {
        return;
    }
    let due = Duration::from_secs_f64(moved as f64 / limit as f64);
    let spent = start.elapsed();
    if due > spent {
        std::thread::sleep(due - spent);
    }
}

fn chunk_for(limit: u64) -> usize {
    if limit == 0 {
        CHUNK
    } else {
        // About ten chunks a second keeps the limiter smooth.
        ((limit / 10).max(1024) as usize).min(CHUNK)
    }
}

fn make_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid array of two ints.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh descriptors that we now own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: plain fcntl on our own pipe; failure only means a smaller pipe.
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, CHUNK as libc::c_int) };
    Ok((r, w))
}

/// The first bytes of a download are read into a buffer and written; only
/// past this much does splice(2) take over. A small file (most of a `get -r`
/// tree) is then one read and one write, without creating and sizing a pipe
/// and three splice calls; a big one pays one extra copy of this size.
const SPLICE_AFTER: u64 = 256 * 1024;
/// The buffer for that first part (under glibc's mmap threshold, so no
/// mapping per file).
const COPY_BUF: usize = 64 * 1024;

/// Move everything from the data socket into `file`: splice(2) through a
/// pipe, after a small first part read and written directly.
fn recv_into_file(
    data: &TcpStream,
    file: &std::fs::File,
    offset: u64,
    ctl: &mut TransferCtl<'_>,
) -> Result<u64, FtpError> {
    let sock = data.as_raw_fd();
    let out = file.as_raw_fd();
    let mut pipe: Option<(OwnedFd, OwnedFd)> = None;
    let chunk = chunk_for(ctl.limit);
    let start = Instant::now();
    let mut total = 0u64;
    let mut use_splice = true;
    let mut buf: Vec<u8> = Vec::new();
    // Poll before the first read (the bytes usually come just after the
    // 150), then read until a read finds nothing: the end of a small file
    // mostly arrives with its bytes, and a poll before every read was one
    // more system call per file (strace: reading first from the start made
    // the first read an EAGAIN more often than not).
    let mut wait = true;
    (ctl.progress)(offset);
    loop {
        if wait {
            if !poll_fd(sock, libc::POLLIN, ctl.interrupt)? {
                (ctl.progress)(offset + total);
                continue;
            }
            wait = false;
        }
        if use_splice && total >= SPLICE_AFTER && pipe.is_none() {
            pipe = Some(make_pipe()?);
        }
        let n = if let (true, Some((pr, pw))) = (use_splice, pipe.as_ref()) {
            // SAFETY: valid fds; null offsets use the fds' own positions.
            let n = unsafe {
                libc::splice(
                    sock,
                    std::ptr::null_mut(),
                    pw.as_raw_fd(),
                    std::ptr::null_mut(),
                    chunk,
                    libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) => {
                        wait = true;
                        continue;
                    }
                    Some(libc::EINTR) => continue,
                    Some(libc::EINVAL) => {
                        // Not a splice-able socket (never on Linux TCP): copy.
                        use_splice = false;
                        continue;
                    }
                    _ => return Err(e.into()),
                }
            }
            let n = n as usize;
            let mut left = n;
            while left > 0 {
                // SAFETY: valid fds as above.
                let m = unsafe {
                    libc::splice(
                        pr.as_raw_fd(),
                        std::ptr::null_mut(),
                        out,
                        std::ptr::null_mut(),
                        left,
                        libc::SPLICE_F_MOVE,
                    )
                };
                if m < 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() == Some(libc::EINTR) {
                        continue;
                    }
                    return Err(FtpError::Local(e));
                }
                if m == 0 {
                    return Err(FtpError::Local(io::Error::from(io::ErrorKind::WriteZero)));
                }
                left -= m as usize;
            }
            n
        } else {
            if buf.is_empty() {
                buf = vec![0u8; chunk.min(COPY_BUF)];
            }
            // SAFETY: `buf` is valid for writes of its length.
            let n =
                unsafe { libc::recv(sock, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => wait = true,
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(e.into()),
                }
                continue;
            }
            let n = n as usize;
            let mut f = file;
            f.write_all(buf.get(..n).unwrap_or_default())
                .map_err(FtpError::Local)?;
            n
        };
        if n == 0 {
            break;
        }
        total += n as u64;
        (ctl.progress)(offset + total);
        throttle(ctl.limit, start, total);
        if ctl.interrupt.load(Ordering::SeqCst) {
            return Err(FtpError::Interrupted);
        }
    }
    Ok(total)
}

/// Send `file` from `offset` to `size` over the data socket with sendfile(2).
fn send_from_file(
    data: &TcpStream,
    file: &std::fs::File,
    offset: u64,
    size: u64,
    ctl: &mut TransferCtl<'_>,
) -> Result<u64, FtpError> {
    let sock = data.as_raw_fd();
    let fd = file.as_raw_fd();
    let chunk = chunk_for(ctl.limit);
    let start = Instant::now();
    let mut off = offset as libc::off_t;
    let mut total = 0u64;
    // Poll for room only after a full chunk (the socket may be full now):
    // a small file is then one sendfile and the one that finds its end.
    let mut wait = false;
    (ctl.progress)(offset);
    loop {
        if wait && !poll_fd(sock, libc::POLLOUT, ctl.interrupt)? {
            (ctl.progress)(offset + total);
            continue;
        }
        let want = chunk.max(1);
        // SAFETY: valid fds; `off` is a valid off_t the kernel advances.
        let n = unsafe { libc::sendfile(sock, fd, &mut off, want) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => {
                    wait = true;
                    continue;
                }
                Some(libc::EINTR) => continue,
                _ => return Err(e.into()),
            }
        }
        wait = n as usize >= want;
        if n == 0 {
            // End of file (the file may have shrunk or grown; we send what is there).
            break;
        }
        total += n as u64;
        (ctl.progress)(offset + total);
        throttle(ctl.limit, start, total);
        if ctl.interrupt.load(Ordering::SeqCst) {
            return Err(FtpError::Interrupted);
        }
        if size > 0 && offset + total >= size {
            // Keep going only if the file grew; sendfile returns 0 at EOF.
            continue;
        }
    }
    Ok(total)
}

/// Receive exactly `len` bytes from the data socket into `file` at `offset`
/// (splice with an explicit file offset, so several of these can fill one
/// file at once). Stops with Interrupted when `stop` is set; a data socket
/// that ends early is an I/O error (not a lost control connection). `moved` is called with each chunk's size.
pub fn recv_range(
    data: &mut Data,
    file: &std::fs::File,
    offset: u64,
    len: u64,
    stop: &AtomicBool,
    moved: &mut dyn FnMut(u64),
) -> Result<u64, FtpError> {
    match data {
        Data::Plain(s) => recv_range_plain(s, file, offset, len, stop, moved),
        Data::Tls(s) => recv_range_tls(s, file, offset, len, stop, moved),
    }
}

fn recv_range_plain(
    data: &TcpStream,
    file: &std::fs::File,
    offset: u64,
    len: u64,
    stop: &AtomicBool,
    moved: &mut dyn FnMut(u64),
) -> Result<u64, FtpError> {
    let sock = data.as_raw_fd();
    let out = file.as_raw_fd();
    let (pr, pw) = make_pipe()?;
    let mut off = offset as libc::loff_t;
    let mut total = 0u64;
    while total < len {
        if !poll_fd(sock, libc::POLLIN, stop)? {
            continue;
        }
        let want = ((len - total).min(CHUNK as u64)) as usize;
        // SAFETY: valid fds; null offset: the socket has none.
        let n = unsafe {
            libc::splice(
                sock,
                std::ptr::null_mut(),
                pw.as_raw_fd(),
                std::ptr::null_mut(),
                want,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                _ => return Err(e.into()),
            }
        }
        if n == 0 {
            return Err(ended_early());
        }
        let mut left = n as usize;
        while left > 0 {
            // SAFETY: valid fds; `off` is a valid loff_t the kernel advances.
            let m = unsafe {
                libc::splice(
                    pr.as_raw_fd(),
                    std::ptr::null_mut(),
                    out,
                    &mut off,
                    left,
                    libc::SPLICE_F_MOVE,
                )
            };
            if m < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(FtpError::Local(e));
            }
            if m == 0 {
                return Err(FtpError::Local(io::Error::from(io::ErrorKind::WriteZero)));
            }
            left -= m as usize;
        }
        total += n as u64;
        moved(n as u64);
        if stop.load(Ordering::SeqCst) {
            return Err(FtpError::Interrupted);
        }
    }
    Ok(total)
}

/// Send exactly `len` bytes of `file` from `offset` with sendfile(2); a
/// file that ends early is a local error. Stops with Interrupted when `stop`
/// is set. `moved` is called with each chunk's size.
pub fn send_range(
    data: &mut Data,
    file: &std::fs::File,
    offset: u64,
    len: u64,
    stop: &AtomicBool,
    moved: &mut dyn FnMut(u64),
) -> Result<u64, FtpError> {
    match data {
        Data::Plain(s) => send_range_plain(s, file, offset, len, stop, moved),
        Data::Tls(s) => send_range_tls(s, file, offset, len, stop, moved),
    }
}

fn send_range_plain(
    data: &TcpStream,
    file: &std::fs::File,
    offset: u64,
    len: u64,
    stop: &AtomicBool,
    moved: &mut dyn FnMut(u64),
) -> Result<u64, FtpError> {
    let sock = data.as_raw_fd();
    let fd = file.as_raw_fd();
    let mut off = offset as libc::off_t;
    let mut total = 0u64;
    while total < len {
        if !poll_fd(sock, libc::POLLOUT, stop)? {
            continue;
        }
        let want = ((len - total).min(CHUNK as u64)) as usize;
        // SAFETY: valid fds; `off` is a valid off_t the kernel advances.
        let n = unsafe { libc::sendfile(sock, fd, &mut off, want) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                _ => return Err(e.into()),
            }
        }
        if n == 0 {
            return Err(FtpError::Local(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank during upload",
            )));
        }
        total += n as u64;
        moved(n as u64);
        if stop.load(Ordering::SeqCst) {
            return Err(FtpError::Interrupted);
        }
    }
    Ok(total)
}

/// A data connection that ended before its range was in (the remote file
/// shrank, or the server cut it): this transfer failed, but the control
/// connection is still there, so it is an I/O error, never `FtpError::Closed`
/// (which ends the session). Over TLS it is the same, whether the server sent
/// close_notify or just closed.
fn ended_early() -> FtpError {
    FtpError::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "data connection closed early",
    ))
}

/// `recv_range` over TLS: decrypted reads of at most what is left, written
/// at their offset; a one second socket timeout lets `stop` be seen.
fn recv_range_tls(
    s: &mut TlsStream,
    file: &std::fs::File,
    offset: u64,
    len: u64,
    stop: &AtomicBool,
    moved: &mut dyn FnMut(u64),
) -> Result<u64, FtpError> {
    use std::os::unix::fs::FileExt;
    s.sock
        .set_read_timeout(Some(Duration::from_millis(POLL_MS as u64)))?;
    let mut buf = vec![0u8; TLS_CHUNK];
    let mut total = 0u64;
    while total < len {
        let want = usize::try_from(len - total)
            .unwrap_or(TLS_CHUNK)
            .min(TLS_CHUNK);
        let n = match s.read(buf.get_mut(..want).unwrap_or_default()) {
            Ok(0) => return Err(ended_early()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(ended_early()),
            Err(e) if transient(&e) => {
                if stop.load(Ordering::SeqCst) {
                    return Err(FtpError::Interrupted);
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        file.write_all_at(buf.get(..n).unwrap_or_default(), offset + total)
            .map_err(FtpError::Local)?;
        total += n as u64;
        moved(n as u64);
        if stop.load(Ordering::SeqCst) {
            return Err(FtpError::Interrupted);
        }
    }
    Ok(total)
}

/// `send_range` over TLS: `len` bytes of `file` from `offset`, encrypted.
fn send_range_tls(
    s: &mut TlsStream,
    file: &std::fs::File,
    offset: u64,
    len: u64,
    stop: &AtomicBool,
    moved: &mut dyn FnMut(u64),
) -> Result<u64, FtpError> {
    use std::os::unix::fs::FileExt;
    s.sock
        .set_write_timeout(Some(Duration::from_millis(POLL_MS as u64)))?;
    let mut buf = vec![0u8; TLS_CHUNK];
    let mut total = 0u64;
    while total < len {
        let want = usize::try_from(len - total)
            .unwrap_or(TLS_CHUNK)
            .min(TLS_CHUNK);
        let n = match file.read_at(buf.get_mut(..want).unwrap_or_default(), offset + total) {
            Ok(0) => {
                return Err(FtpError::Local(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank during upload",
                )))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FtpError::Local(e)),
        };
        let mut rest = buf.get(..n).unwrap_or_default();
        while !rest.is_empty() {
            match s.write(rest) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(m) => rest = rest.get(m..).unwrap_or_default(),
                Err(e) if transient(&e) => {
                    if stop.load(Ordering::SeqCst) {
                        return Err(FtpError::Interrupted);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        total += n as u64;
        moved(n as u64);
        if stop.load(Ordering::SeqCst) {
            return Err(FtpError::Interrupted);
        }
    }
    loop {
        match s.flush() {
            Ok(()) => break,
            Err(e) if transient(&e) => {
                if stop.load(Ordering::SeqCst) {
                    return Err(FtpError::Interrupted);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(total)
}

/// Is this kept data connection still usable: open, with nothing waiting
/// on it? (A non-blocking peek: EOF, a reset or stray bytes mean it is not.
/// Over TLS, records that carry no data, such as TLS 1.3 session tickets
/// sent after the handshake, are taken in first; data or close_notify
/// mean it is not.)
fn idle_and_open(data: &mut Data) -> bool {
    match data {
        Data::Plain(s) => peek_idle(s.as_raw_fd()) == Some(true),
        Data::Tls(s) => {
            // A few rounds at most: each takes in what the peer had sent.
            for _ in 0..4 {
                match peek_idle(s.sock.as_raw_fd()) {
                    Some(true) => return !s.conn.wants_write(),
                    None => return false,
                    Some(false) => {}
                }
                if s.sock.set_nonblocking(true).is_err() {
                    return false;
                }
                let read = s.conn.read_tls(&mut s.sock);
                let _ = s.sock.set_nonblocking(false);
                match (read, s.conn.process_new_packets()) {
                    (Ok(n), Ok(state))
                        if n > 0
                            && state.plaintext_bytes_to_read() == 0
                            && !state.peer_has_closed() => {}
                    _ => return false,
                }
            }
            false
        }
    }
}

/// Peek at a socket without waiting: Some(true) nothing to read (open and
/// idle), Some(false) bytes wait, None closed or failed.
fn peek_idle(fd: RawFd) -> Option<bool> {
    let mut byte = 0u8;
    // SAFETY: `byte` is valid for a write of one byte.
    let n = unsafe {
        libc::recv(
            fd,
            std::ptr::addr_of_mut!(byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => None,
        n if n > 0 => Some(false),
        _ if io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock => Some(true),
        _ => None,
    }
}

/// A block-mode receive that ended with the EOF block.
struct Received {
    /// File data bytes.
    data: u64,
    /// Bytes came after the EOF block: the connection is out of step.
    extra: bool,
}

/// A block-mode receive that failed, and how many bytes of any kind had
/// arrived on the connection (0: it was dead before the transfer began).
struct RecvError {
    error: FtpError,
    wire: u64,
}

/// Read one file in blocks from `data` into `sink` (which gets the data of
/// each read at once, headers taken out in place). Ends after the EOF
/// block; a close before it is an error (the file is incomplete). `buf`
/// is grown to [`BLOCK_BUF`] once and reused. `progress` gets the data
/// bytes so far, also once a second while nothing comes.
fn recv_blocks(
    data: &mut Data,
    buf: &mut Vec<u8>,
    interrupt: &AtomicBool,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), FtpError>,
    progress: &mut dyn FnMut(u64),
) -> Result<Received, RecvError> {
    if buf.len() < BLOCK_BUF {
        buf.resize(BLOCK_BUF, 0);
    }
    let mut wire = 0u64;
    let fail = |error: FtpError, wire: u64| RecvError { error, wire };
    if let Data::Tls(s) = data {
        s.sock
            .set_read_timeout(Some(Duration::from_millis(POLL_MS as u64)))
            .map_err(|e| fail(e.into(), 0))?;
    }
    let mut de = Deframer::new();
    let mut total = 0u64;
    // Poll before the first read (the data follows the 125/150), then read
    // without waiting until a read finds nothing.
    let mut wait = true;
    while !de.ended() {
        let n = match read_some(data, buf, interrupt, &mut wait) {
            Ok(Some(n)) => n,
            Ok(None) => {
                progress(total);
                continue;
            }
            Err(e) => return Err(fail(e, wire)),
        };
        if n == 0 {
            return Err(fail(ended_early(), wire));
        }
        wire += n as u64;
        // Decode in place: each piece of data moves to the front (after the
        // pieces before it), so the whole read is written once.
        let (mut pos, mut out) = (0usize, 0usize);
        let mut extra = false;
        while pos < n {
            let input = buf.get(pos..n).unwrap_or_default();
            match de.decode(input) {
                Decoded::Data { data, consumed } => {
                    let len = data.len();
                    let from = pos + consumed - len;
                    buf.copy_within(from..from + len, out);
                    out += len;
                    pos += consumed;
                }
                Decoded::Eof { consumed } => {
                    pos += consumed;
                    extra = pos < n;
                    break;
                }
                Decoded::NeedMore { consumed } => {
                    pos += consumed;
                    if consumed == 0 {
                        break;
                    }
                }
            }
        }
        if out > 0 {
            sink(buf.get(..out).unwrap_or_default()).map_err(|e| fail(e, wire))?;
            total += out as u64;
            progress(total);
        }
        if interrupt.load(Ordering::SeqCst) {
            return Err(fail(FtpError::Interrupted, wire));
        }
        if de.ended() {
            return Ok(Received { data: total, extra });
        }
    }
    Ok(Received {
        data: total,
        extra: false,
    })
}

/// One read from a data connection into `buf`: Ok(None) when nothing came
/// within the poll interval (or a signal came). `wait`: poll first (set
/// again when a non-blocking read finds nothing).
fn read_some(
    data: &mut Data,
    buf: &mut [u8],
    interrupt: &AtomicBool,
    wait: &mut bool,
) -> Result<Option<usize>, FtpError> {
    match data {
        Data::Plain(s) => {
            let fd = s.as_raw_fd();
            if *wait && !poll_fd(fd, libc::POLLIN, interrupt)? {
                return Ok(None);
            }
            *wait = false;
            // SAFETY: `buf` is valid for writes of its length.
            let n =
                unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        *wait = true;
                        Ok(None)
                    }
                    io::ErrorKind::Interrupted => Ok(None),
                    _ => Err(e.into()),
                };
            }
            Ok(Some(n as usize))
        }
        Data::Tls(s) => match s.read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Some(0)),
            Err(e) if transient(&e) => {
                if interrupt.load(Ordering::SeqCst) {
                    return Err(FtpError::Interrupted);
                }
                Ok(None)
            }
            Err(e) => Err(e.into()),
        },
    }
}

/// Write all of `wire` to the data connection (and flush TLS), with a one
/// second timeout per write so that `interrupt` is seen. On failure, how
/// many bytes had been accepted.
fn send_all(data: &mut Data, wire: &[u8], interrupt: &AtomicBool) -> Result<(), (FtpError, usize)> {
    let tick = Some(Duration::from_millis(POLL_MS as u64));
    let set = match data {
        Data::Plain(s) => s.set_write_timeout(tick),
        Data::Tls(s) => s.sock.set_write_timeout(tick),
    };
    set.map_err(|e| (e.into(), 0))?;
    let mut sent = 0usize;
    while sent < wire.len() {
        let rest = wire.get(sent..).unwrap_or_default();
        let r = match data {
            Data::Plain(s) => s.write(rest),
            Data::Tls(s) => s.write(rest),
        };
        match r {
            Ok(0) => return Err((io::Error::from(io::ErrorKind::WriteZero).into(), sent)),
            Ok(m) => sent += m,
            Err(e) if transient(&e) => {}
            Err(e) => return Err((e.into(), sent)),
        }
        if interrupt.load(Ordering::SeqCst) {
            return Err((FtpError::Interrupted, sent));
        }
    }
    if let Data::Tls(s) = data {
        loop {
            match s.flush() {
                Ok(()) => break,
                Err(e) if transient(&e) => {
                    if interrupt.load(Ordering::SeqCst) {
                        return Err((FtpError::Interrupted, sent));
                    }
                }
                Err(e) => return Err((e.into(), sent)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connected pair of loopback sockets: (ours, the peer's).
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (peer, _) = l.accept().unwrap();
        (ours, peer)
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + i / 977) as u8).collect()
    }

    /// Receives one file from `wire` written by the peer in pieces of
    /// `step` bytes (then, with `close`, closed).
    fn receive(wire: Vec<u8>, step: usize, close: bool) -> Result<(Vec<u8>, bool), RecvError> {
        let (ours, mut peer) = pair();
        let writer = std::thread::spawn(move || {
            for piece in wire.chunks(step.max(1)) {
                peer.write_all(piece).unwrap();
                if step < 1000 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            if close {
                drop(peer);
                None
            } else {
                Some(peer)
            }
        });
        let mut data = Data::Plain(ours);
        let mut out = Vec::new();
        let mut sink = |c: &[u8]| {
            out.extend_from_slice(c);
            Ok(())
        };
        let never = AtomicBool::new(false);
        let mut buf = Vec::new();
        let r = recv_blocks(&mut data, &mut buf, &never, &mut sink, &mut |_| {});
        let _keep_open = writer.join().unwrap();
        r.map(|got| {
            assert_eq!(got.data as usize, out.len());
            (out, got.extra)
        })
    }

    #[test]
    fn block_files_of_every_edge_size_arrive_whole() {
        for size in [0, 1, 10, 65535, 65536, 1 << 20, (1 << 20) + 1, 3 << 20] {
            let body = pattern(size);
            let mut wire = Vec::new();
            blk::frame(&body, true, &mut wire);
            // Whole, split inside headers and blocks, byte by byte (small ones).
            for step in [wire.len().max(1), 65538, 4099, 2, 1] {
                if step < 1000 && size > 10 {
                    continue;
                }
                let (got, extra) = receive(wire.clone(), step, false)
                    .unwrap_or_else(|e| panic!("{size}: {}", e.error));
                assert_eq!(got.len(), size);
                assert!(got == body, "{size} in pieces of {step}");
                assert!(!extra);
            }
        }
    }

    #[test]
    fn bytes_after_the_eof_block_are_reported() {
        let mut wire = Vec::new();
        blk::frame(b"hello", true, &mut wire);
        wire.extend_from_slice(b"next");
        let (got, extra) = receive(wire, 1 << 20, false).unwrap_or_else(|e| panic!("{}", e.error));
        assert_eq!(got, b"hello");
        assert!(extra);
    }

    #[test]
    fn a_close_before_the_eof_block_is_an_error() {
        let mut wire = Vec::new();
        blk::frame(&pattern(5000), false, &mut wire);
        let e = receive(wire.clone(), 1 << 20, true).expect_err("incomplete");
        assert!(matches!(e.error, FtpError::Io(_)));
        assert_eq!(e.wire, wire.len() as u64);
        // Dead before the first byte: nothing arrived at all (the retry case).
        let e = receive(Vec::new(), 1, true).expect_err("dead");
        assert_eq!(e.wire, 0);
    }

    #[test]
    fn a_kept_connection_is_checked_before_use() {
        let (ours, peer) = pair();
        let mut data = Data::Plain(ours);
        assert!(idle_and_open(&mut data));
        let mut peer = peer;
        peer.write_all(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!idle_and_open(&mut data), "stray bytes");
        let (ours, peer) = pair();
        let mut data = Data::Plain(ours);
        drop(peer);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!idle_and_open(&mut data), "closed by the peer");
    }
}
