//! `ringftp-bench`: the load generator of `bench/compare_sftp.sh` (cases 3 and 4).
//!
//! Prints its figures as CSV rows (`case,contender,op,run,metric,value,unit`) on stdout.
//!
//! # Layout
//! - [`ftp`]: a minimal blocking FTP control connection on `ringftp_proto`.
//! - [`download`]: case 3, many clients each downloading a distinct file, aggregate MiB/s.
//! - [`idle`]: case 4, thousands of logged-in idle sessions: memory, login rate, probe latency.
//! - [`epoll`]: a small safe wrapper over Linux epoll for case 4.
//! - [`procmem`]: server memory of a process tree from `/proc`.
//! - [`csv`]: the output rows.

mod csv;
mod download;
mod epoll;
mod ftp;
mod idle;
mod procmem;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

/// Load generator for ringftpd benchmarks; prints CSV rows on stdout.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Case 3: CLIENTS clients at once, each downloading its own file.
    Download {
        #[command(flatten)]
        common: Common,
        /// Number of simultaneous clients.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Remote path of each client's file; `{i}` is replaced by the client number (0-based).
        #[arg(long)]
        pattern: String,
        /// Expected size of each file in bytes (checked when given).
        #[arg(long, default_value_t = 0)]
        expect_bytes: u64,
    },
    /// Case 4: hold SESSIONS logged-in idle sessions and measure the server.
    Idle {
        #[command(flatten)]
        common: Common,
        /// Sessions to open and hold.
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        /// Logins in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// PID of the server; its memory and its descendants' is read from /proc.
        #[arg(long)]
        server_pid: u32,
        /// Fresh login + LIST probes timed while the sessions are held.
        #[arg(long, default_value_t = 5)]
        probes: usize,
        /// Give up opening sessions after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
        /// Stop opening sessions once the server's RSS (with descendants) passes this many MiB.
        #[arg(long, default_value_t = 4096)]
        max_server_mib: u64,
    },
    /// Print the CSV header line.
    Header,
}

#[derive(Args)]
struct Common {
    /// Server control address, e.g. 127.0.0.1:2121.
    #[arg(long)]
    addr: SocketAddr,
    /// Login name.
    #[arg(long)]
    user: String,
    /// File whose first line is the password (kept off the command line).
    #[arg(long)]
    password_file: PathBuf,
    /// Label of the contender in the CSV rows, e.g. ringftpd.
    #[arg(long)]
    contender: String,
    /// Case label in the CSV rows.
    #[arg(long)]
    case: Option<String>,
    /// Operation label in the CSV rows.
    #[arg(long)]
    op: Option<String>,
    /// Run number in the CSV rows.
    #[arg(long, default_value_t = 1)]
    run: u32,
}

impl Common {
    fn password(&self) -> Result<String> {
        let text = std::fs::read_to_string(&self.password_file)
            .with_context(|| format!("read {}", self.password_file.display()))?;
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringftp-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Header => {
            println!("{}", csv::HEADER);
            Ok(())
        }
        Cmd::Download {
            common,
            clients,
            pattern,
            expect_bytes,
        } => {
            let op = common
                .op
                .clone()
                .unwrap_or_else(|| format!("get-{clients}-clients"));
            let rows = csv::Rows {
                case: common.case.as_deref().unwrap_or("3"),
                contender: &common.contender,
                op: &op,
                run: common.run,
            };
            let args = download::DownloadArgs {
                addr: common.addr,
                user: common.user.clone(),
                password: common.password()?,
                clients,
                pattern,
                expect_bytes,
            };
            download::run(&args, &rows)
        }
        Cmd::Idle {
            common,
            sessions,
            concurrency,
            server_pid,
            probes,
            timeout_secs,
            max_server_mib,
        } => {
            let op = common
                .op
                .clone()
                .unwrap_or_else(|| format!("idle-{sessions}"));
            let rows = csv::Rows {
                case: common.case.as_deref().unwrap_or("4"),
                contender: &common.contender,
                op: &op,
                run: common.run,
            };
            let args = idle::IdleArgs {
                addr: common.addr,
                user: common.user.clone(),
                password: common.password()?,
                sessions,
                concurrency,
                server_pid,
                probes,
                timeout: Duration::from_secs(timeout_secs),
                max_server_kib: max_server_mib.saturating_mul(1024),
            };
            idle::run(&args, &rows)
        }
    }
}
