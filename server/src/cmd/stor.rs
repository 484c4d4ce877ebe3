//! STOR (RFC 959 4.1.3): receive a file, replacing any existing one. The
//! rule that keeps uploads from losing data (docs/edge-cases.md, "Uploads"):
//! - over an existing file, data goes to a temporary file in the same
//!   directory, renamed into place only when the upload completes, so a failed
//!   upload leaves the old file intact;
//! - a new file is written under its own name, so an interrupted upload can be
//!   resumed with REST + STOR or APPE;
//! - after REST n, writing starts at byte n of the existing file (resume).
//!
//! TYPE I is spliced from the socket into the file inside the kernel; over
//! TLS (PROT P) it is decrypted through a buffer.
//!
//! On object storage the bytes stream into a multipart upload (one PutObject
//! for a file under `part_size`), completed only after the data connection
//! closed cleanly with every byte; a failed, cut-off or aborted upload aborts
//! it, so the old object stays and no parts are left behind. Objects are
//! immutable: APPE onto an existing object and REST n + STOR get 550.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use ringftp_proto::command::TransferType;
use ringftp_proto::reply::Reply;

use super::{fs, fs_reply, rel, xfer, Ctx};
use crate::storage::s3::S3Store;
use crate::storage::{Storage, UploadMode};
use crate::{log, transfer};

pub async fn run(ctx: &mut Ctx<'_>, arg: &str, rest: u64, append: bool) -> Reply {
    let mode = if append {
        UploadMode::Append
    } else if rest > 0 {
        UploadMode::Resume(rest)
    } else {
        UploadMode::Replace
    };
    receive(ctx, arg, mode, None).await
}

/// Receives into `arg` with the given mode; `unique` is STOU's 150 text.
pub async fn receive(
    ctx: &mut Ctx<'_>,
    arg: &str,
    mode: UploadMode,
    unique: Option<String>,
) -> Reply {
    if let Some(r) = ctx.deny_write() {
        xfer::discard(ctx);
        return r;
    }
    let abs = match ctx.resolve(arg) {
        Ok(p) => p,
        Err(r) => {
            xfer::discard(ctx);
            return r;
        }
    };
    let r = rel(&abs);
    let jail = match &ctx.login.storage {
        Storage::Local(jail) => jail.clone(),
        Storage::S3(store) => {
            let store = store.clone();
            return receive_object(ctx, arg, &abs, &store, mode, unique).await;
        }
    };
    let upload = match fs(&jail, move |j| j.create_upload(&r, mode)).await {
        Ok(u) => u,
        Err(e) => {
            xfer::discard(ctx);
            return fs_reply(arg, &e);
        }
    };
    let mut conn = match xfer::open(ctx).await {
        Ok(c) => c,
        Err(reply) => {
            let _ = fs(&jail, move |_| {
                upload.abort();
                Ok(())
            })
            .await;
            return reply;
        }
    };
    let opening = unique.unwrap_or_else(|| "Ok to send data.".to_string());
    if ctx.ctl.send(&Reply::new(150, opening)).await.is_err() {
        conn.abort();
        let _ = fs(&jail, move |_| {
            upload.abort();
            Ok(())
        })
        .await;
        return Reply::new(426, "Connection closed; transfer aborted.");
    }
    let ascii = ctx.login.ty == TransferType::Ascii;
    let stall = ctx.shared.config.data_timeout;
    let file = match upload.file().try_clone() {
        Ok(f) => Rc::new(f),
        Err(e) => {
            conn.abort();
            let _ = fs(&jail, move |_| {
                upload.abort();
                Ok(())
            })
            .await;
            return Reply::new(451, format!("Local error: {e}."));
        }
    };
    let offset = upload.offset();
    let record = log::Transfer {
        user: ctx.login.user.clone(),
        peer: ctx.peer,
        direction: log::Direction::Upload,
        path: &abs,
        ascii,
        started: Instant::now(),
    };
    // What reached the file before a failure (fstat; the file is local).
    let partial = |f: &std::fs::File| f.metadata().map_or(0, |m| m.len().saturating_sub(offset));
    let abort = conn.abort_handle();
    let outcome = xfer::watch(
        ctx,
        &abort,
        transfer::receive_file(&mut conn, file, offset, ascii, stall),
    )
    .await;
    match outcome {
        xfer::Outcome::Done(n) => {
            if conn.is_tls() {
                // Answer the client's close_notify (Python's ftplib waits
                // for it); all data has arrived, so a failure here is moot.
                let _ = conn.finish().await;
            }
            drop(conn);
            let committed = if upload.needs_commit() {
                fs(&jail, move |_| upload.commit()).await
            } else {
                upload.commit()
            };
            match committed {
                Ok(()) => {
                    record.done(n, log::Outcome::Ok, ctx.shared.xferlog.as_ref());
                    Reply::new(226, "Transfer complete.")
                }
                Err(e) => {
                    record.done(n, log::Outcome::Failed(&e), ctx.shared.xferlog.as_ref());
                    fs_reply(arg, &e)
                }
            }
        }
        xfer::Outcome::Failed(e) => {
            let n = partial(upload.file());
            record.done(n, log::Outcome::Failed(&e), ctx.shared.xferlog.as_ref());
            conn.abort();
            let _ = fs(&jail, move |_| {
                upload.abort();
                Ok(())
            })
            .await;
            xfer::failure_reply(&e)
        }
        xfer::Outcome::Aborted => {
            let n = partial(upload.file());
            record.done(n, log::Outcome::Aborted, ctx.shared.xferlog.as_ref());
            let _ = fs(&jail, move |_| {
                upload.abort();
                Ok(())
            })
            .await;
            xfer::abort_replies(ctx).await
        }
    }
}

/// [`receive`] into an object: a multipart upload committed only on success.
async fn receive_object(
    ctx: &mut Ctx<'_>,
    arg: &str,
    abs: &str,
    store: &S3Store,
    mode: UploadMode,
    unique: Option<String>,
) -> Reply {
    let mut upload = match store.create_upload(&rel(abs), mode).await {
        Ok(u) => u,
        Err(e) => {
            xfer::discard(ctx);
            return fs_reply(arg, &e);
        }
    };
    let mut conn = match xfer::open(ctx).await {
        Ok(c) => c,
        Err(reply) => {
            upload.abort().await;
            return reply;
        }
    };
    let opening = unique.unwrap_or_else(|| "Ok to send data.".to_string());
    if ctx.ctl.send(&Reply::new(150, opening)).await.is_err() {
        conn.abort();
        upload.abort().await;
        return Reply::new(426, "Connection closed; transfer aborted.");
    }
    let ascii = ctx.login.ty == TransferType::Ascii;
    let stall = ctx.shared.config.data_timeout;
    let record = log::Transfer {
        user: ctx.login.user.clone(),
        peer: ctx.peer,
        direction: log::Direction::Upload,
        path: abs,
        ascii,
        started: Instant::now(),
    };
    let received = Cell::new(0);
    let abort = conn.abort_handle();
    let outcome = xfer::watch(
        ctx,
        &abort,
        transfer::receive_upload(&mut conn, &mut upload, ascii, stall, &received),
    )
    .await;
    match outcome {
        xfer::Outcome::Done(n) => {
            if conn.is_tls() {
                // As for a file: answer the client's close_notify.
                let _ = conn.finish().await;
            }
            drop(conn);
            match upload.commit().await {
                Ok(()) => {
                    record.done(n, log::Outcome::Ok, ctx.shared.xferlog.as_ref());
                    Reply::new(226, "Transfer complete.")
                }
                Err(e) => {
                    record.done(n, log::Outcome::Failed(&e), ctx.shared.xferlog.as_ref());
                    fs_reply(arg, &e)
                }
            }
        }
        xfer::Outcome::Failed(e) => {
            conn.abort();
            upload.abort().await;
            record.done(
                received.get(),
                log::Outcome::Failed(&e),
                ctx.shared.xferlog.as_ref(),
            );
            xfer::failure_reply(&e)
        }
        xfer::Outcome::Aborted => {
            upload.abort().await;
            record.done(
                received.get(),
                log::Outcome::Aborted,
                ctx.shared.xferlog.as_ref(),
            );
            xfer::abort_replies(ctx).await
        }
    }
}
