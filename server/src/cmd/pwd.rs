//! PWD / XPWD (RFC 959 4.1.3, reply 257 per appendix II): the current
//! directory, quoted, with embedded quotes doubled.

use ringftp_proto::path::quote_257;
use ringftp_proto::reply::Reply;

use super::Ctx;

pub fn run(ctx: &Ctx<'_>) -> Reply {
    Reply::new(
        257,
        format!("{} is the current directory", quote_257(&ctx.login.cwd)),
    )
}
