//! MKD / XMKD (RFC 959 4.1.3): make a directory; 257 with its absolute path.

use ringftp_proto::path::quote_257;
use ringftp_proto::reply::Reply;

use super::Ctx;
use crate::storage::FsError;

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    if let Some(r) = ctx.deny_write() {
        return r;
    }
    let made = ctx.with_path(Some(arg), |s, p| async move {
        match p.as_str() {
            "." => Err(FsError::AlreadyExists),
            _ => s.mkdir(&p).await,
        }
    });
    match made.await {
        Ok((abs, ())) => Reply::new(257, format!("{} created", quote_257(&abs))),
        Err(r) => r,
    }
}
