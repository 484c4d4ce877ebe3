//! PASV (RFC 959 4.1.1): listen for the data connection and say where, as
//! h1,h2,h3,h4,p1,p2. The listener is on the control connection's local
//! address (or the configured passive_address is announced, for NAT) and only
//! the control peer may connect to it (RFC 2577), once. A new PASV/EPSV closes
//! the previous listener first: one pending listener per session; so does a
//! data connection kept open in block mode.

use std::net::{IpAddr, SocketAddrV4};

use ringftp_proto::addr::format_pasv;
use ringftp_proto::reply::Reply;

use super::Ctx;
use crate::data::{canonical_ip, DataPlan};

pub fn run(ctx: &mut Ctx<'_>) -> Reply {
    // A data connection kept open in block mode closes: the client starts over.
    ctx.login.kept = None;
    if ctx.login.epsv_all {
        return Reply::new(503, "PASV not allowed after EPSV ALL.");
    }
    let IpAddr::V4(local) = canonical_ip(ctx.local.ip()) else {
        return Reply::new(522, "PASV is IPv4 only on this connection; use EPSV.");
    };
    // The previous listener, if any, closes before a new one is counted.
    ctx.login.data = DataPlan::None;
    match ctx.shared.ports.listen(IpAddr::V4(local), ctx.peer.ip()) {
        Ok(l) => {
            let shown = ctx.shared.config.passive_address.unwrap_or(local);
            let reply = Reply::new(227, format_pasv(SocketAddrV4::new(shown, l.addr.port())));
            ctx.login.data = DataPlan::Passive(l);
            reply
        }
        Err(e) => Reply::new(425, format!("{e}.")),
    }
}
