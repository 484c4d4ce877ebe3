//! Remote glob expansion with glob(3) rules, as sftp's `remote_glob` does:
//! `*`, `?`, `[...]`, backslash escapes, and names starting with '.' only when
//! the pattern component starts with '.'. Expansion walks the pattern one
//! component at a time and matches against server listings (MLSD/LIST);
//! components without wildcards are not listed, the final path is checked
//! with a stat. Matching itself uses the `glob` crate's `Pattern`.

use glob::{MatchOptions, Pattern};
use ringftp_proto::listing::{FileInfo, FileKind};

use crate::ftp::{Ftp, FtpError};

/// One expanded path with what the server told us about it.
#[derive(Debug, Clone)]
pub struct Match {
    pub path: String,
    pub info: Option<FileInfo>,
}

impl Match {
    pub fn is_dir(&self) -> bool {
        matches!(self.info.as_ref().map(|i| i.kind), Some(FileKind::Dir))
    }

    /// The path as glob(3) with GLOB_MARK prints it: directories end in '/'.
    pub fn marked(&self) -> String {
        if self.is_dir() && !self.path.ends_with('/') {
            format!("{}/", self.path)
        } else {
            self.path.clone()
        }
    }
}

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// True when `s` has an unescaped `*`, `?` or `[`.
pub fn has_magic(s: &str) -> bool {
    let mut esc = false;
    for c in s.chars() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Remove one level of backslash escaping.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Escape glob metacharacters (sftp's escape_glob).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "[]?*\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Translate a glob(3) component (backslash escapes) into `glob::Pattern`
/// syntax (bracket escapes).
fn to_pattern(comp: &str) -> Pattern {
    let mut p = String::with_capacity(comp.len() + 4);
    let mut it = comp.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(n) if "*?[]".contains(n) => {
                    p.push('[');
                    p.push(n);
                    p.push(']');
                }
                Some(n) => p.push(n),
                None => p.push('\\'),
            }
        } else {
            p.push(c);
        }
    }
    Pattern::new(&p).unwrap_or_else(|_| {
        let lit = unescape(comp);
        Pattern::new(&Pattern::escape(&lit)).unwrap_or_default()
    })
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Expand `pattern` (absolute, as sftp makes it with make_absolute_pwd_glob).
/// Returns the matches (possibly none). With `nocheck`, a pattern that
/// matches nothing is returned unescaped as the single result (GLOB_NOCHECK).
pub fn remote_glob(
    ftp: &mut Ftp,
    pattern: &str,
    nocheck: bool,
    sort: bool,
) -> Result<Vec<Match>, FtpError> {
    let absolute = pattern.starts_with('/');
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let want_dir = pattern.ends_with('/') && !comps.is_empty();
    let mut states: Vec<Match> = vec![Match {
        path: if absolute { "/".into() } else { String::new() },
        info: if absolute {
            Some(crate::ftp::dir_info("/"))
        } else {
            None
        },
    }];
    let last = comps.len().saturating_sub(1);
    for (idx, comp) in comps.iter().enumerate() {
        let mut next = Vec::new();
        if !has_magic(comp) {
            let lit = unescape(comp);
            for s in &states {
                next.push(Match {
                    path: join(&s.path, &lit),
                    info: None,
                });
            }
        } else {
            let pat = to_pattern(comp);
            for s in &states {
                let dir = if s.path.is_empty() { "." } else { &s.path };
                let entries = match ftp.list(dir) {
                    Ok(e) => e,
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(_) => continue,
                };
                for info in entries {
                    if !pat.matches_with(&info.name, OPTIONS) {
                        continue;
                    }
                    if idx != last && matches!(info.kind, FileKind::File | FileKind::Other) {
                        continue;
                    }
                    next.push(Match {
                        path: join(&s.path, &info.name),
                        info: Some(info),
                    });
                }
            }
        }
        states = next;
        if states.is_empty() {
            break;
        }
    }
    let mut out = Vec::new();
    for mut m in states {
        let symlink = matches!(m.info.as_ref().map(|i| i.kind), Some(FileKind::Symlink));
        if m.info.is_none() || symlink {
            // Follow like stat(2) does: the server's view of the target.
            match ftp.stat(&m.path)? {
                Some(i) => {
                    let name = m
                        .info
                        .as_ref()
                        .map(|o| o.name.clone())
                        .unwrap_or(i.name.clone());
                    m.info = Some(FileInfo { name, ..i });
                }
                None if symlink => {}
                None => continue,
            }
        }
        if want_dir && !m.is_dir() {
            continue;
        }
        out.push(m);
    }
    if sort {
        out.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    }
    if out.is_empty() && nocheck {
        out.push(Match {
            path: unescape(pattern),
            info: None,
        });
    }
    Ok(out)
}

/// Local glob for put/reput (GLOB_NOCHECK | GLOB_MARK semantics): returns the
/// matched paths, or the pattern itself when nothing matches.
pub fn local_glob(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    if has_magic(pattern) {
        let pat = translate_local(pattern);
        if let Ok(paths) = glob::glob_with(&pat, OPTIONS) {
            for p in paths.flatten() {
                let s = p.to_string_lossy().into_owned();
                let s = if pattern.starts_with("./") && !s.starts_with("./") {
                    format!("./{s}")
                } else {
                    s
                };
                out.push(s);
            }
        }
    } else {
        let lit = unescape(pattern);
        if std::fs::symlink_metadata(&lit).is_ok() {
            out.push(lit);
        }
    }
    if out.is_empty() {
        return vec![unescape(pattern)];
    }
    out.sort();
    out.into_iter()
        .map(|p| {
            if std::path::Path::new(&p).is_dir() && !p.ends_with('/') {
                format!("{p}/")
            } else {
                p
            }
        })
        .collect()
}

fn translate_local(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|c| {
            if has_magic(c) {
                to_pattern(c).as_str().to_string()
            } else {
                Pattern::escape(&unescape(c))
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_and_escapes() {
        assert!(has_magic("*.txt"));
        assert!(has_magic("a?"));
        assert!(has_magic("[ab]"));
        assert!(!has_magic("a\\*b"));
        assert_eq!(unescape("a\\*b"), "a*b");
        assert_eq!(escape("a*b[c]"), "a\\*b\\[c\\]");
    }

    #[test]
    fn hidden_files_need_a_leading_dot() {
        let p = to_pattern("*");
        assert!(p.matches_with("a.txt", OPTIONS));
        assert!(!p.matches_with(".hidden", OPTIONS));
        let p = to_pattern(".*");
        assert!(p.matches_with(".hidden", OPTIONS));
    }

    #[test]
    fn escaped_wildcards_are_literal() {
        let p = to_pattern("a\\*");
        assert!(p.matches_with("a*", OPTIONS));
        assert!(!p.matches_with("ab", OPTIONS));
        let p = to_pattern("f[0-9].txt");
        assert!(p.matches_with("f7.txt", OPTIONS));
        assert!(!p.matches_with("fx.txt", OPTIONS));
    }

    #[test]
    fn local_glob_nocheck_and_mark() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("b.txt"), "b").unwrap();
        std::fs::write(dir.path().join(".h.txt"), "h").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let base = dir.path().to_string_lossy().into_owned();
        let got = local_glob(&format!("{base}/*"));
        assert_eq!(
            got,
            vec![
                format!("{base}/a.txt"),
                format!("{base}/b.txt"),
                format!("{base}/d/")
            ]
        );
        let none = local_glob(&format!("{base}/nope*"));
        assert_eq!(none, vec![format!("{base}/nope*")]);
    }
}
