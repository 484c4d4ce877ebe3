//! SIZE (RFC 3659 4): the size of a file in bytes, as stored (this server
//! reports the same number in TYPE A; converting the whole file just to count
//! is not worth it, and clients use SIZE for binary resume).

use ringftp_proto::listing::FileKind;
use ringftp_proto::reply::Reply;

use super::Ctx;

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    match ctx
        .with_path(Some(arg), |s, p| async move { s.metadata(&p).await })
        .await
    {
        Ok((_, m)) if m.kind == FileKind::File => Reply::new(213, m.size.to_string()),
        Ok(_) => Reply::new(550, format!("{arg}: Not a regular file")),
        Err(r) => r,
    }
}
