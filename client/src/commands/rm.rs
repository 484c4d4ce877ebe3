//! `rm path`: DELE every match of a remote glob ("Removing /x").

use super::{make_absolute_pwd_glob, say, CmdErr, CmdResult, Ctx, Invocation};
use crate::glob::remote_glob;
use crate::messages;

pub fn run(ctx: &mut Ctx, inv: &Invocation, err_abort: bool) -> CmdResult {
    let pat = make_absolute_pwd_glob(inv.path1.as_deref().unwrap_or(""), &ctx.pwd);
    let matches =
        remote_glob(&mut ctx.ftp, &pat, true, true).map_err(|e| CmdErr::Fatal(e.to_string()))?;
    let mut res = Ok(());
    for m in matches {
        if ctx.interrupted() {
            break;
        }
        if !ctx.quiet {
            say(&messages::removing(&m.path));
        }
        res = match ctx.ftp.dele(&m.path) {
            Ok(()) => Ok(()),
            Err(e) => {
                let p = m.path.clone();
                Err(ctx.fail_path(e, &p, |s| messages::remote_delete(&m.path, s)))
            }
        };
        if let Err(CmdErr::Fatal(_)) = res {
            return res;
        }
        if res.is_err() && err_abort {
            break;
        }
    }
    res
}
