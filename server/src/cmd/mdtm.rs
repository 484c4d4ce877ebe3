//! MDTM (RFC 3659 3): a file's modification time, YYYYMMDDHHMMSS in UTC.

use ringftp_proto::listing::{format_time_val, FileKind};
use ringftp_proto::reply::Reply;

use super::Ctx;

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    match ctx
        .with_path(Some(arg), |s, p| async move { s.metadata(&p).await })
        .await
    {
        Ok((_, m)) if m.kind == FileKind::File => Reply::new(213, format_time_val(m.mtime)),
        Ok(_) => Reply::new(550, format!("{arg}: Not a regular file")),
        Err(r) => r,
    }
}
