//! One client's control connection: the login state machine and the command loop.
//!
//! The session owns its state (no locks): `State` moves from `AwaitUser` to
//! `AwaitPass` to `LoggedIn` by value. Commands are parsed by `proto`, and
//! `cmd::dispatch` runs each verb from its own file.
//!
//! Behind a load balancer (`--proxy-protocol`), a connection from a trusted
//! balancer starts with a PROXY protocol header, read here before the banner;
//! the client address it names becomes the session's `peer`, which is what
//! logs, limits and the data-connection checks (PASV peer, PORT target) use.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ringftp_proto::command::{Command, ParseError, TransferType};
use ringftp_proto::listing::FactSet;
use ringftp_proto::proxy::Source;
use ringftp_proto::reply::Reply;
use tokio_uring::net::TcpStream;

use crate::cmd;
use crate::config::Config;
use crate::control::{Control, Input};
use crate::data::{canonical_ip, DataConn, DataPlan};
use crate::server::{SessionSlot, Shared};
use crate::storage::Storage;

pub enum State {
    AwaitUser,
    AwaitPass { user: String },
    LoggedIn(Box<Login>),
}

/// Everything a logged-in session carries.
pub struct Login {
    pub user: String,
    /// The user's files: the root or their home beneath it.
    pub storage: Storage,
    pub read_only: bool,
    /// Absolute virtual path, normalised ("/" is the user's root).
    pub cwd: String,
    pub ty: TransferType,
    /// Offset set by REST for the next RETR/STOR.
    pub rest: u64,
    /// Source set by RNFR for the next RNTO.
    pub rnfr: Option<String>,
    pub data: DataPlan,
    /// After EPSV ALL only EPSV may set up data connections (RFC 2428 4).
    pub epsv_all: bool,
    /// MODE B (RFC 959 3.4.2): transfers are framed in blocks.
    pub block: bool,
    /// Block mode: the data connection of the last complete transfer, open
    /// for the next one (lives as long as the session, or until PASV, EPSV,
    /// PORT, EPRT, MODE S, PROT, CCC, REIN or USER).
    pub kept: Option<DataConn>,
}

impl Login {
    pub fn new(user: String, storage: Storage, read_only: bool) -> Login {
        Login {
            user,
            storage,
            read_only,
            cwd: "/".to_string(),
            ty: TransferType::Ascii,
            rest: 0,
            rnfr: None,
            data: DataPlan::None,
            epsv_all: false,
            block: false,
            kept: None,
        }
    }
}

/// How a client reached this server through a PROXY protocol balancer.
#[derive(Debug, Clone, Copy)]
pub struct Via {
    /// The balancer's own address: the control connection's TCP peer.
    pub balancer: SocketAddr,
    /// The balancer address the client connected to (the header's destination).
    pub entry: SocketAddr,
}

/// Longest wait for a trusted balancer's PROXY header (it sends it at once on
/// connecting), unless `login_timeout` is shorter.
const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Session {
    pub ctl: Control,
    pub shared: Arc<Shared>,
    /// The client's address: the TCP peer's, or behind a trusted balancer the
    /// one its PROXY header names.
    pub peer: SocketAddr,
    /// The balancer the client came through (its PROXY header named the client).
    pub via: Option<Via>,
    pub local: SocketAddr,
    pub state: State,
    pub failures: u32,
    pub closing: bool,
    /// MLST/MLSD facts chosen with OPTS MLST.
    pub facts: FactSet,
    /// PROT P (RFC 4217 9): data connections use TLS. Kept across REIN, like
    /// the TLS of the control connection itself.
    pub protect_data: bool,
    /// Set by AUTH TLS: the TLS settings of this session's data connections,
    /// which resume only its control connection's TLS session.
    pub data_tls: Option<crate::tls::DataTls>,
}

impl Session {
    /// Sends a reply; a failed write ends the session.
    pub async fn reply(&mut self, reply: Reply) {
        if self.ctl.send(&reply).await.is_err() {
            self.closing = true;
        }
    }

    /// Closes the data connection kept open in block mode, if any.
    pub fn close_kept(&mut self) {
        if let State::LoggedIn(login) = &mut self.state {
            login.kept = None;
        }
    }
}

/// Runs a session until the client quits, times out or the server stops.
pub async fn run(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let cfg = &shared.config;
    let Some(_slot) = SessionSlot::try_take(&shared.sessions, cfg.max_clients) else {
        crate::log::refused(peer, "connection", "max_clients sessions already");
        let mut ctl = Control::new(stream, Duration::from_secs(5));
        let _ = ctl
            .send(&Reply::new(
                421,
                "Too many users connected, try again later.",
            ))
            .await;
        ctl.shutdown();
        return;
    };
    let local = local_addr(&stream).unwrap_or(peer);
    set_oob_inline(&stream);
    // Replies are small and answer small requests: without TCP_NODELAY, Nagle
    // plus the client's delayed ACK adds up to 40 ms to a reply that follows
    // another unacknowledged one (multi-step commands such as 150 then 226).
    let _ = stream.set_nodelay(true);
    let mut ctl = Control::new(stream, cfg.idle_timeout);
    let (peer, via) = match proxied_client(&mut ctl, cfg, peer).await {
        Ok(Some((client, entry))) => (
            client,
            Some(Via {
                balancer: peer,
                entry,
            }),
        ),
        Ok(None) => (peer, None),
        Err(()) => {
            ctl.shutdown();
            return;
        }
    };
    // The ban check, with the client's address (the PROXY header's, if any).
    if let Some(reply) = shared.bans.refusal(peer.ip()) {
        // Not `log::refused` (a warning): a banned client reconnecting in a
        // loop would write a line per attempt. The ban itself was logged.
        tracing::debug!(%peer, via = ?via, "banned address refused");
        let _ = ctl.send(&reply).await;
        ctl.shutdown();
        return;
    }
    // Per-IP limit, on the client's address (the PROXY header's, if any).
    let _per_ip = if cfg.max_per_ip > 0 {
        match shared
            .per_ip
            .try_take(canonical_ip(peer.ip()), cfg.max_per_ip)
        {
            Some(slot) => Some(slot),
            None => {
                crate::log::refused(
                    peer,
                    "connection",
                    "max_per_ip sessions from this address already",
                );
                let _ = ctl
                    .send(&Reply::new(
                        421,
                        "There are too many connections from your internet address.",
                    ))
                    .await;
                ctl.shutdown();
                return;
            }
        }
    } else {
        None
    };
    let mut s = Session {
        ctl,
        shared: Arc::clone(&shared),
        peer,
        via,
        local,
        state: State::AwaitUser,
        failures: 0,
        closing: false,
        facts: FactSet::default_set(),
        protect_data: false,
        data_tls: None,
    };
    tracing::debug!(%peer, via = ?via, "connected");
    s.reply(Reply::new(220, cfg.banner.clone())).await;
    let login_deadline = tokio::time::Instant::now() + cfg.login_timeout;
    let mut shutdown = shared.shutdown.clone();
    while !s.closing {
        let limit = match s.state {
            State::LoggedIn(_) => tokio::time::Instant::now() + cfg.idle_timeout,
            _ => login_deadline,
        };
        let input = tokio::select! {
            // Shutdown first: a command deferred during a transfer is ready at once.
            biased;
            _ = shutdown.wait_for(|&v| v) => {
                s.reply(Reply::new(421, "Server shutting down, closing control connection.")).await;
                break;
            }
            r = tokio::time::timeout_at(limit, s.ctl.next()) => r,
        };
        let input = match input {
            Err(_) => {
                let secs = match s.state {
                    State::LoggedIn(_) => cfg.idle_timeout.as_secs(),
                    _ => cfg.login_timeout.as_secs(),
                };
                s.reply(Reply::new(
                    421,
                    format!("Timeout ({secs} seconds): closing control connection."),
                ))
                .await;
                break;
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "control connection error");
                break;
            }
            Ok(Ok(input)) => input,
        };
        match input {
            Input::Eof => break,
            Input::ProxyHeader => {
                crate::log::refused(peer, "PROXY protocol header", "peer not in proxy_protocol");
                break;
            }
            Input::TooLong => s.reply(Reply::new(500, "Command line too long.")).await,
            Input::NotUtf8 => {
                s.reply(Reply::new(500, "Command is not valid UTF-8."))
                    .await
            }
            Input::Line(line) => match Command::parse(&line) {
                Ok(cmd) => {
                    tracing::debug!(%peer, verb = cmd.verb(), "command");
                    // Boxed: the session's own future stays small while idle;
                    // only a running command pays for its state.
                    Box::pin(cmd::dispatch(&mut s, cmd)).await;
                }
                Err(ParseError::UnknownVerb(verb)) if verb == cmd::ccc::VERB => {
                    s.close_kept();
                    s.reply(cmd::ccc::refuse()).await;
                }
                Err(e) => {
                    let code = e.reply_code();
                    s.reply(Reply::new(code, format!("{e}"))).await;
                }
            },
        }
    }
    s.ctl.close().await;
    tracing::debug!(%peer, "disconnected");
}

/// With `--proxy-protocol`, the client that a trusted balancer names in the
/// header it sends first, and the balancer address it connected to. `Ok(None)`: the peer is no balancer, or the header
/// names nobody (a health check). `Err`: no valid header in time (logged);
/// the connection is to be closed without a reply.
async fn proxied_client(
    ctl: &mut Control,
    cfg: &Config,
    peer: SocketAddr,
) -> Result<Option<(SocketAddr, SocketAddr)>, ()> {
    if !is_trusted(&cfg.proxy_protocol, peer) {
        return Ok(None);
    }
    let limit = cfg.login_timeout.min(PROXY_HEADER_TIMEOUT);
    let why = match tokio::time::timeout(limit, ctl.read_proxy_header()).await {
        Ok(Ok(h)) => {
            return Ok(match h.source {
                Source::Client { from, to } => Some((
                    SocketAddr::new(canonical_ip(from.ip()), from.port()),
                    SocketAddr::new(canonical_ip(to.ip()), to.port()),
                )),
                Source::Unknown => None,
            })
        }
        Ok(Err(e)) => format!("balancer sent no valid PROXY protocol header: {e}"),
        Err(_) => format!(
            "balancer sent no PROXY protocol header within {} s",
            limit.as_secs()
        ),
    };
    crate::log::refused(peer, "connection", &why);
    Err(())
}

/// Whether `peer` is one of the balancers whose PROXY header is required.
pub fn is_trusted(balancers: &[ipnet::IpNet], peer: SocketAddr) -> bool {
    let ip = canonical_ip(peer.ip());
    balancers.iter().any(|n| n.contains(&ip))
}

fn local_addr(stream: &TcpStream) -> Option<SocketAddr> {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    // SAFETY: sockaddr_storage is plain data; getsockname fills at most `len` bytes.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: valid pointers to storage and its length for a socket fd we own.
    let rc = unsafe {
        libc::getsockname(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getsockname succeeded, so storage holds a valid address of `len` bytes.
    let addr = unsafe { socket2::SockAddr::new(storage, len) };
    addr.as_socket()
}

/// Urgent data inline: clients send ABOR (ftplib) or Telnet IAC DM (RFC 959
/// 4.1.3) as TCP urgent data; without SO_OOBINLINE the urgent byte would be
/// cut out of the stream and "ABOR\r\n" would never end.
fn set_oob_inline(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt with a pointer to a live c_int of the right size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_OOBINLINE,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
