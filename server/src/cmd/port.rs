//! PORT (RFC 959 4.1.2) and EPRT (RFC 2428 2): the client listens and the
//! server connects. RFC 2577 (bounce attacks): the address must be the
//! control peer's own IP and the port at least 1024; anything else is refused
//! before any connection is attempted.

use std::net::{SocketAddr, SocketAddrV4};

use ringftp_proto::reply::Reply;

use super::Ctx;
use crate::data::{canonical_ip, DataPlan};

pub fn run_port(ctx: &mut Ctx<'_>, addr: SocketAddrV4) -> Reply {
    set(ctx, SocketAddr::V4(addr), "PORT")
}

pub fn run_eprt(ctx: &mut Ctx<'_>, addr: SocketAddr) -> Reply {
    set(ctx, addr, "EPRT")
}

fn set(ctx: &mut Ctx<'_>, addr: SocketAddr, verb: &str) -> Reply {
    ctx.login.data = DataPlan::None;
    // A data connection kept open in block mode closes: the client starts over.
    ctx.login.kept = None;
    if ctx.login.epsv_all {
        return Reply::new(503, format!("{verb} not allowed after EPSV ALL."));
    }
    if canonical_ip(addr.ip()) != canonical_ip(ctx.peer.ip()) {
        let why = format!("data address {addr} is not the client's own (RFC 2577)");
        crate::log::refused(ctx.peer, verb, &why);
        return Reply::new(
            504,
            format!("{verb} refused: the address must be your own (RFC 2577)."),
        );
    }
    if addr.port() < 1024 {
        crate::log::refused(ctx.peer, verb, "data port below 1024 (RFC 2577)");
        return Reply::new(
            504,
            format!("{verb} refused: ports below 1024 are not allowed (RFC 2577)."),
        );
    }
    let target = SocketAddr::new(ctx.peer.ip(), addr.port());
    ctx.login.data = DataPlan::Active(target);
    Reply::new(
        200,
        format!("{verb} command successful. Consider using EPSV."),
    )
}
