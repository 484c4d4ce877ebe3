//! AVBL (draft-peterson-streamlined-ftp-command-extensions 4): the bytes
//! free for this user in a directory.

use ringftp_proto::reply::Reply;

use super::Ctx;

pub async fn run(ctx: &mut Ctx<'_>, arg: Option<&str>) -> Reply {
    match ctx
        .with_path(arg, |s, p| async move { s.available(&p).await })
        .await
    {
        Ok((_, n)) => Reply::new(213, n.to_string()),
        Err(r) => r,
    }
}
