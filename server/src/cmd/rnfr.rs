//! RNFR (RFC 959 4.1.3): "specifies the old pathname of the file which is to
//! be renamed"; 350 when it exists, and RNTO must follow at once.

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
    match fs(&ctx.login.jail, move |j| j.stat(&r)).await {
        Ok(_) => {
            ctx.login.rnfr = Some(abs);
            Reply::new(350, "Ready for RNTO.")
        }
        Err(e) => fs_reply(arg, &e),
    }
}
