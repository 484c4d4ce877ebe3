//! PASS (RFC 959 4.1.1), with the brakes of RFC 2577 section 5: a failed
//! password is answered only after a delay (a timer on this session, so no
//! other session waits), and the connection is closed after
//! `max_login_failures` failures. argon2 runs on the blocking pool.
//!
//! Failures also count per client address across sessions (`ban`): enough of
//! them ban the address, and a session of a banned address gets 421 at PASS.

use ringftp_proto::command::Password;
use ringftp_proto::reply::Reply;

use crate::session::{Login, Session, State};

pub async fn run(s: &mut Session, pw: Password) -> Reply {
    let user = match std::mem::replace(&mut s.state, State::AwaitUser) {
        State::AwaitPass { user } => user,
        State::LoggedIn(login) => {
            s.state = State::LoggedIn(login);
            return Reply::new(230, "Already logged in.");
        }
        State::AwaitUser => return Reply::new(503, "Login with USER first."),
    };
    // Sessions opened before their address was banned end here, before argon2.
    if let Some(reply) = s.shared.bans.refusal(s.peer.ip()) {
        crate::log::refused(s.peer, "PASS", "address banned");
        s.closing = true;
        return reply;
    }
    let db = s.shared.users();
    let name = user.clone();
    let checked = match s.shared.logins.acquire().await {
        Ok(_permit) => tokio::task::spawn_blocking(move || db.verify(&name, pw.expose()))
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    let Some(account) = checked else {
        return failed(s, &user).await;
    };
    let storage = match account.home.as_deref() {
        // Users without a home share the root's descriptor (or S3 prefix).
        None => Ok(s.shared.root.clone()),
        Some(home) => s.shared.root.sub(home).await,
    };
    let storage = match storage {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(user = %user, error = %e, "home directory unusable");
            return Reply::new(530, "Login incorrect: home directory is not available.");
        }
    };
    crate::log::login(&user, s.peer, Ok(()));
    s.failures = 0;
    s.state = State::LoggedIn(Box::new(Login::new(user, storage, account.read_only)));
    Reply::new(230, "Login successful.")
}

async fn failed(s: &mut Session, user: &str) -> Reply {
    let cfg = &s.shared.config;
    s.failures += 1;
    crate::log::login(user, s.peer, Err(s.failures));
    let banned = s.shared.bans.failed(s.peer.ip());
    tokio::time::sleep(cfg.login_fail_delay).await;
    if banned {
        let _ = s.ctl.send(&Reply::new(530, "Login incorrect.")).await;
        s.closing = true;
        return s.shared.bans.refusal(s.peer.ip()).unwrap_or_else(|| {
            Reply::new(421, "Too many failed logins, closing control connection.")
        });
    }
    if s.failures >= cfg.max_login_failures {
        let _ = s.ctl.send(&Reply::new(530, "Login incorrect.")).await;
        s.closing = true;
        crate::log::refused(s.peer, "session", "too many failed logins");
        return Reply::new(421, "Too many failed logins, closing control connection.");
    }
    Reply::new(530, "Login incorrect.")
}
