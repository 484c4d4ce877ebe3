//! io_uring plumbing that tokio-uring does not provide: a start-up probe, and
//! `IORING_OP_SPLICE` built on tokio-uring's public `UnsubmittedOneshot`.
//!
//! A splice moves bytes between a file or socket and a pipe inside the kernel,
//! so RETR and STOR never copy file data through user space. Each operation
//! keeps the file descriptors it uses alive (`Keep`) until the kernel has
//! completed it, even when the future awaiting it is dropped (ABOR, timeout).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use io_uring::{opcode, types};
use tokio_uring::{OneshotOutputTransform, UnsubmittedOneshot};

/// Checks that this process may create an io_uring, and explains the fix when not.
pub fn probe() -> Result<(), String> {
    match io_uring::IoUring::new(8) {
        Ok(_) => Ok(()),
        Err(e) => {
            let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .unwrap_or(0);
            let cause = match e.raw_os_error() {
                Some(libc::ENOSYS) => {
                    "the kernel has no io_uring support (needs Linux 5.11 or newer)".to_string()
                }
                Some(libc::EPERM) if disabled > 0 => format!(
                    "io_uring is disabled by sysctl kernel.io_uring_disabled={disabled}; \
                     enable it with `sysctl -w kernel.io_uring_disabled=0`"
                ),
                Some(libc::EPERM) => "io_uring is blocked for this process (a container seccomp \
                     profile?); run with a profile that allows io_uring_setup, e.g. \
                     `docker run --security-opt seccomp=unconfined`"
                    .to_string(),
                _ => format!("io_uring_setup failed: {e}"),
            };
            Err(format!("cannot use io_uring: {cause}"))
        }
    }
}

/// A pipe used as the in-kernel buffer between two splices.
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    /// Creates a pipe and tries to grow it to `want` bytes (F_SETPIPE_SZ). A
    /// refusal (per-user pipe quota) keeps the default size, which only costs
    /// speed.
    pub fn new(want: usize) -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and owned by us.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let want = libc::c_int::try_from(want).unwrap_or(libc::c_int::MAX);
        // SAFETY: plain fcntl on a descriptor we own.
        let got = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, want) };
        let capacity = if got > 0 {
            usize::try_from(got).unwrap_or(65536)
        } else {
            // SAFETY: plain fcntl on a descriptor we own.
            let cur = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) };
            usize::try_from(cur).unwrap_or(65536).max(4096)
        };
        Ok(Pipe {
            read,
            write,
            capacity,
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    pub fn write_fd(&self) -> RawFd {
        self.write.as_raw_fd()
    }
}

/// Whatever must outlive an in-flight splice: the pipe and the two endpoints.
pub type Keep = Rc<dyn std::any::Any>;

pub struct SpliceData {
    _keep: Keep,
}

pub struct SpliceTransform;

impl OneshotOutputTransform for SpliceTransform {
    type Output = io::Result<usize>;
    type StoredData = SpliceData;

    fn transform_oneshot_output(
        self,
        _data: SpliceData,
        cqe: io_uring::cqueue::Entry,
    ) -> Self::Output {
        let res = cqe.result();
        if res >= 0 {
            Ok(usize::try_from(res).unwrap_or(0))
        } else {
            Err(io::Error::from_raw_os_error(-res))
        }
    }
}

/// `splice(fd_in, off_in, fd_out, off_out, len)` through the ring. An offset of
/// -1 means "no offset" (pipes and sockets). `keep` holds the descriptors open
/// until the kernel is done with them.
pub async fn splice(
    fd_in: RawFd,
    off_in: i64,
    fd_out: RawFd,
    off_out: i64,
    len: u32,
    keep: Keep,
) -> io::Result<usize> {
    let sqe = opcode::Splice::new(types::Fd(fd_in), off_in, types::Fd(fd_out), off_out, len)
        .flags(libc::SPLICE_F_MOVE)
        .build();
    UnsubmittedOneshot::new(SpliceData { _keep: keep }, SpliceTransform, sqe)
        .submit()
        .await
}

/// What an in-flight write holds: the bytes (handed back afterwards) and the file.
pub struct WriteData {
    buf: Vec<u8>,
    _keep: Keep,
}

pub struct WriteTransform;

impl OneshotOutputTransform for WriteTransform {
    type Output = (io::Result<usize>, Vec<u8>);
    type StoredData = WriteData;

    fn transform_oneshot_output(
        self,
        data: WriteData,
        cqe: io_uring::cqueue::Entry,
    ) -> Self::Output {
        let res = cqe.result();
        let out = if res >= 0 {
            Ok(usize::try_from(res).unwrap_or(0))
        } else {
            Err(io::Error::from_raw_os_error(-res))
        };
        (out, data.buf)
    }
}

/// `pwrite(fd, buf[from..], pos)` through the ring, on a descriptor the
/// caller already has (no `dup` and close per use, as a tokio-uring `File`
/// would need); `keep` holds it open until the kernel is done. The buffer
/// comes back for reuse.
pub async fn write_at(
    fd: RawFd,
    buf: Vec<u8>,
    from: usize,
    pos: u64,
    keep: Keep,
) -> (io::Result<usize>, Vec<u8>) {
    let Some(rest) = buf.get(from..) else {
        return (Err(io::Error::from(io::ErrorKind::InvalidInput)), buf);
    };
    let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
    let sqe = opcode::Write::new(types::Fd(fd), rest.as_ptr(), len)
        .offset(pos)
        .build();
    // Moving the Vec into the stored data does not move its heap buffer,
    // which the kernel reads until the completion.
    UnsubmittedOneshot::new(WriteData { buf, _keep: keep }, WriteTransform, sqe)
        .submit()
        .await
}
