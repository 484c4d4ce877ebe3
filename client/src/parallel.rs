//! Parallel transfers over several logged-in control connections, as lftp's
//! `pget -n` and `mirror --parallel` do.
//!
//! FTP allows one transfer per control connection, so N streams are N
//! control connections. [`Connector`] is the only place that opens the extra
//! ones (same host, port, user and password as the first, which it keeps in
//! memory, zeroed when dropped); [`Pool`] keeps them open between commands.
//!
//! - **Segments** (one big file, `get`/`put`): the file is cut into N
//!   [`plan`]ned parts; part k is `REST off_k` + `RETR`/`STOR` on the next
//!   connection free. Part 0 starts on the first connection while the extra
//!   ones log in; each takes the next part as soon as it is ready. The parts
//!   are started in increasing offset order, each after the previous one's
//!   150, which an upload needs: ringftpd truncates to `off_k`
//!   at the start of `REST off_k` + `STOR` (docs/edge-cases.md, "uploads lose
//!   nothing"), and started in this order that only cuts bytes nobody wrote
//!   yet. A download part reads exactly its length, closes its data
//!   connection and resynchronises with ABOR + NOOP (the server answers 426
//!   for the cut transfer), as lftp's pget does. [`run_parts`] starts them
//!   and moves the bytes (one thread per connection; the calling thread
//!   drives the progress meter).
//! - **Jobs** (`get -r`, `put -r`, multi-file globs): [`run_jobs`] gives whole
//!   files to K workers, one per connection, in order. Files up to
//!   `ftp::BLOCK_MAX` go in block mode (`MODE B`, one kept data connection
//!   per worker), bigger ones in stream mode (zero copy).
//!
//! The commands (`commands/get.rs`, `commands/put.rs`) decide when to use
//! this, print sftp's messages and keep the upload rule: a segmented upload
//! goes to a temporary name and is renamed over the target only when every
//! part has its 226 and the size matches.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use ringftp_proto::command::Password;
use zeroize::Zeroizing;

use crate::ftp::{self, connect_tcp, Data, Ftp, FtpError, Login};
use crate::tls::TlsClient;

// The defaults of --parallel and --parallel-min live beside those flags, in
// the library's `cli` (xtask renders the man page from it).
use crate::cli::{DEFAULT_SEGMENT_MIN, DEFAULT_STREAMS};
/// Parts are multiples of this (the last one takes the rest), so that each
/// part's writes start on a page and a 1 MiB pipe boundary.
const SEGMENT_ALIGN: u64 = 1 << 20;
/// How often the meter is redrawn while parts or jobs run.
const TICK: Duration = Duration::from_millis(200);

/// Opens extra control connections like the first one.
pub struct Connector {
    /// The first connection's TLS settings, its certificate pinned: every
    /// extra connection must be protected the same way and show it.
    tls: Option<TlsClient>,
    host: String,
    port: u16,
    user: String,
    password: Zeroizing<String>,
}

impl Connector {
    pub fn new(
        tls: Option<TlsClient>,
        host: &str,
        port: u16,
        user: &str,
        password: &Password,
    ) -> Connector {
        Connector {
            tls,
            host: host.to_string(),
            port,
            user: user.to_string(),
            password: Zeroizing::new(password.expose().to_string()),
        }
    }

    /// A new connection, logged in, binary, FEAT read (as the first one).
    pub fn open(&self) -> Result<Ftp, FtpError> {
        let stream = connect_tcp(&self.host, self.port)?;
        let (mut ftp, _greeting) = Ftp::from_stream(stream)?;
        if let Some(tls) = &self.tls {
            // Never log in in the clear where the first connection had TLS.
            if !ftp.auth_tls(tls)? || !ftp.protect_data()? {
                return Err(FtpError::Malformed(
                    "TLS refused on an extra connection".into(),
                ));
            }
        }
        let pw = Password::new(self.password.to_string());
        match ftp.login(&self.user, &pw)? {
            Login::Ok => {}
            Login::Denied => {
                return Err(FtpError::Malformed(
                    "login refused on an extra connection".into(),
                ))
            }
        }
        ftp.setup()?;
        Ok(ftp)
    }
}

/// `--parallel` and `--parallel-min`.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Connections per transfer; 1 turns parallel transfers off.
    pub streams: usize,
    /// Smallest file that is cut into segments.
    pub segment_min: u64,
    /// Jobs of up to `ftp::BLOCK_MAX` bytes go in block mode (`MODE B`)
    /// where the server has it; off with `--no-block-mode`.
    pub block: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            streams: DEFAULT_STREAMS as usize,
            segment_min: DEFAULT_SEGMENT_MIN,
            block: true,
        }
    }
}

/// Extra connections kept between commands.
pub struct Pool {
    connector: Option<Connector>,
    idle: Vec<Ftp>,
    pub settings: Settings,
}

impl Pool {
    pub fn new(connector: Option<Connector>, settings: Settings) -> Pool {
        Pool {
            connector,
            idle: Vec::new(),
            settings,
        }
    }

    /// Up to `n` extra logged-in connections: idle ones that still answer
    /// NOOP, then new ones opened at once. Fewer (even none) when the server
    /// refuses more; the transfer then uses what it got.
    pub fn take(&mut self, n: usize) -> Vec<Ftp> {
        let mut out = self.take_idle(n);
        let Some(conn) = self.connector.as_ref() else {
            return out;
        };
        let missing = n - out.len();
        if missing > 0 {
            let opened: Vec<Result<Ftp, FtpError>> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..missing).map(|_| s.spawn(|| conn.open())).collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap_or(Err(FtpError::Interrupted)))
                    .collect()
            });
            for r in opened {
                match r {
                    Ok(f) => out.push(f),
                    Err(e) => tracing::info!(error = %e, "extra connection not opened"),
                }
            }
        }
        tracing::debug!(extra = out.len(), "parallel connections");
        out
    }

    /// Up to `n` idle connections that still answer NOOP (none are opened).
    pub fn take_idle(&mut self, n: usize) -> Vec<Ftp> {
        let mut out = Vec::new();
        while out.len() < n {
            let Some(mut f) = self.idle.pop() else { break };
            if f.noop().is_ok() {
                out.push(f);
            }
        }
        out
    }

    /// What opens new extra connections (`None` with `--parallel 1`).
    pub fn connector(&self) -> Option<&Connector> {
        self.connector.as_ref()
    }

    /// Keep connections for the next command.
    pub fn put_back(&mut self, conns: Vec<Ftp>) {
        self.idle.extend(conns);
    }

    /// QUIT every idle connection.
    pub fn quit(&mut self) {
        for mut f in self.idle.drain(..) {
            f.quit();
        }
    }
}

/// Cut `size` bytes into at most `streams` parts `(offset, len)`: equal
/// lengths rounded up to 1 MiB, the last one takes the rest; never an empty
/// part (a 0-byte file is one empty part).
pub fn plan(size: u64, streams: usize) -> Vec<(u64, u64)> {
    let n = streams.max(1) as u64;
    let each = size.div_ceil(n).div_ceil(SEGMENT_ALIGN).max(1) * SEGMENT_ALIGN;
    let mut out = Vec::new();
    let mut off = 0;
    while off < size {
        let len = each.min(size - off);
        out.push((off, len));
        off += len;
    }
    if out.is_empty() {
        out.push((0, 0));
    }
    out
}

/// Why the parts of a segmented transfer did not all arrive.
#[derive(Debug)]
pub enum PartsError {
    /// Part `part` (> 0) was refused at its start (`REST`, `RETR`/`STOR`):
    /// the caller may fall back to one stream.
    Start { part: usize, error: FtpError },
    /// A part failed while moving its bytes (or was interrupted).
    Transfer(FtpError),
}

/// Which way the parts move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Get,
    Put,
}

/// How a part is started on its connection at its offset.
pub type Start<'a> = dyn Fn(&mut Ftp, u64) -> Result<Data, FtpError> + Sync + 'a;

/// The extra connections of a segmented transfer: `idle` ones from the pool,
/// ready now, and `open` more that `connector` logs in, each on its own
/// thread while the first parts already move (a login is ~20-100 ms of
/// argon2id and round trips on a loaded 2-core machine; bench/README.md,
/// "Put and get under contention").
pub struct Extra<'a> {
    pub idle: Vec<Ftp>,
    pub connector: Option<&'a Connector>,
    pub open: usize,
    /// Each connection moves one part at most (protected data connections:
    /// each resumes one of the few TLS 1.3 tickets of its control
    /// connection's handshake, and ringftpd in required mode and vsftpd
    /// refuse a data connection that does not resume). The caller then
    /// plans as many parts as it has connections, all of them `idle`.
    pub one_part_each: bool,
}

/// The extra connections of a segmented transfer on `ftp` planned in
/// `parts`, from `pool`: `(idle, open, one_part_each)` for [`Extra`]. Over
/// clear data connections the idle ones, and how many more to open while
/// part 0 moves; over protected ones all of them opened now, one part each,
/// and `parts` planned again for the connections there are. `None`: no
/// extra connection at all (one stream).
pub fn take_extra(
    pool: &mut Pool,
    ftp: &Ftp,
    size: u64,
    parts: &mut Vec<(u64, u64)>,
) -> Option<(Vec<Ftp>, usize, bool)> {
    let want = parts.len().saturating_sub(1);
    if ftp.data_protected() {
        let idle = pool.take(want);
        if idle.is_empty() {
            return None;
        }
        *parts = plan(size, idle.len() + 1);
        return Some((idle, 0, true));
    }
    let idle = pool.take_idle(want);
    let open = want.saturating_sub(idle.len());
    if idle.is_empty() && (open == 0 || pool.connector().is_none()) {
        return None;
    }
    Some((idle, open, false))
}

/// Move every part between its data connection and `file` at its offset.
/// Part 0 is already started on `main` (`first`: the caller opened the
/// remote file before touching the local one). Every connection (main, the
/// idle extras at once, each new one as soon as it is logged in) then takes
/// the next part not yet started, in offset order: the start of part k
/// (`start`: REST + RETR/STOR up to its 1xx) is made under one lock, so it
/// comes after part k-1's 1xx, and its bytes move at once, on that
/// connection's thread (vsftpd locks an upload's file, so its part 1 only
/// starts when part 0 is done: serial, but never stuck). A connection that
/// is done takes the next part left, so a part whose connection could not
/// be opened is still moved (by one that could, or by `main`). The calling
/// thread reports the bytes moved so far to `progress` and turns
/// `interrupt` into a stop of every part; the first part that fails stops
/// the others. Returns the outcome, how many bytes each part moved and the
/// extra connections (for the pool).
#[allow(clippy::too_many_arguments)]
pub fn run_parts(
    main: &mut Ftp,
    first: Data,
    extra: Extra<'_>,
    parts: &[(u64, u64)],
    start: &Start<'_>,
    dir: Direction,
    file: &File,
    interrupt: &AtomicBool,
    progress: &mut dyn FnMut(u64),
) -> (Result<(), PartsError>, Vec<u64>, Vec<Ftp>) {
    let stop = AtomicBool::new(false);
    let counters: Vec<AtomicU64> = parts.iter().map(|_| AtomicU64::new(0)).collect();
    let last = parts.len().saturating_sub(1);
    // The next part to start (part 0 is started), and why one could not be.
    let next = Mutex::new(1usize);
    let start_error: Mutex<Option<PartsError>> = Mutex::new(None);
    let (tx, rx) = mpsc::channel::<()>();
    let one_part_each = extra.one_part_each;
    // One connection's loop: its current part, then the next ones left.
    let work = |conn: &mut Ftp, mut current: Option<(usize, Data)>| -> Result<(), FtpError> {
        loop {
            let (k, data) = match current.take() {
                Some(c) => c,
                None => {
                    let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                    if stop.load(Ordering::SeqCst) || interrupt.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    let k = *n;
                    let Some(&(off, _)) = parts.get(k) else {
                        return Ok(());
                    };
                    match start(conn, off) {
                        Ok(d) => {
                            *n += 1;
                            (k, d)
                        }
                        Err(error) => {
                            stop.store(true, Ordering::SeqCst);
                            *start_error.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some(PartsError::Start { part: k, error });
                            return Ok(());
                        }
                    }
                }
            };
            let (Some(&(off, len)), Some(ctr)) = (parts.get(k), counters.get(k)) else {
                return Ok(());
            };
            let mut add = |n: u64| {
                ctr.fetch_add(n, Ordering::Relaxed);
            };
            let r = pump_one(conn, data, file, off, len, dir, k == last, &stop, &mut add);
            if r.is_err() {
                stop.store(true, Ordering::SeqCst);
                return r;
            }
            if one_part_each {
                return Ok(());
            }
        }
    };
    let Extra {
        idle,
        connector,
        open,
        ..
    } = extra;
    let workers = 1 + idle.len() + if connector.is_some() { open } else { 0 };
    let (results, conns): (Vec<Result<(), FtpError>>, Vec<Option<Ftp>>) = std::thread::scope(|s| {
        let work = &work;
        let mut handles = Vec::new();
        let done = tx.clone();
        handles.push(s.spawn(move || {
            let r = work(main, Some((0, first)));
            let _ = done.send(());
            (r, None)
        }));
        for mut conn in idle {
            let done = tx.clone();
            handles.push(s.spawn(move || {
                let r = work(&mut conn, None);
                let _ = done.send(());
                (r, Some(conn))
            }));
        }
        for _ in 0..open {
            let Some(connector) = connector else { break };
            let (done, stop) = (tx.clone(), &stop);
            handles.push(s.spawn(move || {
                let out = match connector.open() {
                    Ok(mut conn) if !stop.load(Ordering::SeqCst) => {
                        (work(&mut conn, None), Some(conn))
                    }
                    Ok(conn) => (Ok(()), Some(conn)),
                    Err(e) => {
                        tracing::info!(error = %e, "extra connection not opened");
                        (Ok(()), None)
                    }
                };
                let _ = done.send(());
                out
            }));
        }
        drop(tx);
        wait_ticking(&rx, workers, interrupt, &stop, || {
            progress(counters.iter().map(|c| c.load(Ordering::Relaxed)).sum());
        });
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((Err(FtpError::Interrupted), None)))
            .unzip()
    });
    let conns: Vec<Ftp> = conns.into_iter().flatten().collect();
    tracing::debug!(extra = conns.len(), "parallel connections");
    let done: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let started = *next.lock().unwrap_or_else(|p| p.into_inner());
    let start_error = start_error.into_inner().unwrap_or_else(|p| p.into_inner());
    progress(done.iter().sum());
    // The first real failure of a running part, not one that stopped
    // because of it; then a part refused at its start; then an interruption
    // (also one before every part was started).
    let any_err = results.iter().any(|r| r.is_err());
    let real = results
        .iter()
        .position(|r| matches!(r, Err(e) if !matches!(e, FtpError::Interrupted)));
    let outcome = match (real.and_then(|i| results.into_iter().nth(i)), start_error) {
        (Some(Err(e)), _) => Err(PartsError::Transfer(e)),
        (_, Some(e)) => Err(e),
        _ if started < parts.len() || any_err => Err(PartsError::Transfer(FtpError::Interrupted)),
        _ => Ok(()),
    };
    (outcome, done, conns)
}

#[allow(clippy::too_many_arguments)]
fn pump_one(
    conn: &mut Ftp,
    mut data: Data,
    file: &File,
    off: u64,
    len: u64,
    dir: Direction,
    last: bool,
    stop: &AtomicBool,
    add: &mut dyn FnMut(u64),
) -> Result<(), FtpError> {
    match dir {
        Direction::Get => {
            let r = ftp::recv_range(&mut data, file, off, len, stop, add);
            drop(data);
            match r {
                // The last part ends where the file ends: the server's own 226.
                Ok(_) if last => conn.finish_transfer(),
                // We cut the transfer: the server answers 426 (or 226 when it
                // had sent everything already); ABOR + NOOP puts the control
                // connection back in step either way.
                Ok(_) => {
                    let _ = conn.abort();
                    Ok(())
                }
                Err(e) => {
                    let _ = conn.abort();
                    Err(e)
                }
            }
        }
        Direction::Put => {
            let r = ftp::send_range(&mut data, file, off, len, stop, add);
            if r.is_ok() {
                data.finish_upload();
            }
            drop(data);
            match r {
                Ok(_) => conn.finish_transfer(),
                Err(e) => {
                    let _ = conn.abort();
                    Err(e)
                }
            }
        }
    }
}

/// How one job (one whole file) ended.
#[derive(Debug)]
pub enum JobEnd {
    Done,
    /// Failed; the message is printed already.
    Failed,
    /// The connection is gone; the job was not done.
    Lost(FtpError),
}

/// One job on one connection: (connection, job, stop flag, byte counter).
pub type Work<'a, J> = dyn Fn(&mut Ftp, &J, &AtomicBool, &dyn Fn(u64)) -> JobEnd + Sync + 'a;

/// Run `jobs` on the connections, each worker taking the next job in order
/// (`announce` is called for each as it is taken, in order, so sftp's
/// per-file lines keep their order). `open` adds that many workers that
/// first open their own connection with the connector: they log in while
/// the others are already moving files (a login is an argon2id check on
/// ringftpd, ~15-20 ms of its CPU each), and one that cannot connect just
/// leaves its share to the others. A job whose extra connection was lost is
/// redone on the first connection afterwards. `work` gets a stop flag and a
/// byte counter for the shared meter. Returns each job's end (a `Lost`
/// means the first connection is gone) and the connections opened here
/// that are still usable, for the pool.
pub fn run_jobs<J: Sync>(
    conns: &mut [&mut Ftp],
    open: Option<(&Connector, usize)>,
    jobs: &[J],
    interrupt: &AtomicBool,
    progress: &mut dyn FnMut(u64),
    announce: &(dyn Fn(&J) + Sync),
    work: &Work<'_, J>,
) -> (Vec<JobEnd>, Vec<Ftp>) {
    let next = Mutex::new(0usize);
    let stop = AtomicBool::new(false);
    let bytes = AtomicU64::new(0);
    let (tx, rx) = mpsc::channel::<()>();
    let add = |n: u64| {
        bytes.fetch_add(n, Ordering::Relaxed);
    };
    let take = || -> Option<usize> {
        let mut g = next.lock().unwrap_or_else(|p| p.into_inner());
        let i = *g;
        let job = jobs.get(i)?;
        *g += 1;
        announce(job);
        Some(i)
    };
    // One worker's loop on its connection: its jobs' ends, and whether the
    // connection is still there.
    let drive = |conn: &mut Ftp| -> (Vec<(usize, JobEnd)>, bool) {
        let mut mine = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let Some(i) = take() else { break };
            let Some(job) = jobs.get(i) else { break };
            let end = work(conn, job, &stop, &add);
            let lost = matches!(end, JobEnd::Lost(_));
            mine.push((i, end));
            if lost {
                return (mine, false);
            }
        }
        (mine, true)
    };
    let mut ends: Vec<Option<JobEnd>> = jobs.iter().map(|_| None).collect();
    let mut redo: Vec<usize> = Vec::new();
    let mut opened: Vec<Ftp> = Vec::new();
    let per_worker: Vec<Vec<(usize, JobEnd)>> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        let mut new_handles = Vec::new();
        for conn in conns.iter_mut() {
            let (tx, drive) = (tx.clone(), &drive);
            handles.push(s.spawn(move || {
                let (mine, _) = drive(conn);
                let _ = tx.send(());
                mine
            }));
        }
        if let Some((connector, n)) = open {
            for _ in 0..n {
                let (tx, drive, stop, next) = (tx.clone(), &drive, &stop, &next);
                new_handles.push(s.spawn(move || {
                    let mut out = (Vec::new(), None);
                    // Not when the others have taken every job meanwhile.
                    let left = || *next.lock().unwrap_or_else(|p| p.into_inner()) < jobs.len();
                    if !stop.load(Ordering::SeqCst) && left() {
                        match connector.open() {
                            Ok(mut f) => {
                                let (mine, alive) = drive(&mut f);
                                out = (mine, alive.then_some(f));
                            }
                            Err(e) => tracing::info!(error = %e, "extra connection not opened"),
                        }
                    }
                    let _ = tx.send(());
                    out
                }));
            }
        }
        drop(tx);
        let running = handles.len() + new_handles.len();
        wait_ticking(&rx, running, interrupt, &stop, || {
            progress(bytes.load(Ordering::Relaxed));
        });
        let mut lists: Vec<Vec<(usize, JobEnd)>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect();
        for h in new_handles {
            let (mine, conn) = h.join().unwrap_or_default();
            lists.push(mine);
            opened.extend(conn);
        }
        lists
    });
    for (w, list) in per_worker.into_iter().enumerate() {
        for (i, end) in list {
            if w > 0 && matches!(end, JobEnd::Lost(_)) {
                redo.push(i);
            } else if let Some(slot) = ends.get_mut(i) {
                *slot = Some(end);
            }
        }
    }
    let main_lost = ends.iter().any(|e| matches!(e, Some(JobEnd::Lost(_))));
    redo.sort_unstable();
    if let Some(first) = conns.first_mut() {
        for i in redo {
            if main_lost || interrupt.load(Ordering::SeqCst) {
                break;
            }
            let Some(job) = jobs.get(i) else { continue };
            let end = work(first, job, interrupt, &add);
            let lost = matches!(end, JobEnd::Lost(_));
            if let Some(slot) = ends.get_mut(i) {
                *slot = Some(end);
            }
            if lost {
                break;
            }
        }
    }
    progress(bytes.load(Ordering::Relaxed));
    let ends = ends
        .into_iter()
        .map(|e| e.unwrap_or(JobEnd::Failed))
        .collect();
    (ends, opened)
}

/// `.<name>.ringftp-<random>.part` beside `remote` (the name the server's
/// own temporary files have, so its stale-temp sweep knows them too).
pub fn temp_name(remote: &str) -> String {
    use rand::Rng;
    let (dir, name) = match remote.rsplit_once('/') {
        Some((d, n)) => (format!("{d}/"), n),
        None => (String::new(), remote),
    };
    let tag: u64 = rand::thread_rng().gen();
    format!("{dir}.{name}.ringftp-{tag:016x}.part")
}

/// Reserve `size` bytes for a download's parts (fallocate(2); where the
/// filesystem has none, the file is only extended, which pwrite-style
/// splices at offsets fill just the same).
pub fn preallocate(file: &File, size: u64) {
    use std::os::fd::AsRawFd;
    if size == 0 {
        return;
    }
    // SAFETY: plain fallocate on our own open file.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, size as libc::off_t) };
    if rc != 0 {
        let _ = file.set_len(size);
    }
}

/// After a failed segmented download: the bytes from 0 that every part has
/// delivered, so the local file can be cut there and `reget` resumes from
/// a true prefix (never from a preallocated hole).
pub fn complete_prefix(parts: &[(u64, u64)], done: &[u64]) -> u64 {
    let mut prefix = 0;
    for (&(off, len), &d) in parts.iter().zip(done) {
        if off != prefix {
            break;
        }
        prefix = off + d.min(len);
        if d < len {
            break;
        }
    }
    prefix
}

/// Wait until `running` workers have each sent their one message on `rx`,
/// calling `tick` (the meter) every `TICK` and after each, and passing a
/// Ctrl-C (`interrupt`) on to the workers through `stop`.
fn wait_ticking(
    rx: &mpsc::Receiver<()>,
    mut running: usize,
    interrupt: &AtomicBool,
    stop: &AtomicBool,
    mut tick: impl FnMut(),
) {
    while running > 0 {
        match rx.recv_timeout(TICK) {
            Ok(()) => running -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if interrupt.load(Ordering::SeqCst) {
            stop.store(true, Ordering::SeqCst);
        }
        tick();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_the_file_once() {
        const M: u64 = SEGMENT_ALIGN;
        for (size, n) in [
            (0, 4),
            (1, 4),
            (M - 1, 4),
            (M, 4),
            (3 * M + 1, 4),
            (4 * M, 4),
            (1000 * M + 17, 4),
            (5 * M, 1),
            (7 * M, 3),
        ] {
            let p = plan(size, n);
            assert!(p.len() <= n.max(1), "{size} {n}: {p:?}");
            let mut off = 0;
            for &(o, l) in &p {
                assert_eq!(o, off, "{size} {n}: {p:?}");
                assert!(l > 0 || size == 0);
                off += l;
            }
            assert_eq!(off, size, "{size} {n}: {p:?}");
            for &(o, l) in p.iter().take(p.len() - 1) {
                assert_eq!(o % M, 0);
                assert_eq!(l % M, 0);
            }
        }
        assert_eq!(plan(4 * M, 4).len(), 4);
        assert_eq!(plan(3 * M + 1, 4).len(), 4);
        assert_eq!(plan(M, 4), vec![(0, M)]);
    }

    #[test]
    fn prefix_stops_at_the_first_gap() {
        let p = [(0, 10), (10, 10), (20, 5)];
        assert_eq!(complete_prefix(&p, &[10, 10, 5]), 25);
        assert_eq!(complete_prefix(&p, &[10, 3, 5]), 13);
        assert_eq!(complete_prefix(&p, &[4, 10, 5]), 4);
        assert_eq!(complete_prefix(&p, &[0, 10, 5]), 0);
    }

    #[test]
    fn temp_names_sit_beside_the_target() {
        let t = temp_name("/a/b/file.bin");
        assert!(t.starts_with("/a/b/.file.bin.ringftp-"), "{t}");
        assert!(t.ends_with(".part"));
        assert_ne!(temp_name("/x"), temp_name("/x"));
        assert!(temp_name("x").starts_with(".x.ringftp-"));
    }
}
