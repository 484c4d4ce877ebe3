//! The REPL (rustyline with history and Tab completion), batch mode and
//! SIGINT handling, following sftp.c's interactive_loop.
//!
//! - Interactive (stdin is a terminal, no `-b`): rustyline prompt `sftp> `,
//!   history in `$XDG_STATE_HOME/ringftp/history` (or
//!   `~/.local/state/ringftp/history`), Ctrl-C clears the line, Ctrl-D exits.
//! - Batch (`-b FILE`, `-b -`) or piped stdin: each command is echoed as
//!   `sftp> cmd` (unless prefixed by `@`); in batch mode the first failure
//!   stops with exit status 1 unless the command starts with `-`.
//! - While a command runs, SIGINT prints `Interrupt` and sets a flag that the
//!   transfer loops poll; the transfer is aborted with ABOR, the partial local
//!   file stays for `reget`, and the prompt comes back.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::{DefaultHistory, History};
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor};

use crate::argv::makeargv;
use crate::commands::{self, Comp, Ctx, Flow, CMDS};
use crate::glob::{escape, remote_glob};
use crate::messages;

/// Set by the SIGINT handler while a command runs.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn cmd_interrupt(_sig: libc::c_int) {
    let msg = messages::INTERRUPT;
    // SAFETY: write(2) is async-signal-safe; the buffer is static.
    unsafe { libc::write(libc::STDERR_FILENO, msg.as_ptr().cast(), msg.len()) };
    INTERRUPTED.store(true, Ordering::SeqCst);
}

extern "C" fn read_interrupt(_sig: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

extern "C" fn kill_self(_sig: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(1) };
}

fn set_sigint(handler: extern "C" fn(libc::c_int)) {
    // SAFETY: installing a handler that only touches an atomic and calls
    // async-signal-safe functions. No SA_RESTART, so blocking calls return
    // EINTR and the transfer loops notice the flag.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
}

/// Where history is kept.
pub fn history_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    Some(base.join("ringftp").join("history"))
}

/// Run one line with SIGINT handled as sftp does during commands.
fn run_line(ctx: &mut Ctx, line: &str, err_abort: bool, echo: bool) -> Flow {
    INTERRUPTED.store(false, Ordering::SeqCst);
    set_sigint(cmd_interrupt);
    let flow = commands::dispatch(ctx, line, err_abort, echo);
    INTERRUPTED.store(false, Ordering::SeqCst);
    flow
}

/// Exit status of the loop: 0, 1 (batch failure) or 255 (connection lost).
fn flow_status(flow: &Flow) -> Option<u8> {
    match flow {
        Flow::Continue => None,
        Flow::Quit => Some(0),
        Flow::Abort => Some(1),
        Flow::Fatal => Some(255),
    }
}

/// The command loop. `input` is the batch file (or stdin) when not interactive.
pub fn interactive_loop(ctx: Ctx, batch: Option<Box<dyn BufRead>>) -> u8 {
    let batchmode = batch.is_some();
    let interactive = !batchmode && std::io::stdin().is_terminal();
    if interactive {
        return readline_loop(ctx);
    }
    let mut ctx = ctx;
    let mut input: Box<dyn BufRead> =
        batch.unwrap_or_else(|| Box::new(std::io::BufReader::new(std::io::stdin())));
    loop {
        INTERRUPTED.store(false, Ordering::SeqCst);
        set_sigint(kill_self);
        let mut raw = Vec::new();
        match input.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.split('\n').next().unwrap_or("");
        let flow = run_line(&mut ctx, line, batchmode, true);
        if let Some(code) = flow_status(&flow) {
            ctx.quit();
            return code;
        }
    }
    ctx.quit();
    0
}

fn readline_loop(ctx: Ctx) -> u8 {
    let ctx = Rc::new(RefCell::new(ctx));
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .max_history_size(1000)
        .map(|b| b.auto_add_history(false).build())
        .unwrap_or_else(|_| Config::default());
    let mut rl: Editor<FtpHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(r) => r,
        Err(e) => {
            commands::error(&format!("Couldn't initialise line editing: {e}"));
            return 255;
        }
    };
    rl.set_helper(Some(FtpHelper { ctx: ctx.clone() }));
    let hist = history_path();
    if let Some(h) = &hist {
        let _ = rl.load_history(h);
    }
    let code = loop {
        INTERRUPTED.store(false, Ordering::SeqCst);
        set_sigint(read_interrupt);
        match rl.readline(messages::PROMPT) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.history_mut().add(&line);
                    if let Some(h) = &hist {
                        if let Some(dir) = h.parent() {
                            let _ = std::fs::create_dir_all(dir);
                        }
                        let _ = rl.save_history(h);
                    }
                }
                let flow = {
                    let mut c = ctx.borrow_mut();
                    run_line(&mut c, &line, false, false)
                };
                if let Some(code) = flow_status(&flow) {
                    break code;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            // rustyline already moved to a new line, as sftp's printf("\n").
            Err(ReadlineError::Eof) => break 0,
            Err(e) => {
                commands::error(&e.to_string());
                break 1;
            }
        }
    };
    ctx.borrow_mut().quit();
    code
}

/// Tab completion of command names, remote paths and local paths.
struct FtpHelper {
    ctx: Rc<RefCell<Ctx>>,
}

impl rustyline::Helper for FtpHelper {}
impl Hinter for FtpHelper {
    type Hint = String;
}
impl Highlighter for FtpHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}
impl Validator for FtpHelper {}

/// Escape characters that makeargv would split or interpret.
fn shell_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "'\"\\\t[ #*?".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Byte offset where the word under the cursor starts (after the last
/// unescaped blank).
fn word_start(line: &str) -> usize {
    let mut start = 0;
    let mut esc = false;
    for (i, c) in line.char_indices() {
        if esc {
            esc = false;
            continue;
        }
        if c == '\\' {
            esc = true;
        } else if c == ' ' || c == '\t' {
            start = i + 1;
        }
    }
    start
}

impl Completer for FtpHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = line.get(..pos).unwrap_or(line);
        let Ok(argv) = makeargv(head, true) else {
            return Ok((pos, Vec::new()));
        };
        let ends_blank = head.is_empty() || head.ends_with(' ') || head.ends_with('\t');
        let start = word_start(head);
        let carg = argv.args.len();
        if carg == 0 || (carg == 1 && !ends_blank) {
            let word = argv.args.first().map(String::as_str).unwrap_or("");
            let cands = CMDS
                .iter()
                .filter(|s| s.name.len() >= word.len())
                .filter(|s| {
                    s.name
                        .get(..word.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(word))
                })
                .map(|s| Pair {
                    display: s.name.to_string(),
                    replacement: format!("{} ", s.name),
                })
                .collect();
            return Ok((start, cands));
        }
        let Some(cmd) = argv.args.first() else {
            return Ok((pos, Vec::new()));
        };
        let mut cmdarg = argv
            .args
            .iter()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .count();
        if ends_blank {
            cmdarg += 1;
        }
        let spec = CMDS.iter().find(|s| s.name.eq_ignore_ascii_case(cmd));
        let kind = match (spec, cmdarg) {
            (Some(s), 1) => s.arg1,
            (Some(s), 2) => s.arg2,
            _ => Comp::NoArgs,
        };
        let word = if ends_blank {
            String::new()
        } else {
            crate::glob::unescape(argv.args.last().map(String::as_str).unwrap_or(""))
        };
        let (dir_part, _) = match word.rfind('/') {
            Some(i) => word.split_at(i + 1),
            None => ("", word.as_str()),
        };
        let mut cands = Vec::new();
        match kind {
            Comp::Remote => {
                let Ok(mut ctx) = self.ctx.try_borrow_mut() else {
                    return Ok((pos, cands));
                };
                let pattern = format!("{}*", escape(&word));
                let abs = commands::make_absolute_pwd_glob(&pattern, &ctx.pwd);
                if let Ok(ms) = remote_glob(&mut ctx.ftp, &abs, false, true) {
                    for m in ms {
                        let name = commands::basename(&m.path);
                        let suffix = if m.is_dir() { "/" } else { " " };
                        cands.push(Pair {
                            display: format!("{}{}", name, if m.is_dir() { "/" } else { "" }),
                            replacement: format!(
                                "{}{}",
                                shell_escape(&format!("{dir_part}{name}")),
                                suffix
                            ),
                        });
                    }
                }
            }
            Comp::Local => {
                let pattern = format!("{}*", ::glob::Pattern::escape(&word));
                if let Ok(paths) = ::glob::glob(&pattern) {
                    for p in paths.flatten() {
                        let name = p
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let is_dir = p.is_dir();
                        cands.push(Pair {
                            display: format!("{}{}", name, if is_dir { "/" } else { "" }),
                            replacement: format!(
                                "{}{}",
                                shell_escape(&format!("{dir_part}{name}")),
                                if is_dir { "/" } else { " " }
                            ),
                        });
                    }
                }
            }
            Comp::NoArgs => {}
        }
        Ok((start, cands))
    }
}
