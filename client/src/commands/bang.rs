//! `!command` runs a command in the local shell; `!` alone starts one.

use std::process::Command;

use super::{error, strerror, CmdResult};
use crate::messages;

pub fn run(args: &str) -> CmdResult {
    let shell = match std::env::var("SHELL") {
        Ok(s) if !s.is_empty() => s,
        _ => "/bin/sh".to_string(),
    };
    let mut cmd = Command::new(&shell);
    if !args.is_empty() {
        cmd.arg("-c").arg(args);
    }
    match cmd.status() {
        Err(e) => error(&messages::shell_exec_failed(&shell, &strerror(&e))),
        Ok(st) => match st.code() {
            None => error(messages::SHELL_ABNORMAL),
            Some(0) => {}
            Some(c) => error(&messages::shell_status(c)),
        },
    }
    // sftp never treats a shell failure as a command failure.
    Ok(())
}
