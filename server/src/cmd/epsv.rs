//! EPSV (RFC 2428 3): like PASV but only the port is announced
//! ("(|||port|)"), so it works for IPv4 and IPv6 and through NAT. "EPSV ALL"
//! tells the server that only EPSV will be used from now on.
//!
//! Behind a load balancer EPSV cannot work: its reply names no address, so
//! the client connects to the balancer, while data connections go straight to
//! this instance. A client that came through one gets 502 and falls back to
//! PASV, which names this instance's `passive_address`.

use ringftp_proto::addr::format_epsv;
use ringftp_proto::command::EpsvArg;
use ringftp_proto::reply::Reply;

use super::Ctx;
use crate::data::{canonical_ip, DataPlan};

pub fn run(ctx: &mut Ctx<'_>, arg: EpsvArg) -> Reply {
    if ctx.via.is_some() {
        return Reply::new(
            502,
            "EPSV not available through the load balancer; use PASV.",
        );
    }
    let local = canonical_ip(ctx.local.ip());
    match arg {
        EpsvArg::All => {
            ctx.login.epsv_all = true;
            return Reply::new(200, "EPSV ALL ok.");
        }
        EpsvArg::Protocol(p) => {
            let ours = if local.is_ipv4() { 1 } else { 2 };
            if p != ours {
                return Reply::new(
                    522,
                    format!("Network protocol not supported, use ({ours})."),
                );
            }
        }
        EpsvArg::Any => {}
    }
    ctx.login.data = DataPlan::None;
    match ctx.shared.ports.listen(local) {
        Ok(l) => {
            let reply = Reply::new(229, format_epsv(l.addr.port()));
            ctx.login.data = DataPlan::Passive(l);
            reply
        }
        Err(e) => Reply::new(425, format!("Can't open passive connection: {e}.")),
    }
}
