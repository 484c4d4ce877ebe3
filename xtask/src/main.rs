//! Build helpers that need the real command-line definitions.
//!
//! `cargo run -p xtask -- dist DIR` writes, from the clap definitions of both
//! binaries (so they cannot drift from `--help`):
//! - `DIR/man/`: `ringftpd.8` and one page per subcommand (`ringftpd-user-add.8`,
//!   ...), `ringftp.1`; clap_mangen renders synopsis and options, the sections
//!   clap does not know (commands, examples, files, signals, see also) are
//!   written here;
//! - `DIR/completions/{bash,zsh,fish}/`: clap_complete's scripts for both.
//!
//! The client imitates sftp's command line, so nothing is added to it: the
//! generator lives here, not behind a hidden flag of the binary.
//!
//! # Layout
//! - `main`: argument handling and writing the files
//! - `server_page`, `client_page`: the extra man sections of each binary

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use roff::{bold, italic, roman, Inline, Roff};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, dir] if cmd == "dist" => dist(Path::new(dir)),
        _ => bail!("usage: cargo run -p xtask -- dist DIR"),
    }
}

fn dist(dir: &Path) -> Result<()> {
    let man = dir.join("man");
    fs::create_dir_all(&man).with_context(|| format!("creating {}", man.display()))?;
    let server = ringftpd::cli::Cli::command().name("ringftpd");
    // The binary's own about line starts with its name; a man page's NAME
    // section already has it.
    let client = ringftp::cli::Args::command()
        .name("ringftp")
        .about("an FTP client that behaves like OpenSSH sftp")
        .long_about(
            "ringftp connects to an FTP server (ringftpd, vsftpd, proftpd, pure-ftpd, ...) \
             and offers the interface of OpenSSH sftp: the sftp> prompt, the same commands, \
             flags, globbing, progress meter, batch mode, messages and exit codes. \
             With host:path it downloads that file (or enters that directory) first.",
        );

    server_pages(&man, server.clone(), "ringftpd".into(), "ringftpd".into())?;
    let page = write_page(&man, client.clone(), "1", "User Commands", client_page)?;
    println!("{}", page.display());

    for (bin, mut cmd) in [("ringftpd", server), ("ringftp", client)] {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let sub = dir.join("completions").join(shell.to_string());
            fs::create_dir_all(&sub)?;
            let name = match shell {
                Shell::Zsh => format!("_{bin}"),
                Shell::Fish => format!("{bin}.fish"),
                _ => bin.to_string(),
            };
            let path = sub.join(name);
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, bin, &mut out);
            fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
            println!("{}", path.display());
        }
    }
    Ok(())
}

/// `ringftpd.8`, then one page per subcommand, named as clap_mangen's
/// SUBCOMMANDS section refers to them (`ringftpd-user(8)`, `ringftpd-user-add(8)`).
fn server_pages(man: &Path, cmd: clap::Command, file: String, bin: String) -> Result<()> {
    let subs: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let top = file == "ringftpd";
    // `help` is clap's, documented by --help; no page of its own.
    // clap takes owned names only with its `string` feature, which would
    // change the build of both binaries; a few leaked bytes in a build tool.
    let cmd = cmd
        .name(&*file.clone().leak())
        .bin_name(&*bin.clone().leak())
        .disable_help_subcommand(true);
    let extra: fn(&mut Roff) = if top { server_page } else { sub_page };
    let page = write_page(man, cmd, "8", "System Administration", extra)?;
    println!("{}", page.display());
    for sub in subs {
        let name = sub.get_name().to_string();
        server_pages(man, sub, format!("{file}-{name}"), format!("{bin} {name}"))?;
    }
    Ok(())
}

/// clap_mangen's sections, then `extra`, then the version.
fn write_page(
    man: &Path,
    cmd: clap::Command,
    section: &str,
    manual: &str,
    extra: fn(&mut Roff),
) -> Result<PathBuf> {
    let source = format!("ringftp {}", env!("CARGO_PKG_VERSION"));
    let has_subs = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let has_version = cmd.get_version().is_some();
    let page = clap_mangen::Man::new(cmd)
        .section(section)
        .source(source)
        .manual(manual);
    let mut out = Vec::new();
    page.render_title(&mut out)?;
    page.render_name_section(&mut out)?;
    page.render_synopsis_section(&mut out)?;
    page.render_description_section(&mut out)?;
    page.render_options_section(&mut out)?;
    if has_subs {
        page.render_subcommands_section(&mut out)?;
    }
    let mut roff = Roff::new();
    extra(&mut roff);
    out.write_all(roff.render().as_bytes())?;
    if has_version {
        page.render_version_section(&mut out)?;
    }
    let path = man.join(page.get_filename());
    fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn section(r: &mut Roff, title: &str) {
    r.control("SH", [title]);
}

fn para(r: &mut Roff, text: impl Into<Vec<Inline>>) {
    r.control("PP", []).text(text);
}

/// A tagged paragraph: `tag` in bold, then the text indented.
fn item(r: &mut Roff, tag: &str, text: &str) {
    r.control("TP", []).text([bold(tag)]).text([roman(text)]);
}

/// Lines shown as typed (no filling).
fn literal(r: &mut Roff, text: &str) {
    r.control("PP", []).control("nf", []);
    for line in text.lines() {
        r.text([roman(line)]);
    }
    r.control("fi", []);
}

fn sub_page(r: &mut Roff) {
    section(r, "SEE ALSO");
    para(r, [bold("ringftpd"), roman("(8)")]);
}

fn server_page(r: &mut Roff) {
    section(r, "CONFIGURATION");
    para(
        r,
        [roman(
            "Settings come from the built-in defaults, then the TOML file given with \
             --config, then the flags. Every key of the file is a long flag with \
             underscores (passive_ports for --passive-ports); unknown keys are an \
             error. The Debian package installs a commented /etc/ringftpd/ringftpd.toml.",
        )],
    );
    section(r, "USERS");
    para(
        r,
        [roman(
            "Accounts live in a TOML users file (mode 0600) with argon2id password \
             hashes, managed with ringftpd user add, del, list and passwd. A user with \
             --home DIR is confined to ROOT/DIR; every user is confined beneath the \
             served root (openat2 RESOLVE_BENEATH). A running server reads the file \
             again on SIGHUP. When serve starts without a users file it creates one \
             user and prints the password once on standard output.",
        )],
    );
    section(r, "LOGS");
    para(
        r,
        [roman(
            "Lines go to standard error (the journal under systemd): one per login \
             (user, peer, result), per transfer (direction, path, bytes, seconds, rate, \
             result) and per refusal (what, why, peer); --log-format json writes one \
             JSON object per line. --xferlog FILE also appends a wu-ftpd/vsftpd \
             xferlog(5) record per transfer. No password is ever logged.",
        )],
    );
    section(r, "SIGNALS");
    item(
        r,
        "SIGHUP",
        "Reload the users file; sessions keep their login.",
    );
    item(
        r,
        "SIGTERM, SIGINT",
        "Stop accepting, send 421 to idle sessions, let transfers finish, exit. \
         A second signal exits at once.",
    );
    section(r, "EXAMPLES");
    literal(
        r,
        "ringftpd --root ~/ftp                      serve ~/ftp on port 2121\n\
         sudo ringftpd                              serve /srv/ftp on port 21\n\
         sudo ringftpd user add alice --home alice  add a user confined to ROOT/alice\n\
         sudo systemctl reload ringftpd             make a running service see it\n\
         ringftpd --passive-ports 50000-50999 --passive-address 203.0.113.7\n\
         ringftpd --log-format json --xferlog /var/log/ringftpd/xferlog",
    );
    section(r, "FILES");
    item(
        r,
        "/etc/ringftpd/ringftpd.toml",
        "Settings of the packaged service.",
    );
    item(
        r,
        "/etc/ringftpd/users.toml",
        "The users file as root; ~/.config/ringftpd/users.toml otherwise.",
    );
    item(
        r,
        "/srv/ftp",
        "The served root as root; the current directory otherwise.",
    );
    item(
        r,
        "/var/log/ringftpd/xferlog",
        "The transfer log, when the package's configuration enables it.",
    );
    section(r, "ENVIRONMENT");
    item(r, "RINGFTPD_USERS", "The users file, as --users.");
    item(
        r,
        "RINGFTPD_LOG",
        "The log filter, as --log (error, warn, info, debug, trace).",
    );
    section(r, "SEE ALSO");
    para(
        r,
        [
            bold("ringftp"),
            roman("(1), "),
            bold("xferlog"),
            roman("(5), "),
            bold("systemctl"),
            roman("(1), "),
            bold("journalctl"),
            roman("(1); "),
            roman("docs/deploy.md in the source for firewalls, NAT and containers."),
        ],
    );
}

fn client_page(r: &mut Roff) {
    section(r, "INTERACTIVE COMMANDS");
    para(
        r,
        [roman(
            "At the sftp> prompt (or from a batch file given with -b) the commands \
             and their flags are those of OpenSSH sftp(1), with the same messages and \
             exit codes. help prints:",
        )],
    );
    literal(r, ringftp::messages::HELP);
    section(r, "DIFFERENCES FROM SFTP");
    para(
        r,
        [roman(
            "The connection is FTP (port 21 unless -P), so there is no host key and \
             the password is asked for, or read from ~/.netrc. Paths are the server's \
             FTP paths, / being the user's root. ln without -s, copy and cp are not \
             available over FTP and say so as sftp does for a server without the \
             extension.",
        )],
    );
    section(r, "EXAMPLES");
    literal(
        r,
        "ringftp -P 2121 alice@localhost            interactive, like sftp\n\
         ringftp alice@ftp.example:dir/file.iso     download one file\n\
         ringftp -b cmds.txt alice@ftp.example      run the commands in cmds.txt\n\
         ringftp ftp://alice@ftp.example:2121/pub   URL form",
    );
    section(r, "EXIT STATUS");
    para(
        r,
        [roman(
            "0 on success; 1 when a command of a batch file fails or the command line \
             is wrong; 255 when the connection or the login fails, as sftp.",
        )],
    );
    section(r, "FILES");
    item(
        r,
        "~/.netrc",
        "Login and password per host (or the file given with --netrc-file).",
    );
    section(r, "SEE ALSO");
    para(
        r,
        [
            bold("sftp"),
            roman("(1), "),
            bold("ringftpd"),
            roman("(8), "),
            bold("netrc"),
            roman("(5), "),
            italic("RFC 959"),
            roman(", "),
            italic("RFC 4217"),
        ],
    );
}
