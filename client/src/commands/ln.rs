//! `ln [-s] oldpath newpath` and `symlink oldpath newpath`: SITE SYMLINK.
//! FTP has no hard links, so `ln` without `-s` reports what sftp reports for
//! a server without the hardlink extension.

use super::{error, make_absolute, CmdErr, CmdResult, Ctx, Invocation};
use crate::messages;

pub fn run(ctx: &mut Ctx, inv: &Invocation, symlink: bool) -> CmdResult {
    let sflag = symlink || inv.sflag;
    let old = inv.path1.clone().unwrap_or_default();
    let new = make_absolute(inv.path2.as_deref().unwrap_or(""), &ctx.pwd);
    if !sflag {
        error(messages::NO_HARDLINK);
        return Err(CmdErr::Failed);
    }
    match ctx.ftp.symlink(&old, &new) {
        Ok(()) => Ok(()),
        Err(e) if e.is_unsupported() => {
            error(messages::NO_SYMLINK);
            Err(CmdErr::Failed)
        }
        Err(e) => Err(ctx.fail(e, |s| messages::remote_symlink(&old, &new, s))),
    }
}
