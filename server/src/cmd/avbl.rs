//! AVBL (draft-peterson-streamlined-ftp-command-extensions 4): the bytes
//! free for this user in a directory, for sftp's `df`.

use ringftp_proto::reply::Reply;

use super::{fs, fs_reply, rel, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, arg: Option<&str>) -> Reply {
    let abs = match arg {
        Some(a) => match ctx.resolve(a) {
            Ok(p) => p,
            Err(r) => return r,
        },
        None => ctx.login.cwd.clone(),
    };
    let r = rel(&abs);
    match fs(&ctx.login.jail, move |j| j.available(&r)).await {
        Ok(n) => Reply::new(213, n.to_string()),
        Err(e) => fs_reply(arg.unwrap_or("."), &e),
    }
}
