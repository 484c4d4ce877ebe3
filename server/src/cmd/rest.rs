//! REST (RFC 3659 5, STREAM mode): the byte offset where the next RETR or
//! STOR starts. It applies to the very next command only.
//!
//! In block mode RFC 959 makes REST's argument a restart marker, and RFC
//! 3659's byte offsets are defined for stream mode only: 504 there.

use ringftp_proto::reply::Reply;

use super::Ctx;

pub fn run(ctx: &mut Ctx<'_>, offset: u64) -> Reply {
    if ctx.login.block {
        return Reply::new(504, "REST is only supported in MODE S.");
    }
    ctx.login.rest = offset;
    Reply::new(350, format!("Restart position accepted ({offset})."))
}
