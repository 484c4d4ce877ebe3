//! Case 3: many clients at once, each downloading its own file; the aggregate rate.
//!
//! Every client logs in first, one after another (not timed: login cost is case 4's business,
//! and a burst of connects would only measure the server's accept backlog), then all start their
//! `RETR` together behind a barrier; the clock runs from the barrier to the last `226`.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ringftp_proto::command::Command;

use crate::csv::Rows;
use crate::ftp::Control;

/// What to download.
pub struct DownloadArgs {
    /// Server control address.
    pub addr: SocketAddr,
    /// Login name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Number of clients, each on its own thread.
    pub clients: usize,
    /// Remote path with `{i}` replaced by the client number (0-based).
    pub pattern: String,
    /// Expected size of each file, checked when non-zero.
    pub expect_bytes: u64,
}

/// Size of each client's read buffer.
const SCRATCH: usize = 256 * 1024;

/// Runs one measurement and prints its rows.
pub fn run(args: &DownloadArgs, rows: &Rows<'_>) -> Result<()> {
    if !args.pattern.contains("{i}") {
        bail!("--pattern must contain {{i}} so that each client gets its own file");
    }
    let barrier = Arc::new(Barrier::new(args.clients + 1));
    let mut handles = Vec::with_capacity(args.clients);
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    for i in 0..args.clients {
        let barrier = Arc::clone(&barrier);
        let ready = ready_tx.clone();
        let addr = args.addr;
        let user = args.user.clone();
        let password = args.password.clone();
        let path = args.pattern.replace("{i}", &i.to_string());
        let h = thread::Builder::new()
            .name(format!("client{i}"))
            .stack_size(128 * 1024)
            .spawn(move || client(addr, &user, &password, &path, &ready, &barrier))
            .context("spawn client thread")?;
        handles.push(h);
        // Next client only once this one has logged in (or failed to).
        let _ = ready_rx.recv();
    }
    barrier.wait();
    let start = Instant::now();
    let mut total = 0u64;
    let mut slowest = Duration::ZERO;
    let mut fastest = Duration::MAX;
    let mut errors = Vec::new();
    for h in handles {
        match h.join().map_err(|_| anyhow!("client thread panicked"))? {
            Ok((bytes, took)) => {
                if args.expect_bytes != 0 && bytes != args.expect_bytes {
                    errors.push(format!("got {bytes} bytes, expected {}", args.expect_bytes));
                }
                total += bytes;
                slowest = slowest.max(took);
                fastest = fastest.min(took);
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(first) = errors.first() {
        bail!(
            "{} of {} clients failed; first: {first}",
            errors.len(),
            args.clients
        );
    }
    let mib = total as f64 / (1024.0 * 1024.0);
    rows.emit("clients", args.clients as f64, "n");
    rows.emit("bytes", total as f64, "B");
    rows.emit("seconds", secs, "s");
    rows.emit("mib_s", mib / secs, "MiB/s");
    rows.emit("client_fastest_s", fastest.as_secs_f64(), "s");
    rows.emit("client_slowest_s", slowest.as_secs_f64(), "s");
    Ok(())
}

/// One client: log in, wait for the start, download, quit. Returns bytes and its own duration.
fn client(
    addr: SocketAddr,
    user: &str,
    password: &str,
    path: &str,
    ready: &mpsc::Sender<()>,
    barrier: &Barrier,
) -> Result<(u64, Duration)> {
    // Whatever happens, signal and reach the barrier once so that no one is left waiting.
    let logged_in = Control::connect(addr)
        .and_then(|mut c| c.login(user, password).map(|()| c))
        .context("connect and log in");
    let _ = ready.send(());
    barrier.wait();
    let mut c = logged_in?;
    let mut scratch = vec![0u8; SCRATCH];
    let start = Instant::now();
    let bytes = c
        .download(&Command::Retr(path.to_owned()), &mut scratch)
        .with_context(|| format!("RETR {path}"))?;
    let took = start.elapsed();
    c.quit();
    Ok((bytes, took))
}
