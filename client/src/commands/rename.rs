//! `rename oldpath newpath`: RNFR + RNTO.

use super::{make_absolute, CmdResult, Ctx, Invocation};
use crate::messages;

pub fn run(ctx: &mut Ctx, inv: &Invocation) -> CmdResult {
    let old = make_absolute(inv.path1.as_deref().unwrap_or(""), &ctx.pwd);
    let new = make_absolute(inv.path2.as_deref().unwrap_or(""), &ctx.pwd);
    match ctx.ftp.rename(&old, &new) {
        Ok(()) => Ok(()),
        Err(e) => {
            let p = old.clone();
            Err(ctx.fail_path(e, &p, |s| messages::remote_rename(&old, &new, s)))
        }
    }
}
