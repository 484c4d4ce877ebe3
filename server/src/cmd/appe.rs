//! APPE (RFC 959 4.1.3): append to a file, creating it if missing. Used to
//! resume uploads; an interrupted APPE keeps what arrived.

use ringftp_proto::reply::Reply;

use super::Ctx;

pub async fn run(ctx: &mut Ctx<'_>, arg: &str) -> Reply {
    super::stor::run(ctx, arg, 0, true).await
}
