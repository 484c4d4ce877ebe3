//! Moving file bytes over a data connection.
//!
//! Binary (TYPE I) transfers never copy through user space: RETR splices
//! file -> pipe -> socket and STOR splices socket -> pipe -> file, each step an
//! `IORING_OP_SPLICE` on this worker's ring. ASCII (TYPE A) transfers convert
//! line ends and so go through a buffer; so do transfers over TLS (PROT P),
//! which must encrypt every byte in user space.
//!
//! Block mode (MODE B) frames every byte in user space (`DataConn` frames
//! and deframes), so it takes the buffered paths too, over TLS or not; a
//! small file stays one read and one send (blocks and EOF in one buffer).
//! Stream mode's paths are not touched by it.
//!
//! On object storage (S3) there is no file descriptor to splice: a download
//! is the HTTP body of a GET, gathered into 256 KiB sends; an upload is read
//! into a buffer and handed on in 256 KiB chunks to the upload task
//! ([`send_download`], [`receive_upload`]; docs/architecture.md, "Storage
//! backends").

use std::cell::Cell;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use crate::data::DataConn;
use crate::storage::s3::{Download, Upload};
use crate::storage::FsError;
use crate::uring::{self, splice, Keep, Pipe};

/// The pipe between the two splices. 1 MiB measured ~6x faster than the
/// default 64 KiB for uploads (docs/architecture.md).
const PIPE_SIZE: usize = 1 << 20;
/// Buffer for ASCII transfers and for receiving.
const ASCII_CHUNK: usize = 64 * 1024;
/// File reads and writes per step of a binary transfer over TLS: fewer
/// trips through the ring; rustls cuts them into 16 KiB records.
const TLS_CHUNK: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The data connection failed or stalled: 426.
    #[error("{0}")]
    Network(io::Error),
    /// Reading or writing the file failed: 451 / 452.
    #[error("{0}")]
    Local(io::Error),
    /// The object store failed (5xx, timeout, refused): 451.
    #[error("{0}")]
    Storage(FsError),
}

impl TransferError {
    pub fn is_no_space(&self) -> bool {
        matches!(self, TransferError::Local(e) if matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)))
    }
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

fn offset_i64(off: u64) -> io::Result<i64> {
    i64::try_from(off).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))
}

/// One end of a spliced transfer; the other is always the pipe.
#[derive(Clone, Copy)]
enum End {
    File(RawFd),
    Socket(RawFd),
}

/// One splice between `end` and the pipe, into the pipe or out of it. A file
/// end uses `pos` as its offset and its errors are local (451); a socket end
/// has the stall timeout and its errors are the network's (426).
async fn splice_end(
    end: End,
    into_pipe: bool,
    pipe: &Pipe,
    pos: u64,
    len: u32,
    keep: &Keep,
    stall: Duration,
) -> Result<usize, TransferError> {
    let (fd, off) = match end {
        End::File(fd) => (fd, offset_i64(pos).map_err(TransferError::Local)?),
        End::Socket(fd) => (fd, -1),
    };
    let op = if into_pipe {
        splice(fd, off, pipe.write_fd(), -1, len, Rc::clone(keep))
    } else {
        splice(pipe.read_fd(), -1, fd, off, len, Rc::clone(keep))
    };
    match end {
        End::File(_) => op.await.map_err(TransferError::Local),
        End::Socket(_) => timed(stall, op).await.map_err(TransferError::Network),
    }
}

/// Moves everything from `src` to `dst` through a pipe, never through user
/// space: fill the pipe from `src`, drain it into `dst`, until `src` ends.
/// The file end reads or writes from `start`. Returns the bytes moved.
async fn pump(
    src: End,
    dst: End,
    start: u64,
    keep: Keep,
    pipe: &Pipe,
    stall: Duration,
    moved: &Cell<u64>,
) -> Result<u64, TransferError> {
    let chunk = u32::try_from(pipe.capacity()).unwrap_or(65536);
    let mut pos = start;
    loop {
        let n = splice_end(src, true, pipe, pos, chunk, &keep, stall).await?;
        if n == 0 {
            return Ok(pos - start);
        }
        let mut done = 0;
        while done < n {
            let len = u32::try_from(n - done).unwrap_or(chunk);
            let m = splice_end(dst, false, pipe, pos + done as u64, len, &keep, stall).await?;
            if m == 0 {
                let e = io::Error::from(io::ErrorKind::WriteZero);
                return Err(match dst {
                    End::File(_) => TransferError::Local(e),
                    End::Socket(_) => TransferError::Network(e),
                });
            }
            done += m;
            moved.set(moved.get() + m as u64);
        }
        pos += n as u64;
    }
}

/// RETR: sends `file` from `offset` to its end (`size`, from the open's
/// fstat, only chooses the way: the file is sent as it is when read). Returns
/// the bytes sent; `sent` follows them as they go (what a failed transfer
/// logs).
pub async fn send_file(
    conn: &mut DataConn,
    file: Rc<File>,
    offset: u64,
    size: u64,
    ascii: bool,
    stall: Duration,
    sent: &Cell<u64>,
) -> Result<u64, TransferError> {
    let block = conn.is_block();
    if ascii || (conn.is_tls() && !block) {
        return send_buffered(conn, file, offset, ascii, stall, sent).await;
    }
    let mut done = 0;
    if size.saturating_sub(offset) <= SMALL_FILE {
        match send_small(conn, &file, offset, size - offset.min(size), stall, sent).await? {
            Small::Done(n) => return Ok(n),
            Small::Partly(n) => done = n,
        }
    }
    if block {
        // Framed in user space: no splice.
        return Ok(done + send_buffered(conn, file, offset + done, false, stall, sent).await?);
    }
    Ok(done + splice_file(conn, file, offset + done, false, stall, sent).await?)
}

/// STOR/APPE: receives until the client closes the data connection (in
/// block mode: until the EOF block), writing at `offset`. Returns the bytes
/// received.
pub async fn receive_file(
    conn: &mut DataConn,
    file: Rc<File>,
    offset: u64,
    ascii: bool,
    stall: Duration,
) -> Result<u64, TransferError> {
    if !ascii && conn.is_block() {
        return receive_blocks(conn, &file, offset, stall).await;
    }
    if ascii || conn.is_tls() {
        return receive_buffered(conn, file, offset, ascii, stall).await;
    }
    match receive_small(conn, &file, offset, stall).await? {
        Small::Done(n) => Ok(n),
        Small::Partly(n) => {
            let rest = splice_file(conn, file, offset + n, true, stall, &Cell::new(0)).await?;
            Ok(n + rest)
        }
    }
}

/// Up to this much of a binary transfer in the clear goes through a buffer
/// instead of the pipe: a small file (most of a `get -r`/`put -r` tree) is
/// then one read and one send (or one receive and one write), where the
/// splice path creates and sizes a 1 MiB pipe and makes three splices, each
/// of which io_uring hands to one of its io-wq threads (a thread wake-up per
/// splice). Measured on the bench VM (bench/README.md, "Small files: where
/// the time goes"). Under glibc's mmap threshold, so no mapping per file.
const SMALL_FILE: u64 = 64 * 1024;

/// How far the buffered start of a transfer got.
enum Small {
    /// The whole transfer: `n` bytes.
    Done(u64),
    /// `n` bytes moved; the splice path takes the rest.
    Partly(u64),
}

/// `preadv2(RWF_NOWAIT)` on the ring thread: answered from the page cache
/// alone, or `None` (EAGAIN: the data is not cached; EOPNOTSUPP: the
/// filesystem cannot say), never waiting for a disk.
fn read_cached(file: &File, buf: &mut [u8], pos: u64) -> Option<io::Result<usize>> {
    let mut iov = [io::IoSliceMut::new(buf)];
    match rustix::io::preadv2(file, &mut iov, pos, rustix::io::ReadWriteFlags::NOWAIT) {
        Ok(n) => Some(Ok(n)),
        Err(rustix::io::Errno::AGAIN | rustix::io::Errno::OPNOTSUPP) => None,
        Err(e) => Some(Err(e.into())),
    }
}

/// The start of a RETR of a small file (`left` bytes by its fstat): read
/// from the page cache (`read_cached`) and sent, until the end of the file,
/// or until it is not cached or has grown past [`SMALL_FILE`], when the
/// splice path goes on from there.
async fn send_small(
    conn: &mut DataConn,
    file: &File,
    offset: u64,
    left: u64,
    stall: Duration,
    moved: &Cell<u64>,
) -> Result<Small, TransferError> {
    // One byte more than the file has, so that the end shows in the first
    // read (in block mode up to SMALL_FILE + 1, so that a file of exactly
    // SMALL_FILE bytes is one send with its EOF block too).
    let most = if conn.is_block() {
        SMALL_FILE + 1
    } else {
        SMALL_FILE
    };
    let cap = usize::try_from(left.saturating_add(1).clamp(4096, most)).unwrap_or(4096);
    let mut buf = vec![0u8; cap];
    let mut sent = 0u64;
    loop {
        if sent > SMALL_FILE {
            return Ok(Small::Partly(sent));
        }
        buf.resize(cap, 0);
        let n = match read_cached(file, &mut buf, offset + sent) {
            None => return Ok(Small::Partly(sent)),
            Some(r) => r.map_err(TransferError::Local)?,
        };
        if n == 0 {
            return Ok(Small::Done(sent));
        }
        buf.truncate(n);
        // All that fstat saw, and less than asked for: the end of the file
        // (a short read alone is not: RWF_NOWAIT stops early where the
        // cache does). In block mode the EOF block goes in the same send.
        let last = n < cap && sent + n as u64 >= left;
        let (res, back) = if last {
            conn.send_last(buf, stall).await
        } else {
            conn.send(buf, stall).await
        };
        res.map_err(TransferError::Network)?;
        buf = back;
        sent += n as u64;
        moved.set(moved.get() + n as u64);
        if last {
            return Ok(Small::Done(sent));
        }
    }
}

/// STOR in block mode (TYPE I, clear or TLS): the data of each read, its
/// block headers taken out by the connection, written at once through the
/// ring as in [`receive_small`] (a small file is one receive and one write),
/// until the EOF block.
async fn receive_blocks(
    conn: &mut DataConn,
    file: &Rc<File>,
    offset: u64,
    stall: Duration,
) -> Result<u64, TransferError> {
    let len = if conn.is_tls() {
        TLS_CHUNK
    } else {
        SMALL_FILE as usize
    };
    let mut buf = Vec::with_capacity(len);
    let mut pos = offset;
    loop {
        let (res, back) = conn.recv(buf, stall).await;
        buf = back;
        let n = res.map_err(TransferError::Network)?;
        if n == 0 {
            return Ok(pos - offset);
        }
        buf = write_all_at(file, buf, pos).await?;
        pos += n as u64;
    }
}

/// Writes all of `buf` at `pos` through the ring; gives the buffer back.
async fn write_all_at(
    file: &Rc<File>,
    mut buf: Vec<u8>,
    pos: u64,
) -> Result<Vec<u8>, TransferError> {
    let mut done = 0;
    while done < buf.len() {
        let keep: Keep = Rc::clone(file) as Keep;
        let (res, back) =
            uring::write_at(file.as_raw_fd(), buf, done, pos + done as u64, keep).await;
        buf = back;
        match res.map_err(TransferError::Local)? {
            0 => {
                return Err(TransferError::Local(io::Error::from(
                    io::ErrorKind::WriteZero,
                )))
            }
            m => done += m,
        }
    }
    Ok(buf)
}

/// The start of a STOR: received into a buffer of [`SMALL_FILE`] and
/// written at `offset` through the ring; when the data ends within it, that
/// is the whole upload, otherwise the splice path receives the rest.
async fn receive_small(
    conn: &mut DataConn,
    file: &Rc<File>,
    offset: u64,
    stall: Duration,
) -> Result<Small, TransferError> {
    let mut buf = Vec::with_capacity(SMALL_FILE as usize);
    let mut ended = false;
    while buf.len() < buf.capacity() {
        let (res, back) = conn.recv_more(buf, stall).await;
        buf = back;
        if res.map_err(TransferError::Network)? == 0 {
            ended = true;
            break;
        }
    }
    let len = buf.len();
    write_all_at(file, buf, offset).await?;
    Ok(if ended {
        Small::Done(len as u64)
    } else {
        Small::Partly(len as u64)
    })
}

/// The zero-copy path of both directions: a pipe between the file and the
/// data socket; `upload` says which way the bytes go.
async fn splice_file(
    conn: &DataConn,
    file: Rc<File>,
    offset: u64,
    upload: bool,
    stall: Duration,
    moved: &Cell<u64>,
) -> Result<u64, TransferError> {
    let pipe = Rc::new(Pipe::new(PIPE_SIZE).map_err(TransferError::Local)?);
    let (f, sock) = (End::File(file.as_raw_fd()), End::Socket(conn.raw_fd()));
    let (src, dst) = if upload { (sock, f) } else { (f, sock) };
    let keep: Keep = Rc::new((Rc::clone(&pipe), file, Rc::clone(&conn.stream)));
    pump(src, dst, offset, keep, &pipe, stall, moved).await
}

/// Sends a listing or other generated bytes.
pub async fn send_bytes(
    conn: &mut DataConn,
    bytes: Vec<u8>,
    stall: Duration,
) -> Result<(), TransferError> {
    // All of it: in block mode the EOF block goes in the same send.
    let (res, _) = conn.send_last(bytes, stall).await;
    res.map_err(TransferError::Network)
}

/// Sends `buf` and gives it back for the next chunk.
async fn send_reusing(
    conn: &mut DataConn,
    buf: Vec<u8>,
    stall: Duration,
) -> Result<Vec<u8>, TransferError> {
    let (res, buf) = conn.send(buf, stall).await;
    res.map_err(TransferError::Network)?;
    Ok(buf)
}

/// The file on this worker's ring, for the buffered paths: reads and writes
/// go through io_uring into buffers that are reused, with no trip to the
/// blocking pool and no allocation per chunk (measured: the pool's wake-ups
/// and a fresh mmap'ed 256 KiB buffer per chunk cost more than the AES-GCM).
/// A read that misses the page cache, or a write that would block, is
/// completed by the kernel's io-wq workers, not on this thread.
fn ring_file(file: &File) -> Result<tokio_uring::fs::File, TransferError> {
    file.try_clone()
        .map(tokio_uring::fs::File::from_std)
        .map_err(TransferError::Local)
}

/// Writes all of `data` at `pos`; gives the buffer back.
async fn write_at(
    file: &tokio_uring::fs::File,
    data: Vec<u8>,
    pos: u64,
) -> Result<Vec<u8>, TransferError> {
    let (res, data) = file.write_all_at(data, pos).await;
    res.map_err(TransferError::Local)?;
    Ok(data)
}

/// RETR through a buffer: TYPE A, where LF on disk becomes CRLF on the wire
/// (RFC 959 3.1.1.1; a CR already before an LF is kept as is, so CRLF files
/// are not doubled), or TYPE I over TLS, bytes as they are.
async fn send_buffered(
    conn: &mut DataConn,
    file: Rc<File>,
    offset: u64,
    ascii: bool,
    stall: Duration,
    sent: &Cell<u64>,
) -> Result<u64, TransferError> {
    let file = ring_file(&file)?;
    let mut pos = offset;
    let mut prev_cr = false;
    let len = if ascii { ASCII_CHUNK } else { TLS_CHUNK };
    let mut chunk = Vec::with_capacity(len);
    let mut out = Vec::new();
    loop {
        chunk.clear();
        let (res, buf) = file.read_at(chunk, pos).await;
        chunk = buf;
        let n = res.map_err(TransferError::Local)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        if !ascii {
            chunk = send_reusing(conn, chunk, stall).await?;
            sent.set(pos - offset);
            continue;
        }
        out.clear();
        lf_to_crlf(&chunk, &mut prev_cr, &mut out);
        out = send_reusing(conn, out, stall).await?;
        sent.set(pos - offset);
    }
    Ok(pos - offset)
}

/// STOR through a buffer: TYPE A, where CRLF on the wire becomes LF on disk
/// (a lone CR is kept), or TYPE I over TLS, bytes as they are, gathered into
/// 256 KiB writes.
async fn receive_buffered(
    conn: &mut DataConn,
    file: Rc<File>,
    offset: u64,
    ascii: bool,
    stall: Duration,
) -> Result<u64, TransferError> {
    let file = ring_file(&file)?;
    let mut pos = offset;
    if !ascii {
        let mut data = Vec::with_capacity(TLS_CHUNK);
        loop {
            data.clear();
            let n = conn
                .recv_append(&mut data, TLS_CHUNK)
                .await
                .map_err(TransferError::Network)?;
            if n == 0 {
                break;
            }
            data = write_at(&file, data, pos).await?;
            pos += n as u64;
        }
        return Ok(pos - offset);
    }
    let mut pending_cr = false;
    let mut buf = Vec::with_capacity(ASCII_CHUNK);
    let mut out = Vec::new();
    loop {
        let (res, b) = conn.recv(buf, stall).await;
        buf = b;
        let n = res.map_err(TransferError::Network)?;
        out.clear();
        if n == 0 {
            if pending_cr {
                out.push(b'\r');
                write_at(&file, out, pos).await?;
                pos += 1;
            }
            break;
        }
        crlf_to_lf(buf.get(..n).unwrap_or(&buf), &mut pending_cr, &mut out);
        let len = out.len() as u64;
        out = write_at(&file, out, pos).await?;
        pos += len;
    }
    Ok(pos - offset)
}

/// TYPE A out: LF becomes CRLF (RFC 959 3.1.1.1); a CR already before an LF
/// is kept as is, so CRLF files are not doubled. `prev_cr` carries across chunks.
fn lf_to_crlf(src: &[u8], prev_cr: &mut bool, out: &mut Vec<u8>) {
    out.reserve(src.len() + src.len() / 16);
    for &b in src {
        if b == b'\n' && !*prev_cr {
            out.push(b'\r');
        }
        out.push(b);
        *prev_cr = b == b'\r';
    }
}

/// TYPE A in: CRLF becomes LF, a lone CR is kept. A CR at the end of `src`
/// waits in `pending_cr` for the next chunk (pushed by the caller at the end).
fn crlf_to_lf(src: &[u8], pending_cr: &mut bool, out: &mut Vec<u8>) {
    out.reserve(src.len() + 1);
    for &b in src {
        if *pending_cr {
            *pending_cr = false;
            if b != b'\n' {
                out.push(b'\r');
            }
        }
        if b == b'\r' {
            *pending_cr = true;
        } else {
            out.push(b);
        }
    }
}

/// Chunks of an object-storage transfer: sends to the client and hands to
/// the upload task of about this size.
const STREAM_CHUNK: usize = 256 * 1024;

/// RETR from object storage: the GET's body, converted for TYPE A, gathered
/// into sends of [`STREAM_CHUNK`] (one copy, from the HTTP body into the send
/// buffer). Returns the object's bytes sent; `sent` follows them.
pub async fn send_download(
    conn: &mut DataConn,
    download: &mut Download,
    ascii: bool,
    stall: Duration,
    sent: &Cell<u64>,
) -> Result<u64, TransferError> {
    let mut out = Vec::with_capacity(STREAM_CHUNK + STREAM_CHUNK / 8);
    let mut prev_cr = false;
    let mut total = 0u64;
    loop {
        let chunk = download.next().await.map_err(TransferError::Storage)?;
        let end = chunk.is_none();
        if let Some(chunk) = &chunk {
            total += chunk.len() as u64;
            if ascii {
                lf_to_crlf(chunk, &mut prev_cr, &mut out);
            } else {
                out.extend_from_slice(chunk);
            }
        }
        if out.len() >= STREAM_CHUNK || (end && !out.is_empty()) {
            out = send_reusing(conn, out, stall).await?;
            out.clear();
            sent.set(total);
        }
        if end {
            return Ok(total);
        }
    }
}

/// STOR to object storage: reads the data connection until it ends, converts
/// TYPE A, and hands the bytes on in chunks of about [`STREAM_CHUNK`] (one
/// copy, from the receive buffer into the chunk, which the upload keeps
/// without copying until its part is sent). Waits when the upload's queue is
/// full, so a slow S3 slows the client instead of filling memory. Returns
/// the bytes received; `received` follows them.
pub async fn receive_upload(
    conn: &mut DataConn,
    upload: &mut Upload,
    ascii: bool,
    stall: Duration,
    received: &Cell<u64>,
) -> Result<u64, TransferError> {
    let mut buf = Vec::with_capacity(STREAM_CHUNK);
    let mut pending = Vec::with_capacity(STREAM_CHUNK * 2);
    let mut pending_cr = false;
    let mut total = 0u64;
    loop {
        let (res, b) = conn.recv(buf, stall).await;
        buf = b;
        let n = res.map_err(TransferError::Network)?;
        let got = buf.get(..n).unwrap_or(&buf);
        if n == 0 {
            if pending_cr {
                pending.push(b'\r');
            }
        } else if ascii {
            crlf_to_lf(got, &mut pending_cr, &mut pending);
        } else {
            pending.extend_from_slice(got);
        }
        total += n as u64;
        received.set(total);
        if pending.len() >= STREAM_CHUNK || (n == 0 && !pending.is_empty()) {
            let chunk = std::mem::replace(&mut pending, Vec::with_capacity(STREAM_CHUNK * 2));
            upload
                .send(bytes::Bytes::from(chunk))
                .await
                .map_err(TransferError::Storage)?;
        }
        if n == 0 {
            return Ok(total);
        }
    }
}
