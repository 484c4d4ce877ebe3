//! The FTP protocol without I/O, shared by the server (`ringftpd`) and the client (`ringftp`).
//!
//! Everything here turns bytes or text into values and back; nothing touches a socket, a file or
//! a clock (except [`listing::parse_list_line`], which reads the wall clock to date "HH:MM" entries).
//!
//! # Layout
//! - [`line`](mod@line): framing of the control connection (CRLF or bare LF, length cap, Telnet IAC stripping).
//! - [`command`]: the one verb table: [`command::Command::parse`] for the server, `encode` for the client.
//! - [`reply`]: replies as values ([`reply::Reply`]), their encoding and an incremental parser.
//! - [`block`]: block mode (`MODE B`): the framing of a data connection kept open between transfers.
//! - [`addr`]: data-connection addresses: PASV/PORT (RFC 959) and EPSV/EPRT (RFC 2428).
//! - [`path`]: virtual path normalisation (chroot semantics), 257 quoting.
//! - [`listing`]: `LIST` (`ls -l`) and `MLSx` (RFC 3659) lines, both directions; time values.
//! - [`fingerprint`]: ssh-style `SHA256:` fingerprints of TLS certificates' public keys.
//! - [`proxy`]: the PROXY protocol v1/v2 header a load balancer sends first, with its bounds.
//! - [`statvfs`]: the `SITE STATVFS` reply (filesystem totals for sftp's `df`).
#![warn(clippy::indexing_slicing)]

pub mod addr;
pub mod block;
pub mod command;
pub mod fingerprint;
pub mod line;
pub mod listing;
pub mod path;
pub mod proxy;
pub mod reply;
pub mod statvfs;
