//! The control connection: bounded line reads and reply writes through the ring.
//!
//! A receive submitted to io_uring cannot be taken back, so `Control` keeps the
//! one in flight across calls: dropping `next()` (a transfer finished first in a
//! `select!`) never loses bytes the client sent. Framing is `proto::line`, which
//! does no I/O; only this module touches the control socket.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use ringftp_proto::line::{LineBuffer, LineError, MAX_LINE};
use ringftp_proto::reply::Reply;
use tokio_uring::net::TcpStream;

/// How much one receive asks for. Small on purpose: an idle session holds one
/// such buffer in flight, and command lines are short.
const RECV_CHUNK: usize = 512;

type RecvFuture = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>)>>>;

/// What the client sent next.
#[derive(Debug)]
pub enum Input {
    Line(String),
    TooLong,
    NotUtf8,
    Eof,
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
                Ok(n) => self.lines.push(buf.get(..n).unwrap_or(&buf)),
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
    pub async fn send(&self, reply: &Reply) -> io::Result<()> {
        tracing::trace!(code = reply.code, "reply");
        let bytes = reply.encode().into_bytes();
        let write = self.stream.write_all(bytes);
        match tokio::time::timeout(self.write_timeout, write).await {
            Ok((res, _)) => res,
            Err(_) => {
                self.shutdown();
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "control write timed out",
                ))
            }
        }
    }

    /// Ends both directions; wakes any receive still in flight.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
