//! RMD / XRMD (RFC 959 4.1.3): remove an empty directory, like rmdir(2);
//! the user's root itself never.

use ringftp_proto::reply::Reply;

use super::{not_root, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    if let Some(r) = ctx.deny_write() {
        return r;
    }
    match ctx
        .with_path(Some(arg), |s, p| async move {
            not_root(&p)?;
            s.rmdir(&p).await
        })
        .await
    {
        Ok(_) => Reply::new(250, "Directory removed."),
        Err(r) => r,
    }
}
