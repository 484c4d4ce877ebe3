//! DELE (RFC 959 4.1.3): delete a file. Directories are refused (use RMD).

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
    let r = rel(&abs);
    match fs(&ctx.login.jail, move |j| j.remove_file(&r)).await {
        Ok(()) => Reply::new(250, "File deleted."),
        Err(e) => fs_reply(arg, &e),
    }
}
