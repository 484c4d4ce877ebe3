//! DELE (RFC 959 4.1.3): delete a file. Directories are refused (use RMD).

use ringftp_proto::reply::Reply;

use super::Ctx;

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    if let Some(r) = ctx.deny_write() {
        return r;
    }
    match ctx
        .with_path(Some(arg), |s, p| async move { s.remove_file(&p).await })
        .await
    {
        Ok(_) => Reply::new(250, "File deleted."),
        Err(r) => r,
    }
}
