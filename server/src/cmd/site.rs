//! SITE (RFC 959 4.1.3): CHMOD (as vsftpd and proftpd), SYMLINK (as proftpd's
//! mod_site_misc, for sftp's `ln -s`/`symlink`), STATVFS (filesystem totals
//! for sftp's `df`, which AVBL cannot give) and HELP.
//! A symlink's target is stored as given; it is resolved beneath the user's
//! root whenever it is used, so a link pointing outside leads nowhere.

use ringftp_proto::command::SiteCmd;
use ringftp_proto::reply::Reply;

use super::{fs, fs_reply, rel, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, cmd: SiteCmd) -> Reply {
    match cmd {
        SiteCmd::Help => super::help::run(Some("SITE".to_string())),
        SiteCmd::Statvfs(path) => {
            let abs = if path.is_empty() {
                ctx.login.cwd.clone()
            } else {
                match ctx.resolve(&path) {
                    Ok(p) => p,
                    Err(r) => return r,
                }
            };
            let r = rel(&abs);
            match fs(&ctx.login.jail, move |j| j.statvfs(&r)).await {
                Ok(st) => Reply::new(213, st.encode()),
                Err(e) => fs_reply(if path.is_empty() { "." } else { &path }, &e),
            }
        }
        SiteCmd::Other(text) => Reply::new(500, format!("SITE {text}: unknown SITE command.")),
        SiteCmd::Chmod { mode, path } => {
            if let Some(r) = ctx.deny_write() {
                return r;
            }
            let abs = match ctx.resolve(&path) {
                Ok(p) => p,
                Err(r) => return r,
            };
            let r = rel(&abs);
            match fs(&ctx.login.jail, move |j| j.chmod(&r, mode)).await {
                Ok(()) => Reply::new(200, "SITE CHMOD command ok."),
                Err(e) => fs_reply(&path, &e),
            }
        }
        SiteCmd::Symlink { target, link } => {
            if let Some(r) = ctx.deny_write() {
                return r;
            }
            let abs = match ctx.resolve(&link) {
                Ok(p) => p,
                Err(r) => return r,
            };
            let r = rel(&abs);
            match fs(&ctx.login.jail, move |j| j.symlink(&target, &r)).await {
                Ok(()) => Reply::new(200, "SITE SYMLINK command ok."),
                Err(e) => fs_reply(&link, &e),
            }
        }
    }
}
