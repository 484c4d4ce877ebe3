//! `chmod`, `chown`, `chgrp` on every match of a remote glob. chmod is
//! SITE CHMOD; chown/chgrp try `SITE CHOWN`/`SITE CHGRP` (non-standard: most
//! servers answer 500, reported as "Operation unsupported").

use super::{error, make_absolute_pwd_glob, say, CmdErr, CmdId, CmdResult, Ctx, Invocation};
use crate::glob::remote_glob;
use crate::messages;

pub fn run(ctx: &mut Ctx, id: CmdId, inv: &Invocation, err_abort: bool) -> CmdResult {
    let pat = make_absolute_pwd_glob(inv.path1.as_deref().unwrap_or(""), &ctx.pwd);
    let matches =
        remote_glob(&mut ctx.ftp, &pat, true, true).map_err(|e| CmdErr::Fatal(e.to_string()))?;
    let mut res = Ok(());
    for m in matches {
        if ctx.interrupted() {
            break;
        }
        let path = m.path.clone();
        let r = match id {
            CmdId::Chmod => {
                if !ctx.quiet {
                    say(&messages::changing_mode(&path));
                }
                ctx.ftp.chmod(inv.n_arg as u32, &path)
            }
            _ => {
                // sftp stats first and needs the ownership to be known.
                match ctx.ftp.stat(&path) {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        error(&messages::stat_remote("No such file or directory"));
                        res = Err(CmdErr::Failed);
                        if err_abort {
                            break;
                        }
                        continue;
                    }
                    Err(e) => return Err(CmdErr::Fatal(e.to_string())),
                }
                let verb = if id == CmdId::Chown { "CHOWN" } else { "CHGRP" };
                if !ctx.quiet {
                    if id == CmdId::Chown {
                        say(&messages::changing_owner(&path));
                    } else {
                        say(&messages::changing_group(&path));
                    }
                }
                ctx.ftp.site_other(format!("{verb} {} {path}", inv.n_arg))
            }
        };
        if let Err(e) = r {
            let p = path.clone();
            let err = ctx.fail_path(e, &p, |s| messages::remote_setstat(&path, s));
            if let CmdErr::Fatal(_) = err {
                return Err(err);
            }
            res = Err(err);
            if err_abort {
                break;
            }
        }
    }
    res
}
