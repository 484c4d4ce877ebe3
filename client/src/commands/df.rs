//! `df [-hi] [path]`: FTP's AVBL (draft-peterson-streamlined-ftp-command-
//! extensions) reports only the bytes available, so Size/Used are unknown
//! (printed as 0, capacity "ERR" as sftp does when the totals are zero).

use super::{error, make_absolute, say, CmdErr, CmdResult, Ctx, Invocation};
use crate::messages;

pub fn run(ctx: &mut Ctx, inv: &Invocation) -> CmdResult {
    let path = match inv.path1.as_deref() {
        Some(p) => make_absolute(p, &ctx.pwd),
        None => ctx.pwd.clone(),
    };
    let avail = match ctx.ftp.avbl(&path) {
        Ok(a) => a,
        Err(e) if e.is_fatal() => return Err(CmdErr::Fatal(e.to_string())),
        Err(e) if e.is_unsupported() => {
            error(messages::NO_STATVFS);
            return Err(CmdErr::Failed);
        }
        Err(e) => {
            error(&format!("remote statvfs: {}", e.status()));
            return Err(CmdErr::Failed);
        }
    };
    if inv.iflag {
        say("     Inodes        Used       Avail      (root)    %Capacity");
        say(&format!(
            "{:>11} {:>11} {:>11} {:>11}         ERR",
            0, 0, 0, 0
        ));
    } else if inv.hflag {
        let a = super::ls::fmt_scaled(avail);
        say("    Size     Used    Avail   (root)    %Capacity");
        say(&format!(
            "{:>7}B {:>7}B {:>7}B {:>7}B         ERR",
            "0", "0", a, a
        ));
    } else {
        say("        Size         Used        Avail       (root)    %Capacity");
        say(&format!(
            "{:>12} {:>12} {:>12} {:>12}         ERR",
            0,
            0,
            avail / 1024,
            avail / 1024
        ));
    }
    Ok(())
}
