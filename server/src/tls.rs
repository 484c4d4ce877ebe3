//! TLS for FTP (RFC 4217, "Securing FTP with TLS"): the certificate and key,
//! the rustls state machine glued to io_uring sockets.
//!
//! rustls does no I/O: received ciphertext goes in with `read_tls` and
//! `process_new_packets`, plaintext comes out of `reader()`; plaintext goes in
//! with `writer()` and records come out of `write_tls`. Here the records move
//! through the ring in owned buffers:
//! - the control connection (`control.rs`) feeds what it receives through
//!   [`absorb`] and queues replies, keeping its receive and send in flight
//!   across cancellation;
//! - a protected data connection (`PROT P`) is a [`TlsStream`]: the server is
//!   the TLS server there too (RFC 4217 7), and transfers over it are buffered,
//!   never spliced.
//!
//! Nothing here logs key material.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use tokio_uring::net::TcpStream;

/// Ciphertext asked for per receive on a data connection.
const RECV_CHUNK: usize = 64 * 1024;

/// Why the certificate or key cannot be used; one line each.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("TLS {what} {}: {message}", path.display())]
    Pem {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("TLS certificate and key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The server's TLS settings, shared by every session (cheap to clone).
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Loads a PEM certificate chain and its PEM private key (PKCS#8, PKCS#1
    /// or SEC1), checks that they belong together, and allows TLS 1.2 and 1.3.
    pub fn load(cert: &Path, key: &Path) -> Result<TlsConfig, TlsError> {
        let read = |what: &'static str, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let pem_err = |what: &'static str, path: &Path, message: String| TlsError::Pem {
            what,
            path: path.to_path_buf(),
            message,
        };
        let cert_pem = read("certificate", cert)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_err("certificate", cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(pem_err(
                "certificate",
                cert,
                "no PEM CERTIFICATE found".into(),
            ));
        }
        let key_pem = read("key", key)?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            let message = match e {
                rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key found".into(),
                other => other.to_string(),
            };
            pem_err("key", key, message)
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)?;
        Ok(TlsConfig {
            server: Arc::new(server),
        })
    }

    /// A new server-side TLS connection (control or data), not yet shaken hands.
    pub fn accept(&self) -> Result<ServerConnection, rustls::Error> {
        ServerConnection::new(Arc::clone(&self.server))
    }
}

/// Feeds received ciphertext to `conn` and appends the plaintext it yields
/// to `plain`. Returns true once the peer has sent close_notify. A protocol
/// error is `InvalidData`; its alert is left queued for the caller to send.
pub fn absorb(
    conn: &mut ServerConnection,
    mut data: &[u8],
    plain: &mut Vec<u8>,
) -> io::Result<bool> {
    let mut closed = false;
    while !data.is_empty() && !closed {
        if conn.read_tls(&mut data)? == 0 {
            // close_notify was already received: nothing more is read.
            return Ok(true);
        }
        let state = conn
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        drain(conn, state.plaintext_bytes_to_read(), plain)?;
        closed = state.peer_has_closed();
    }
    Ok(closed)
}

/// Moves `available` bytes of received plaintext into `plain`.
fn drain(conn: &mut ServerConnection, available: usize, plain: &mut Vec<u8>) -> io::Result<()> {
    let start = plain.len();
    plain.resize(start + available, 0);
    let mut filled = start;
    while let Some(dst) = plain.get_mut(filled..) {
        if dst.is_empty() {
            break;
        }
        match conn.reader().read(dst) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                plain.truncate(filled);
                return Err(e);
            }
        }
    }
    plain.truncate(filled);
    Ok(())
}

/// Queued TLS records of `conn`, appended to `out`.
pub fn take_records(conn: &mut ServerConnection, out: &mut Vec<u8>) -> io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(out)?;
    }
    Ok(())
}

fn stalled() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "data connection stalled")
}

async fn timed<T>(
    limit: Duration,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(stalled()),
    }
}

/// A protected data connection. The handshake runs on first use; every
/// network step fails after `stall` without progress.
pub struct TlsStream {
    stream: Rc<TcpStream>,
    conn: Box<ServerConnection>,
    /// Plaintext received but not yet handed out.
    plain: Vec<u8>,
    /// Reused buffers for records going out and coming in.
    out: Vec<u8>,
    inbuf: Vec<u8>,
    /// The peer sent close_notify or closed TCP.
    eof: bool,
    stall: Duration,
}

impl TlsStream {
    pub fn new(
        stream: Rc<TcpStream>,
        config: &TlsConfig,
        stall: Duration,
    ) -> Result<TlsStream, rustls::Error> {
        Ok(TlsStream {
            stream,
            conn: Box::new(config.accept()?),
            plain: Vec::new(),
            out: Vec::new(),
            inbuf: Vec::new(),
            eof: false,
            stall,
        })
    }

    /// Sends every queued record.
    async fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            let mut out = std::mem::take(&mut self.out);
            out.clear();
            take_records(&mut self.conn, &mut out)?;
            let (res, buf) = timed(self.stall, async {
                let (r, b) = self.stream.write_all(out).await;
                Ok((r, b))
            })
            .await?;
            self.out = buf;
            res?;
        }
        Ok(())
    }

    /// One receive, fed through TLS; plaintext lands in `self.plain`.
    async fn fill(&mut self) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.inbuf);
        buf.clear();
        buf.reserve_exact(RECV_CHUNK);
        let (res, buf) = timed(self.stall, async {
            let (r, b) = self.stream.read(buf).await;
            Ok((r, b))
        })
        .await?;
        let n = res?;
        if n == 0 {
            // A TCP close without close_notify ends the data as well: FTP
            // clients differ here, and plain FTP has the same ambiguity.
            self.eof = true;
        } else {
            let fed = absorb(
                &mut self.conn,
                buf.get(..n).unwrap_or(&buf),
                &mut self.plain,
            );
            match fed {
                Ok(closed) => self.eof |= closed,
                Err(e) => {
                    // Tell the peer why (the alert), then fail.
                    let _ = self.flush().await;
                    return Err(e);
                }
            }
        }
        self.inbuf = buf;
        Ok(())
    }

    /// Completes the handshake if it has not been done.
    pub async fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.flush().await?;
            if !self.conn.is_handshaking() {
                break;
            }
            if self.eof {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during the TLS handshake",
                ));
            }
            self.fill().await?;
        }
        self.flush().await
    }

    /// Encrypts and sends all of `data`.
    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        self.handshake().await?;
        while !data.is_empty() {
            let n = self.conn.writer().write(data)?;
            data = data.get(n..).unwrap_or_default();
            if n == 0 && !self.conn.wants_write() {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.flush().await?;
        }
        Ok(())
    }

    /// Plaintext into `buf` (its old contents are dropped), like a socket
    /// read: the byte count, 0 at the end of the data.
    pub async fn read(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        if let Err(e) = self.handshake().await {
            return (Err(e), buf);
        }
        while self.plain.is_empty() && !self.eof {
            if let Err(e) = self.flush().await {
                return (Err(e), buf);
            }
            if let Err(e) = self.fill().await {
                return (Err(e), buf);
            }
        }
        buf.clear();
        std::mem::swap(&mut buf, &mut self.plain);
        (Ok(buf.len()), buf)
    }

    /// Sends close_notify (after a handshake, if none happened yet) and ends
    /// our sending side.
    pub async fn close(&mut self) -> io::Result<()> {
        self.handshake().await?;
        self.conn.send_close_notify();
        let res = self.flush().await;
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        res
    }
}
