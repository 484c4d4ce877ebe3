//! The control connection: bounded line reads and reply writes through the ring.
//!
//! A receive submitted to io_uring cannot be taken back, so `Control` keeps the
//! one in flight across calls: dropping `next()` (a transfer finished first in a
//! `select!`) never loses bytes the client sent. Framing is `proto::line`, which
//! does no I/O; only this module touches the control socket.
//!
//! After AUTH TLS (RFC 4217 4) the same loop carries TLS records: received
//! ciphertext goes through rustls into the line buffer, replies go through
//! rustls out to the socket. A send of records is kept in flight across
//! cancellation just like the receive, so no record is ever cut short.
//!
//! Behind a load balancer the connection starts with a PROXY protocol header
//! ([`Control::read_proxy_header`], parsed by `proto::proxy`); bytes after it
//! are the session's. A connection whose first bytes look like such a header
//! anywhere else ends with [`Input::ProxyHeader`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use ringftp_proto::line::{LineBuffer, LineError, MAX_LINE};
use ringftp_proto::proxy::{self, Parsed, ProxyError};
use ringftp_proto::reply::Reply;
use rustls::ServerConnection;
use tokio_uring::net::TcpStream;

use crate::tls;

/// How much one receive asks for. Small on purpose: an idle session holds one
/// such buffer in flight, and command lines are short.
const RECV_CHUNK: usize = 512;

type RecvFuture = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>)>>>;
type SendFuture = Pin<Box<dyn Future<Output = (io::Result<()>, Vec<u8>)>>>;

/// The control connection's TLS state after AUTH TLS.
struct Secure {
    conn: ServerConnection,
    /// Records being sent; finished before anything else is sent.
    sending: Option<SendFuture>,
}

/// What the client sent next.
#[derive(Debug)]
pub enum Input {
    Line(String),
    TooLong,
    NotUtf8,
    Eof,
    /// The first bytes of the session were a PROXY protocol header, which is
    /// only taken from trusted balancers, before the banner.
    ProxyHeader,
}

/// Why no PROXY protocol header was read.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("{0}")]
    Invalid(#[from] ProxyError),
    #[error("connection closed before the PROXY protocol header")]
    Eof,
    #[error("{0}")]
    Io(#[from] io::Error),
}

pub struct Control {
    stream: Rc<TcpStream>,
    lines: LineBuffer,
    pending: Option<RecvFuture>,
    spare: Option<Vec<u8>>,
    eof: bool,
    /// A command that arrived during a transfer, served after it.
    deferred: Option<String>,
    write_timeout: Duration,
    /// Set by AUTH TLS; boxed so plain sessions stay small.
    secure: Option<Box<Secure>>,
    /// Nothing received yet by `next()`: its first bytes are screened for a
    /// PROXY protocol header.
    first: bool,
}

impl Control {
    pub fn new(stream: TcpStream, write_timeout: Duration) -> Control {
        Control {
            stream: Rc::new(stream),
            lines: LineBuffer::new(MAX_LINE),
            pending: None,
            spare: None,
            eof: false,
            deferred: None,
            write_timeout,
            secure: None,
            first: true,
        }
    }

    /// Reads the PROXY protocol header that a trusted balancer sends before
    /// anything else; what follows it is kept for `next()`. Reads at most the
    /// header's bound plus one receive; the caller bounds the time.
    pub async fn read_proxy_header(&mut self) -> Result<proxy::Header, HeaderError> {
        let mut got = Vec::new();
        loop {
            if let Parsed::Header(h) = proxy::parse(&got)? {
                self.lines.push(got.get(h.len..).unwrap_or_default());
                self.first = false;
                return Ok(h);
            }
            let (res, buf) = self.stream.read(Vec::with_capacity(RECV_CHUNK)).await;
            match res {
                Ok(0) => return Err(HeaderError::Eof),
                Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or(&buf)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Whether AUTH TLS has switched this connection to TLS.
    pub fn is_tls(&self) -> bool {
        self.secure.is_some()
    }

    /// Switches to TLS after the plaintext 234 reply: from now on every byte
    /// received is a TLS record. Plaintext the client sent after AUTH (which a
    /// client must not do) is dropped rather than taken for protected commands.
    pub fn start_tls(&mut self, mut conn: ServerConnection) {
        // Long replies (STAT of a big directory) must not hit the default
        // 64 KiB limit; the write timeout bounds a client that never reads.
        conn.set_buffer_limit(None);
        self.lines = LineBuffer::new(MAX_LINE);
        self.deferred = None;
        self.secure = Some(Box::new(Secure {
            conn,
            sending: None,
        }));
    }

    /// Sends the queued TLS records. Cancel-safe: a send in flight is kept
    /// and completed by the next call.
    async fn flush_tls(&mut self) -> io::Result<()> {
        let Some(secure) = self.secure.as_mut() else {
            return Ok(());
        };
        loop {
            if let Some(fut) = secure.sending.as_mut() {
                let (res, _) = fut.await;
                secure.sending = None;
                res?;
            }
            if !secure.conn.wants_write() {
                return Ok(());
            }
            let mut out = Vec::new();
            tls::take_records(&mut secure.conn, &mut out)?;
            let stream = Rc::clone(&self.stream);
            secure.sending = Some(Box::pin(async move { stream.write_all(out).await }));
        }
    }

    /// The next command line. Cancel-safe: if this future is dropped, the
    /// receive in flight is kept and its bytes are delivered by the next call.
    pub async fn next(&mut self) -> io::Result<Input> {
        if let Some(line) = self.deferred.take() {
            return Ok(Input::Line(line));
        }
        loop {
            if let Some(line) = self.lines.next_line() {
                return Ok(match line {
                    Ok(l) => Input::Line(l),
                    Err(LineError::TooLong) => Input::TooLong,
                    Err(LineError::NotUtf8) => Input::NotUtf8,
                });
            }
            if self.eof {
                return Ok(Input::Eof);
            }
            // Handshake records and session tickets go out before we wait.
            self.flush_tls().await?;
            let fut = match self.pending.as_mut() {
                Some(f) => f,
                None => {
                    let mut buf = self.spare.take().unwrap_or_default();
                    buf.clear();
                    buf.reserve_exact(RECV_CHUNK);
                    let stream = Rc::clone(&self.stream);
                    self.pending
                        .insert(Box::pin(async move { stream.read(buf).await }))
                }
            };
            let (res, buf) = fut.await;
            self.pending = None;
            match res {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    let received = buf.get(..n).unwrap_or(&buf);
                    if std::mem::take(&mut self.first) && proxy::looks_like_header(received) {
                        self.eof = true;
                        return Ok(Input::ProxyHeader);
                    }
                    match self.secure.as_mut() {
                        None => self.lines.push(received),
                        Some(secure) => {
                            let mut plain = Vec::new();
                            let fed = tls::absorb(&mut secure.conn, received, &mut plain);
                            self.lines.push(&plain);
                            match fed {
                                Ok(closed) => self.eof |= closed,
                                Err(e) => {
                                    // Send the alert that says why, then end.
                                    let _ =
                                        tokio::time::timeout(self.write_timeout, self.flush_tls())
                                            .await;
                                    return Err(e);
                                }
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            if self.lines.is_empty() {
                self.lines.shrink();
            }
            self.spare = Some(buf);
            if self.lines.is_empty() {
                // Idle again: hold no buffer besides the one in flight.
                self.spare = None;
            }
        }
    }

    /// Puts a line back to be returned by the next `next()`.
    pub fn defer(&mut self, line: String) {
        self.deferred = Some(line);
    }

    /// Sends one reply; a client that stops reading is cut off after the
    /// write timeout instead of stalling its session forever.
    pub async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        tracing::trace!(code = reply.code, "reply");
        let bytes = reply.encode().into_bytes();
        let sent = match self.secure.as_mut() {
            None => {
                let write = self.stream.write_all(bytes);
                tokio::time::timeout(self.write_timeout, write)
                    .await
                    .map(|(res, _)| res)
            }
            Some(secure) => {
                use std::io::Write;
                secure.conn.writer().write_all(&bytes)?;
                tokio::time::timeout(self.write_timeout, self.flush_tls()).await
            }
        };
        match sent {
            Ok(res) => res,
            Err(_) => {
                self.shutdown();
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "control write timed out",
                ))
            }
        }
    }

    /// Closes the session's connection: close_notify first under TLS (bounded
    /// by the write timeout, 5 s at most), then `shutdown`.
    pub async fn close(&mut self) {
        if let Some(secure) = self.secure.as_mut() {
            secure.conn.send_close_notify();
            let limit = self.write_timeout.min(Duration::from_secs(5));
            let _ = tokio::time::timeout(limit, self.flush_tls()).await;
        }
        self.shutdown();
    }

    /// Ends both directions; wakes any receive still in flight.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
