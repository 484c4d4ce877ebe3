//! STAT (RFC 959 4.1.3): without an argument, the session's status (211);
//! with a path, its listing sent over the control connection (213), which
//! needs no data connection.

use ringftp_proto::command::TransferType;
use ringftp_proto::listing::format_list_line;
use ringftp_proto::reply::Reply;

use super::{list, Ctx};
use crate::data::DataPlan;

pub async fn run(ctx: &mut Ctx<'_>, arg: Option<&str>) -> Reply {
    let Some(arg) = arg else {
        let ty = match ctx.login.ty {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        };
        let mode = if ctx.login.block { "Block" } else { "Stream" };
        let data = match ctx.login.data {
            DataPlan::None if ctx.login.kept.is_some() => "kept open (block mode)",
            DataPlan::None => "none",
            DataPlan::Passive(_) => "passive listener open",
            DataPlan::Active(_) => "active (PORT) set",
        };
        return Reply::multi(
            211,
            vec![
                "FTP server status:".to_string(),
                format!("     Connected to {}", ctx.peer.ip()),
                format!("     Logged in as {}", ctx.login.user),
                format!("     TYPE: {ty}, STRUcture: File, MODE: {mode}"),
                format!("     Data connection: {data}"),
                format!("     Current directory: {}", ctx.login.cwd),
                format!("     ringftpd {}", env!("CARGO_PKG_VERSION")),
                "End of status".to_string(),
            ],
        );
    };
    let entries = match list::entries(ctx, Some(arg)).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let now = list::now();
    let mut lines = vec![format!("Status of {arg}:")];
    lines.extend(entries.iter().map(|e| format_list_line(e, now)));
    lines.push("End of status".to_string());
    Reply::multi(213, lines)
}
