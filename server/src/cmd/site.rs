//! SITE (RFC 959 4.1.3): CHMOD (as vsftpd and proftpd), SYMLINK (as proftpd's
//! mod_site_misc, for sftp's `ln -s`/`symlink`), STATVFS (filesystem totals
//! for sftp's `df`, which AVBL cannot give) and HELP.
//! A symlink's target is stored as given; it is resolved beneath the user's
//! root whenever it is used, so a link pointing outside leads nowhere.

use ringftp_proto::command::SiteCmd;
use ringftp_proto::reply::Reply;

use super::Ctx;

pub async fn run(ctx: &mut Ctx<'_>, cmd: SiteCmd) -> Reply {
    let done = match cmd {
        SiteCmd::Help => return super::help::run(Some("SITE".to_string())),
        SiteCmd::Other(text) => {
            return Reply::new(500, format!("SITE {text}: unknown SITE command."))
        }
        SiteCmd::Statvfs(path) => {
            let arg = Some(path.as_str()).filter(|p| !p.is_empty());
            ctx.with_path(arg, |s, p| async move { s.statvfs(&p).await })
                .await
                .map(|(_, st)| Reply::new(213, st.encode()))
        }
        SiteCmd::Chmod { mode, path } => {
            if let Some(r) = ctx.deny_write() {
                return r;
            }
            ctx.with_path(
                Some(&path),
                move |s, p| async move { s.chmod(&p, mode).await },
            )
            .await
            .map(|_| Reply::new(200, "SITE CHMOD command ok."))
        }
        SiteCmd::Symlink { target, link } => {
            if let Some(r) = ctx.deny_write() {
                return r;
            }
            ctx.with_path(Some(&link), move |s, p| async move {
                s.symlink(&target, &p).await
            })
            .await
            .map(|_| Reply::new(200, "SITE SYMLINK command ok."))
        }
    };
    done.unwrap_or_else(|r| r)
}
