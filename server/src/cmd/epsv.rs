//! EPSV (RFC 2428 3): like PASV but only the port is announced
//! ("(|||port|)"), so it works for IPv4 and IPv6 and through NAT. "EPSV ALL"
//! tells the server that only EPSV will be used from now on.
//!
//! Behind a load balancer, EPSV's reply names no address, so the client
//! connects to the balancer address it used for the control connection. That
//! works when the balancer forwards this instance's passive ports, that is
//! when the address PASV would announce (`passive_address`) is that same
//! address. When PASV names another one (the instance's own, for direct data
//! connections), the client gets 502 and falls back to PASV.

use ringftp_proto::addr::format_epsv;
use ringftp_proto::command::EpsvArg;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ringftp_proto::reply::Reply;

use super::Ctx;
use crate::data::{canonical_ip, DataPlan};
use crate::session::Via;

/// Whether a client's EPSV data connection would reach this instance: always
/// without a balancer; behind one, when the address PASV announces is the
/// balancer address the client connected to (the balancer forwards the
/// passive ports).
pub fn reachable(via: Option<Via>, local: SocketAddr, passive_address: Option<Ipv4Addr>) -> bool {
    let Some(via) = via else { return true };
    let announced = passive_address.map_or(canonical_ip(local.ip()), IpAddr::V4);
    announced == canonical_ip(via.entry.ip())
}

pub fn run(ctx: &mut Ctx<'_>, arg: EpsvArg) -> Reply {
    if !reachable(ctx.via, ctx.local, ctx.shared.config.passive_address) {
        return Reply::new(
            502,
            "EPSV not available through the load balancer; use PASV.",
        );
    }
    let local = canonical_ip(ctx.local.ip());
    if !matches!(arg, EpsvArg::All) {
        // A data connection kept open in block mode closes: the client starts over.
        ctx.login.kept = None;
    }
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
    // The previous listener, if any, closes before a new one is counted.
    ctx.login.data = DataPlan::None;
    match ctx.shared.ports.listen(local, ctx.peer.ip()) {
        Ok(l) => {
            let reply = Reply::new(229, format_epsv(l.addr.port()));
            ctx.login.data = DataPlan::Passive(l);
            reply
        }
        Err(e) => Reply::new(425, format!("{e}.")),
    }
}
