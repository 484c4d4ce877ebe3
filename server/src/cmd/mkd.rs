//! MKD / XMKD (RFC 959 4.1.3): make a directory; 257 with its absolute path.

use ringftp_proto::path::quote_257;
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
        return Reply::new(550, format!("{arg}: File exists"));
    }
    let r = rel(&abs);
    match fs(&ctx.login.jail, move |j| j.mkdir(&r)).await {
        Ok(()) => Reply::new(257, format!("{} created", quote_257(&abs))),
        Err(e) => fs_reply(arg, &e),
    }
}
