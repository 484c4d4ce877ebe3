//! `rmdir path`: RMD.

use super::{make_absolute, CmdResult, Ctx, Invocation};
use crate::messages;

pub fn run(ctx: &mut Ctx, inv: &Invocation) -> CmdResult {
    let path = make_absolute(inv.path1.as_deref().unwrap_or(""), &ctx.pwd);
    match ctx.ftp.rmd(&path) {
        Ok(()) => Ok(()),
        Err(e) => {
            let p = path.clone();
            Err(ctx.fail_path(e, &p, |s| messages::remote_rmdir(&path, s)))
        }
    }
}
