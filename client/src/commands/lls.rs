//! `lls [ls-options [path]]`: runs the local `ls` through the shell, as sftp.

use super::CmdResult;

pub fn run(inv: &super::Invocation) -> CmdResult {
    let cmd = if inv.rest.is_empty() {
        "ls".to_string()
    } else {
        format!("ls {}", inv.rest)
    };
    super::bang::run(&cmd)
}
