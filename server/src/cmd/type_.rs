//! TYPE (RFC 959 4.1.2): A (ASCII, line ends converted) or I (image, bytes
//! as they are). L 8 is accepted as I. The default is A, as the RFC says.

use ringftp_proto::command::TransferType;
use ringftp_proto::reply::Reply;

use super::Ctx;

pub fn run(ctx: &mut Ctx<'_>, ty: TransferType) -> Reply {
    ctx.login.ty = ty;
    match ty {
        TransferType::Ascii => Reply::new(200, "Switching to ASCII mode."),
        TransferType::Image => Reply::new(200, "Switching to Binary mode."),
    }
}
