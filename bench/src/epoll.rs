//! A small safe wrapper over Linux epoll (level-triggered), enough for case 4's one-thread loop.
//!
//! Written on `libc` (already a dependency) rather than adding an event-loop crate, so that the
//! workspace lock file stays as it is.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// An epoll instance.
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    /// Creates an instance that returns at most `capacity` events per wait.
    pub fn new(capacity: usize) -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let empty = libc::epoll_event { events: 0, u64: 0 };
        Ok(Epoll {
            fd,
            events: vec![empty; capacity.max(1)],
        })
    }

    /// Watches `sock` for input (and errors/hang-ups), reporting it as `token`.
    pub fn add(&self, sock: &impl AsRawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            u64: token,
        };
        // SAFETY: both descriptors are open; `ev` is a valid epoll_event for the call.
        let rc = unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                sock.as_raw_fd(),
                &mut ev,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stops watching `sock`.
    pub fn remove(&self, sock: &impl AsRawFd) -> io::Result<()> {
        // SAFETY: both descriptors are open; a null event is allowed for EPOLL_CTL_DEL.
        let rc = unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                sock.as_raw_fd(),
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` and returns the tokens of ready sockets (empty on timeout).
    pub fn wait(&mut self, timeout: Duration) -> io::Result<Vec<u64>> {
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let cap = i32::try_from(self.events.len()).unwrap_or(i32::MAX);
        // SAFETY: `events` has room for `cap` entries, which the kernel fills.
        let n = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), self.events.as_mut_ptr(), cap, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(Vec::new());
            }
            return Err(e);
        }
        let n = usize::try_from(n).unwrap_or(0);
        Ok(self.events.iter().take(n).map(|e| e.u64).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn reports_readable_socket() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        let mut ep = Epoll::new(8).unwrap();
        ep.add(&a, 7).unwrap();
        assert!(ep.wait(Duration::from_millis(10)).unwrap().is_empty());
        b.write_all(b"x").unwrap();
        assert_eq!(ep.wait(Duration::from_secs(5)).unwrap(), vec![7]);
        ep.remove(&a).unwrap();
        assert!(ep.wait(Duration::from_millis(10)).unwrap().is_empty());
    }
}
