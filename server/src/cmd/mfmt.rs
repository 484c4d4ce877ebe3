//! MFMT (draft-somers-ftp-mfxx): set a file's modification time, as
//! `get -p`/`put -p` need. Reply 213 "Modify=YYYYMMDDHHMMSS; path".

use ringftp_proto::listing::format_time_val;
use ringftp_proto::reply::Reply;

use super::{fs, fs_reply, rel, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, mtime: i64, arg: &str) -> Reply {
    if let Some(r) = ctx.deny_write() {
        return r;
    }
    let abs = match ctx.resolve(arg) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let r = rel(&abs);
    match fs(&ctx.login.jail, move |j| j.set_mtime(&r, mtime)).await {
        Ok(()) => Reply::new(213, format!("Modify={}; {arg}", format_time_val(mtime))),
        Err(e) => fs_reply(arg, &e),
    }
}
