//! Listeners, worker threads and shutdown.
//!
//! One worker thread per CPU, each with its own tokio-uring runtime (its own
//! ring) and its own SO_REUSEPORT listener per address, so the kernel spreads
//! connections across workers and no lock sits on the accept path. Everything a
//! session needs from outside its worker is in `Shared`.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;
use tokio_uring::net::TcpListener;

use crate::ban::Bans;
use crate::config::Config;
use crate::data::PortAllocator;
use crate::session;
use crate::storage::Storage;
use crate::users::UserDb;

/// State shared by all workers. Read-mostly; no lock is held across an await.
pub struct Shared {
    pub config: Config,
    pub users: RwLock<Arc<UserDb>>,
    /// The served root: a local directory or an S3 bucket/prefix.
    pub root: Storage,
    pub ports: PortAllocator,
    pub sessions: AtomicUsize,
    pub shutdown: watch::Receiver<bool>,
    /// Password checks allowed to run at once: one per CPU. argon2 is
    /// memory-hard; a burst of thousands of logins run all at once would
    /// thrash and finish none in time, queued they finish at full speed.
    pub logins: tokio::sync::Semaphore,
    /// `--xferlog`: a record per transfer.
    pub xferlog: Option<crate::log::Xferlog>,
    /// Sessions per client address, for `max_per_ip`.
    pub per_ip: PerIp,
    /// Failed logins per client address, across sessions (mod_ban-like).
    pub bans: Bans,
    /// Accepts paused for lack of descriptors (EMFILE), across workers.
    pub accept_pause: AcceptPause,
}

/// The state of an accept back-off episode, shared by the workers so a
/// shortage is logged once, not once per worker or per failed accept.
#[derive(Default)]
pub struct AcceptPause {
    paused: AtomicBool,
    /// The episode's warning was logged (so its end is logged too).
    warned: AtomicBool,
    /// When the last warning was logged: at most one a minute when the
    /// shortage comes and goes with every closed connection.
    last_warn: Mutex<Option<Instant>>,
}

/// Back-off after a failed accept: doubles from the first to the last.
const ACCEPT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_millis(500));

impl AcceptPause {
    fn failed(&self, worker: usize, e: &io::Error) {
        if self.paused.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut last = self.last_warn.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(60)) {
            return;
        }
        *last = Some(now);
        self.warned.store(true, Ordering::Release);
        tracing::warn!(
            worker,
            error = %e,
            "cannot accept connections; new clients wait in the listen queue until \
             descriptors free up (open sessions go on)"
        );
    }

    fn accepted(&self) {
        if self.paused.load(Ordering::Relaxed)
            && self.paused.swap(false, Ordering::AcqRel)
            && self.warned.swap(false, Ordering::AcqRel)
        {
            tracing::info!("accepting connections again");
        }
    }
}

/// Errors of one incoming connection (it went away before accept): the next
/// accept may succeed at once. Anything else (EMFILE, ENFILE, ENOBUFS, ENOMEM)
/// would fail again right away, so it is waited out.
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EPROTO | libc::EPERM | libc::EINTR)
    )
}

impl Shared {
    pub fn users(&self) -> Arc<UserDb> {
        match self.users.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

/// Counts a session for `max_clients` while it lives.
pub struct SessionSlot<'a>(&'a AtomicUsize);

impl<'a> SessionSlot<'a> {
    pub fn try_take(counter: &'a AtomicUsize, max: usize) -> Option<SessionSlot<'a>> {
        let prev = counter.fetch_add(1, Ordering::AcqRel);
        if prev >= max {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(SessionSlot(counter))
    }
}

impl Drop for SessionSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sessions per client address (the real one behind a PROXY balancer). A
/// short lock per session start and end, never held across an await.
#[derive(Default)]
pub struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// Counts a session for `max_per_ip` while it lives.
pub struct PerIpSlot<'a> {
    map: &'a PerIp,
    ip: IpAddr,
}

impl PerIp {
    /// A slot for one more session from `ip`, unless it has `max` already.
    pub fn try_take(&self, ip: IpAddr, max: usize) -> Option<PerIpSlot<'_>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PerIpSlot { map: self, ip })
    }
}

impl Drop for PerIpSlot<'_> {
    fn drop(&mut self) {
        let mut map = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Binds one SO_REUSEPORT listener per worker for each address. With port 0
/// the first bind picks the port and the others reuse it.
pub fn bind_all(addrs: &[SocketAddr], workers: usize) -> io::Result<Vec<Vec<StdListener>>> {
    let mut per_worker: Vec<Vec<StdListener>> = (0..workers).map(|_| Vec::new()).collect();
    for &addr in addrs {
        // SO_REUSEPORT would let a second ringftpd (same user) silently share
        // the port with a running one. A plain bind first fails with "Address
        // already in use" whenever anything listens there, and picks the port
        // when 0 was asked for.
        let mut addr = {
            let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            probe.set_reuse_address(true)?;
            if addr.is_ipv6() {
                probe.set_only_v6(false)?;
            }
            probe.bind(&addr.into())?;
            probe
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("not an IP address"))?
        };
        for slot in per_worker.iter_mut() {
            let l = bind_reuseport(addr)?;
            addr = l.local_addr()?;
            slot.push(l);
        }
    }
    Ok(per_worker)
}

fn bind_reuseport(addr: SocketAddr) -> io::Result<StdListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_cloexec(true)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        // "[::]:21" serves IPv4 too, as operators expect.
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// Runs one worker until shutdown: accepts on its listeners and runs each
/// session as a task on this thread's ring.
pub fn run_worker(id: usize, listeners: Vec<StdListener>, shared: Arc<Shared>) -> io::Result<()> {
    let mut builder = tokio_uring::builder();
    builder.entries(4096);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        builder.start(async move {
            let mut accepts = Vec::new();
            for l in listeners {
                let shared = Arc::clone(&shared);
                accepts.push(tokio_uring::spawn(accept_loop(
                    id,
                    TcpListener::from_std(l),
                    shared,
                )));
            }
            for a in accepts {
                let _ = a.await;
            }
            // Running transfers may go on for shutdown_timeout (cmd::xfer::watch
            // cuts them then); a little more lets every session send its 426/421.
            let until = tokio::time::Instant::now()
                + shared.config.shutdown_timeout
                + std::time::Duration::from_secs(3);
            while shared.sessions.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < until
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
    }));
    result.map_err(|_| io::Error::other(format!("worker {id} panicked")))
}

async fn accept_loop(worker: usize, listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    let fd = listener.as_raw_fd();
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|&s| s) => {
                // Completes the accept still in flight in the ring.
                // SAFETY: `fd` belongs to `listener`, which is still alive.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR); }
                break;
            }
        };
        match accepted {
            Ok((stream, peer)) => {
                if !backoff.is_zero() {
                    backoff = Duration::ZERO;
                    shared.accept_pause.accepted();
                }
                let shared = Arc::clone(&shared);
                tokio_uring::spawn(async move {
                    session::run(stream, peer, shared).await;
                });
            }
            Err(e) if per_connection(&e) => {
                tracing::debug!(worker, error = %e, "accept failed");
            }
            Err(e) => {
                // EMFILE and friends: the connection stays queued in the
                // kernel; wait (10 ms doubling to 500 ms) instead of spinning.
                shared.accept_pause.failed(worker, &e);
                backoff = (backoff * 2).clamp(ACCEPT_BACKOFF.0, ACCEPT_BACKOFF.1);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.wait_for(|&s| s) => break,
                }
            }
        }
    }
}
