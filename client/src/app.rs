//! Start-up: arguments, connection, TLS and the host check (before any
//! password, as ssh checks the host key first), login (three password tries
//! as ssh), the optional `host:path` start, then the command loop. Returns
//! the exit status: 0, 1 (batch failure / failed `host:file` download), 255
//! (connection, host verification or authentication failure).

use std::io::{BufRead, IsTerminal};
use std::sync::atomic::AtomicBool;

use ringftp_proto::command::Password;

use crate::cli::{netrc_lookup, parse_destination, Args};
use crate::commands::{self, error, CmdErr, Ctx, Global};
use crate::ftp::{connect_tcp, Ftp, FtpError, Login};
use crate::hostcheck::{self, Offer, Policy, Refusal};
use crate::known_hosts::{self, KnownHosts};
use crate::messages;
use crate::options;
use crate::parallel::{Connector, Pool, Settings};
use crate::shell;
use crate::tls::TlsClient;

/// Print the reason and "Connection closed." and give sftp's status 255.
fn closed(reason: &str) -> u8 {
    if !reason.is_empty() {
        error(reason);
    }
    error(messages::CONNECTION_CLOSED);
    255
}

/// Why a connection could not be used.
enum ConnErr {
    /// Printed with "Connection closed.".
    Msg(String),
    /// The host check said no (its messages are printed).
    Refused(Refusal),
}

impl From<String> for ConnErr {
    fn from(m: String) -> ConnErr {
        ConnErr::Msg(m)
    }
}

/// The host check's inputs, fixed for the run.
struct Check<'a> {
    host: &'a str,
    port: u16,
    policy: Policy<'a>,
    /// After the first accepted connection: the TLS settings with the
    /// certificate pinned (None: the server had no TLS).
    accepted: Option<Option<TlsClient>>,
}

/// Connect, read the greeting, negotiate TLS and check the host. A
/// reconnection must show what the first connection showed.
fn connect_checked(check: &mut Check<'_>) -> Result<Ftp, ConnErr> {
    let (host, port) = (check.host, check.port);
    let mut ftp = connect(host, port)?;
    let peer = ftp.peer_ip();
    let name = known_hosts::host_name(host, port);
    let tls = match &check.accepted {
        Some(Some(pinned)) => pinned.clone(),
        Some(None) => {
            // First time in the clear; a server that gained TLS since is
            // not looked at again within this run.
            return Ok(ftp);
        }
        None => {
            TlsClient::new(host, peer).map_err(|e| messages::tls_failed(host, &e.to_string()))?
        }
    };
    let protected = match ftp.auth_tls(&tls) {
        Ok(p) => p,
        Err(FtpError::Tls(e)) => return Err(messages::tls_failed(host, &e.to_string()).into()),
        Err(FtpError::Reply(r)) => return Err(format!("ringftp: {}", r.text()).into()),
        Err(e) => return Err(format!("ringftp: {e}").into()),
    };
    if check.accepted.is_some() {
        if !protected {
            // Had TLS a moment ago, none now.
            error(messages::HOST_KEY_FAILED);
            return Err(ConnErr::Refused(Refusal::Failed));
        }
    } else {
        let seen = if protected { tls.seen() } else { None };
        let offer = match &seen {
            Some(s) => match ringftp_proto::fingerprint::of_certificate(s.cert.as_ref()) {
                Ok(key) => Offer::Tls {
                    key,
                    ca_valid: s.ca_valid,
                },
                Err(e) => return Err(messages::tls_failed(host, &e.to_string()).into()),
            },
            None if protected => {
                return Err(messages::tls_failed(host, "no certificate").into());
            }
            None => Offer::Plain,
        };
        let ip = if port == 21 {
            peer.to_string()
        } else {
            format!("[{peer}]:{port}")
        };
        hostcheck::verify(&name, &ip, &offer, &check.policy).map_err(ConnErr::Refused)?;
        if let Some(s) = seen {
            tls.pin(s.cert);
        }
        check.accepted = Some(protected.then(|| tls.clone()));
    }
    if protected {
        match ftp.protect_data() {
            Ok(true) => {}
            Ok(false) => {
                if !check.policy.quiet {
                    error(&messages::prot_refused(host));
                }
            }
            Err(e) => return Err(format!("ringftp: {e}").into()),
        }
    }
    Ok(ftp)
}

fn connect(host: &str, port: u16) -> Result<Ftp, String> {
    let stream = connect_tcp(host, port).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound
            || e.to_string().contains("failed to lookup")
            || e.to_string().contains("Name or service")
        {
            messages::resolve_failed(host, &commands::strerror(&e))
        } else {
            messages::connect_failed(host, port, &commands::strerror(&e))
        }
    })?;
    match Ftp::from_stream(stream) {
        Ok((ftp, _greeting)) => Ok(ftp),
        Err(FtpError::Reply(r)) => Err(format!("ringftp: {}", r.text())),
        Err(e) => Err(format!("ringftp: {e}")),
    }
}

pub fn run(args: Args) -> u8 {
    let dest = match parse_destination(&args.destination) {
        Ok(d) => d,
        Err(m) => {
            error(&m);
            return 1;
        }
    };
    let sshopts = match options::parse(&args.options) {
        Ok(o) => o,
        Err(m) => return closed(&m),
    };
    let port = dest.port.or(args.port).or(sshopts.port).unwrap_or(21);
    let host = dest.host.clone();

    let netrc_path = args
        .netrc_file
        .clone()
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".netrc")));
    let netrc = netrc_path
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| netrc_lookup(&t, &host, dest.user.as_deref()));
    let user = dest
        .user
        .clone()
        .or_else(|| sshopts.user.clone())
        .or_else(|| netrc.as_ref().and_then(|n| n.login.clone()))
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "anonymous".into());
    let netrc_pass = netrc
        .filter(|n| n.login.as_deref().is_none_or(|l| l == user))
        .and_then(|n| n.password);

    let batch: Option<Box<dyn BufRead>> = match args.batchfile.as_deref() {
        None => None,
        Some("-") => Some(Box::new(std::io::BufReader::new(std::io::stdin()))),
        Some(f) => match std::fs::File::open(f) {
            Ok(file) => Some(Box::new(std::io::BufReader::new(file))),
            Err(e) => {
                error(&format!("{} ({f}).", commands::strerror(&e)));
                return 255;
            }
        },
    };
    let batchmode = batch.is_some();
    let mut quiet = args.quiet || batchmode;
    let showprogress = !quiet && std::io::stderr().is_terminal();
    if args.noisy {
        quiet = false;
    }

    let kh_path = sshopts
        .known_hosts
        .clone()
        .or_else(known_hosts::default_path)
        .unwrap_or_else(|| std::path::PathBuf::from("/dev/null"));
    let kh = match KnownHosts::load(&kh_path) {
        Ok(k) => k,
        Err(e) => {
            // ssh goes on without an unreadable file (nothing is known).
            tracing::debug!(error = %e, path = %kh_path.display(), "known_hosts");
            KnownHosts {
                path: kh_path.clone(),
                entries: Vec::new(),
            }
        }
    };
    let mut check = Check {
        host: &host,
        port,
        policy: Policy {
            strict: sshopts.strict,
            batch: batchmode || sshopts.batch_mode,
            quiet: args.quiet,
            known_hosts: &kh,
        },
        accepted: None,
    };
    let mut ftp = match connect_checked(&mut check) {
        Ok(f) => f,
        Err(ConnErr::Msg(m)) => return closed(&m),
        Err(ConnErr::Refused(Refusal::Failed)) => return closed(""),
        Err(ConnErr::Refused(Refusal::NoPassword)) => {
            error(&messages::permission_denied_final(&user, &host));
            return closed("");
        }
    };

    // Three password tries, worded as ssh words them.
    let mut logged_in = None;
    for attempt in 0..3 {
        let pass = match (&netrc_pass, attempt) {
            (Some(p), 0) => p.clone(),
            _ => match rpassword::prompt_password(messages::password_prompt(&user, &host)) {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let pw = Password::new(pass);
        let res = match ftp.login(&user, &pw) {
            Err(FtpError::Closed) | Err(FtpError::Io(_)) => {
                // Some servers hang up after a failed login: reconnect.
                match connect_checked(&mut check) {
                    Ok(f) => {
                        ftp = f;
                        ftp.login(&user, &pw)
                    }
                    Err(ConnErr::Msg(m)) => return closed(&m),
                    Err(ConnErr::Refused(_)) => return closed(""),
                }
            }
            other => other,
        };
        match res {
            Ok(Login::Ok) => {
                logged_in = Some(pw);
                break;
            }
            Ok(Login::Denied) => {
                if attempt < 2 {
                    error(messages::PERMISSION_DENIED_RETRY);
                }
            }
            Err(e) => return closed(&format!("ringftp: {e}")),
        }
    }
    let Some(pw) = logged_in else {
        error(&messages::permission_denied_final(&user, &host));
        return closed("");
    };
    // Extra connections for parallel transfers log in the same way; the
    // connector keeps the password (zeroed when dropped), nothing else does.
    let pinned = check.accepted.clone().flatten();
    let connector = (args.parallel > 1).then(|| Connector::new(pinned, &host, port, &user, &pw));
    drop(pw);
    if let Err(e) = ftp.setup() {
        return closed(&format!("ringftp: {e}"));
    }
    let home = match ftp.pwd() {
        Ok(p) => p,
        Err(e) => return closed(&format!("ringftp: Need cwd: {e}")),
    };
    if !quiet {
        error(&messages::connected(&host));
    }

    static INTERRUPTED_REF: &AtomicBool = &shell::INTERRUPTED;
    let mut ctx = Ctx {
        ftp,
        pwd: home.clone(),
        startdir: home,
        quiet,
        log_quiet: args.quiet,
        showprogress,
        global: Global {
            aflag: args.resume,
            fflag: args.fsync,
            pflag: args.preserve,
            rflag: args.recursive,
        },
        limit: args.limit.map(|k| k * 1024 / 8).unwrap_or(0),
        interrupted: INTERRUPTED_REF,
        pool: Pool::new(
            connector,
            Settings {
                streams: usize::try_from(args.parallel).unwrap_or(1),
                segment_min: args.parallel_min,
                block: !args.no_block_mode,
            },
        ),
    };

    if let Some(file1) = dest.path.as_deref() {
        let dir = commands::make_absolute(file1, &ctx.pwd);
        let is_dir = match commands::put::remote_is_dir(&mut ctx, &dir) {
            Ok(d) => d,
            Err(_) => return closed(""),
        };
        if is_dir && args.localpath.is_none() {
            if !quiet {
                commands::say(&messages::changing_to(&dir));
            }
            match commands::cd::change_to(&mut ctx, &dir) {
                Ok(()) => {}
                Err(CmdErr::Fatal(m)) => return closed(&m),
                Err(CmdErr::Failed) => {
                    ctx.quit();
                    return 1;
                }
            }
        } else {
            let r = commands::get::process_get(
                &mut ctx,
                &dir,
                args.localpath.as_deref(),
                false,
                false,
                args.resume,
                false,
            );
            ctx.quit();
            return match r {
                Ok(()) => 0,
                Err(CmdErr::Fatal(m)) => closed(&m),
                Err(CmdErr::Failed) => 1,
            };
        }
    }

    shell::interactive_loop(ctx, batch)
}
