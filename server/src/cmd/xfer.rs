//! The shape every data transfer shares: open the data connection (425 when it
//! cannot), send 150, run the transfer while watching the control connection
//! for ABOR, then the final reply.
//!
//! RFC 959 4.1.3: ABOR during a transfer is answered 426 (transfer aborted)
//! and then 226 (ABOR done); the session stays usable. Any other command that
//! arrives mid-transfer waits until the transfer ends.
//!
//! RFC 4217 9: after PROT P the data connection is protected by TLS; with
//! `--tls required`, a transfer on a clear data connection is refused (521),
//! and so is a protected one that does not resume the control connection's
//! TLS session (522, after the 150: the handshake comes after it).
//!
//! Block mode (MODE B, RFC 959 3.4.2; docs/edge-cases.md, "Server: block
//! mode"): a transfer that completes keeps its data connection
//! (`Login::kept`, final reply 250) and the next transfer command without a
//! new PASV/EPSV/PORT/EPRT uses it (125 instead of 150). A kept connection
//! the client closed, or that has stray bytes waiting, is dropped: 425.

use std::future::Future;

use ringftp_proto::reply::Reply;

use super::Ctx;
use crate::control::Input;
use crate::data::{self, AbortHandle, DataConn, DataPlan};
use crate::transfer::TransferError;

pub enum Outcome<T> {
    Done(T),
    Failed(TransferError),
    Aborted,
}

/// Opens the data connection set up by PASV/EPSV/PORT/EPRT, or takes the
/// one kept open by the last block-mode transfer.
pub async fn open(ctx: &mut Ctx<'_>) -> Result<DataConn, Reply> {
    let cfg = &ctx.shared.config;
    let tls = ctx.protect_data;
    if tls.is_none() && cfg.tls_required() {
        ctx.login.kept = None;
        ctx.login.data = DataPlan::None;
        return Err(Reply::new(
            521,
            "Data connections must be protected: use PROT P.",
        ));
    }
    if let Some(mut conn) = ctx.login.kept.take() {
        return match conn.alive() {
            data::Kept::Ready => {
                conn.set_block(ctx.login.block);
                Ok(conn)
            }
            why => {
                tracing::debug!(peer = %ctx.peer, state = ?why, "kept data connection dropped");
                Err(Reply::new(
                    425,
                    "Data connection closed; open a new one with PASV or EPSV.",
                ))
            }
        };
    }
    let plan = std::mem::take(&mut ctx.login.data);
    if matches!(plan, DataPlan::None) {
        return Err(Reply::new(425, "Use PORT, PASV, EPRT or EPSV first."));
    }
    let opening = data::open(plan, ctx.peer.ip(), cfg.data_timeout, &cfg.proxy_protocol);
    let mut conn = match await_connection(ctx, opening).await {
        Waited::Open(Ok(conn)) => conn,
        Waited::Open(Err(e)) => {
            return Err(Reply::new(425, format!("Can't open data connection: {e}.")))
        }
        Waited::Aborted => return Err(abort_replies(ctx).await),
        Waited::Gone => return Err(Reply::new(426, "Connection closed; transfer aborted.")),
        Waited::Quit => {
            return Err(Reply::new(
                425,
                "Can't open data connection: QUIT received first.",
            ))
        }
    };
    if let Some(tls) = tls {
        conn.protect(tls, cfg.data_timeout)
            .map_err(|e| Reply::new(425, format!("Can't open data connection: {e}.")))?;
    }
    conn.set_block(ctx.login.block);
    Ok(conn)
}

/// The reply that starts a transfer: 150 with `text` on a new connection,
/// 125 on a kept one (RFC 959 4.2: "Data connection already open; transfer
/// starting").
pub fn starting(conn: &DataConn, text: String) -> Reply {
    if conn.reused() {
        Reply::new(125, "Data connection already open; transfer starting.")
    } else {
        Reply::new(150, text)
    }
}

/// After a transfer that completed: in stream mode the connection closes
/// and the reply is 226 `text`; in block mode it is kept for the next
/// transfer (250), unless bytes followed an upload's EOF block (250, closed).
pub fn complete(ctx: &mut Ctx<'_>, conn: DataConn, text: &str) -> Reply {
    if !conn.is_block() {
        drop(conn);
        return Reply::new(226, text.to_string());
    }
    match keep(ctx, conn) {
        None => Reply::new(250, "Transfer complete; data connection kept open."),
        Some(why) => Reply::new(
            250,
            format!("Transfer complete; data connection closed: {why}."),
        ),
    }
}

/// Keeps a block-mode connection whose framing is in step for the next
/// transfer; drops any other, and says why.
pub fn keep(ctx: &mut Ctx<'_>, mut conn: DataConn) -> Option<&'static str> {
    let spent = conn.spent();
    if spent.is_none() {
        conn.keep();
        ctx.login.kept = Some(conn);
    }
    spent
}

enum Waited<T> {
    Open(T),
    /// ABOR while waiting: the listener is closed.
    Aborted,
    /// The control connection closed: nobody is left to connect.
    Gone,
    /// QUIT while waiting (deferred, answered next): the client will not connect.
    Quit,
}

/// Waits for the data connection while reading the control connection, so
/// a client that quits (or sends ABOR) while the server waits for it to
/// connect (or sends QUIT, answered right after a 425) frees the passive
/// port at once instead of after `data_timeout`
/// (a session stuck here kept its port: the range ran dry and stayed dry
/// after the clients had gone). Other commands wait, as during a transfer.
async fn await_connection<T>(ctx: &mut Ctx<'_>, opening: impl Future<Output = T>) -> Waited<T> {
    let mut opening = std::pin::pin!(opening);
    let mut reading = true;
    loop {
        tokio::select! {
            r = &mut opening => return Waited::Open(r),
            input = ctx.ctl.next(), if reading => match input {
                Ok(Input::Line(line)) if is_abor(&line) => return Waited::Aborted,
                Ok(Input::Line(line)) if line.trim().eq_ignore_ascii_case("QUIT") => {
                    ctx.ctl.defer(line);
                    return Waited::Quit;
                }
                Ok(Input::Line(line)) => {
                    ctx.ctl.defer(line);
                    reading = false;
                }
                Ok(Input::Eof | Input::ProxyHeader) | Err(_) => return Waited::Gone,
                Ok(Input::TooLong) | Ok(Input::NotUtf8) => {}
            },
        }
    }
}

/// Drops a pending data plan when a transfer command fails before it starts,
/// so a stale passive listener does not linger.
pub fn discard(ctx: &mut Ctx<'_>) {
    ctx.login.data = DataPlan::None;
}

/// Runs `transfer` while reading the control connection for ABOR, and while
/// watching for the server's shutdown: once it begins, the transfer may go on
/// for `shutdown_timeout`, then it is cut (426 "server shutting down"; the
/// session then says 421 and closes).
pub async fn watch<T>(
    ctx: &mut Ctx<'_>,
    conn: &AbortHandle,
    transfer: impl Future<Output = Result<T, TransferError>>,
) -> Outcome<T> {
    let mut transfer = std::pin::pin!(transfer);
    let mut shutdown = ctx.shared.shutdown.clone();
    let grace = ctx.shared.config.shutdown_timeout;
    let mut cut_at: Option<tokio::time::Instant> = None;
    // Stops once a command other than ABOR arrives: it is served after the transfer.
    let mut reading = true;
    let done = |r: Result<T, TransferError>| match r {
        Ok(v) => Outcome::Done(v),
        Err(e) => Outcome::Failed(e),
    };
    loop {
        let cut = async {
            match cut_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            r = &mut transfer => return done(r),
            () = cut => {
                conn.abort();
                tracing::info!(peer = %ctx.peer, "transfer cut by shutdown");
                return Outcome::Failed(TransferError::Network(std::io::Error::other(
                    "server shutting down",
                )));
            }
            _ = shutdown.wait_for(|&v| v), if cut_at.is_none() => {
                cut_at = Some(tokio::time::Instant::now() + grace);
            }
            input = ctx.ctl.next(), if reading => {
                match input {
                    Ok(Input::Line(line)) if is_abor(&line) => {
                        conn.abort();
                        return Outcome::Aborted;
                    }
                    Ok(Input::Line(line)) => {
                        ctx.ctl.defer(line);
                        reading = false;
                    }
                    Ok(Input::Eof | Input::ProxyHeader) | Err(_) => {
                        // The client is gone: no one to report to.
                        conn.abort();
                        return Outcome::Aborted;
                    }
                    Ok(Input::TooLong) | Ok(Input::NotUtf8) => continue,
                }
            }
        }
    }
}

fn is_abor(line: &str) -> bool {
    line.trim().eq_ignore_ascii_case("ABOR")
}

/// Sends 426 for an aborted transfer; the caller's 226 follows.
pub async fn abort_replies(ctx: &mut Ctx<'_>) -> Reply {
    let _ = ctx
        .ctl
        .send(&Reply::new(426, "Connection closed; transfer aborted."))
        .await;
    Reply::new(226, "ABOR command successful.")
}

/// The reply for a transfer that failed on its own.
pub fn failure_reply(e: &TransferError) -> Reply {
    match e {
        TransferError::Network(err) if crate::tls::NotResumed::is(err) => Reply::new(
            522,
            "Data connection refused: it must resume the TLS session of the control connection (TLS session reuse required).",
        ),
        TransferError::Network(err) if data::NoEofBlock::is(err) => Reply::new(
            426,
            "Data connection closed before the end-of-file block; upload discarded.",
        ),
        TransferError::Network(err) => {
            Reply::new(426, format!("Connection closed; transfer aborted: {err}."))
        }
        TransferError::Local(_) if e.is_no_space() => {
            Reply::new(452, "Insufficient storage space; transfer aborted.")
        }
        TransferError::Local(err) => {
            Reply::new(451, format!("Local error; transfer aborted: {err}."))
        }
        // Whatever the store said mid-transfer (the cause is logged).
        TransferError::Storage(_) => Reply::new(451, "Requested action aborted: storage error."),
    }
}
