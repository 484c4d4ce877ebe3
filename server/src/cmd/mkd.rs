//! MKD / XMKD (RFC 959 4.1.3): make a directory; 257 with its absolute path.

use ringftp_proto::path::quote_257;
use ringftp_proto::reply::Reply;

use super::Ctx;
use crate::jail::FsError;

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    if let Some(r) = ctx.deny_write() {
        return r;
    }
    let made = ctx.with_path(Some(arg), |j, p| match p {
        "." => Err(FsError::AlreadyExists),
        _ => j.mkdir(p),
    });
    match made.await {
        Ok((abs, ())) => Reply::new(257, format!("{} created", quote_257(&abs))),
        Err(r) => r,
    }
}
