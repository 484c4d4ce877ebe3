//! `help` and `?`: sftp 9.2's text, with FTP's truth for the commands FTP cannot do as sftp
//! does (see `messages::HELP`).

use std::io::Write;

use super::CmdResult;
use crate::messages;

pub fn run() -> CmdResult {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(messages::HELP.as_bytes());
    let _ = out.flush();
    Ok(())
}
