//! CWD / XCWD (RFC 959 4.1.1): change the working directory. The target is
//! checked beneath the user's root before the session moves there.

use ringftp_proto::reply::Reply;

use super::{fs, fs_reply, rel, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    let abs = match ctx.resolve(arg) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let r = rel(&abs);
    match fs(&ctx.login.jail, move |j| j.open_dir(&r)).await {
        Ok(()) => {
            ctx.login.cwd = abs;
            Reply::new(250, "Directory successfully changed.")
        }
        Err(e) => fs_reply(arg, &e),
    }
}
