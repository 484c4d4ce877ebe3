//! FTPS for the client (RFC 4217): the rustls client configuration and the
//! certificate verifier that lets the host check (`hostcheck`) decide.
//!
//! rustls (0.23, ring provider) does the handshakes; the verifier always
//! checks the handshake signature against the certificate's key, and tells
//! apart two cases for the certificate itself:
//! - valid for the host name under the system roots (rustls-native-certs,
//!   which honours `SSL_CERT_FILE`/`SSL_CERT_DIR`, checked with rustls'
//!   `WebPkiServerVerifier`): accepted with no prompt;
//! - anything else (self-signed, other name, expired): accepted for now and
//!   remembered, so that `hostcheck` can compare its key's fingerprint with
//!   known_hosts (or ask) BEFORE any command or password is sent.
//!
//! After the control connection's handshake the certificate is pinned: every
//! data connection (PROT P) and every reconnection must present the very
//! same certificate, or its handshake fails. Data connections resume the
//! control connection's TLS session (rustls' in-memory session cache, keyed
//! by the same server name), which ringftpd in required mode and vsftpd
//! (`require_ssl_reuse=YES`, its default) insist on.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};

/// A TLS connection over TCP (control or data).
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// How long one handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the server's certificate turned out to be.
#[derive(Debug, Clone)]
pub struct Seen {
    pub cert: CertificateDer<'static>,
    /// Valid for the host name under the system roots.
    pub ca_valid: bool,
}

#[derive(Default)]
struct State {
    /// Set after the control handshake: later handshakes must show this.
    pinned: Option<CertificateDer<'static>>,
    seen: Option<Seen>,
}

#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    state: Mutex<State>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| rustls::Error::General("verifier state poisoned".into()))?;
        if let Some(pinned) = &st.pinned {
            if pinned.as_ref() == end_entity.as_ref() {
                return Ok(ServerCertVerified::assertion());
            }
            return Err(rustls::Error::General(
                "certificate differs from the one of the control connection".into(),
            ));
        }
        let ca_valid = self.webpki.as_ref().is_some_and(|v| {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .is_ok()
        });
        st.seen = Some(Seen {
            cert: end_entity.clone().into_owned(),
            ca_valid,
        });
        // The decision is hostcheck's, before anything is sent.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The client's TLS settings for one server (control and data connections).
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    verifier: Arc<Verifier>,
    name: ServerName<'static>,
}

impl TlsClient {
    /// Settings for `host` (the name the user typed; an IP address is used
    /// when it is not a valid DNS name).
    pub fn new(host: &str, peer: IpAddr) -> Result<TlsClient, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!(error = %e, "system root certificates");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, ignored, "system root certificates");
        // No roots at all (a bare container): only the pinned path remains.
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .ok();
        let verifier = Arc::new(Verifier {
            webpki,
            provider: provider.clone(),
            state: Mutex::new(State::default()),
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_string())
            .unwrap_or_else(|_| ServerName::IpAddress(peer.into()));
        Ok(TlsClient {
            config: Arc::new(config),
            verifier,
            name,
        })
    }

    /// The same settings with a session cache of its own, for one control
    /// connection and its data connections: a data connection must resume
    /// the session of ITS control connection (ringftpd in required mode
    /// checks that), not one of the other `--parallel` connections.
    pub fn for_new_session(&self) -> TlsClient {
        let mut config = (*self.config).clone();
        config.resumption = rustls::client::Resumption::in_memory_sessions(32);
        TlsClient {
            config: Arc::new(config),
            verifier: self.verifier.clone(),
            name: self.name.clone(),
        }
    }

    /// Run a client handshake over `sock` (bounded by a timeout).
    pub fn connect(&self, sock: TcpStream) -> io::Result<TlsStream> {
        let conn = ClientConnection::new(self.config.clone(), self.name.clone())
            .map_err(io::Error::other)?;
        let mut s = StreamOwned::new(conn, sock);
        handshake(&mut s)?;
        Ok(s)
    }

    /// The certificate of the last unpinned handshake.
    pub fn seen(&self) -> Option<Seen> {
        self.verifier.state.lock().ok().and_then(|s| s.seen.clone())
    }

    /// From now on every handshake must show this certificate.
    pub fn pin(&self, cert: CertificateDer<'static>) {
        if let Ok(mut s) = self.verifier.state.lock() {
            s.pinned = Some(cert);
        }
    }
}

/// Drive a handshake to its end with a timeout on the socket.
pub fn handshake(s: &mut TlsStream) -> io::Result<()> {
    let old_r = s.sock.read_timeout()?;
    let old_w = s.sock.write_timeout()?;
    s.sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    s.sock.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let res = loop {
        if !s.conn.is_handshaking() {
            break Ok(());
        }
        match s.conn.complete_io(&mut s.sock) {
            Ok((0, 0)) if s.conn.is_handshaking() => {
                break Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during the TLS handshake",
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // SO_RCVTIMEO/SO_SNDTIMEO expiring reads as EAGAIN.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                break Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "Connection timed out",
                ))
            }
            Err(e) => break Err(e),
        }
    };
    s.sock.set_read_timeout(old_r)?;
    s.sock.set_write_timeout(old_w)?;
    res
}

/// End a TLS connection politely: close_notify, then shut our side.
pub fn close(s: &mut TlsStream) {
    s.conn.send_close_notify();
    let _ = s.conn.complete_io(&mut s.sock);
    let _ = s.sock.shutdown(std::net::Shutdown::Write);
}

/// The control connection: clear until AUTH TLS, then TLS.
pub enum Ctrl {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Ctrl {
    /// The TCP socket underneath (timeouts, addresses).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Ctrl::Plain(s) => s,
            Ctrl::Tls(t) => &t.sock,
        }
    }
}

impl Read for Ctrl {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Ctrl::Plain(s) => s.read(buf),
            Ctrl::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Ctrl {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Ctrl::Plain(s) => s.write(buf),
            Ctrl::Tls(t) => t.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Ctrl::Plain(s) => s.flush(),
            Ctrl::Tls(t) => t.flush(),
        }
    }
}
