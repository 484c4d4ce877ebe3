//! RNTO (RFC 959 4.1.3): the new name for the file named by the RNFR just
//! before. An existing target file is replaced (rename(2) semantics, as
//! OpenSSH's posix-rename); an existing non-empty directory is not.

use ringftp_proto::reply::Reply;

use super::{fs, fs_reply, rel, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, from: Option<String>, arg: &str) -> Reply {
    let Some(from) = from else {
        return Reply::new(503, "Bad sequence of commands: RNFR first.");
    };
    if let Some(r) = ctx.deny_write() {
        return r;
    }
    let to = match ctx.resolve(arg) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if to == "/" {
        return Reply::new(550, format!("{arg}: Permission denied"));
    }
    let (f, t) = (rel(&from), rel(&to));
    match fs(&ctx.login.jail, move |j| j.rename(&f, &t)).await {
        Ok(()) => Reply::new(250, "Rename successful."),
        Err(e) => fs_reply(arg, &e),
    }
}
