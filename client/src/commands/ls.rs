//! `ls`/`dir`: remote listing in sftp's short (columns) and long formats
//! (sftp.c do_ls_dir, do_globbed_ls; sftp-common.c ls_file). The long form
//! is printed from MLSD facts (LIST where the server lacks MLSD):
//! `-rw-r--r--    ? alice    alice        6 Nov 23 22:53 a.txt`.

use std::io::Write;

use ringftp_proto::listing::{mode_string, FileInfo};

use super::lsflag::*;
use super::{error, make_absolute_pwd_glob, path_append, CmdErr, CmdResult, Ctx, Invocation};
use crate::glob::{remote_glob, Match};
use crate::messages;

pub fn run(ctx: &mut Ctx, inv: &Invocation) -> CmdResult {
    let lflag = inv.lflag;
    let pwd = ctx.pwd.clone();
    match inv.path1.as_deref() {
        None => do_ls_dir(ctx, &pwd, Some(&pwd), lflag),
        Some(p) => {
            let strip = if p.starts_with('/') {
                None
            } else {
                Some(pwd.as_str())
            };
            let abs = make_absolute_pwd_glob(p, &pwd);
            do_globbed_ls(ctx, &abs, strip, lflag)
        }
    }
}

/// sftp.c path_strip.
fn path_strip(path: &str, strip: Option<&str>) -> String {
    let Some(strip) = strip else {
        return path.to_string();
    };
    if let Some(rest) = path.strip_prefix(strip) {
        if !strip.ends_with('/') {
            if let Some(r) = rest.strip_prefix('/') {
                return r.to_string();
            }
        }
        return rest.to_string();
    }
    path.to_string()
}

fn term_width() -> usize {
    // SAFETY: ioctl TIOCGWINSZ writes into a valid winsize.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if rc != -1 && ws.ws_col != 0 {
        ws.ws_col as usize
    } else {
        80
    }
}

fn cmp_entries(a: &FileInfo, an: &str, b: &FileInfo, bn: &str, lflag: u32) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let ncmp = |x: i128, y: i128| -> Ordering {
        // sftp's NCMP puts larger values first.
        y.cmp(&x)
    };
    let o = if lflag & NAME_SORT != 0 {
        an.as_bytes().cmp(bn.as_bytes())
    } else if lflag & TIME_SORT != 0 {
        ncmp(a.mtime as i128, b.mtime as i128)
    } else if lflag & SIZE_SORT != 0 {
        ncmp(a.size as i128, b.size as i128)
    } else {
        Ordering::Equal
    };
    if lflag & REVERSE_SORT != 0 {
        o.reverse()
    } else {
        o
    }
}

/// sftp.c do_ls_dir: list the contents of one directory.
fn do_ls_dir(ctx: &mut Ctx, path: &str, strip: Option<&str>, lflag: u32) -> CmdResult {
    let mut entries = match ctx.ftp.list(path) {
        Ok(e) => e,
        Err(e) => return Err(ctx.fail(e, messages::couldnt_read_dir)),
    };
    if lflag & SHOW_ALL != 0 {
        // sftp-server returns "." and ".." in readdir; FTP listings omit them.
        let mut dot = crate::ftp::dir_info(".");
        let mut dotdot = crate::ftp::dir_info("..");
        if let Ok(Some(me)) = ctx.ftp.stat(path) {
            dot = FileInfo {
                name: ".".into(),
                ..me
            };
        }
        let parent = ringftp_proto::path::normalize("/", path)
            .map(|n| ringftp_proto::path::parent(&n).to_string())
            .unwrap_or_else(|_| "/".into());
        if let Ok(Some(up)) = ctx.ftp.stat(&parent) {
            dotdot = FileInfo {
                name: "..".into(),
                ..up
            };
        }
        entries.insert(0, dotdot);
        entries.insert(0, dot);
    }
    let visible = |e: &FileInfo| !e.name.starts_with('.') || lflag & SHOW_ALL != 0;
    let width = term_width();
    let (columns, colspace) = if lflag & SHORT_VIEW == 0 {
        let m = entries
            .iter()
            .filter(|e| visible(e))
            .map(|e| e.name.len())
            .max()
            .unwrap_or(0)
            + path_strip(path, strip).len();
        let columns = (width / (m + 2)).max(1);
        (columns, (width / columns).min(width))
    } else {
        (1, 0)
    };
    if lflag & SORT_FLAGS != 0 {
        entries.sort_by(|a, b| cmp_entries(a, &a.name, b, &b.name, lflag));
    }
    let mut out = std::io::stdout().lock();
    let mut c = 1;
    let now = now();
    for e in entries.iter() {
        if ctx.interrupted() {
            break;
        }
        if !visible(e) {
            continue;
        }
        let fname = path_strip(&path_append(path, &e.name), strip);
        if lflag & LONG_VIEW != 0 {
            let _ = writeln!(out, "{}", ls_line(&fname, e, lflag, now));
        } else {
            let _ = write!(out, "{fname:<colspace$}");
            if c >= columns {
                let _ = writeln!(out);
                c = 1;
            } else {
                c += 1;
            }
        }
    }
    if lflag & LONG_VIEW == 0 && c != 1 {
        let _ = writeln!(out);
    }
    let _ = out.flush();
    Ok(())
}

/// sftp.c do_globbed_ls.
fn do_globbed_ls(ctx: &mut Ctx, path: &str, strip: Option<&str>, lflag: u32) -> CmdResult {
    let matches: Vec<Match> = match remote_glob(&mut ctx.ftp, path, false, false) {
        Ok(m) => m,
        Err(e) if e.is_fatal() => return Err(CmdErr::Fatal(e.to_string())),
        Err(_) => Vec::new(),
    };
    if matches.is_empty() {
        error(&messages::cant_ls_not_found(path));
        return Err(CmdErr::Failed);
    }
    if ctx.interrupted() {
        return Ok(());
    }
    if let [only] = matches.as_slice() {
        if only.is_dir() {
            let p = only.marked();
            return do_ls_dir(ctx, &p, strip, lflag);
        }
    }
    let width = term_width();
    let names: Vec<String> = matches.iter().map(|m| m.marked()).collect();
    let (columns, colspace) = if lflag & SHORT_VIEW == 0 {
        let m = names.iter().map(|n| n.len()).max().unwrap_or(0);
        let columns = (width / (m + 2)).max(1);
        (columns, width / columns)
    } else {
        (1, 0)
    };
    let mut idx: Vec<usize> = (0..matches.len()).collect();
    if lflag & SORT_FLAGS != 0 {
        let blank = crate::ftp::file_info("");
        idx.sort_by(|&a, &b| {
            let ia = matches
                .get(a)
                .and_then(|m| m.info.as_ref())
                .unwrap_or(&blank);
            let ib = matches
                .get(b)
                .and_then(|m| m.info.as_ref())
                .unwrap_or(&blank);
            let na = names.get(a).map(String::as_str).unwrap_or("");
            let nb = names.get(b).map(String::as_str).unwrap_or("");
            cmp_entries(ia, na, ib, nb, lflag)
        });
    }
    let mut out = std::io::stdout().lock();
    let mut c = 1;
    let now = now();
    for i in idx {
        if ctx.interrupted() {
            break;
        }
        let (Some(m), Some(name)) = (matches.get(i), names.get(i)) else {
            continue;
        };
        let fname = path_strip(name, strip);
        if lflag & LONG_VIEW != 0 {
            match &m.info {
                Some(info) => {
                    let _ = writeln!(out, "{}", ls_line(&fname, info, lflag, now));
                }
                None => error(&messages::no_stat_info(&fname)),
            }
        } else {
            let _ = write!(out, "{fname:<colspace$}");
            if c >= columns {
                let _ = writeln!(out);
                c = 1;
            } else {
                c += 1;
            }
        }
    }
    if lflag & LONG_VIEW == 0 && c != 1 {
        let _ = writeln!(out);
    }
    let _ = out.flush();
    Ok(())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// strftime "%b %e %H:%M" within the last six months, else "%b %e  %Y",
/// in local time like sftp.
fn time_str(mtime: i64, now: i64) -> String {
    // SAFETY: localtime_r fills the tm we pass.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let t = mtime as libc::time_t;
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return String::new();
    }
    let mon = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("???");
    if now - (365 * 24 * 60 * 60) / 2 < mtime && now >= mtime {
        format!(
            "{} {:>2} {:02}:{:02}",
            mon, tm.tm_mday, tm.tm_hour, tm.tm_min
        )
    } else {
        format!("{} {:>2}  {}", mon, tm.tm_mday, tm.tm_year + 1900)
    }
}

/// OpenBSD fmt_scaled(3) as used by `ls -h`.
pub fn fmt_scaled(number: u64) -> String {
    const UNITS: &[u8] = b"BKMGTPE";
    let mut abval = number as u128;
    let mut i = 0usize;
    let mut fract: u128 = 0;
    let mut scale: u128 = 1;
    while abval / 1024 >= scale && i + 1 < UNITS.len() {
        scale *= 1024;
        i += 1;
    }
    if i > 0 {
        fract = abval % scale;
        abval /= scale;
        fract /= scale / 1024;
    }
    let mut num = abval;
    let mut fr = (10 * fract + 512) / 1024;
    if fr >= 10 {
        num += 1;
        fr = 0;
    }
    let unit = UNITS.get(i).copied().unwrap_or(b'B') as char;
    if num == 0 {
        "0B".to_string()
    } else if i == 0 || num >= 100 {
        if fr >= 5 {
            num += 1;
        }
        format!("{num}{unit}")
    } else {
        format!("{num}.{fr}{unit}")
    }
}

/// One `ls -l` line in sftp's layout. The link count: sftp prints the server's own long
/// name for plain `ls -l` (with the real count) when the server sends one, and builds the
/// line from attributes, which have no count, for `-n` and `-h` (a `?`). Over FTP the LIST
/// line (or MLSD's `unix.nlink` fact) is that long name, so plain `-l` shows the count when
/// the listing has it; `-n`, `-h` and listings without it show `?`.
pub fn ls_line(name: &str, info: &FileInfo, lflag: u32, now: i64) -> String {
    let mode = mode_string(info.kind, info.mode);
    let numeric = lflag & NUMERIC_VIEW != 0;
    let pick = |id: Option<u32>, s: &str| -> String {
        if numeric {
            if let Some(id) = id {
                return id.to_string();
            }
        }
        if !s.is_empty() {
            s.to_string()
        } else if let Some(id) = id {
            id.to_string()
        } else {
            "?".to_string()
        }
    };
    let user = pick(info.uid, &info.owner);
    let group = pick(info.gid, &info.group);
    let ulen = user.len().max(8);
    let glen = group.len().max(8);
    let tbuf = time_str(info.mtime, now);
    let shown = name;
    let links = if info.nlink > 0 && lflag & (NUMERIC_VIEW | SI_UNITS) == 0 {
        info.nlink.to_string()
    } else {
        "?".to_string()
    };
    if lflag & SI_UNITS != 0 {
        format!(
            "{mode}  {links:>3} {user:<ulen$} {group:<glen$} {:>8} {tbuf} {shown}",
            fmt_scaled(info.size)
        )
    } else {
        format!(
            "{mode}  {links:>3} {user:<ulen$} {group:<glen$} {:>8} {tbuf} {shown}",
            info.size
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringftp_proto::listing::FileKind;

    #[test]
    fn strip() {
        assert_eq!(path_strip("/h/a", Some("/h")), "a");
        assert_eq!(path_strip("/h/d/a", Some("/h")), "d/a");
        assert_eq!(path_strip("/x/a", Some("/h")), "/x/a");
        assert_eq!(path_strip("/a", Some("/")), "a");
        assert_eq!(path_strip("/a", None), "/a");
    }

    #[test]
    fn scaled_like_openbsd() {
        assert_eq!(fmt_scaled(0), "0B");
        assert_eq!(fmt_scaled(6), "6B");
        assert_eq!(fmt_scaled(1023), "1023B");
        assert_eq!(fmt_scaled(1024), "1.0K");
        assert_eq!(fmt_scaled(1536), "1.5K");
        assert_eq!(fmt_scaled(1 << 20), "1.0M");
        assert_eq!(fmt_scaled(150 * 1024), "150K");
    }

    #[test]
    fn long_line_shape() {
        let info = FileInfo {
            name: "a.txt".into(),
            kind: FileKind::File,
            size: 6,
            mtime: 1_700_780_000,
            mode: 0o644,
            nlink: 1,
            owner: "alice".into(),
            group: "alice".into(),
            uid: Some(1000),
            gid: Some(1000),
            link_target: None,
            perm: None,
        };
        let l = ls_line("a.txt", &info, LONG_VIEW, 1_700_800_000);
        assert!(
            l.starts_with("-rw-r--r--    1 alice    alice           6 "),
            "{l}"
        );
        assert!(l.ends_with(" a.txt"));
        let many = FileInfo {
            nlink: 12,
            ..info.clone()
        };
        let l = ls_line("a.txt", &many, LONG_VIEW, 1_700_800_000);
        assert!(l.starts_with("-rw-r--r--   12 alice "), "{l}");
        let unknown = FileInfo {
            nlink: 0,
            ..info.clone()
        };
        let l = ls_line("a.txt", &unknown, LONG_VIEW, 1_700_800_000);
        assert!(l.starts_with("-rw-r--r--    ? alice "), "{l}");
        let h = ls_line("a.txt", &info, LONG_VIEW | SI_UNITS, 1_700_800_000);
        assert!(h.starts_with("-rw-r--r--    ? alice "), "{h}");
        let n = ls_line("a.txt", &info, LONG_VIEW | NUMERIC_VIEW, 1_700_800_000);
        assert!(
            n.starts_with("-rw-r--r--    ? 1000     1000            6 "),
            "{n}"
        );
    }
}
