//! `df [-hi] [path]`: ringftpd's `SITE STATVFS` gives the statvfs(3) totals
//! that sftp's statvfs@openssh.com gives, printed exactly as sftp does. Other
//! servers only have AVBL (draft-peterson-streamlined-ftp-command-extensions),
//! which reports the bytes available alone, so Size/Used are unknown there
//! (printed as 0, capacity "ERR" as sftp does when the totals are zero).

use super::{error, make_absolute, say, CmdErr, CmdResult, Ctx, Invocation};
use crate::messages;

pub fn run(ctx: &mut Ctx, inv: &Invocation) -> CmdResult {
    let path = match inv.path1.as_deref() {
        Some(p) => make_absolute(p, &ctx.pwd),
        None => ctx.pwd.clone(),
    };
    match ctx.ftp.statvfs(&path) {
        Ok(Some(st)) => {
            print_statvfs(&st, inv.hflag, inv.iflag);
            return Ok(());
        }
        Ok(None) => {}
        Err(e) if e.is_fatal() => return Err(CmdErr::Fatal(e.to_string())),
        Err(e) => {
            error(&format!("remote statvfs: {}", e.status()));
            return Err(CmdErr::Failed);
        }
    }
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

/// sftp.c `do_df`, field for field.
fn print_statvfs(st: &ringftp_proto::statvfs::FsStats, hflag: bool, iflag: bool) {
    let pct = |used: u64, total: u64| match used.saturating_mul(100).checked_div(total) {
        Some(p) => format!("{p:>3}%"),
        None => "ERR".to_string(),
    };
    let used_blocks = st.blocks.saturating_sub(st.bfree);
    if iflag {
        say("     Inodes        Used       Avail      (root)    %Capacity");
        say(&format!(
            "{:>11} {:>11} {:>11} {:>11}         {}",
            st.files,
            st.files.saturating_sub(st.ffree),
            st.favail,
            st.ffree,
            pct(st.files.saturating_sub(st.ffree), st.files)
        ));
    } else if hflag {
        let scaled = |blocks: u64| super::ls::fmt_scaled(blocks.saturating_mul(st.frsize));
        say("    Size     Used    Avail   (root)    %Capacity");
        say(&format!(
            "{:>7}B {:>7}B {:>7}B {:>7}B         {}",
            scaled(st.blocks),
            scaled(used_blocks),
            scaled(st.bavail),
            scaled(st.bfree),
            pct(used_blocks, st.blocks)
        ));
    } else {
        let kib = |blocks: u64| blocks.saturating_mul(st.frsize) / 1024;
        say("        Size         Used        Avail       (root)    %Capacity");
        say(&format!(
            "{:>12} {:>12} {:>12} {:>12}         {}",
            kib(st.blocks),
            kib(used_blocks),
            kib(st.bavail),
            kib(st.bfree),
            pct(used_blocks, st.blocks)
        ));
    }
}
