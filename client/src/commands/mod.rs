//! The sftp command table and dispatcher: one file per command.
//!
//! `CMDS` is the only command table; it drives parsing (`parse_args`), Tab
//! completion (`shell.rs`) and dispatch (`dispatch`). Parsing mirrors sftp.c's
//! `parse_args` (getopt flags, mandatory paths, numeric arguments, and the
//! exact error messages) rather than clap, because sftp's wording of every
//! error is part of the behaviour users and scripts rely on.
//!
//! # Layout
//! - `get`: get, reget, mget (download, recursive download)
//! - `put`: put, reput, mput (upload, recursive upload)
//! - `ls`: ls, dir (remote listing, sftp's short and long formats)
//! - `cd`: cd, chdir
//! - `pwd`: pwd and lpwd
//! - `lcd`, `lls`, `lmkdir`, `lumask`: local helpers
//! - `mkdir`, `rmdir`, `rm`, `rename`, `ln` (ln, symlink), `copy` (copy, cp)
//! - `chmod`: chmod, chown, chgrp
//! - `df`, `help`, `version`, `progress`, `bang` (!command), `quit`

pub mod bang;
pub mod cd;
pub mod chmod;
pub mod copy;
pub mod df;
pub mod get;
pub mod help;
pub mod lcd;
pub mod lls;
pub mod lmkdir;
pub mod ln;
pub mod ls;
pub mod lumask;
pub mod mkdir;
pub mod progress;
pub mod put;
pub mod pwd;
pub mod rename;
pub mod rm;
pub mod rmdir;
pub mod version;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::argv::{getopt, makeargv, undo_glob_escape};
use crate::ftp::{Ftp, FtpError};
use crate::messages;
use crate::parallel::{self, JobEnd, Pool, Work};
use crate::progress::Meter;

/// Which command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdId {
    Chdir,
    Chgrp,
    Chmod,
    Chown,
    Copy,
    Df,
    Get,
    Help,
    Lchdir,
    Link,
    Lls,
    Lmkdir,
    Lpwd,
    Ls,
    Lumask,
    Mkdir,
    Put,
    Pwd,
    Quit,
    Reget,
    Rename,
    Reput,
    Rm,
    Rmdir,
    Shell,
    Symlink,
    Version,
    Progress,
}

/// What Tab completes for an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comp {
    NoArgs,
    Remote,
    Local,
}

/// One row of the command table.
pub struct Spec {
    pub name: &'static str,
    pub id: CmdId,
    pub arg1: Comp,
    pub arg2: Comp,
}

const fn spec(name: &'static str, id: CmdId, arg1: Comp, arg2: Comp) -> Spec {
    Spec {
        name,
        id,
        arg1,
        arg2,
    }
}

use Comp::{Local, NoArgs, Remote};

/// The command table, in sftp's order (aliases included).
pub const CMDS: &[Spec] = &[
    spec("bye", CmdId::Quit, NoArgs, NoArgs),
    spec("cd", CmdId::Chdir, Remote, NoArgs),
    spec("chdir", CmdId::Chdir, Remote, NoArgs),
    spec("chgrp", CmdId::Chgrp, Remote, NoArgs),
    spec("chmod", CmdId::Chmod, Remote, NoArgs),
    spec("chown", CmdId::Chown, Remote, NoArgs),
    spec("copy", CmdId::Copy, Remote, Local),
    spec("cp", CmdId::Copy, Remote, Local),
    spec("df", CmdId::Df, Remote, NoArgs),
    spec("dir", CmdId::Ls, Remote, NoArgs),
    spec("exit", CmdId::Quit, NoArgs, NoArgs),
    spec("get", CmdId::Get, Remote, Local),
    spec("help", CmdId::Help, NoArgs, NoArgs),
    spec("lcd", CmdId::Lchdir, Local, NoArgs),
    spec("lchdir", CmdId::Lchdir, Local, NoArgs),
    spec("lls", CmdId::Lls, Local, NoArgs),
    spec("lmkdir", CmdId::Lmkdir, Local, NoArgs),
    spec("ln", CmdId::Link, Remote, Remote),
    spec("lpwd", CmdId::Lpwd, Local, NoArgs),
    spec("ls", CmdId::Ls, Remote, NoArgs),
    spec("lumask", CmdId::Lumask, NoArgs, NoArgs),
    spec("mkdir", CmdId::Mkdir, Remote, NoArgs),
    spec("mget", CmdId::Get, Remote, Local),
    spec("mput", CmdId::Put, Local, Remote),
    spec("progress", CmdId::Progress, NoArgs, NoArgs),
    spec("put", CmdId::Put, Local, Remote),
    spec("pwd", CmdId::Pwd, Remote, NoArgs),
    spec("quit", CmdId::Quit, NoArgs, NoArgs),
    spec("reget", CmdId::Reget, Remote, Local),
    spec("rename", CmdId::Rename, Remote, Remote),
    spec("reput", CmdId::Reput, Local, Remote),
    spec("rm", CmdId::Rm, Remote, NoArgs),
    spec("rmdir", CmdId::Rmdir, Remote, NoArgs),
    spec("symlink", CmdId::Symlink, Remote, Remote),
    spec("version", CmdId::Version, NoArgs, NoArgs),
    spec("!", CmdId::Shell, NoArgs, NoArgs),
    spec("?", CmdId::Help, NoArgs, NoArgs),
];

/// ls flags (sftp.c LS_*).
pub mod lsflag {
    pub const LONG_VIEW: u32 = 0x0001;
    pub const SHORT_VIEW: u32 = 0x0002;
    pub const NUMERIC_VIEW: u32 = 0x0004;
    pub const NAME_SORT: u32 = 0x0008;
    pub const TIME_SORT: u32 = 0x0010;
    pub const SIZE_SORT: u32 = 0x0020;
    pub const REVERSE_SORT: u32 = 0x0040;
    pub const SHOW_ALL: u32 = 0x0080;
    pub const SI_UNITS: u32 = 0x0100;
    pub const VIEW_FLAGS: u32 = LONG_VIEW | SHORT_VIEW | NUMERIC_VIEW | SI_UNITS;
    pub const SORT_FLAGS: u32 = NAME_SORT | TIME_SORT | SIZE_SORT;
}

/// A parsed command with its flags and paths.
#[derive(Debug, Default, Clone)]
pub struct Invocation {
    /// The command word as in the table (for messages).
    pub name: &'static str,
    pub aflag: bool,
    pub fflag: bool,
    pub hflag: bool,
    pub iflag: bool,
    pub lflag: u32,
    pub pflag: bool,
    pub rflag: bool,
    pub sflag: bool,
    pub n_arg: u64,
    pub path1: Option<String>,
    pub path2: Option<String>,
    /// The rest of the line for `lls` and `!`.
    pub rest: String,
}

/// Outcome of parsing one line.
pub enum Parsed {
    Blank,
    Error,
    Run(CmdId, Invocation),
}

/// A command failed: the message was printed already; `Fatal` means the
/// connection is gone.
#[derive(Debug)]
pub enum CmdErr {
    Failed,
    Fatal(String),
}

pub type CmdResult = Result<(), CmdErr>;

/// Global flags given on the command line (-a -f -p -r).
#[derive(Debug, Default, Clone, Copy)]
pub struct Global {
    pub aflag: bool,
    pub fflag: bool,
    pub pflag: bool,
    pub rflag: bool,
}

/// Everything a command may touch.
pub struct Ctx {
    pub ftp: Ftp,
    pub pwd: String,
    pub startdir: String,
    pub quiet: bool,
    /// `-q` only: hides sftp's logit() notes (batch mode alone does not).
    pub log_quiet: bool,
    pub showprogress: bool,
    pub global: Global,
    /// Bytes per second for -l, 0 = unlimited.
    pub limit: u64,
    pub interrupted: &'static AtomicBool,
    /// Extra connections for parallel transfers (`--parallel`).
    pub pool: Pool,
}

impl Ctx {
    /// QUIT the extra connections, then the main one.
    pub fn quit(&mut self) {
        self.pool.quit();
        self.ftp.quit();
    }

    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// How many connections a transfer may use: `--parallel`, but one for
    /// resumed transfers (`-a`, `reget`, `reput`: one stream continues the
    /// one prefix there is) and under `-l` (the limit is per connection).
    pub fn streams(&self, resume: bool) -> usize {
        if resume || self.limit > 0 {
            1
        } else {
            self.pool.settings.streams.max(1)
        }
    }

    /// Whether a file of `size` bytes is cut into segments: more than one
    /// stream, at least `--parallel-min` bytes, and a server with
    /// `REST STREAM` in FEAT.
    pub fn segmented(&self, size: u64, resume: bool) -> bool {
        self.streams(resume) > 1
            && size >= self.pool.settings.segment_min
            && size > 0
            && self.ftp.features.rest_stream
    }

    /// Like `fail`, but when the server's reply does not say why, ask whether
    /// `path` exists so that a missing file reads "No such file or directory".
    pub fn fail_path(
        &mut self,
        e: FtpError,
        path: &str,
        msg: impl FnOnce(&str) -> String,
    ) -> CmdErr {
        if e.is_fatal() {
            return CmdErr::Fatal(e.to_string());
        }
        let mut status = e.status();
        if status == "Failure" {
            if let Ok(None) = self.ftp.stat(path) {
                status = "No such file or directory";
            }
        }
        error(&msg(status));
        CmdErr::Failed
    }

    /// Convert an FTP error into a command error, printing `msg` for
    /// non-fatal ones.
    pub fn fail(&self, e: FtpError, msg: impl FnOnce(&str) -> String) -> CmdErr {
        if e.is_fatal() {
            return CmdErr::Fatal(e.to_string());
        }
        error(&msg(e.status()));
        CmdErr::Failed
    }
}

/// Run whole-file `jobs` (get -r, put -r, multi-file globs) over up to
/// `--parallel` connections: the session's own and extra ones from the pool,
/// given back afterwards. One meter `name` covers `total` bytes; `announce`
/// prints a job's sftp line, `work` moves it. A lost connection ends the
/// command as fatal; any other failed job makes it fail after all have run.
pub fn run_file_jobs<J: Sync>(
    ctx: &mut Ctx,
    jobs: &[J],
    name: &str,
    total: u64,
    announce: &(dyn Fn(&J) + Sync),
    work: &Work<'_, J>,
) -> CmdResult {
    if jobs.is_empty() {
        return Ok(());
    }
    let k = ctx.streams(false).min(jobs.len());
    // Idle extra connections at once; the missing ones are opened by their
    // workers while the others already move files.
    let mut extra = ctx.pool.take_idle(k.saturating_sub(1));
    let missing = k.saturating_sub(1 + extra.len());
    let mut meter = if ctx.showprogress && total != 0 {
        Some(Meter::start(name, total, 0))
    } else {
        None
    };
    let mut last = 0;
    let mut progress = |pos: u64| {
        last = pos;
        if let Some(m) = meter.as_mut() {
            m.update(pos);
        }
    };
    let mut conns: Vec<&mut Ftp> = std::iter::once(&mut ctx.ftp)
        .chain(extra.iter_mut())
        .collect();
    let open = ctx.pool.connector().map(|c| (c, missing));
    let (ends, opened) = parallel::run_jobs(
        &mut conns,
        open,
        jobs,
        ctx.interrupted,
        &mut progress,
        announce,
        work,
    );
    drop(conns);
    if let Some(m) = meter.take() {
        m.stop(last);
    }
    ctx.pool.put_back(extra);
    ctx.pool.put_back(opened);
    let mut result = Ok(());
    for end in ends {
        match end {
            JobEnd::Done => {}
            JobEnd::Failed => result = Err(CmdErr::Failed),
            JobEnd::Lost(e) => return Err(CmdErr::Fatal(e.to_string())),
        }
    }
    result
}

/// A failed job: the connection is gone (`Lost`), or `msg` of the reply's
/// status is printed and the job `Failed`.
pub fn job_failed(e: FtpError, msg: impl FnOnce(&str) -> String) -> JobEnd {
    if e.is_fatal() {
        return JobEnd::Lost(e);
    }
    error(&msg(e.status()));
    JobEnd::Failed
}

/// sftp's `error()`: one line on stderr.
pub fn error(msg: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{msg}");
}

/// sftp's `mprintf` to stdout, one line.
pub fn say(msg: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{msg}");
    let _ = out.flush();
}

/// `path_append`: join with one '/'.
pub fn path_append(p1: &str, p2: &str) -> String {
    if p1 == "/" || p1.ends_with('/') || p1.is_empty() {
        format!("{p1}{p2}")
    } else {
        format!("{p1}/{p2}")
    }
}

/// `make_absolute`: relative paths are joined to `pwd`.
pub fn make_absolute(p: &str, pwd: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        path_append(pwd, p)
    }
}

/// `make_absolute_pwd_glob`: like make_absolute, with pwd's glob characters escaped.
pub fn make_absolute_pwd_glob(p: &str, pwd: &str) -> String {
    make_absolute(p, &crate::glob::escape(pwd))
}

/// POSIX basename(3).
pub fn basename(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// strerror(3) text of an io::Error (without Rust's " (os error N)").
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

pub fn local_is_dir(p: &str) -> bool {
    std::fs::metadata(p).map(|m| m.is_dir()).unwrap_or(false)
}

fn flags_or_err(name: &str, args: &[String], opts: &str) -> Result<(Vec<char>, usize), ()> {
    getopt(args, opts).map_err(|c| error(&messages::invalid_flag(name, c)))
}

/// sftp.c `parse_args`. Returns (ignore_errors, disable_echo, Parsed).
pub fn parse_args(line: &str) -> (bool, bool, Parsed) {
    let ws = |c: char| " \t\r\n".contains(c);
    let mut cp = line.trim_start_matches(ws);
    let mut ignore_errors = false;
    let mut disable_echo = false;
    loop {
        if let Some(r) = cp.strip_prefix('-') {
            ignore_errors = true;
            cp = r;
        } else if let Some(r) = cp.strip_prefix('@') {
            disable_echo = true;
            cp = r;
        } else {
            break;
        }
    }
    cp = cp.trim_start_matches(ws);
    if cp.is_empty() || cp.starts_with('#') {
        return (ignore_errors, disable_echo, Parsed::Blank);
    }
    let argv = match makeargv(cp, false) {
        Ok(a) => a.args,
        Err(m) => {
            error(m);
            return (ignore_errors, disable_echo, Parsed::Error);
        }
    };
    let spec = argv
        .first()
        .and_then(|a0| CMDS.iter().find(|s| s.name.eq_ignore_ascii_case(a0)));
    let (id, name) = if let Some(rest) = cp.strip_prefix('!') {
        let inv = Invocation {
            name: "!",
            rest: rest.to_string(),
            ..Default::default()
        };
        return (ignore_errors, disable_echo, Parsed::Run(CmdId::Shell, inv));
    } else {
        match spec {
            Some(s) => (s.id, s.name),
            None => {
                error(messages::INVALID_COMMAND);
                return (ignore_errors, disable_echo, Parsed::Error);
            }
        }
    };
    let res = parse_cmd(id, name, &argv, cp);
    let parsed = match res {
        Ok(inv) => Parsed::Run(id, inv),
        Err(()) => Parsed::Error,
    };
    (ignore_errors, disable_echo, parsed)
}

fn parse_cmd(id: CmdId, name: &'static str, argv: &[String], cp: &str) -> Result<Invocation, ()> {
    let mut inv = Invocation {
        name,
        ..Default::default()
    };
    let argc = argv.len();
    let arg = |i: usize| argv.get(i).cloned().unwrap_or_default();
    match id {
        CmdId::Get | CmdId::Reget | CmdId::Reput | CmdId::Put => {
            let (flags, optidx) = flags_or_err(name, argv, "afPpRr")?;
            for f in flags {
                match f {
                    'a' => inv.aflag = true,
                    'f' => inv.fflag = true,
                    'p' | 'P' => inv.pflag = true,
                    _ => inv.rflag = true,
                }
            }
            if argc < optidx + 1 {
                error(&messages::need_one_path(name));
                return Err(());
            }
            inv.path1 = Some(arg(optidx));
            if argc > optidx + 1 {
                inv.path2 = Some(undo_glob_escape(&arg(optidx + 1)));
            }
        }
        CmdId::Link | CmdId::Copy | CmdId::Rename | CmdId::Symlink => {
            let opts = match id {
                CmdId::Link => "s",
                CmdId::Rename => "l",
                _ => "",
            };
            let (flags, optidx) = flags_or_err(name, argv, opts)?;
            inv.sflag = flags.contains(&'s');
            if flags.contains(&'l') {
                inv.lflag = 1;
            }
            if argc < optidx + 2 {
                error(&messages::need_two_paths(name));
                return Err(());
            }
            inv.path1 = Some(undo_glob_escape(&arg(optidx)));
            inv.path2 = Some(undo_glob_escape(&arg(optidx + 1)));
        }
        CmdId::Rm | CmdId::Mkdir | CmdId::Rmdir | CmdId::Lmkdir | CmdId::Chdir | CmdId::Lchdir => {
            let mandatory = matches!(id, CmdId::Rm | CmdId::Mkdir | CmdId::Rmdir | CmdId::Lmkdir);
            let (_, optidx) = flags_or_err(name, argv, "")?;
            if argc < optidx + 1 {
                if !mandatory {
                    return Ok(inv);
                }
                error(&messages::need_path(name));
                return Err(());
            }
            let p = arg(optidx);
            inv.path1 = Some(if id == CmdId::Rm {
                p
            } else {
                undo_glob_escape(&p)
            });
        }
        CmdId::Df => {
            let (flags, optidx) = flags_or_err(name, argv, "hi")?;
            inv.hflag = flags.contains(&'h');
            inv.iflag = flags.contains(&'i');
            if argc > optidx {
                inv.path1 = Some(undo_glob_escape(&arg(optidx)));
            }
        }
        CmdId::Ls => {
            let (flags, optidx) = getopt(argv, "1Safhlnrt").map_err(|c| {
                error(&messages::invalid_flag("ls", c));
            })?;
            use lsflag::*;
            let mut l = NAME_SORT;
            for f in flags {
                match f {
                    '1' => {
                        l &= !VIEW_FLAGS;
                        l |= SHORT_VIEW;
                    }
                    'S' => {
                        l &= !SORT_FLAGS;
                        l |= SIZE_SORT;
                    }
                    'a' => l |= SHOW_ALL,
                    'f' => l &= !SORT_FLAGS,
                    'h' => l |= SI_UNITS,
                    'l' => {
                        l &= !SHORT_VIEW;
                        l |= LONG_VIEW;
                    }
                    'n' => {
                        l &= !SHORT_VIEW;
                        l |= NUMERIC_VIEW | LONG_VIEW;
                    }
                    'r' => l |= REVERSE_SORT,
                    _ => {
                        l &= !SORT_FLAGS;
                        l |= TIME_SORT;
                    }
                }
            }
            inv.lflag = l;
            if argc > optidx {
                inv.path1 = Some(arg(optidx));
            }
        }
        CmdId::Lls => {
            // The rest of the line after the command word.
            let after = cp.get(name.len().min(cp.len())..).unwrap_or("");
            inv.rest = after
                .trim_start_matches(|c: char| " \t\r\n".contains(c))
                .to_string();
        }
        CmdId::Shell => {}
        CmdId::Lumask | CmdId::Chmod | CmdId::Chown | CmdId::Chgrp => {
            let base = if matches!(id, CmdId::Lumask | CmdId::Chmod) {
                8
            } else {
                10
            };
            let (flags, optidx) = flags_or_err(name, argv, "h")?;
            inv.hflag = flags.contains(&'h');
            let num = argv.get(optidx).and_then(|s| parse_num(s, base));
            match num {
                Some(n) => inv.n_arg = n,
                None => {
                    error(&messages::need_numeric(name));
                    return Err(());
                }
            }
            if id == CmdId::Lumask {
                return Ok(inv);
            }
            if argc < optidx + 2 {
                error(&messages::need_path(name));
                return Err(());
            }
            inv.path1 = Some(arg(optidx + 1));
        }
        CmdId::Quit | CmdId::Pwd | CmdId::Lpwd | CmdId::Help | CmdId::Version | CmdId::Progress => {
            flags_or_err(name, argv, "")?;
        }
    }
    Ok(inv)
}

/// strtoll-like parse (optional sign, base 8 or 10), range 0..=u32::MAX.
fn parse_num(s: &str, base: u32) -> Option<u64> {
    let t = s.trim_start();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || t.starts_with('-') {
        return None;
    }
    let v = u64::from_str_radix(t, base).ok()?;
    (v <= u32::MAX as u64).then_some(v)
}

/// Outcome of one dispatched line (sftp's parse_dispatch_command).
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
    /// Batch mode error: stop with exit status 1.
    Abort,
    /// The connection is gone.
    Fatal,
}

/// Parse and run one line. `echo` prints `sftp> line` first (batch / piped).
pub fn dispatch(ctx: &mut Ctx, line: &str, mut err_abort: bool, echo: bool) -> Flow {
    let (ignore_errors, disable_echo, parsed) = parse_args(line);
    if ignore_errors {
        err_abort = false;
    }
    if echo && !disable_echo {
        say(&format!("{}{}", messages::PROMPT, line));
    }
    let (id, inv) = match parsed {
        Parsed::Blank => return Flow::Continue,
        Parsed::Error => {
            return if err_abort {
                Flow::Abort
            } else {
                Flow::Continue
            }
        }
        Parsed::Run(id, inv) => (id, inv),
    };
    let res = run(ctx, id, &inv, err_abort);
    match res {
        Err(CmdErr::Fatal(msg)) => {
            error(&msg);
            Flow::Fatal
        }
        Err(CmdErr::Failed) if err_abort => Flow::Abort,
        _ if id == CmdId::Quit => Flow::Quit,
        _ => Flow::Continue,
    }
}

fn run(ctx: &mut Ctx, id: CmdId, inv: &Invocation, err_abort: bool) -> CmdResult {
    tracing::debug!(cmd = inv.name, "run");
    match id {
        CmdId::Get => get::run(ctx, inv, false),
        CmdId::Reget => get::run(ctx, inv, true),
        CmdId::Put => put::run(ctx, inv, false),
        CmdId::Reput => put::run(ctx, inv, true),
        CmdId::Copy => copy::run(ctx, inv),
        CmdId::Rename => rename::run(ctx, inv),
        CmdId::Symlink | CmdId::Link => ln::run(ctx, inv, id == CmdId::Symlink),
        CmdId::Rm => rm::run(ctx, inv, err_abort),
        CmdId::Mkdir => mkdir::run(ctx, inv),
        CmdId::Rmdir => rmdir::run(ctx, inv),
        CmdId::Chdir => cd::run(ctx, inv),
        CmdId::Ls => ls::run(ctx, inv),
        CmdId::Df => df::run(ctx, inv),
        CmdId::Lchdir => lcd::run(inv),
        CmdId::Lmkdir => lmkdir::run(inv),
        CmdId::Lls => lls::run(inv),
        CmdId::Shell => bang::run(&inv.rest),
        CmdId::Lumask => lumask::run(inv),
        CmdId::Chmod | CmdId::Chown | CmdId::Chgrp => chmod::run(ctx, id, inv, err_abort),
        CmdId::Pwd => pwd::remote(ctx),
        CmdId::Lpwd => pwd::local(),
        CmdId::Quit => Ok(()),
        CmdId::Help => help::run(),
        CmdId::Version => version::run(),
        CmdId::Progress => progress::run(ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Option<(CmdId, Invocation)> {
        match parse_args(line).2 {
            Parsed::Run(id, inv) => Some((id, inv)),
            _ => None,
        }
    }

    #[test]
    fn commands_are_case_insensitive_and_aliases_map() {
        assert_eq!(parse("GET a").map(|p| p.0), Some(CmdId::Get));
        assert_eq!(parse("mget a").map(|p| p.0), Some(CmdId::Get));
        assert_eq!(parse("dir").map(|p| p.0), Some(CmdId::Ls));
        assert_eq!(parse("chdir /").map(|p| p.0), Some(CmdId::Chdir));
        assert_eq!(parse("lchdir /").map(|p| p.0), Some(CmdId::Lchdir));
        assert_eq!(parse("mput a").map(|p| p.0), Some(CmdId::Put));
        assert!(parse("frobnicate").is_none());
    }

    #[test]
    fn flags_and_paths() {
        let (_, inv) = parse("get -afpr 'a b' c").unwrap();
        assert!(inv.aflag && inv.fflag && inv.pflag && inv.rflag);
        assert_eq!(inv.path1.as_deref(), Some("a b"));
        assert_eq!(inv.path2.as_deref(), Some("c"));
        assert!(parse("get -z a").is_none());
        assert!(parse("get").is_none());
        let (_, inv) = parse("chmod 755 x").unwrap();
        assert_eq!(inv.n_arg, 0o755);
        assert!(parse("chmod 9 x").is_none());
        let (_, inv) = parse("ls -1t").unwrap();
        assert_eq!(inv.lflag & lsflag::TIME_SORT, lsflag::TIME_SORT);
        let (_, inv) = parse("lls -la /tmp").unwrap();
        assert_eq!(inv.rest, "-la /tmp");
    }

    #[test]
    fn prefixes() {
        let (ign, noecho, p) = parse_args("-@rm x");
        assert!(ign && noecho);
        assert!(matches!(p, Parsed::Run(CmdId::Rm, _)));
        let (_, _, p) = parse_args("!echo hi");
        match p {
            Parsed::Run(CmdId::Shell, inv) => assert_eq!(inv.rest, "echo hi"),
            _ => panic!("not a shell escape"),
        }
    }

    #[test]
    fn path_helpers() {
        assert_eq!(path_append("/", "a"), "/a");
        assert_eq!(path_append("/a", "b"), "/a/b");
        assert_eq!(path_append("/a/", "b"), "/a/b");
        assert_eq!(make_absolute("x", "/h"), "/h/x");
        assert_eq!(make_absolute("/x", "/h"), "/x");
        assert_eq!(basename("/a/dir/"), "dir");
        assert_eq!(basename("a"), "a");
        assert_eq!(basename("/"), "/");
    }
}
