//! The parts of `ringftp` other crates read: the command line (clap) and the
//! sftp-identical messages. `xtask` renders the man page and shell completions
//! from them; the binary (`main.rs`) uses them like its other modules.
//!
//! # Layout
//! - `cli`: command-line arguments (clap), destination forms, netrc lookup
//! - `messages`: every sftp-identical message string

pub mod cli;
pub mod messages;
