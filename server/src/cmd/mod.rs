//! One FTP verb per file. `dispatch` is the only place that maps a parsed
//! `proto::Command` to its handler; each handler takes just the fields it needs.
//!
//! Before login only USER PASS AUTH PBSZ PROT FEAT SYST QUIT HELP NOOP OPTS
//! (and the harmless ACCT, REIN) are accepted; everything else gets 530.
//! With `--tls required`, USER before AUTH TLS gets 530 too.

use std::net::SocketAddr;

use ringftp_proto::command::Command;
use ringftp_proto::path;
use ringftp_proto::reply::Reply;

use std::future::Future;

use crate::control::Control;
use crate::server::Shared;
use crate::session::{Login, Session, State};
pub use crate::storage::fs;
use crate::storage::{FsError, Storage};

mod abor;
mod acct;
mod allo;
mod appe;
mod auth;
mod avbl;
pub(crate) mod ccc;
mod cdup;
mod cwd;
mod dele;
mod epsv;
mod feat;
mod help;
mod list;
mod mdtm;
mod mfmt;
mod mkd;
mod mlsd;
mod mlst;
mod mode;
mod nlst;
mod noop;
mod opts;
mod pass;
mod pasv;
mod pbsz;
mod port;
mod prot;
mod pwd;
mod quit;
mod rein;
mod rest;
mod retr;
mod rmd;
mod rnfr;
mod rnto;
mod site;
mod size;
mod stat;
mod stor;
mod stou;
mod stru;
mod syst;
mod type_;
mod user;

pub(crate) mod xfer;

/// What a logged-in command handler may touch.
pub struct Ctx<'a> {
    pub ctl: &'a mut Control,
    pub login: &'a mut Login,
    pub shared: &'a Shared,
    pub peer: SocketAddr,
    /// The load balancer the client came through, if any.
    pub via: Option<crate::session::Via>,
    pub local: SocketAddr,
    pub facts: &'a ringftp_proto::listing::FactSet,
    /// PROT P is in force: data connections use TLS, with these settings.
    pub protect_data: Option<&'a crate::tls::DataTls>,
}

impl Ctx<'_> {
    /// Normalises a client path against the current directory.
    pub fn resolve(&self, arg: &str) -> Result<String, Reply> {
        path::normalize(&self.login.cwd, arg).map_err(|e| Reply::new(501, format!("{arg}: {e}")))
    }

    /// Resolves `arg` (the current directory when `None`), runs `op` on the
    /// user's storage with the path relative to the user's root ("." for the
    /// root), and maps a failure to its reply. Gives the absolute path and the
    /// result.
    pub async fn with_path<T, F, Fut>(&self, arg: Option<&str>, op: F) -> Result<(String, T), Reply>
    where
        F: FnOnce(Storage, String) -> Fut,
        Fut: Future<Output = Result<T, FsError>>,
    {
        let abs = match arg {
            Some(a) => self.resolve(a)?,
            None => self.login.cwd.clone(),
        };
        let r = rel(&abs);
        match op(self.login.storage.clone(), r).await {
            Ok(v) => Ok((abs, v)),
            Err(e) => Err(fs_reply(arg.unwrap_or("."), &e)),
        }
    }

    /// 550 for read-only users, checked before any write.
    pub fn deny_write(&self) -> Option<Reply> {
        self.login.read_only.then(|| {
            crate::log::refused(self.peer, "write", "the account is read-only");
            Reply::new(550, "Permission denied: this account is read-only.")
        })
    }
}

/// The one mapping from a filesystem error to an FTP reply.
pub fn fs_reply(shown: &str, e: &FsError) -> Reply {
    match e {
        FsError::NoSpace => Reply::new(452, format!("{shown}: {}", e.message())),
        // The object store failed, not the request: worth a retry (RFC 959 451).
        FsError::Storage(_) => Reply::new(451, "Requested action aborted: storage error."),
        _ => Reply::new(550, format!("{shown}: {}", e.message())),
    }
}

/// Refuses operations that would remove or rename the user's root itself.
fn not_root(rel: &str) -> Result<(), FsError> {
    if rel == "." {
        Err(FsError::PermissionDenied)
    } else {
        Ok(())
    }
}

fn rel(abs: &str) -> String {
    path::to_relative(abs).to_string()
}

/// REST and RNFR set state for the very next command. A REST offset survives
/// only the commands that set up that transfer (PASV, TYPE, ...); RNFR
/// survives nothing but its RNTO. Returns what the current command may use.
fn take_pending(s: &mut Session, cmd: &Command) -> (u64, Option<String>) {
    let State::LoggedIn(login) = &mut s.state else {
        return (0, None);
    };
    let keeps_rest = matches!(
        cmd,
        Command::Pasv
            | Command::Epsv(_)
            | Command::Port(_)
            | Command::Eprt(_)
            | Command::Type(_)
            | Command::Mode(_)
            | Command::Stru(_)
            | Command::Rest(_)
    );
    let rest = if keeps_rest {
        login.rest
    } else {
        std::mem::take(&mut login.rest)
    };
    (rest, login.rnfr.take())
}

pub async fn dispatch(s: &mut Session, cmd: Command) {
    let (rest, rnfr) = take_pending(s, &cmd);
    let reply = match cmd {
        Command::User(_) if s.shared.config.tls_required() && !s.ctl.is_tls() => {
            crate::log::refused(s.peer, "USER", "TLS required (--tls required)");
            Reply::new(530, "TLS required: use AUTH TLS before USER.")
        }
        Command::User(name) => user::run(s, name),
        Command::Pass(pw) => pass::run(s, pw).await,
        Command::Acct(_) => acct::run(),
        Command::Quit => quit::run(s),
        Command::Noop => noop::run(),
        Command::Syst => syst::run(),
        Command::Feat => {
            let epsv = epsv::reachable(s.via, s.local, s.shared.config.passive_address);
            feat::run(
                &s.facts,
                s.shared.config.tls.is_some(),
                epsv,
                s.shared.root.is_object_store(),
            )
        }
        Command::Help(topic) => help::run(topic),
        Command::Opts(arg) => opts::run(&mut s.facts, arg),
        Command::Auth(mech) => {
            // Sends its own reply: the 234 must go out before TLS starts.
            auth::run(s, &mech).await;
            return;
        }
        Command::Pbsz(size) => pbsz::run(s, size),
        Command::Prot(level) => prot::run(s, level),
        Command::Rein => rein::run(s),
        other => {
            let State::LoggedIn(login) = &mut s.state else {
                s.reply(Reply::new(530, "Please login with USER and PASS."))
                    .await;
                return;
            };
            let mut ctx = Ctx {
                ctl: &mut s.ctl,
                login,
                shared: &s.shared,
                peer: s.peer,
                via: s.via,
                local: s.local,
                facts: &s.facts,
                protect_data: s.data_tls.as_ref().filter(|_| s.protect_data),
            };
            logged_in(&mut ctx, other, rest, rnfr).await
        }
    };
    s.reply(reply).await;
}

async fn logged_in(ctx: &mut Ctx<'_>, cmd: Command, rest: u64, rnfr: Option<String>) -> Reply {
    match cmd {
        Command::Pwd => pwd::run(ctx),
        Command::Cwd(p) => cwd::run(ctx, &p).await,
        Command::Cdup => cdup::run(ctx).await,
        Command::Mkd(p) => mkd::run(ctx, &p).await,
        Command::Rmd(p) => rmd::run(ctx, &p).await,
        Command::Dele(p) => dele::run(ctx, &p).await,
        Command::Rnfr(p) => rnfr::run(ctx, &p).await,
        Command::Rnto(p) => rnto::run(ctx, rnfr, &p).await,
        Command::Type(t) => type_::run(ctx, t),
        Command::Mode(m) => mode::run(ctx, m),
        Command::Stru(s) => stru::run(s),
        Command::Pasv => pasv::run(ctx),
        Command::Epsv(arg) => epsv::run(ctx, arg),
        Command::Port(addr) => port::run_port(ctx, addr),
        Command::Eprt(addr) => port::run_eprt(ctx, addr),
        Command::List(p) => list::run(ctx, p.as_deref()).await,
        Command::Nlst(p) => nlst::run(ctx, p.as_deref()).await,
        Command::Mlsd(p) => mlsd::run(ctx, p.as_deref()).await,
        Command::Mlst(p) => mlst::run(ctx, p.as_deref()).await,
        Command::Stat(p) => stat::run(ctx, p.as_deref()).await,
        Command::Retr(p) => retr::run(ctx, &p, rest).await,
        Command::Stor(p) => stor::run(ctx, &p, rest, false).await,
        Command::Appe(p) => appe::run(ctx, &p).await,
        Command::Stou(p) => stou::run(ctx, p.as_deref()).await,
        Command::Rest(n) => rest::run(ctx, n),
        Command::Size(p) => size::run(ctx, &p).await,
        Command::Mdtm(p) => mdtm::run(ctx, &p).await,
        Command::Mfmt { mtime, path } => mfmt::run(ctx, mtime, &path).await,
        Command::Abor => abor::run(ctx),
        Command::Allo(_) => allo::run(),
        Command::Site(site) => site::run(ctx, site).await,
        Command::Avbl(p) => avbl::run(ctx, p.as_deref()).await,
        // Handled before login checks in `dispatch`.
        Command::User(_)
        | Command::Pass(_)
        | Command::Acct(_)
        | Command::Quit
        | Command::Noop
        | Command::Syst
        | Command::Feat
        | Command::Help(_)
        | Command::Opts(_)
        | Command::Auth(_)
        | Command::Pbsz(_)
        | Command::Prot(_)
        | Command::Rein => Reply::new(503, "Bad sequence of commands."),
    }
}
