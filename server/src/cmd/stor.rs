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
//! TLS (PROT P) it is decrypted through a buffer. In block mode (MODE B) the
//! upload is complete at its EOF block, not at the close: a connection that
//! closes before it is a cut-off upload (426, nothing committed), and after a
//! complete one the connection stays open for the next transfer (250).
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
use crate::data::DataConn;
use crate::storage::{s3, FsError, Jail, Storage, UploadMode};
use crate::{jail, log, transfer};

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
    let mut target = match Target::create(&ctx.login.storage, arg, rel(&abs), mode).await {
        Ok(t) => t,
        Err(reply) => {
            xfer::discard(ctx);
            return reply;
        }
    };
    let mut conn = match xfer::open(ctx).await {
        Ok(c) => c,
        Err(reply) => {
            target.abort().await;
            return reply;
        }
    };
    let starting = match unique {
        // RFC 1123 4.1.2.9: STOU's preliminary reply names the file.
        Some(file) if conn.reused() => Reply::new(125, file),
        Some(file) => Reply::new(150, file),
        None => xfer::starting(&conn, "Ok to send data.".to_string()),
    };
    if ctx.ctl.send(&starting).await.is_err() {
        conn.abort();
        target.abort().await;
        return Reply::new(426, "Connection closed; transfer aborted.");
    }
    let ascii = ctx.login.ty == TransferType::Ascii;
    let record = log::Transfer {
        user: ctx.login.user.clone(),
        peer: ctx.peer,
        direction: log::Direction::Upload,
        path: &abs,
        ascii,
        started: Instant::now(),
    };
    let received = Cell::new(0);
    let outcome = target.receive(ctx, &mut conn, ascii, &received).await;
    match outcome {
        xfer::Outcome::Done(n) => {
            // Stream mode: the connection closes before the commit. Block
            // mode: the EOF block ended the upload; the connection stays.
            let held = if conn.is_block() {
                Some(conn)
            } else {
                if conn.is_tls() {
                    // Answer the client's close_notify (Python's ftplib waits
                    // for it); all data has arrived, so a failure here is moot.
                    let _ = conn.finish(ctx.shared.config.data_timeout).await;
                }
                drop(conn);
                None
            };
            match target.commit().await {
                Ok(()) => {
                    record.done(n, log::Outcome::Ok, ctx.shared.xferlog.as_ref());
                    match held {
                        Some(conn) => xfer::complete(ctx, conn, "Transfer complete."),
                        None => Reply::new(226, "Transfer complete."),
                    }
                }
                Err(e) => {
                    record.done(n, log::Outcome::Failed(&e), ctx.shared.xferlog.as_ref());
                    if let Some(conn) = held {
                        // The upload arrived whole: the framing is in step.
                        xfer::keep(ctx, conn);
                    }
                    fs_reply(arg, &e)
                }
            }
        }
        xfer::Outcome::Failed(e) => {
            let n = target.partial(&received);
            record.done(n, log::Outcome::Failed(&e), ctx.shared.xferlog.as_ref());
            conn.abort();
            target.abort().await;
            xfer::failure_reply(&e)
        }
        xfer::Outcome::Aborted => {
            let n = target.partial(&received);
            record.done(n, log::Outcome::Aborted, ctx.shared.xferlog.as_ref());
            target.abort().await;
            xfer::abort_replies(ctx).await
        }
    }
}

/// Where an upload's bytes go until it is committed or aborted.
enum Target {
    /// A file under the jail (a temporary one over an existing file); the
    /// second handle is what the transfer writes through.
    File(Jail, jail::Upload, Rc<std::fs::File>),
    /// A multipart upload (or one PutObject) of an object.
    Object(s3::Upload),
}

impl Target {
    /// Starts the upload of `rel`; a refusal is the reply for `arg`.
    async fn create(
        storage: &Storage,
        arg: &str,
        rel: String,
        mode: UploadMode,
    ) -> Result<Target, Reply> {
        let jail = match storage {
            Storage::Local(jail) => jail.clone(),
            Storage::S3(store) => {
                return match store.create_upload(&rel, mode).await {
                    Ok(u) => Ok(Target::Object(u)),
                    Err(e) => Err(fs_reply(arg, &e)),
                }
            }
        };
        let upload = match fs(&jail, move |j| j.create_upload(&rel, mode)).await {
            Ok(u) => u,
            Err(e) => return Err(fs_reply(arg, &e)),
        };
        match upload.file().try_clone() {
            Ok(file) => Ok(Target::File(jail, upload, Rc::new(file))),
            Err(e) => {
                let _ = fs(&jail, move |_| {
                    upload.abort();
                    Ok(())
                })
                .await;
                Err(Reply::new(451, format!("Local error: {e}.")))
            }
        }
    }

    /// Moves the bytes while watching the control connection for ABOR;
    /// `received` follows them into an object.
    async fn receive(
        &mut self,
        ctx: &mut Ctx<'_>,
        conn: &mut DataConn,
        ascii: bool,
        received: &Cell<u64>,
    ) -> xfer::Outcome<u64> {
        let stall = ctx.shared.config.data_timeout;
        let abort = conn.abort_handle();
        match self {
            Target::File(_, upload, file) => {
                let moving =
                    transfer::receive_file(conn, Rc::clone(file), upload.offset(), ascii, stall);
                xfer::watch(ctx, &abort, moving).await
            }
            Target::Object(upload) => {
                let moving = transfer::receive_upload(conn, upload, ascii, stall, received);
                xfer::watch(ctx, &abort, moving).await
            }
        }
    }

    /// What arrived before a failure: a file's growth (fstat; the file is
    /// local), an object's count.
    fn partial(&self, received: &Cell<u64>) -> u64 {
        match self {
            Target::File(_, upload, file) => file
                .metadata()
                .map_or(0, |m| m.len().saturating_sub(upload.offset())),
            Target::Object(_) => received.get(),
        }
    }

    /// Puts the upload in place (a rename on the blocking pool when it went
    /// to a temporary file; completing the multipart upload).
    async fn commit(self) -> Result<(), FsError> {
        match self {
            Target::File(jail, upload, _) if upload.needs_commit() => {
                fs(&jail, move |_| upload.commit()).await
            }
            Target::File(_, upload, _) => upload.commit(),
            Target::Object(upload) => upload.commit().await,
        }
    }

    /// Drops what arrived: the old file or object stays as it was.
    async fn abort(self) {
        match self {
            Target::File(jail, upload, _) => {
                let _ = fs(&jail, move |_| {
                    upload.abort();
                    Ok(())
                })
                .await;
            }
            Target::Object(upload) => upload.abort().await,
        }
    }
}
