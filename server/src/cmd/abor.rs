//! ABOR (RFC 959 4.1.3) outside a transfer: nothing runs, so only a pending
//! data connection setup is dropped. During a transfer, ABOR is read by
//! `xfer::watch` and answered 426 then 226.
//!
//! In block mode a data connection kept open after a completed transfer is
//! closed too, as RFC 959 says for a completed service ("the server closes
//! the data connection (if it is open) and responds with a 226 reply").

use ringftp_proto::reply::Reply;

use super::{xfer, Ctx};

pub fn run(ctx: &mut Ctx<'_>) -> Reply {
    xfer::discard(ctx);
    if ctx.login.kept.take().is_some() {
        return Reply::new(226, "No transfer to abort; data connection closed.");
    }
    Reply::new(225, "No transfer to abort.")
}
