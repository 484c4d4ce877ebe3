//! CWD / XCWD (RFC 959 4.1.1): change the working directory. The target is
//! checked beneath the user's root before the session moves there.

use ringftp_proto::reply::Reply;

use super::Ctx;

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    match ctx
        .with_path(Some(arg), |s, p| async move { s.open_dir(&p).await })
        .await
    {
        Ok((abs, ())) => {
            ctx.login.cwd = abs;
            Reply::new(250, "Directory successfully changed.")
        }
        Err(r) => r,
    }
}
