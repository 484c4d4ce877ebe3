//! RETR (RFC 959 4.1.3): send a file. After REST n (RFC 3659 5) it starts at
//! byte n. TYPE I is spliced from the file to the socket inside the kernel;
//! TYPE A converts LF to CRLF. Over TLS (PROT P) the file goes through a
//! buffer to be encrypted.

use std::rc::Rc;
use std::time::Instant;

use ringftp_proto::command::TransferType;
use ringftp_proto::path;
use ringftp_proto::reply::Reply;

use super::{fs, fs_reply, rel, xfer, Ctx};
use crate::storage::Storage;
use crate::{log, transfer};

pub async fn run(ctx: &mut Ctx<'_>, arg: &str, rest: u64) -> Reply {
    let abs = match ctx.resolve(arg) {
        Ok(p) => p,
        Err(r) => {
            xfer::discard(ctx);
            return r;
        }
    };
    let r = rel(&abs);
    let Storage::Local(jail) = &ctx.login.storage;
    let opened = match jail.open_read_cached(&r) {
        Some(done) => done,
        None => fs(jail, move |j| j.open_read(&r)).await,
    };
    let (file, meta) = match opened {
        Ok(v) => v,
        Err(e) => {
            xfer::discard(ctx);
            return fs_reply(arg, &e);
        }
    };
    if rest > meta.size {
        xfer::discard(ctx);
        return Reply::new(
            554,
            format!(
                "Restart offset {rest} is beyond the file size {}.",
                meta.size
            ),
        );
    }
    let mut conn = match xfer::open(ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let ascii = ctx.login.ty == TransferType::Ascii;
    let name = path::file_name(&abs).unwrap_or("file");
    let opening = format!(
        "Opening {} mode data connection for {name} ({} bytes).",
        if ascii { "ASCII" } else { "BINARY" },
        meta.size - rest
    );
    if ctx.ctl.send(&Reply::new(150, opening)).await.is_err() {
        return Reply::new(426, "Connection closed; transfer aborted.");
    }
    let stall = ctx.shared.config.data_timeout;
    let record = log::Transfer {
        user: ctx.login.user.clone(),
        peer: ctx.peer,
        direction: log::Direction::Download,
        path: &abs,
        ascii,
        started: Instant::now(),
    };
    let file = Rc::new(file);
    let abort = conn.abort_handle();
    let outcome = xfer::watch(
        ctx,
        &abort,
        transfer::send_file(&mut conn, file, rest, ascii, stall),
    )
    .await;
    match outcome {
        xfer::Outcome::Done(n) => {
            if let Err(e) = conn.finish().await {
                record.done(n, log::Outcome::Failed(&e), ctx.shared.xferlog.as_ref());
                return xfer::failure_reply(&transfer::TransferError::Network(e));
            }
            drop(conn);
            record.done(n, log::Outcome::Ok, ctx.shared.xferlog.as_ref());
            Reply::new(226, "Transfer complete.")
        }
        xfer::Outcome::Failed(e) => {
            // The bytes sent before a failure are not counted.
            record.done(0, log::Outcome::Failed(&e), ctx.shared.xferlog.as_ref());
            conn.abort();
            xfer::failure_reply(&e)
        }
        xfer::Outcome::Aborted => {
            record.done(0, log::Outcome::Aborted, ctx.shared.xferlog.as_ref());
            xfer::abort_replies(ctx).await
        }
    }
}
