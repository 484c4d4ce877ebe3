//! `mkdir path`: MKD.

use super::{make_absolute, CmdResult, Ctx, Invocation};
use crate::messages;

pub fn run(ctx: &mut Ctx, inv: &Invocation) -> CmdResult {
    let path = make_absolute(inv.path1.as_deref().unwrap_or(""), &ctx.pwd);
    match ctx.ftp.mkd(&path) {
        Ok(()) => Ok(()),
        Err(e) => Err(ctx.fail(e, |s| messages::remote_mkdir(&path, s))),
    }
}
