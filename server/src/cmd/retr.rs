//! RETR (RFC 959 4.1.3): send a file. After REST n (RFC 3659 5) it starts at
//! byte n. TYPE I is spliced from the file to the socket inside the kernel;
//! TYPE A converts LF to CRLF. Over TLS (PROT P) the file goes through a
//! buffer to be encrypted. On object storage the file is a GET (ranged,
//! `bytes=n-`, after REST n) streamed through a buffer. In block mode the
//! file is framed through a buffer and the data connection stays open.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use ringftp_proto::command::TransferType;
use ringftp_proto::path;
use ringftp_proto::reply::Reply;

use super::{fs, fs_reply, rel, xfer, Ctx};
use crate::data::DataConn;
use crate::storage::Storage;
use crate::{log, transfer};

/// What is sent: a local file, or an object about to be fetched.
enum Source {
    File(std::fs::File),
    Object(crate::storage::s3::S3Store, crate::storage::s3::Object),
}

pub async fn run(ctx: &mut Ctx<'_>, arg: &str, rest: u64) -> Reply {
    let abs = match ctx.resolve(arg) {
        Ok(p) => p,
        Err(r) => {
            xfer::discard(ctx);
            return r;
        }
    };
    let r = rel(&abs);
    let opened = match &ctx.login.storage {
        Storage::Local(jail) => {
            let opened = match jail.open_read_cached(&r) {
                Some(done) => done,
                None => fs(jail, move |j| j.open_read(&r)).await,
            };
            opened.map(|(file, meta)| (Source::File(file), meta.size))
        }
        Storage::S3(store) => store.open_read(&r).await.map(|obj| {
            let size = obj.size();
            (Source::Object(store.clone(), obj), size)
        }),
    };
    let (source, size) = match opened {
        Ok(v) => v,
        Err(e) => {
            xfer::discard(ctx);
            return fs_reply(arg, &e);
        }
    };
    if rest > size {
        xfer::discard(ctx);
        return Reply::new(
            554,
            format!("Restart offset {rest} is beyond the file size {size}."),
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
        size - rest
    );
    if ctx.ctl.send(&xfer::starting(&conn, opening)).await.is_err() {
        return Reply::new(426, "Connection closed; transfer aborted.");
    }
    let record = log::Transfer {
        user: ctx.login.user.clone(),
        peer: ctx.peer,
        direction: log::Direction::Download,
        path: &abs,
        ascii,
        started: Instant::now(),
    };
    let sent = Cell::new(0);
    let outcome = send(ctx, &mut conn, source, rest, size, ascii, &sent).await;
    match outcome {
        xfer::Outcome::Done(n) => {
            if let Err(e) = conn.finish(ctx.shared.config.data_timeout).await {
                record.done(n, log::Outcome::Failed(&e), ctx.shared.xferlog.as_ref());
                return xfer::failure_reply(&transfer::TransferError::Network(e));
            }
            record.done(n, log::Outcome::Ok, ctx.shared.xferlog.as_ref());
            xfer::complete(ctx, conn, "Transfer complete.")
        }
        xfer::Outcome::Failed(e) => {
            record.done(
                sent.get(),
                log::Outcome::Failed(&e),
                ctx.shared.xferlog.as_ref(),
            );
            conn.abort();
            xfer::failure_reply(&e)
        }
        xfer::Outcome::Aborted => {
            record.done(
                sent.get(),
                log::Outcome::Aborted,
                ctx.shared.xferlog.as_ref(),
            );
            xfer::abort_replies(ctx).await
        }
    }
}

/// Moves the bytes while watching the control connection for ABOR.
async fn send(
    ctx: &mut Ctx<'_>,
    conn: &mut DataConn,
    source: Source,
    rest: u64,
    size: u64,
    ascii: bool,
    sent: &Cell<u64>,
) -> xfer::Outcome<u64> {
    let stall = ctx.shared.config.data_timeout;
    let abort = conn.abort_handle();
    match source {
        Source::File(file) => {
            let moving = transfer::send_file(conn, Rc::new(file), rest, size, ascii, stall, sent);
            xfer::watch(ctx, &abort, moving).await
        }
        Source::Object(store, obj) => {
            let mut download = store.download(&obj, rest);
            let moving = transfer::send_download(conn, &mut download, ascii, stall, sent);
            xfer::watch(ctx, &abort, moving).await
        }
    }
}
