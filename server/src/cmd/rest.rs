//! REST (RFC 3659 5, STREAM mode): the byte offset where the next RETR or
//! STOR starts. It applies to the very next command only.

use ringftp_proto::reply::Reply;

use super::Ctx;

pub fn run(ctx: &mut Ctx<'_>, offset: u64) -> Reply {
    ctx.login.rest = offset;
    Reply::new(350, format!("Restart position accepted ({offset})."))
}
