//! RNFR (RFC 959 4.1.3): "specifies the old pathname of the file which is to
//! be renamed"; 350 when it exists, and RNTO must follow at once.

use ringftp_proto::reply::Reply;

use super::{not_root, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    if let Some(r) = ctx.deny_write() {
        return r;
    }
    match ctx
        .with_path(Some(arg), |s, p| async move {
            not_root(&p)?;
            s.stat(&p).await
        })
        .await
    {
        Ok((abs, _)) => {
            ctx.login.rnfr = Some(abs);
            Reply::new(350, "Ready for RNTO.")
        }
        Err(r) => r,
    }
}
