//! ringftpd: an FTP server for Linux on io_uring.
//!
//! # Layout
//! - `cli`: the command line (clap): `serve` and `user add|del|list|passwd`.
//! - `config`: defaults < TOML file < flags, validated into `Config`.
//! - `users`: the users file (TOML, argon2id PHC strings) and password checks.
//! - `jail`: every filesystem operation, beneath a root directory handle with
//!   `openat2(RESOLVE_BENEATH)`.
//! - `storage`: where files live: the local jail, or an S3 bucket (`s3`);
//!   the `Storage` enum every verb goes through.
//! - `uring`: the io_uring probe and the splice operation tokio-uring lacks.
//! - `server`: listeners (SO_REUSEPORT, one per worker), worker threads each
//!   with its own ring, shutdown.
//! - `ban`: mod_ban-like bans of addresses with too many failed logins.
//! - `session`: one control connection: login state machine and command loop.
//! - `control`: bounded, cancel-safe line reads and reply writes.
//! - `data`: passive listeners and active connections, with RFC 2577 checks.
//! - `transfer`: RETR/STOR byte movers: splice for TYPE I, buffered TYPE A
//!   and TLS.
//! - `tls`: AUTH TLS (RFC 4217): certificate loading, rustls over the ring,
//!   per-session TLS session stores for data-connection reuse.
//! - `cert`: the self-signed certificate made on the first start, fingerprints.
//! - `cmd`: one file per FTP verb, and the dispatcher.
//! - `log`: the login, transfer and refusal lines (text or JSON), the xferlog file.

pub mod ban;
pub mod cert;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod control;
pub mod data;
pub mod jail;
pub mod log;
pub mod server;
pub mod session;
pub mod storage;
pub mod tls;
pub mod transfer;
pub mod uring;
pub mod users;
