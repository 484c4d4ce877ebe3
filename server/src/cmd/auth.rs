//! AUTH (RFC 4217 4): "the client sends the AUTH command with ... 'TLS' ...
//! the server replies 234 and both begin the TLS negotiation" on the control
//! connection. AUTH SSL and AUTH TLS-C are taken as synonyms, as most servers
//! do. With `--tls off` the reply is 502, so clients that only try TLS
//! (curl --ssl, lftp) continue in plain FTP and clients that require it stop
//! with a clear message.

use ringftp_proto::reply::Reply;

use crate::session::Session;

/// Answers AUTH and, on 234, switches the control connection to TLS; sends
/// its own reply because the 234 must still go out in the clear.
pub async fn run(s: &mut Session, mechanism: &str) {
    let Some(tls) = s.shared.config.tls.clone() else {
        s.reply(Reply::new(
            502,
            "AUTH not supported: TLS is off on this server.",
        ))
        .await;
        return;
    };
    if s.ctl.is_tls() {
        s.reply(Reply::new(503, "TLS is already active.")).await;
        return;
    }
    let known = ["TLS", "TLS-C", "SSL"];
    if !known.iter().any(|m| m.eq_ignore_ascii_case(mechanism)) {
        s.reply(Reply::new(
            504,
            "Unsupported security mechanism: use AUTH TLS.",
        ))
        .await;
        return;
    }
    let (conn, data_tls) = match tls.session(s.shared.config.tls_required()) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(peer = %s.peer, error = %e, "cannot start TLS");
            s.reply(Reply::new(431, "Unable to start TLS.")).await;
            return;
        }
    };
    s.reply(Reply::new(234, "AUTH TLS successful.")).await;
    if !s.closing {
        s.ctl.start_tls(conn);
        s.data_tls = Some(data_tls);
        tracing::debug!(peer = %s.peer, "control connection switched to TLS");
    }
}
