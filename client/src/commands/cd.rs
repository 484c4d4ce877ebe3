//! `cd`/`chdir`: change the remote directory (sftp.c I_CHDIR). With no
//! argument, back to the start directory. The target is checked with CWD
//! and canonicalised with PWD (the server's realpath).

use ringftp_proto::listing::FileKind;

use super::{error, make_absolute, CmdErr, CmdResult, Ctx, Invocation};
use crate::messages;

pub fn run(ctx: &mut Ctx, inv: &Invocation) -> CmdResult {
    let p = match inv.path1.as_deref() {
        None | Some("") => ctx.startdir.clone(),
        Some(p) => p.to_string(),
    };
    let abs = make_absolute(&p, &ctx.pwd);
    change_to(ctx, &abs)
}

/// Change to the absolute path `abs`.
pub fn change_to(ctx: &mut Ctx, abs: &str) -> CmdResult {
    let canon = ringftp_proto::path::normalize("/", abs).unwrap_or_else(|_| abs.to_string());
    match ctx.ftp.cwd(abs) {
        Ok(()) => {
            ctx.pwd = match ctx.ftp.pwd() {
                Ok(p) => p,
                Err(e) if e.is_fatal() => return Err(CmdErr::Fatal(e.to_string())),
                Err(_) => canon,
            };
            Ok(())
        }
        Err(e) if e.is_fatal() => Err(CmdErr::Fatal(e.to_string())),
        Err(e) => {
            match ctx.ftp.stat(abs) {
                Ok(None) => error(&messages::stat_remote("No such file or directory")),
                Ok(Some(i)) if i.kind != FileKind::Dir => error(&messages::cd_not_dir(&canon)),
                Ok(Some(_)) => error(&messages::stat_remote(e.status())),
                Err(e2) if e2.is_fatal() => return Err(CmdErr::Fatal(e2.to_string())),
                Err(_) => error(messages::CD_CANT_CHECK),
            }
            Err(CmdErr::Failed)
        }
    }
}
