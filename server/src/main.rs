//! `ringftpd`: parse the command line, then serve or manage users.

use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use clap::Parser;
use ringftpd::ban::Bans;
use ringftpd::cert;
use ringftpd::cli::{self, Cli, Command};
use ringftpd::config::{Config, ServeArgs};
use ringftpd::data::{self, PortAllocator};
use ringftpd::jail::Jail;
use ringftpd::log;
use ringftpd::server::{self, Shared};
use ringftpd::storage::s3::S3Store;
use ringftpd::storage::Storage;
use ringftpd::tls::TlsConfig;
use ringftpd::uring;
use ringftpd::users::UserDb;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::User { action }) => {
            ExitCode::from(u8::try_from(cli::run_user(&action)).unwrap_or(2))
        }
        Some(Command::Fingerprint(args)) => {
            ExitCode::from(u8::try_from(cli::run_fingerprint(&args)).unwrap_or(2))
        }
        Some(Command::Serve(args)) => serve(&args),
        None => serve(&cli.serve),
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("ringftpd: {msg}");
    ExitCode::from(2)
}

fn serve(args: &ServeArgs) -> ExitCode {
    let mut config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    log::init(args.log.as_deref(), config.log_format);
    if let Err(e) = uring::probe() {
        return fail(e);
    }
    match cli::bootstrap_users(&config.users_file) {
        Ok(Some((name, password))) => {
            // Printed once, on the terminal, never logged.
            println!(
                "ringftpd: created user '{name}' with password '{password}' in {}\n\
                 ringftpd: change it with: ringftpd user passwd {name} --users {}",
                config.users_file.display(),
                config.users_file.display()
            );
        }
        Ok(None) => {}
        Err(e) => return fail(e),
    }
    if let Err(e) = setup_tls(&mut config) {
        return fail(e);
    }
    let users = match UserDb::load(&config.users_file) {
        Ok(u) => u,
        Err(e) => return fail(e),
    };
    if users.is_empty() {
        tracing::warn!(
            file = %config.users_file.display(),
            "no users yet: add one with `ringftpd user add NAME`, then reload (SIGHUP)"
        );
    }
    // Before any thread starts (the S3 runtime's, the xferlog writer, the
    // sweep): none of them may take SIGTERM's default action.
    if let Err(e) = block_signals() {
        return fail(format!("cannot set up signal handling: {e}"));
    }
    let root = match &config.s3 {
        // The bucket must answer now, as a local root must exist.
        Some(s3) => match S3Store::connect(s3) {
            Ok(store) => {
                tracing::info!("storage: {} at {}", s3.url(), store.endpoint());
                Storage::S3(store)
            }
            // The message names the bucket and the endpoint.
            Err(e) => return fail(format!("cannot use root {}: {e}", s3.url())),
        },
        None => match Jail::open(&config.root) {
            Ok(j) => Storage::Local(j),
            Err(e) => return fail(format!("cannot open root {}: {e}", config.root.display())),
        },
    };
    raise_nofile_limit();
    tune_malloc();
    // New directories and files get the configured umask (default 022).
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(config.umask));
    let listeners = match server::bind_all(&config.listen, config.workers) {
        Ok(l) => l,
        Err(e) => {
            let addrs: Vec<String> = config.listen.iter().map(ToString::to_string).collect();
            return fail(format!("cannot listen on {}: {e}", addrs.join(", ")));
        }
    };
    if let Some(first) = listeners.first() {
        for l in first {
            if let Ok(addr) = l.local_addr() {
                tracing::info!("listening on {addr}");
            }
        }
    }
    let shown_root = match &config.s3 {
        Some(s3) => s3.url(),
        None => config.root.display().to_string(),
    };
    tracing::info!(
        root = %shown_root,
        workers = config.workers,
        max_clients = config.max_clients,
        tls = ?config.tls_mode,
        "serving"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let range = config
        .passive_ports
        .as_ref()
        .map(|r| (*r.start(), *r.end()));
    if let Some(r) = range {
        data::warn_ephemeral_overlap(r);
    }
    let ports = PortAllocator::new(range, config.passive_per_ip());
    let bans = Bans::new(config.ban_after, config.ban_window, config.ban_time);
    let users_file = config.users_file.clone();
    // After block_signals: the writer thread must not take SIGTERM.
    let xferlog = match &config.xferlog {
        Some(path) => match log::Xferlog::open(path) {
            Ok(x) => Some(x),
            Err(e) => return fail(format!("cannot open xferlog {}: {e}", path.display())),
        },
        None => None,
    };
    let shared = Arc::new(Shared {
        config,
        users: RwLock::new(Arc::new(users)),
        root,
        ports,
        sessions: Default::default(),
        shutdown: stop_rx,
        per_ip: Default::default(),
        xferlog,
        logins: tokio::sync::Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        ),
        bans,
        accept_pause: Default::default(),
    });
    // After block_signals: the sweep's thread must not take SIGTERM's default action.
    if let Storage::Local(jail) = &shared.root {
        sweep_stale_uploads(jail);
    }
    let mut handles = Vec::new();
    for (id, ls) in listeners.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let h = std::thread::Builder::new()
            .name(format!("ringftpd-w{id}"))
            .spawn(move || server::run_worker(id, ls, shared));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => return fail(format!("cannot start worker thread: {e}")),
        }
    }
    let signals_shared = Arc::clone(&shared);
    let _ = std::thread::Builder::new()
        .name("ringftpd-signals".into())
        .spawn(move || wait_signals(&signals_shared, &users_file, &stop_tx));
    let mut code = ExitCode::SUCCESS;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "worker failed");
                code = ExitCode::FAILURE;
            }
            Err(_) => code = ExitCode::FAILURE,
        }
    }
    tracing::info!("stopped");
    code
}

/// Removes what uploads cut off by a crash or `kill -9` left (their temporary
/// files), in the background so that a huge tree does not delay serving. Live
/// uploads of other ringftpd sharing the tree hold a lock and are left alone.
fn sweep_stale_uploads(root: &Jail) {
    use ringftpd::jail::{SWEEP_MAX_DEPTH, SWEEP_MAX_ENTRIES};
    let root = root.clone();
    let spawned = std::thread::Builder::new()
        .name("ringftpd-sweep".into())
        .spawn(move || {
            let s = root.sweep_stale_uploads(SWEEP_MAX_ENTRIES, SWEEP_MAX_DEPTH);
            tracing::info!(
                removed = s.removed,
                live = s.live,
                skipped = s.skipped,
                "stale upload sweep done"
            );
            if s.truncated {
                tracing::warn!(
                    max_entries = SWEEP_MAX_ENTRIES,
                    max_depth = SWEEP_MAX_DEPTH,
                    "stale upload sweep stopped at its bound; the rest of the tree was not looked at"
                );
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the stale upload sweep");
    }
}

/// Makes the self-signed certificate on the first start (and says so, with
/// its fingerprint, as ssh-keygen does), loads it, and logs the fingerprint
/// at every start.
fn setup_tls(config: &mut Config) -> Result<(), ringftpd::tls::TlsError> {
    let Some(files) = config.tls_files.clone() else {
        tracing::info!("TLS off: AUTH TLS is not offered");
        return Ok(());
    };
    if files.self_signed {
        let created = cert::create_if_missing(&files, &certificate_names(config))?;
        let tls = TlsConfig::load(&files.cert, &files.key)?;
        if created {
            println!(
                "ringftpd: TLS certificate created: {} (key: {}, mode 0600)\n\
                 ringftpd: {} key fingerprint is {}",
                files.cert.display(),
                files.key.display(),
                tls.host_key().key_type,
                tls.host_key().fingerprint
            );
        }
        config.tls = Some(tls);
    }
    if let Some(tls) = &config.tls {
        let key = tls.host_key();
        tracing::info!(
            mode = ?config.tls_mode,
            cert = %files.cert.display(),
            "TLS: {} key fingerprint is {}",
            key.key_type,
            key.fingerprint
        );
    }
    Ok(())
}

/// The names a client may reach this server by, for the certificate:
/// localhost, the loopback addresses, the host name, the listen addresses
/// that are not wildcards, and the NAT address announced in PASV.
fn certificate_names(config: &Config) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(host) = rustix::system::uname().nodename().to_str() {
        names.push(host.to_string());
    }
    names.extend(
        config
            .listen
            .iter()
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| ip.to_string()),
    );
    names.extend(config.passive_address.map(|ip| ip.to_string()));
    names
}

/// argon2 allocates ~9 MiB per check on a blocking-pool thread. glibc's
/// dynamic mmap threshold would then serve such blocks from per-thread arenas
/// and keep them resident forever (measured: ~340 KiB per session after a
/// login burst). A fixed threshold sends every large block to mmap, returned
/// on free; fewer arenas keep the many blocking threads from each holding one.
fn tune_malloc() {
    // SAFETY: mallopt only adjusts allocator parameters; called before threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Thousands of sessions need thousands of descriptors: take the hard limit.
fn raise_nofile_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks the signals in this thread before workers start, so every thread
/// inherits the mask and only `wait_signals` receives them.
fn block_signals() -> std::io::Result<()> {
    let set = signal_set();
    // SAFETY: valid sigset pointer; the old mask is not needed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

/// SIGINT/SIGTERM: stop accepting, tell sessions (421), let them finish; a
/// second one exits at once. SIGHUP: reload the users file.
fn wait_signals(
    shared: &Shared,
    users_file: &std::path::Path,
    stop: &tokio::sync::watch::Sender<bool>,
) {
    let set = signal_set();
    // When the first SIGINT/SIGTERM came. One that follows within
    // `ECHO` is the same request delivered twice (GNU `timeout` signals the
    // process, then its process group; `kill 0` from a wrapper script does
    // the same), not a person asking again, who takes longer than that.
    const ECHO: std::time::Duration = std::time::Duration::from_millis(100);
    let mut stopping: Option<std::time::Instant> = None;
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: valid sigset and out pointer.
        let rc = unsafe { libc::sigwait(&set, &mut sig) };
        if rc != 0 {
            continue;
        }
        match sig {
            libc::SIGHUP => match UserDb::load(users_file) {
                Ok(db) => {
                    if let Ok(mut g) = shared.users.write() {
                        *g = Arc::new(db);
                    }
                    tracing::info!("users file reloaded");
                }
                Err(e) => tracing::error!(error = %e, "users file not reloaded"),
            },
            _ if stopping.is_some_and(|t| t.elapsed() < ECHO) => {
                tracing::debug!(signal = sig, "repeated signal ignored");
            }
            _ if stopping.is_some() => {
                tracing::warn!("second signal: exiting now");
                std::process::exit(130);
            }
            _ => {
                tracing::info!("shutting down");
                stopping = Some(std::time::Instant::now());
                let _ = stop.send(true);
            }
        }
    }
}
