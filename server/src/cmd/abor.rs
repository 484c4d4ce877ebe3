//! ABOR (RFC 959 4.1.3) outside a transfer: nothing runs, so only a pending
//! data connection setup is dropped. During a transfer, ABOR is read by
//! `xfer::watch` and answered 426 then 226.

use ringftp_proto::reply::Reply;

use super::{xfer, Ctx};

pub fn run(ctx: &mut Ctx<'_>) -> Reply {
    xfer::discard(ctx);
    Reply::new(225, "No transfer to abort.")
}
