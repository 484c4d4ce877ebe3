//! RNTO (RFC 959 4.1.3): the new name for the file named by the RNFR just
//! before. An existing target file is replaced (rename(2) semantics, as
//! OpenSSH's posix-rename); an existing non-empty directory is not.

use ringftp_proto::reply::Reply;

use super::{not_root, rel, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, from: Option<String>, arg: &str) -> Reply {
    let Some(from) = from else {
        return Reply::new(503, "Bad sequence of commands: RNFR first.");
    };
    if let Some(r) = ctx.deny_write() {
        return r;
    }
    let from = rel(&from);
    match ctx
        .with_path(Some(arg), move |s, to| async move {
            not_root(&to)?;
            s.rename(&from, &to).await
        })
        .await
    {
        Ok(_) => Reply::new(250, "Rename successful."),
        Err(r) => r,
    }
}
