//! Case 4: thousands of logged-in idle sessions.
//!
//! Opens `sessions` control connections with nonblocking sockets on one epoll (at most
//! `concurrency` logins in flight), logs each in and leaves it idle. Figures: login rate, server
//! memory per session (from `/proc`, before and after), the time a fresh login + `LIST` takes
//! while they are held, and how many sessions still answer `NOOP` at the end.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ringftp_proto::command::{Command, Password};
use ringftp_proto::reply::parse_reply;

use crate::csv::Rows;
use crate::epoll::Epoll;
use crate::ftp::Control;
use crate::procmem::{tree_mem, TreeMem};

/// What to open and whom to measure.
pub struct IdleArgs {
    /// Server control address.
    pub addr: SocketAddr,
    /// Login name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Sessions to open and hold.
    pub sessions: usize,
    /// Logins in flight at once.
    pub concurrency: usize,
    /// Server PID whose memory (with its descendants) is read.
    pub server_pid: u32,
    /// Fresh login + LIST probes while the sessions are held.
    pub probes: usize,
    /// Give up opening sessions after this long.
    pub timeout: Duration,
    /// Stop opening sessions once the server's RSS passes this (KiB), so that a server that
    /// grows without bound cannot take the machine down.
    pub max_server_kib: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the 220 greeting.
    Greeting,
    /// USER sent.
    User,
    /// PASS sent.
    Pass,
    /// Logged in, idle.
    Idle,
    /// NOOP sent in the final check.
    Noop,
    /// NOOP answered in the final check.
    Alive,
    /// Closed, refused or answered with an error.
    Failed,
}

struct Conn {
    stream: TcpStream,
    state: State,
    buf: Vec<u8>,
}

/// Counts of a phase.
#[derive(Default)]
struct Tally {
    done: usize,
    failed: usize,
    first_error: Option<String>,
    /// Opening stopped early because the server passed `max_server_kib`.
    capped: bool,
}

impl Tally {
    fn fail(&mut self, conn: &mut Conn, why: String) {
        conn.state = State::Failed;
        self.failed += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why);
        }
    }
}

/// Raises the soft descriptor limit to the hard one and returns it.
pub fn raise_nofile() -> Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read/write the rlimit struct passed by reference.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            bail!("getrlimit: {}", std::io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                bail!("setrlimit: {}", std::io::Error::last_os_error());
            }
        }
    }
    Ok(lim.rlim_cur)
}

/// Runs one measurement and prints its rows.
pub fn run(args: &IdleArgs, rows: &Rows<'_>) -> Result<()> {
    let limit = raise_nofile()?;
    if (args.sessions as u64) + 64 > limit {
        bail!(
            "{} sessions need more descriptors than RLIMIT_NOFILE allows ({limit}); raise the hard limit (ulimit -Hn)",
            args.sessions
        );
    }
    let before = settled_mem(args.server_pid);
    let mut poll = Epoll::new(1024).context("epoll")?;
    let mut conns: Vec<Conn> = Vec::with_capacity(args.sessions);
    let start = Instant::now();
    let tally = open_all(args, &mut poll, &mut conns)?;
    let open_secs = start.elapsed().as_secs_f64();
    let held = tally.done;
    if held == 0 {
        bail!(
            "no session logged in; first error: {}",
            tally.first_error.unwrap_or_default()
        );
    }
    let after = settled_mem(args.server_pid);

    let mut probe_ms = Vec::with_capacity(args.probes);
    for _ in 0..args.probes {
        probe_ms.push(probe(args)?);
    }
    probe_ms.sort_by(f64::total_cmp);

    let alive = noop_all(&mut poll, &mut conns, Duration::from_secs(60))?;

    rows.emit("sessions_requested", args.sessions as f64, "n");
    rows.emit("sessions_held", held as f64, "n");
    rows.emit("sessions_failed", tally.failed as f64, "n");
    rows.emit(
        "stopped_at_memory_cap",
        f64::from(u8::from(tally.capped)),
        "bool",
    );
    rows.emit("login_phase_s", open_secs, "s");
    rows.emit("logins_per_s", held as f64 / open_secs, "1/s");
    emit_mem(rows, "before", &before);
    emit_mem(rows, "after", &after);
    let per = |a: u64, b: u64| (a.saturating_sub(b) as f64) * 1024.0 / held as f64;
    rows.emit("rss_per_session", per(after.rss_kib, before.rss_kib), "B");
    rows.emit(
        "anon_per_session",
        per(after.anon_kib, before.anon_kib),
        "B",
    );
    rows.emit("pss_per_session", per(after.pss_kib, before.pss_kib), "B");
    rows.emit(
        "procs_per_session",
        after.procs.saturating_sub(before.procs) as f64 / held as f64,
        "n",
    );
    if let (Some(first), Some(last)) = (probe_ms.first(), probe_ms.last()) {
        let median = probe_ms.get(probe_ms.len() / 2).copied().unwrap_or(*first);
        rows.emit("login_list_ms_min", *first, "ms");
        rows.emit("login_list_ms_median", median, "ms");
        rows.emit("login_list_ms_max", *last, "ms");
    }
    rows.emit("sessions_alive_at_end", alive as f64, "n");
    if let Some(e) = tally.first_error {
        eprintln!(
            "ringftp-bench: {} sessions failed; first: {e}",
            tally.failed
        );
    }
    Ok(())
}

fn emit_mem(rows: &Rows<'_>, when: &str, m: &TreeMem) {
    rows.emit(&format!("server_rss_{when}"), m.rss_kib as f64, "KiB");
    rows.emit(&format!("server_anon_{when}"), m.anon_kib as f64, "KiB");
    rows.emit(&format!("server_pss_{when}"), m.pss_kib as f64, "KiB");
    rows.emit(&format!("server_procs_{when}"), m.procs as f64, "n");
}

/// Reads memory after a short pause, so that freed buffers and exiting helpers are gone.
fn settled_mem(pid: u32) -> TreeMem {
    thread::sleep(Duration::from_millis(500));
    tree_mem(pid)
}

/// A fresh connection: greeting, login, LIST; milliseconds until the final 226.
fn probe(args: &IdleArgs) -> Result<f64> {
    let start = Instant::now();
    let mut c = Control::connect(args.addr).context("probe connect")?;
    c.login(&args.user, &args.password).context("probe login")?;
    let mut scratch = vec![0u8; 64 * 1024];
    c.download(&Command::List(None), &mut scratch)
        .context("probe LIST")?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    c.quit();
    Ok(ms)
}

/// How often (in completed logins) the server's memory is checked against its cap.
const MEM_CHECK_EVERY: usize = 200;

/// Opens and logs in all sessions, at most `concurrency` in flight.
fn open_all(args: &IdleArgs, poll: &mut Epoll, conns: &mut Vec<Conn>) -> Result<Tally> {
    let mut tally = Tally::default();
    let deadline = Instant::now() + args.timeout;
    let user = Command::User(args.user.clone()).encode();
    let pass = Command::Pass(Password::new(args.password.clone())).encode();
    let mut in_flight = 0usize;
    let mut next_check = MEM_CHECK_EVERY;
    while tally.done + tally.failed < conns.len() || (!tally.capped && conns.len() < args.sessions)
    {
        if tally.done >= next_check {
            next_check += MEM_CHECK_EVERY;
            let rss = tree_mem(args.server_pid).rss_kib;
            if rss > args.max_server_kib {
                eprintln!(
                    "ringftp-bench: server RSS {rss} KiB passed --max-server-mib after {} sessions; opening no more",
                    tally.done
                );
                tally.capped = true;
            }
        }
        while !tally.capped && in_flight < args.concurrency.max(1) && conns.len() < args.sessions {
            let token = conns.len() as u64;
            // A loopback connect completes at once while the server's backlog has room, which
            // `concurrency` ensures; the socket is nonblocking from then on.
            match TcpStream::connect(args.addr) {
                Ok(stream) => {
                    stream.set_nonblocking(true).context("set_nonblocking")?;
                    poll.add(&stream, token).context("epoll add")?;
                    conns.push(Conn {
                        stream,
                        state: State::Greeting,
                        buf: Vec::new(),
                    });
                    in_flight += 1;
                }
                Err(e) => bail!("connect {}: {e}", args.addr),
            }
        }
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "timed out after {:?}: {} sessions logged in, {} failed, {in_flight} in flight",
                args.timeout,
                tally.done,
                tally.failed
            );
        }
        for token in poll.wait(deadline - now).context("epoll wait")? {
            let Some(conn) = conns.get_mut(usize::try_from(token).unwrap_or(usize::MAX)) else {
                continue;
            };
            let before = conn.state;
            if !matches!(before, State::Greeting | State::User | State::Pass) {
                // A held session that became readable: the server closed it or said something
                // unasked. It no longer counts as alive at the end.
                let _ = poll.remove(&conn.stream);
                conn.state = State::Failed;
                continue;
            }
            step(conn, &user, &pass, &mut tally);
            if matches!(conn.state, State::Idle | State::Failed) {
                in_flight = in_flight.saturating_sub(1);
            }
            if conn.state == State::Failed {
                let _ = poll.remove(&conn.stream);
            }
        }
    }
    Ok(tally)
}

/// Reads what arrived on one connection and advances its login.
fn step(conn: &mut Conn, user: &str, pass: &str, tally: &mut Tally) {
    if let Err(e) = fill(conn) {
        if conn.state != State::Failed {
            tally.fail(conn, e);
        }
        return;
    }
    loop {
        let reply = match parse_reply(&conn.buf) {
            Ok(Some((r, used))) => {
                conn.buf.drain(..used);
                r
            }
            Ok(None) => return,
            Err(e) => return tally.fail(conn, e.to_string()),
        };
        let (next, send) = match (conn.state, reply.code) {
            (State::Greeting, 220) => (State::User, Some(user)),
            (State::User, 331) => (State::Pass, Some(pass)),
            (State::User | State::Pass, 230) => (State::Idle, None),
            (State::Noop, 200) => (State::Alive, None),
            (State::Greeting, c) if (100..200).contains(&c) => continue,
            (s, _) => return tally.fail(conn, format!("{s:?}: {reply}")),
        };
        if let Some(line) = send {
            // A few bytes into an empty socket buffer: never partial.
            if let Err(e) = conn.stream.write_all(line.as_bytes()) {
                return tally.fail(conn, format!("send: {e}"));
            }
        }
        conn.state = next;
        if matches!(next, State::Idle | State::Alive) {
            tally.done += 1;
            conn.buf = Vec::new();
        }
    }
}

/// Reads everything available; Err on close or error.
fn fill(conn: &mut Conn) -> Result<(), String> {
    let mut chunk = [0u8; 512];
    loop {
        match conn.stream.read(&mut chunk) {
            Ok(0) => return Err(format!("{:?}: server closed the connection", conn.state)),
            Ok(n) => conn
                .buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{:?}: {e}", conn.state)),
        }
        if conn.buf.len() > 64 * 1024 {
            return Err("reply too long".into());
        }
    }
}

/// Sends NOOP on every idle session and counts the 200s that come back within `timeout`.
fn noop_all(poll: &mut Epoll, conns: &mut [Conn], timeout: Duration) -> Result<usize> {
    let noop = Command::Noop.encode();
    let mut tally = Tally::default();
    let mut waiting = 0usize;
    for conn in conns.iter_mut().filter(|c| c.state == State::Idle) {
        match conn.stream.write_all(noop.as_bytes()) {
            Ok(()) => {
                conn.state = State::Noop;
                waiting += 1;
            }
            Err(_) => conn.state = State::Failed,
        }
    }
    let deadline = Instant::now() + timeout;
    while tally.done + tally.failed < waiting {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        for token in poll.wait(deadline - now).context("epoll wait")? {
            if let Some(conn) = conns.get_mut(usize::try_from(token).unwrap_or(usize::MAX)) {
                if conn.state == State::Noop {
                    step(conn, "", "", &mut tally);
                }
                if conn.state != State::Noop {
                    let _ = poll.remove(&conn.stream);
                }
            }
        }
    }
    Ok(tally.done)
}
