//! LIST (RFC 959 4.1.3): a directory listing for people, in `ls -l` form
//! (what curl, lftp and FileZilla parse). Options such as `-a` or `-la` are
//! tolerated and dropped by `proto`; dot files are always listed, because
//! mirroring clients need them and the server hides nothing the user may read.

use ringftp_proto::listing::{format_list_line, FileInfo};
use ringftp_proto::reply::Reply;

use super::{fs_reply, rel, xfer, Ctx};
use crate::transfer;

/// The entries of `arg` (the current directory when absent): a directory's
/// contents, or the one file named.
pub async fn entries(ctx: &mut Ctx<'_>, arg: Option<&str>) -> Result<Vec<FileInfo>, Reply> {
    let shown = arg.unwrap_or(".").to_string();
    let abs = match arg {
        Some(a) => ctx.resolve(a)?,
        None => ctx.login.cwd.clone(),
    };
    let r = rel(&abs);
    ctx.login
        .storage
        .list(&r, true)
        .await
        .map_err(|e| fs_reply(&shown, &e))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Sends generated text over a new data connection: 150, the bytes, 226
/// (in block mode, on a kept one too: 125, the blocks, 250).
pub async fn send_listing(ctx: &mut Ctx<'_>, text: String) -> Reply {
    let mut conn = match xfer::open(ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let starting = xfer::starting(&conn, "Here comes the directory listing.".to_string());
    if ctx.ctl.send(&starting).await.is_err() {
        return Reply::new(426, "Connection closed; transfer aborted.");
    }
    let stall = ctx.shared.config.data_timeout;
    let abort = conn.abort_handle();
    match xfer::watch(
        ctx,
        &abort,
        transfer::send_bytes(&mut conn, text.into_bytes(), stall),
    )
    .await
    {
        xfer::Outcome::Done(()) => {
            if let Err(e) = conn.finish(stall).await {
                return xfer::failure_reply(&transfer::TransferError::Network(e));
            }
            xfer::complete(ctx, conn, "Directory send OK.")
        }
        xfer::Outcome::Failed(e) => xfer::failure_reply(&e),
        xfer::Outcome::Aborted => xfer::abort_replies(ctx).await,
    }
}

pub async fn run(ctx: &mut Ctx<'_>, arg: Option<&str>) -> Reply {
    let list = match entries(ctx, arg).await {
        Ok(l) => l,
        Err(r) => {
            xfer::discard(ctx);
            return r;
        }
    };
    let now = now();
    let mut text = String::with_capacity(list.len() * 64);
    for info in &list {
        text.push_str(&format_list_line(info, now));
        text.push_str("\r\n");
    }
    send_listing(ctx, text).await
}
