//! MODE (RFC 959 4.1.2, 3.4): S (stream, the default) and B (block).
//!
//! In block mode (3.4.2) every transfer is framed in blocks and ends with a
//! block carrying the EOF bit, so the data connection outlives the file: a
//! complete transfer keeps it open (250) and the next transfer command uses
//! it (125). MODE S closes a kept connection. C (compressed) is 504.
//! The rules: docs/edge-cases.md, "Server: block mode (MODE B)".

use ringftp_proto::reply::Reply;

use super::Ctx;

pub fn run(ctx: &mut Ctx<'_>, mode: char) -> Reply {
    match mode.to_ascii_uppercase() {
        'S' => {
            ctx.login.block = false;
            ctx.login.kept = None;
            Reply::new(200, "Mode set to S.")
        }
        'B' => {
            ctx.login.block = true;
            // A REST offset is a byte offset of stream mode (RFC 3659 5).
            ctx.login.rest = 0;
            Reply::new(200, "Mode set to B.")
        }
        _ => Reply::new(504, "Bad MODE command: only S and B are supported."),
    }
}
