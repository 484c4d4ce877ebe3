//! The data channel: passive listeners (PASV/EPSV) and active connections
//! (PORT/EPRT), with the checks of RFC 2577.
//!
//! - A passive listener binds on the control connection's local address, on a
//!   port from the configured range (or a random one of the kernel's ephemeral
//!   range, see [`PortAllocator::listen`]), and accepts
//!   exactly one data connection: the first from the session's client IP. A
//!   connection from any other IP is closed and the listener keeps waiting
//!   until the data timeout (425); once the one connection is accepted the
//!   listener is closed, so later ones are refused. Two sockets of the same
//!   IP cannot be told apart in plain FTP (docs/edge-cases.md). Behind a load
//!   balancer that forwards the passive ports (`--proxy-protocol`), a
//!   connection from the balancer must start with a PROXY header naming the
//!   control peer's IP; it is read to its last byte and not one byte further,
//!   since what follows is file data for splice.
//! - [`PortAllocator`] caps pending listeners per client address and says
//!   when the range is full; a listener's port is free again the moment it
//!   is dropped.
//! - An active connection goes only to the control peer's IP and a port >= 1024
//!   (the check happens when PORT/EPRT is parsed, in `cmd/port.rs`).
//! - After PROT P (RFC 4217 9) the connection is wrapped in TLS
//!   ([`DataConn::protect`]); its handshake runs when the transfer starts.
//! - In block mode (MODE B, RFC 959 3.4.2) the connection frames what it
//!   sends and deframes what it receives with `proto::block`
//!   ([`DataConn::set_block`]); the end of a file is the EOF block, not the
//!   close, so the session keeps the connection for the next transfer
//!   ([`DataConn::alive`] checks it before reuse).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use ringftp_proto::block::{self, Decoded, Deframer};
use ringftp_proto::proxy::{self, Parsed};
use socket2::{Domain, Protocol, Socket, Type};
use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::{TcpListener, TcpStream};

use crate::control::HeaderError;
use crate::tls::{DataTls, TlsStream};

/// How the next transfer gets its connection.
#[derive(Default)]
pub enum DataPlan {
    #[default]
    None,
    Passive(PassiveListener),
    Active(SocketAddr),
}

pub struct PassiveListener {
    listener: TcpListener,
    pub addr: SocketAddr,
    /// After `listener`, so the port is closed before it counts as free.
    _hold: Hold,
}

impl Drop for PassiveListener {
    fn drop(&mut self) {
        // An accept may still be in flight in the ring; shutting the socket
        // down completes it so the descriptor can close.
        // SAFETY: the fd is owned by `self.listener` and still open here.
        unsafe {
            libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR);
        }
    }
}

/// An established data connection. Shared (`Rc`) so an in-flight splice can
/// keep it open after an ABOR drops the transfer.
pub struct DataConn {
    pub stream: Rc<TcpStream>,
    /// Set after PROT P: everything goes through TLS, buffered.
    tls: Option<TlsStream>,
    /// Set in block mode: everything is framed, buffered.
    block: Option<Block>,
    /// The connection was kept from an earlier transfer (125, not 150).
    reused: bool,
}

/// The block-mode state of one transfer on a data connection.
#[derive(Default)]
struct Block {
    /// Reads the blocks of an upload.
    deframer: Deframer,
    /// The EOF block has gone out (with the last data, or by `finish`).
    eof_sent: bool,
    /// Bytes came after the EOF block in the same read: the connection
    /// cannot be trusted for the next file (docs/edge-cases.md).
    trailing: bool,
    /// The framed copy of what is sent, reused from send to send.
    framed: Vec<u8>,
}

/// The data connection of a block-mode upload closed (FIN or reset) before
/// the EOF block: the upload is incomplete (426, nothing committed).
#[derive(Debug, thiserror::Error)]
#[error("data connection closed before the end-of-file block")]
pub struct NoEofBlock;

impl NoEofBlock {
    /// Whether `e` is this error.
    pub fn is(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<NoEofBlock>())
    }

    fn error() -> io::Error {
        io::Error::new(io::ErrorKind::UnexpectedEof, NoEofBlock)
    }
}

/// Whether a read error means the peer closed or reset the connection.
fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// What [`DataConn::alive`] found on a kept connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Kept {
    /// Open, nothing waiting: ready for the next transfer.
    Ready,
    /// The client closed or reset it.
    Closed,
    /// Bytes are waiting that no transfer asked for.
    Stray,
}

/// Moves the file data of the raw bytes `buf[..n]` to the front of `buf`, in
/// place; returns its length and whether bytes follow the EOF block.
fn deframe_in_place(deframer: &mut Deframer, buf: &mut [u8], n: usize) -> (usize, bool) {
    let (mut pos, mut out) = (0, 0);
    while pos < n {
        let input = buf.get(pos..n).unwrap_or_default();
        match deframer.decode(input) {
            Decoded::Data { data, consumed } => {
                // The data is the end of what was consumed.
                let (len, start) = (data.len(), pos + consumed - data.len());
                buf.copy_within(start..start + len, out);
                out += len;
                pos += consumed;
            }
            Decoded::Eof { consumed } => return (out, pos + consumed < n),
            Decoded::NeedMore { .. } => break,
        }
    }
    (out, false)
}

/// Stops a transfer from outside it (ABOR), while the transfer itself holds
/// the `DataConn`.
pub struct AbortHandle(Rc<TcpStream>);

impl AbortHandle {
    pub fn abort(&self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

fn stalled() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "data connection stalled")
}

impl DataConn {
    pub fn raw_fd(&self) -> i32 {
        self.stream.as_raw_fd()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Block mode (MODE B) for the transfer about to start, or stream mode;
    /// resets the framing state of the previous transfer.
    pub fn set_block(&mut self, on: bool) {
        self.block = on.then(Block::default);
    }

    pub fn is_block(&self) -> bool {
        self.block.is_some()
    }

    /// The connection comes from an earlier transfer (kept in block mode).
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Marks the connection as kept for the next transfer, and frees the
    /// buffers of the last one: an idle session holds no more than its
    /// sockets and TLS state.
    pub fn keep(&mut self) {
        self.reused = true;
        if let Some(b) = self.block.as_mut() {
            b.framed = Vec::new();
        }
        if let Some(tls) = self.tls.as_mut() {
            tls.shrink();
        }
    }

    /// Block mode, after a complete transfer: why the connection cannot
    /// carry the next file, or `None` when it can (the framing is in step).
    pub fn spent(&self) -> Option<&'static str> {
        match &self.block {
            None => Some("stream mode ends with the connection"),
            Some(b) if b.trailing => Some("bytes followed the end-of-file block"),
            Some(_) if self.tls.as_ref().is_some_and(TlsStream::peer_closed) => {
                Some("the client ended its TLS session")
            }
            Some(_) => None,
        }
    }

    /// Checks a kept, idle connection without waiting (a non-blocking peek
    /// of one byte): a client may have closed it, or sent bytes no transfer
    /// asked for, since the last transfer.
    pub fn alive(&self) -> Kept {
        let mut byte = [0u8; 1];
        // SAFETY: recv into a live one-byte buffer on a socket we own.
        let n = unsafe {
            libc::recv(
                self.raw_fd(),
                byte.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => Kept::Closed,
            n if n > 0 => Kept::Stray,
            _ => match io::Error::last_os_error().kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Kept::Ready,
                _ => Kept::Closed,
            },
        }
    }

    /// Wraps the connection in TLS (PROT P). No I/O yet: the handshake runs
    /// on the first send or receive, after the 150 reply, since clients such
    /// as Python's ftplib start it only once they have read that reply.
    pub fn protect(&mut self, config: &DataTls, stall: Duration) -> Result<(), rustls::Error> {
        self.tls = Some(TlsStream::new(Rc::clone(&self.stream), config, stall)?);
        Ok(())
    }

    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle(Rc::clone(&self.stream))
    }

    /// Stops the transfer at once in both directions (ABOR, errors).
    pub fn abort(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Ends our sending side so the client sees end-of-file; under TLS a
    /// close_notify goes first (RFC 4217 10: the end of the data is the end
    /// of the TLS session).
    ///
    /// In block mode the end is the EOF block instead (unless it went out
    /// with the last data), and the connection stays open.
    pub async fn finish(&mut self, stall: Duration) -> io::Result<()> {
        if let Some(b) = self.block.as_ref() {
            if b.eof_sent {
                return Ok(());
            }
            return self.send_framed(&[], true, stall).await;
        }
        match self.tls.as_mut() {
            Some(tls) => tls.close().await,
            None => {
                let _ = self.stream.shutdown(std::net::Shutdown::Write);
                Ok(())
            }
        }
    }

    /// Sends all of `bytes` (through TLS when protected); fails after `stall`
    /// without progress. The buffer comes back for reuse (empty after a
    /// stall, which keeps it in the ring).
    pub async fn send(&mut self, bytes: Vec<u8>, stall: Duration) -> (io::Result<()>, Vec<u8>) {
        if self.block.is_some() {
            return (self.send_framed(&bytes, false, stall).await, bytes);
        }
        if let Some(tls) = self.tls.as_mut() {
            return (tls.write_all(&bytes).await, bytes);
        }
        if bytes.is_empty() {
            return (Ok(()), bytes);
        }
        match tokio::time::timeout(stall, self.stream.write_all(bytes)).await {
            Ok(r) => r,
            Err(_) => (Err(stalled()), Vec::new()),
        }
    }

    /// Sends the last bytes of the transfer: in block mode the EOF block
    /// goes in the same send (header, data and EOF in one buffer), so a
    /// small file is one send; in stream mode the same as [`Self::send`]
    /// (the end is `finish`'s shutdown).
    pub async fn send_last(
        &mut self,
        bytes: Vec<u8>,
        stall: Duration,
    ) -> (io::Result<()>, Vec<u8>) {
        if self.block.is_some() {
            return (self.send_framed(&bytes, true, stall).await, bytes);
        }
        self.send(bytes, stall).await
    }

    /// Block mode: sends `data` as blocks, the last with the EOF bit when
    /// `eof` (an empty `data` then is the EOF block alone).
    async fn send_framed(&mut self, data: &[u8], eof: bool, stall: Duration) -> io::Result<()> {
        let Some(b) = self.block.as_mut() else {
            return Err(io::Error::other("send_framed needs block mode"));
        };
        let mut framed = std::mem::take(&mut b.framed);
        framed.clear();
        block::frame(data, eof, &mut framed);
        if framed.is_empty() {
            b.framed = framed;
            return Ok(());
        }
        b.eof_sent |= eof;
        let res = match self.tls.as_mut() {
            Some(tls) => tls.write_all(&framed).await,
            None => match tokio::time::timeout(stall, self.stream.write_all(framed)).await {
                Ok((res, back)) => {
                    framed = back;
                    res
                }
                // The buffer stays in the ring; the transfer fails.
                Err(_) => {
                    framed = Vec::new();
                    Err(stalled())
                }
            },
        };
        if let Some(b) = self.block.as_mut() {
            b.framed = framed;
        }
        res
    }

    /// Protected connections only: appends plaintext to `dst` until it
    /// holds `want` more bytes or the data ends; 0 only at the end.
    pub async fn recv_append(&mut self, dst: &mut Vec<u8>, want: usize) -> io::Result<usize> {
        match self.tls.as_mut() {
            Some(tls) => tls.read_append(dst, want).await,
            None => Err(io::Error::other("recv_append needs a protected connection")),
        }
    }

    /// Clear connections only: appends what arrives to `buf`, into its spare
    /// capacity; 0 at the end of the data (or when `buf` is full already).
    pub async fn recv_more(
        &mut self,
        buf: Vec<u8>,
        stall: Duration,
    ) -> (io::Result<usize>, Vec<u8>) {
        let (len, cap) = (buf.len(), buf.capacity());
        if self.tls.is_some() {
            return (
                Err(io::Error::other("recv_more is for clear connections")),
                buf,
            );
        }
        if len >= cap {
            return (Ok(0), buf);
        }
        match tokio::time::timeout(stall, self.stream.read(buf.slice(len..cap))).await {
            Ok((res, slice)) => (res, slice.into_inner()),
            Err(_) => (Err(stalled()), Vec::new()),
        }
    }

    /// Receives into `buf` (cleared first) up to its capacity, or more under
    /// TLS; 0 at the end of the data. In block mode the file data only (the
    /// headers are taken out), 0 once the EOF block has arrived, and a close
    /// before it is [`NoEofBlock`].
    pub async fn recv(
        &mut self,
        mut buf: Vec<u8>,
        stall: Duration,
    ) -> (io::Result<usize>, Vec<u8>) {
        if self.block.is_some() {
            return self.recv_blocks(buf, stall).await;
        }
        if let Some(tls) = self.tls.as_mut() {
            return tls.read(buf).await;
        }
        buf.clear();
        match tokio::time::timeout(stall, self.stream.read(buf)).await {
            Ok(r) => r,
            Err(_) => (Err(stalled()), Vec::new()),
        }
    }
}

impl DataConn {
    /// Block mode: reads until some file data or the EOF block is in.
    async fn recv_blocks(
        &mut self,
        mut buf: Vec<u8>,
        stall: Duration,
    ) -> (io::Result<usize>, Vec<u8>) {
        loop {
            if self.block.as_ref().is_some_and(|b| b.deframer.ended()) {
                buf.clear();
                return (Ok(0), buf);
            }
            let (res, back) = match self.tls.as_mut() {
                Some(tls) => tls.read(buf).await,
                None => {
                    buf.clear();
                    match tokio::time::timeout(stall, self.stream.read(buf)).await {
                        Ok(r) => r,
                        Err(_) => return (Err(stalled()), Vec::new()),
                    }
                }
            };
            buf = back;
            let n = match res {
                Ok(0) => return (Err(NoEofBlock::error()), buf),
                Ok(n) => n,
                Err(e) if is_closed(&e) => return (Err(NoEofBlock::error()), buf),
                Err(e) => return (Err(e), buf),
            };
            let Some(b) = self.block.as_mut() else {
                return (Err(io::Error::other("not in block mode")), buf);
            };
            let got = n.min(buf.len());
            let (len, trailing) = deframe_in_place(&mut b.deframer, &mut buf, got);
            b.trailing |= trailing;
            if len > 0 || b.deframer.ended() {
                buf.truncate(len);
                return (Ok(len), buf);
            }
        }
    }
}

impl Drop for DataConn {
    fn drop(&mut self) {
        self.abort();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("no data connection was set up (use PASV, EPSV, PORT or EPRT first)")]
    NoPlan,
    #[error("timed out waiting for the data connection")]
    Timeout,
    #[error("cannot open data connection: {0}")]
    Io(#[from] io::Error),
}

/// Why PASV/EPSV opened no listener; each cause has its own 425 text.
#[derive(Debug, thiserror::Error)]
pub enum PassiveError {
    #[error(
        "Too many passive connections pending from your address ({0}); use or abort one first"
    )]
    PerIp(usize),
    #[error("All passive ports ({0}-{1}) are in use; try again in a moment")]
    RangeFull(u16, u16),
    #[error("Can't open passive connection: {0}")]
    Io(#[from] io::Error),
}

/// Hands out passive listeners: ports from the configured range (or the
/// kernel's choice), at most `per_ip` pending at once per client address.
///
/// A listener lives from PASV/EPSV until its one data connection is accepted,
/// the next PASV/EPSV, ABOR, a failed transfer command or the end of the
/// session, whichever comes first; dropping it frees its port and its count.
pub struct PortAllocator {
    range: Option<(u16, u16)>,
    /// The kernel's ephemeral range, where a listener goes without `range`.
    ephemeral: (u16, u16),
    /// Rotating start, shared by all workers without a lock: each PASV tries
    /// the port after the last one's start, then the next ones on EADDRINUSE.
    next: AtomicU32,
    holds: Arc<Holds>,
}

/// Listeners held now, in total and per client address.
struct Holds {
    total: AtomicUsize,
    per_ip_max: usize,
    /// Locked only when there is a cap or a range; an entry lives while its
    /// address holds a listener, so the maps never outgrow the listeners.
    counts: Mutex<Counts>,
    /// The range-full warning is logged once per episode.
    full_logged: AtomicBool,
}

#[derive(Default)]
struct Counts {
    /// By client address ([`crate::ban::client_key`]), for the cap.
    per_client: HashMap<IpAddr, usize>,
    /// By the local address listened on: a range is full for one address
    /// (say 127.0.0.1) while another (::1) still has every port.
    per_local: HashMap<IpAddr, usize>,
}

enum Refused {
    PerIp,
    RangeFull,
}

/// One listener's share of the counts, given back on drop.
struct Hold {
    holds: Arc<Holds>,
    client: Option<IpAddr>,
    local: Option<IpAddr>,
}

fn give_back(map: &mut HashMap<IpAddr, usize>, key: Option<IpAddr>) {
    if let Some(k) = key {
        if let Some(n) = map.get_mut(&k) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&k);
            }
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.holds.total.fetch_sub(1, Ordering::AcqRel);
        if self.client.is_some() || self.local.is_some() {
            let mut c = self.holds.counts.lock().unwrap_or_else(|p| p.into_inner());
            give_back(&mut c.per_client, self.client);
            give_back(&mut c.per_local, self.local);
        }
    }
}

impl Holds {
    /// Counts one more listener for `client` on `local` (with the range's
    /// size), unless the client is at its cap or every port of the range is
    /// held on that address already (then no bind could succeed).
    fn take(
        self: &Arc<Holds>,
        client: IpAddr,
        local: Option<(IpAddr, usize)>,
    ) -> Result<Hold, Refused> {
        let client = (self.per_ip_max > 0).then(|| crate::ban::client_key(client));
        if client.is_some() || local.is_some() {
            let mut guard = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            let c = &mut *guard;
            if let Some((ip, span)) = local {
                if c.per_local.get(&ip).copied().unwrap_or(0) >= span {
                    return Err(Refused::RangeFull);
                }
            }
            if let Some(key) = client {
                let n = c.per_client.entry(key).or_insert(0);
                if *n >= self.per_ip_max {
                    return Err(Refused::PerIp);
                }
                *n += 1;
            }
            if let Some((ip, _)) = local {
                *c.per_local.entry(ip).or_insert(0) += 1;
            }
        }
        self.total.fetch_add(1, Ordering::AcqRel);
        Ok(Hold {
            holds: Arc::clone(self),
            client,
            local: local.map(|(ip, _)| ip),
        })
    }
}

impl PortAllocator {
    /// `per_ip`: most listeners pending at once for one client address, 0 = no cap.
    pub fn new(range: Option<(u16, u16)>, per_ip: usize) -> PortAllocator {
        PortAllocator {
            range,
            ephemeral: ephemeral_range(),
            next: AtomicU32::new(rand::random()),
            holds: Arc::new(Holds {
                total: AtomicUsize::new(0),
                per_ip_max: per_ip,
                counts: Mutex::new(Counts::default()),
                full_logged: AtomicBool::new(false),
            }),
        }
    }

    /// Listeners held now by all sessions.
    pub fn held(&self) -> usize {
        self.holds.total.load(Ordering::Acquire)
    }

    /// Binds a listener on `ip` for a passive transfer of the session whose
    /// client is `client` (the session's client address, not re-read from the
    /// socket, so a PROXY-protocol address counts too).
    pub fn listen(&self, ip: IpAddr, client: IpAddr) -> Result<PassiveListener, PassiveError> {
        let Some((lo, hi)) = self.range else {
            let hold = self.take(client, None, (0, 0))?;
            return self.bind_anywhere(ip, hold);
        };
        let span = u32::from(hi - lo) + 1;
        let hold = self.take(client, Some((ip, span as usize)), (lo, hi))?;
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut hold = Some(hold);
        for i in 0..span {
            let offset = (start.wrapping_add(i)) % span;
            let port = lo.saturating_add(u16::try_from(offset).unwrap_or(0));
            let Some(h) = hold.take() else { break };
            match bind_passive(SocketAddr::new(ip, port), h) {
                Ok(l) => {
                    if self.holds.full_logged.load(Ordering::Relaxed)
                        && self.holds.full_logged.swap(false, Ordering::AcqRel)
                    {
                        tracing::info!(range = %format_args!("{lo}-{hi}"), "passive ports available again");
                    }
                    return Ok(l);
                }
                Err((e, h)) if e.kind() == io::ErrorKind::AddrInUse => hold = Some(h),
                Err((e, _)) => return Err(PassiveError::Io(e)),
            }
        }
        drop(hold);
        Err(self.range_full(lo, hi))
    }

    /// Without a configured range: a port at random from the kernel's
    /// ephemeral range, up to [`RANDOM_TRIES`] of them, and only then the
    /// kernel's own choice (port 0). The kernel searches for a port 0 bind
    /// in order from a random start and, to stay out of their way, skips
    /// every port that a TIME_WAIT socket still holds; a busy server makes
    /// one of those per finished transfer, and they come in runs of
    /// neighbouring ports. Measured on the bench VM (bench/README.md): with
    /// ~16,000 of them on loopback, a `bind(port 0)` took 2.1 ms, a bind to
    /// a random port 13.5 us (1.2 tries); at 2,000 both took ~12 us. A
    /// listener with SO_REUSEADDR may take a port whose last connection is
    /// in TIME_WAIT (as in a configured range); a port some other socket
    /// holds is EADDRINUSE and the next one is tried.
    fn bind_anywhere(&self, ip: IpAddr, hold: Hold) -> Result<PassiveListener, PassiveError> {
        use rand::Rng;
        let (lo, hi) = self.ephemeral;
        let mut hold = Some(hold);
        if lo <= hi {
            let mut rng = rand::thread_rng();
            for _ in 0..RANDOM_TRIES {
                let Some(h) = hold.take() else { break };
                match bind_passive(SocketAddr::new(ip, rng.gen_range(lo..=hi)), h) {
                    Ok(l) => return Ok(l),
                    Err((e, h)) if e.kind() == io::ErrorKind::AddrInUse => hold = Some(h),
                    Err((e, _)) => return Err(PassiveError::Io(e)),
                }
            }
        }
        let Some(h) = hold else {
            return Err(PassiveError::Io(io::Error::from(io::ErrorKind::AddrInUse)));
        };
        bind_passive(SocketAddr::new(ip, 0), h).map_err(|(e, _)| e.into())
    }

    fn take(
        &self,
        client: IpAddr,
        local: Option<(IpAddr, usize)>,
        (lo, hi): (u16, u16),
    ) -> Result<Hold, PassiveError> {
        self.holds.take(client, local).map_err(|r| match r {
            Refused::PerIp => PassiveError::PerIp(self.holds.per_ip_max),
            Refused::RangeFull => self.range_full(lo, hi),
        })
    }

    fn range_full(&self, lo: u16, hi: u16) -> PassiveError {
        if !self.holds.full_logged.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                range = %format_args!("{lo}-{hi}"),
                held_by_sessions = self.held(),
                "passive port range exhausted; PASV/EPSV get 425 until a port is free"
            );
        }
        PassiveError::RangeFull(lo, hi)
    }
}

/// Random ports tried before a passive listener takes the kernel's choice.
const RANDOM_TRIES: usize = 8;

/// `net.ipv4.ip_local_port_range` (it applies to IPv6 too), or Linux's default.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut nums = text
                .split_whitespace()
                .filter_map(|n| n.parse::<u16>().ok());
            Some((nums.next()?, nums.next()?))
        })
        .filter(|(lo, hi)| *lo >= 1024 && lo <= hi)
        .unwrap_or((32768, 60999))
}

/// Warns when the passive range overlaps the kernel's ephemeral port range
/// (`net.ipv4.ip_local_port_range`): outgoing connections (this server's
/// active-mode data connections, and every client on the same host) then take
/// ports from the range, and their sockets, TIME_WAIT included, make a passive
/// bind on that port fail for up to a minute after they close.
pub fn warn_ephemeral_overlap(range: (u16, u16)) {
    let Ok(text) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else {
        return;
    };
    let mut nums = text
        .split_whitespace()
        .filter_map(|n| n.parse::<u16>().ok());
    let (Some(elo), Some(ehi)) = (nums.next(), nums.next()) else {
        return;
    };
    if range.0 <= ehi && elo <= range.1 {
        tracing::warn!(
            passive = %format_args!("{}-{}", range.0, range.1),
            ephemeral = %format_args!("{elo}-{ehi}"),
            "the passive port range overlaps net.ipv4.ip_local_port_range; outgoing \
             connections can take its ports (see docs/deploy.md)"
        );
    }
}

/// Binds and listens; on failure the hold comes back for the next port.
fn bind_passive(addr: SocketAddr, hold: Hold) -> Result<PassiveListener, (io::Error, Hold)> {
    let bound = || -> io::Result<StdListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_cloexec(true)?;
        // Ports of finished transfers sit in TIME_WAIT; without SO_REUSEADDR a
        // small passive range would run dry for a minute after each transfer.
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        // One data connection is accepted per PASV/EPSV; a few more may queue
        // (a foreign one must not keep the real client out) and are reset
        // when the listener closes right after that one accept.
        socket.listen(4)?;
        Ok(socket.into())
    };
    match bound().and_then(|std| Ok((std.local_addr()?, std))) {
        Ok((addr, std)) => Ok(PassiveListener {
            listener: TcpListener::from_std(std),
            addr,
            _hold: hold,
        }),
        Err(e) => Err((e, hold)),
    }
}

/// Plain IP of a peer, with IPv4-mapped IPv6 addresses unmapped.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Opens the data connection the plan describes, consuming the plan. A
/// passive connection from one of `balancers` is taken for the client its
/// PROXY header names.
pub async fn open(
    plan: DataPlan,
    peer: IpAddr,
    timeout: Duration,
    balancers: &[IpNet],
) -> Result<DataConn, DataError> {
    let stream = match plan {
        DataPlan::None => return Err(DataError::NoPlan),
        DataPlan::Passive(p) => {
            let stream = accept_from(&p, peer, timeout, balancers).await?;
            // One data connection per PASV/EPSV: the port closes now.
            drop(p);
            stream
        }
        DataPlan::Active(addr) => {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(res) => res?,
                Err(_) => return Err(DataError::Timeout),
            }
        }
    };
    let _ = stream.set_nodelay(true);
    // Socket buffers are left to the kernel: setting SO_SNDBUF/SO_RCVBUF would
    // switch off TCP autotuning, which grows them further than rmem_max allows.
    Ok(DataConn {
        stream: Rc::new(stream),
        tls: None,
        block: None,
        reused: false,
    })
}

async fn accept_from(
    p: &PassiveListener,
    peer: IpAddr,
    timeout: Duration,
    balancers: &[IpNet],
) -> Result<TcpStream, DataError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let peer = canonical_ip(peer);
    loop {
        match tokio::time::timeout_at(deadline, p.listener.accept()).await {
            Err(_) => return Err(DataError::Timeout),
            Ok(Err(e)) => return Err(DataError::Io(e)),
            Ok(Ok((stream, from))) => {
                let ip = canonical_ip(from.ip());
                // A balancer's connection always carries a header, even when
                // the client it forwards for has the balancer's own address.
                let why = if balancers.iter().any(|n| n.contains(&ip)) {
                    let limit = deadline.min(tokio::time::Instant::now() + HEADER_TIMEOUT);
                    match tokio::time::timeout_at(limit, read_header_exact(&stream)).await {
                        Ok(Ok(h)) => match h.source.client().map(|c| canonical_ip(c.ip())) {
                            Some(client) if client == peer => return Ok(stream),
                            Some(client) => format!(
                                "forwarded for {client}, not the control connection's address {peer}"
                            ),
                            None => "forwarded for no client (PROXY header without one)".to_string(),
                        },
                        Ok(Err(e)) => format!("balancer sent no valid PROXY protocol header: {e}"),
                        Err(_) => "balancer sent no PROXY protocol header in time".to_string(),
                    }
                } else if ip == peer {
                    return Ok(stream);
                } else {
                    format!("not from the control connection's address {peer}")
                };
                crate::log::refused(from, "data connection", &why);
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// Longest wait for the PROXY header of a forwarded data connection.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads the PROXY header a balancer puts before a forwarded data connection
/// and not one byte more (what follows is file data, moved by splice): the 15
/// bytes every header has, then what a v2 header's length announces, or a v1
/// header a byte at a time to its CRLF (at most 92 more reads; balancers
/// should send v2). `proto::proxy::parse` bounds the total.
async fn read_header_exact(stream: &TcpStream) -> Result<proxy::Header, HeaderError> {
    let mut got: Vec<u8> = Vec::with_capacity(proxy::V2_FIXED);
    loop {
        if let Parsed::Header(h) = proxy::parse(&got)? {
            return Ok(h);
        }
        let want = if got.len() < 15 {
            15 - got.len()
        } else if got.starts_with(proxy::V2_SIGNATURE) {
            match got.get(14..16) {
                Some(&[hi, lo]) => proxy::V2_FIXED + usize::from(u16::from_be_bytes([hi, lo])),
                _ => proxy::V2_FIXED,
            }
            .saturating_sub(got.len())
            .max(1)
        } else {
            1
        };
        let (res, slice) = stream.read(Vec::with_capacity(want).slice(0..want)).await;
        let buf = slice.into_inner();
        match res {
            Ok(0) => return Err(HeaderError::Eof),
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or(&buf)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` to `deframe_in_place` in pieces of `step` bytes, as
    /// reads would return them: the data, and whether bytes followed the
    /// EOF block.
    fn deframe_pieces(wire: &[u8], step: usize) -> (Vec<u8>, bool, bool) {
        let mut d = Deframer::new();
        let (mut out, mut trailing) = (Vec::new(), false);
        for piece in wire.chunks(step) {
            if d.ended() {
                trailing = true;
                break;
            }
            let mut buf = piece.to_vec();
            let (len, after) = deframe_in_place(&mut d, &mut buf, piece.len());
            out.extend_from_slice(buf.get(..len).unwrap_or_default());
            trailing |= after;
        }
        (out, d.ended(), trailing)
    }

    #[test]
    fn deframing_in_place_takes_out_every_header_from_any_split() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut wire = Vec::new();
        block::frame(&data, true, &mut wire);
        for step in [1, 2, 3, 4, 1000, 65538, wire.len()] {
            let (out, ended, trailing) = deframe_pieces(&wire, step);
            assert!(out == data && ended && !trailing, "step {step}");
        }
        let mut cut = Vec::new();
        block::frame(&data, false, &mut cut);
        let (out, ended, _) = deframe_pieces(&cut, 4096);
        assert!(out == data && !ended, "no EOF block, no end");
    }

    #[test]
    fn bytes_after_the_eof_block_in_the_same_read_are_reported() {
        let mut wire = Vec::new();
        block::frame(b"file", true, &mut wire);
        block::frame(b"next", true, &mut wire);
        let (out, ended, trailing) = deframe_pieces(&wire, wire.len());
        assert_eq!(out, b"file");
        assert!(ended && trailing);
        let mut exact = Vec::new();
        block::frame(b"file", true, &mut exact);
        let (_, ended, trailing) = deframe_pieces(&exact, exact.len());
        assert!(ended && !trailing);
    }

    fn holds(per_ip: usize) -> Arc<Holds> {
        PortAllocator::new(Some((50000, 50002)), per_ip).holds
    }

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn a_range_is_full_per_local_address_and_frees_on_drop() {
        let h = holds(0);
        let v4 = Some((ip("127.0.0.1"), 3));
        let v6 = Some((ip("::1"), 3));
        let taken: Vec<Hold> = (0..3)
            .filter_map(|_| h.take(ip("10.0.0.1"), v4).ok())
            .collect();
        assert_eq!(taken.len(), 3);
        assert!(matches!(
            h.take(ip("10.0.0.2"), v4),
            Err(Refused::RangeFull)
        ));
        let other = h.take(ip("10.0.0.2"), v6);
        assert!(other.is_ok(), "another local address has its own ports");
        assert_eq!(h.total.load(Ordering::Acquire), 4);
        drop(taken);
        drop(other);
        assert_eq!(h.total.load(Ordering::Acquire), 0);
        let c = h.counts.lock().unwrap_or_else(|p| p.into_inner());
        assert!(
            c.per_local.is_empty() && c.per_client.is_empty(),
            "no entry left behind"
        );
    }

    #[test]
    fn the_cap_counts_per_client_and_a_refusal_takes_nothing() {
        let h = holds(2);
        let local = Some((ip("127.0.0.1"), 100));
        let a1 = h.take(ip("192.0.2.1"), local).ok();
        let a2 = h.take(ip("::ffff:192.0.2.1"), local).ok();
        assert!(a1.is_some() && a2.is_some());
        assert!(matches!(
            h.take(ip("192.0.2.1"), local),
            Err(Refused::PerIp)
        ));
        assert!(h.take(ip("192.0.2.2"), local).is_ok());
        assert_eq!(
            h.total.load(Ordering::Acquire),
            2,
            "the refused and the dropped are not counted"
        );
        drop(a1);
        assert!(h.take(ip("192.0.2.1"), local).is_ok());
        // IPv6 clients share a cap per /64.
        let b = h.take(ip("2001:db8::1"), local).ok();
        let c = h.take(ip("2001:db8::2"), local).ok();
        assert!(b.is_some() && c.is_some());
        assert!(matches!(
            h.take(ip("2001:db8::3"), local),
            Err(Refused::PerIp)
        ));
        // Without cap and range nothing is locked or counted per address.
        let free = holds(0);
        let none: Vec<Hold> = (0..10)
            .filter_map(|_| free.take(ip("192.0.2.1"), None).ok())
            .collect();
        assert_eq!(none.len(), 10);
        assert!(none.iter().all(|x| x.client.is_none() && x.local.is_none()));
    }
}
