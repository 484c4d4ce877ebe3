//! # ringftp: an FTP client that behaves like OpenSSH `sftp`
//!
//! # Layout
//! - `cli` (in the library): command-line arguments (clap), destination forms, netrc lookup
//! - `app`: connect, login (three tries), `host:path` start, exit status
//! - `ftp`: the FTP connection (blocking std::net, proto replies, EPSV/PASV,
//!   MLSD/LIST, splice/sendfile transfers, buffered ones over TLS)
//! - `tls`: FTPS (AUTH TLS, PROT P): rustls client, certificate verifier, pinning
//! - `hostcheck`: ssh's host authenticity check for the certificate's key
//! - `known_hosts`: the file of accepted hosts
//! - `options`: `-o` as ssh reads it
//! - `commands`: the command table and one file per sftp command
//! - `argv`: sftp's tokenizer (makeargv) and BSD getopt
//! - `glob`: remote glob(3) expansion over listings, local globs
//! - `parallel`: extra connections, segmented transfers, files in flight
//! - `progress`: sftp's progress meter
//! - `shell`: REPL (rustyline), batch mode, SIGINT, Tab completion
//! - `messages` (in the library): every sftp-identical message string

mod app;
mod argv;
mod commands;
mod ftp;
mod glob;
mod hostcheck;
mod known_hosts;
mod options;
mod parallel;
mod progress;
mod shell;
mod tls;

// In the library, so that xtask can render the man page from them.
use ringftp::{cli, messages};

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match cli::Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(1),
            };
        }
    };
    if args.verbose > 0 {
        let level = match args.verbose {
            1 => "info",
            2 => "debug",
            _ => "trace",
        };
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new(level))
            .init();
    }
    ExitCode::from(app::run(args))
}
