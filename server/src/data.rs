//! The data channel: passive listeners (PASV/EPSV) and active connections
//! (PORT/EPRT), with the checks of RFC 2577.
//!
//! - A passive listener binds on the control connection's local address, on a
//!   port from the configured range (or one the kernel picks), and accepts only
//!   connections from the control peer's IP; any other is closed and the
//!   listener keeps waiting until the data timeout (425).
//! - An active connection goes only to the control peer's IP and a port >= 1024
//!   (the check happens when PORT/EPRT is parsed, in `cmd/port.rs`).

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio_uring::net::{TcpListener, TcpStream};

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
}

impl DataConn {
    pub fn raw_fd(&self) -> i32 {
        self.stream.as_raw_fd()
    }

    /// Stops the transfer at once in both directions (ABOR, errors).
    pub fn abort(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Ends our sending side so the client sees end-of-file.
    pub fn finish(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
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

/// Allocates passive ports round-robin across all workers.
pub struct PortAllocator {
    range: Option<(u16, u16)>,
    next: AtomicU32,
}

impl PortAllocator {
    pub fn new(range: Option<(u16, u16)>) -> PortAllocator {
        PortAllocator {
            range,
            next: AtomicU32::new(0),
        }
    }

    /// Binds a listener for a passive transfer on `ip`.
    pub fn listen(&self, ip: IpAddr) -> io::Result<PassiveListener> {
        let Some((lo, hi)) = self.range else {
            return bind_passive(SocketAddr::new(ip, 0));
        };
        let span = u32::from(hi - lo) + 1;
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = io::Error::new(io::ErrorKind::AddrInUse, "passive port range exhausted");
        for i in 0..span {
            let offset = (start.wrapping_add(i)) % span;
            let port = lo.saturating_add(u16::try_from(offset).unwrap_or(0));
            match bind_passive(SocketAddr::new(ip, port)) {
                Ok(l) => return Ok(l),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

fn bind_passive(addr: SocketAddr) -> io::Result<PassiveListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_cloexec(true)?;
    // Ports of finished transfers sit in TIME_WAIT; without SO_REUSEADDR a
    // small passive range would run dry for a minute after each transfer.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4)?;
    let std: StdListener = socket.into();
    let addr = std.local_addr()?;
    Ok(PassiveListener {
        listener: TcpListener::from_std(std),
        addr,
    })
}

/// Plain IP of a peer, with IPv4-mapped IPv6 addresses unmapped.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Opens the data connection the plan describes, consuming the plan.
pub async fn open(plan: DataPlan, peer: IpAddr, timeout: Duration) -> Result<DataConn, DataError> {
    let stream = match plan {
        DataPlan::None => return Err(DataError::NoPlan),
        DataPlan::Passive(p) => accept_from(&p, peer, timeout).await?,
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
    })
}

async fn accept_from(
    p: &PassiveListener,
    peer: IpAddr,
    timeout: Duration,
) -> Result<TcpStream, DataError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let peer = canonical_ip(peer);
    loop {
        match tokio::time::timeout_at(deadline, p.listener.accept()).await {
            Err(_) => return Err(DataError::Timeout),
            Ok(Err(e)) => return Err(DataError::Io(e)),
            Ok(Ok((stream, from))) => {
                if canonical_ip(from.ip()) == peer {
                    return Ok(stream);
                }
                tracing::warn!(%from, expected = %peer, "data connection from a foreign address refused");
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}
