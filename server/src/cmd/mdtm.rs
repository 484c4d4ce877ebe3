//! MDTM (RFC 3659 3): a file's modification time, YYYYMMDDHHMMSS in UTC.

use ringftp_proto::listing::{format_time_val, FileKind};
use ringftp_proto::reply::Reply;

use super::{fs, fs_reply, rel, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    let abs = match ctx.resolve(arg) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let r = rel(&abs);
    match fs(&ctx.login.jail, move |j| j.metadata(&r)).await {
        Ok(m) if m.kind == FileKind::File => Reply::new(213, format_time_val(m.mtime)),
        Ok(_) => Reply::new(550, format!("{arg}: Not a regular file")),
        Err(e) => fs_reply(arg, &e),
    }
}
