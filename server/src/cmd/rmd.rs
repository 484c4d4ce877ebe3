//! RMD / XRMD (RFC 959 4.1.3): remove an empty directory. The user's root and
//! the current directory's ancestors can be removed only if empty, like rmdir(2);
//! the root itself never.

use ringftp_proto::reply::Reply;

use super::{fs, fs_reply, rel, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    if let Some(r) = ctx.deny_write() {
        return r;
    }
    let abs = match ctx.resolve(arg) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if abs == "/" {
        return Reply::new(550, format!("{arg}: Permission denied"));
    }
    let r = rel(&abs);
    match fs(&ctx.login.jail, move |j| j.rmdir(&r)).await {
        Ok(()) => Reply::new(250, "Directory removed."),
        Err(e) => fs_reply(arg, &e),
    }
}
