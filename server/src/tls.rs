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
//! Session reuse: every control session gets its own session store
//! ([`TlsConfig::session`]); its data connections can resume the control
//! connection's TLS session and nothing else, so one client can never resume
//! another's. With `--tls required` a protected data connection that does not
//! resume is refused ([`NotResumed`], 522): that is how the server tells the
//! client's own data connection from another socket of the same IP.
//!
//! Nothing here logs key material.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringftp_proto::fingerprint::HostKey;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::StoresServerSessions;
use rustls::{HandshakeKind, ServerConfig, ServerConnection};
use tokio_uring::net::TcpStream;

/// Ciphertext asked for per receive on a data connection: fewer trips
/// through the ring per MiB than 64 KiB, measured (docs/architecture.md).
const RECV_CHUNK: usize = 256 * 1024;
/// Encrypted records a data connection may queue before they go out: room
/// for one whole file chunk (transfer.rs, 256 KiB) and its record overhead,
/// so each chunk leaves in one send instead of four 64 KiB ones.
const SEND_QUEUE: usize = 512 * 1024;

/// `--tls`: whether AUTH TLS is offered, and whether it is a must.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// No TLS: AUTH answers 502.
    Off,
    /// AUTH TLS offered; plain FTP still allowed.
    #[default]
    Optional,
    /// No login before AUTH TLS, no clear data connection, and every
    /// protected data connection must resume the control session.
    Required,
}

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
    #[error("cannot create the TLS certificate {}: {source} (give --tls-cert/--tls-key, or --tls off)", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot generate a TLS certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The server's TLS settings, shared by every session (cheap to clone).
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
    host_key: HostKey,
    bits: Option<u32>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("TlsConfig")
            .field("host_key", &self.host_key)
            .finish_non_exhaustive()
    }
}

/// The cipher suites, AES-128-GCM first: with AES-NI it is the fastest
/// suite rustls offers (fewer rounds than AES-256), and it is what the speed
/// target compares with (OpenSSH's aes128-gcm). The client's order is
/// ignored so that this order decides.
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::cipher_suite as cs;
    rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..rustls::crypto::ring::default_provider()
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
        let Some(leaf) = chain.first() else {
            return Err(pem_err(
                "certificate",
                cert,
                "no PEM CERTIFICATE found".into(),
            ));
        };
        let (host_key, bits) =
            crate::cert::host_key(leaf).map_err(|e| pem_err("certificate", cert, e.to_string()))?;
        let key_pem = read("key", key)?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            let message = match e {
                rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key found".into(),
                other => other.to_string(),
            };
            pem_err("key", key, message)
        })?;
        let mut server = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)?;
        server.ignore_client_order = true;
        Ok(TlsConfig {
            server: Arc::new(server),
            host_key,
            bits,
        })
    }

    /// The certificate's public key and fingerprint, as the client shows it.
    pub fn host_key(&self) -> &HostKey {
        &self.host_key
    }

    /// The key size in bits, when known.
    pub fn bits(&self) -> Option<u32> {
        self.bits
    }

    /// TLS for one control session (AUTH TLS): its server connection, and
    /// the settings for its data connections. Both share a session store of
    /// their own, so a data connection can only resume this session: the
    /// control handshake fills it (a TLS 1.2 session id, or TLS 1.3
    /// tickets). Whether data connections add a ticket each depends on the
    /// client (see [`Sessions::wants_tickets`]).
    pub fn session(
        &self,
        require_resume: bool,
    ) -> Result<(ServerConnection, DataTls), rustls::Error> {
        let store = Arc::new(SessionStore::default());
        let mut control = (*self.server).clone();
        control.session_storage = Arc::clone(&store) as Arc<dyn StoresServerSessions>;
        control.send_tls13_tickets = CONTROL_TICKETS;
        let mut data = (*self.server).clone();
        data.session_storage = Arc::clone(&store) as Arc<dyn StoresServerSessions>;
        data.send_tls13_tickets = 0;
        let mut ticketing = data.clone();
        ticketing.send_tls13_tickets = 1;
        let conn = ServerConnection::new(Arc::new(control))?;
        Ok((
            conn,
            DataTls {
                config: Arc::new(data),
                ticketing: Arc::new(ticketing),
                store,
                require_resume,
            },
        ))
    }
}

/// TLS 1.3 tickets the control handshake sends: enough for a client that
/// uses each ticket once (as rustls' client must) to resume two data
/// connections, which shows it does, and a third, which brings the next.
const CONTROL_TICKETS: usize = 3;

/// Entries one control session keeps: a TLS 1.2 session id, or the TLS 1.3
/// tickets of its handshake and of its data connections, the newest. A
/// client holds only a few unused ones (rustls offers its newest).
const SESSION_ENTRIES: usize = 8;

/// One control session's TLS sessions (rustls' `StoresServerSessions`).
///
/// `take` does not consume: a TLS 1.3 ticket is single-use only to stop
/// 0-RTT replay, and 0-RTT is off here, while lftp, curl and ftplib
/// (`session=`) offer the control connection's one ticket on every data
/// connection. Other clients use each ticket once (ringftp: rustls' client
/// cache hands each out once), and after the control handshake's tickets
/// could not resume any more data connections: `--tls required` refused
/// the third transfer with 522. For them each data connection's handshake
/// sends one new ticket, which the next one resumes with.
#[derive(Debug, Default)]
struct SessionStore {
    sessions: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    /// (key, value, times taken), oldest first.
    entries: VecDeque<(Vec<u8>, Vec<u8>, u32)>,
    /// Resumptions with a ticket never used before.
    fresh: u32,
    /// A ticket was offered again.
    reused: bool,
}

impl Sessions {
    /// Whether data connections should send a ticket: only to a client seen
    /// using a fresh ticket for each resumption and never one twice. A
    /// ticket to a client that offers the same one again is never read by
    /// it during an upload (curl), and a socket closed with unread data
    /// sends RST, which cut the upload.
    fn wants_tickets(&self) -> bool {
        !self.reused && self.fresh >= 2
    }
}

impl StoresServerSessions for SessionStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let Ok(mut s) = self.sessions.lock() else {
            return false;
        };
        s.entries.retain(|(k, _, _)| *k != key);
        if s.entries.len() >= SESSION_ENTRIES {
            s.entries.pop_front();
        }
        s.entries.push_back((key, value, 0));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let s = self.sessions.lock().ok()?;
        s.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.clone())
    }

    /// TLS 1.3 resumption (TLS 1.2 session ids go through `get`).
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut s = self.sessions.lock().ok()?;
        let (_, value, taken) = s.entries.iter_mut().find(|(k, _, _)| k == key)?;
        let value = value.clone();
        *taken += 1;
        if *taken == 1 {
            s.fresh += 1;
        } else {
            s.reused = true;
        }
        Some(value)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// The TLS settings of one control session's data connections.
#[derive(Clone)]
pub struct DataTls {
    /// Sends no ticket.
    config: Arc<ServerConfig>,
    /// Sends one ticket (`Sessions::wants_tickets`).
    ticketing: Arc<ServerConfig>,
    store: Arc<SessionStore>,
    /// `--tls required`: refuse a data connection that does not resume.
    require_resume: bool,
}

/// A protected data connection did not resume the control connection's TLS
/// session while `--tls required` demands it (vsftpd's require_ssl_reuse).
#[derive(Debug, thiserror::Error)]
#[error("TLS session reuse required: the data connection must resume the control connection's TLS session")]
pub struct NotResumed;

impl NotResumed {
    /// Whether `e` is this refusal.
    pub fn is(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<NotResumed>())
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

/// Moves `available` bytes of received plaintext into `plain`, straight
/// from rustls' buffer (no zero-filled staging area).
fn drain(conn: &mut ServerConnection, available: usize, plain: &mut Vec<u8>) -> io::Result<()> {
    use std::io::BufRead;
    plain.reserve(available);
    let mut reader = conn.reader();
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(());
        }
        let n = chunk.len();
        plain.extend_from_slice(chunk);
        reader.consume(n);
    }
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
    require_resume: bool,
}

impl TlsStream {
    pub fn new(
        stream: Rc<TcpStream>,
        config: &DataTls,
        stall: Duration,
    ) -> Result<TlsStream, rustls::Error> {
        let tickets = config
            .store
            .sessions
            .lock()
            .is_ok_and(|s| s.wants_tickets());
        let chosen = if tickets {
            &config.ticketing
        } else {
            &config.config
        };
        let mut conn = Box::new(ServerConnection::new(Arc::clone(chosen))?);
        conn.set_buffer_limit(Some(SEND_QUEUE));
        Ok(TlsStream {
            stream,
            conn,
            plain: Vec::new(),
            out: Vec::new(),
            inbuf: Vec::new(),
            eof: false,
            stall,
            require_resume: config.require_resume,
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
        let mut plain = std::mem::take(&mut self.plain);
        let res = self.fill_into(&mut plain).await;
        self.plain = plain;
        res
    }

    /// One receive, fed through TLS; plaintext is appended to `plain`.
    async fn fill_into(&mut self, plain: &mut Vec<u8>) -> io::Result<()> {
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
            let fed = absorb(&mut self.conn, buf.get(..n).unwrap_or(&buf), plain);
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
        if self.require_resume && self.conn.handshake_kind() != Some(HandshakeKind::Resumed) {
            // Not one byte of the file goes to a connection we cannot tie
            // to this session.
            self.eof = true;
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, NotResumed));
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

    /// Appends received plaintext to `dst` until it holds at least `want`
    /// bytes or the data ends; the byte count appended, 0 only at the end.
    /// Bulk uploads take this path: the plaintext goes from rustls into the
    /// caller's buffer, which is written to the file as it is.
    pub async fn read_append(&mut self, dst: &mut Vec<u8>, want: usize) -> io::Result<usize> {
        self.handshake().await?;
        let start = dst.len();
        if !self.plain.is_empty() {
            dst.append(&mut self.plain);
        }
        while dst.len() < start + want && !self.eof {
            self.flush().await?;
            self.fill_into(dst).await?;
        }
        Ok(dst.len() - start)
    }

    /// The peer sent close_notify or closed TCP: nothing more will arrive.
    pub fn peer_closed(&self) -> bool {
        self.eof
    }

    /// Frees the reused buffers (up to a few hundred KiB after a bulk
    /// transfer) while the connection is kept idle in block mode; they grow
    /// again with the next transfer.
    pub fn shrink(&mut self) {
        if self.plain.is_empty() {
            self.plain = Vec::new();
        }
        self.out = Vec::new();
        self.inbuf = Vec::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(keys: &[&[u8]]) -> SessionStore {
        let s = SessionStore::default();
        for k in keys {
            assert!(s.put(k.to_vec(), b"v".to_vec()));
        }
        s
    }

    fn wants(s: &SessionStore) -> bool {
        s.sessions.lock().is_ok_and(|s| s.wants_tickets())
    }

    #[test]
    fn a_client_using_each_ticket_once_gets_new_ones() {
        let s = store_with(&[b"t1", b"t2", b"t3"]);
        assert_eq!(s.take(b"t3").as_deref(), Some(&b"v"[..]));
        assert!(!wants(&s), "one resumption proves nothing");
        assert!(s.take(b"t2").is_some());
        assert!(wants(&s));
        assert!(s.take(b"nope").is_none());
        assert!(wants(&s));
    }

    #[test]
    fn a_client_offering_a_ticket_again_gets_none() {
        let s = store_with(&[b"t1", b"t2", b"t3"]);
        assert!(s.take(b"t3").is_some());
        assert!(s.take(b"t3").is_some(), "take does not consume");
        assert!(s.take(b"t2").is_some());
        assert!(!wants(&s));
    }

    #[test]
    fn the_store_keeps_the_newest_entries() {
        let s = SessionStore::default();
        for i in 0..(SESSION_ENTRIES as u8 + 3) {
            s.put(vec![i], vec![i]);
        }
        assert!(s.get(&[0]).is_none());
        assert!(s.get(&[2]).is_none());
        assert_eq!(s.get(&[3]), Some(vec![3]));
        assert_eq!(
            s.get(&[SESSION_ENTRIES as u8 + 2]),
            Some(vec![SESSION_ENTRIES as u8 + 2])
        );
    }
}
