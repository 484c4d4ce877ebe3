//! sftp's command-line tokenizer (`makeargv`) and a BSD-style `getopt`.
//!
//! Quoting follows sh(1) with sftp's tweaks: quoted glob characters are
//! escaped with a backslash so that they stay literal in remote globs, `#`
//! starts a comment outside quotes, and an unterminated quote is an error
//! (or, in "sloppy" mode used by Tab completion, accepted).

use crate::messages;

pub const MAXARGS: usize = 128;
pub const MAXARGLEN: usize = 8192;

/// The tokenized line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Argv {
    pub args: Vec<String>,
    /// Quote character of the last argument ('\0' when unquoted).
    pub lastquote: char,
    /// False when the last argument's quote was not closed (sloppy mode).
    pub terminated: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Start,
    SQuote,
    DQuote,
    Unquoted,
}

/// Split `arg` into arguments; errors carry sftp's message.
pub fn makeargv(arg: &str, sloppy: bool) -> Result<Argv, &'static str> {
    if arg.len() > MAXARGLEN - 1 {
        return Err(messages::STRING_TOO_LONG);
    }
    let chars: Vec<char> = arg.chars().collect();
    let mut out = Argv {
        args: Vec::new(),
        lastquote: '\0',
        terminated: true,
    };
    let mut cur = String::new();
    let mut state = St::Start;
    let mut i = 0usize;
    let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
    loop {
        if out.args.len() > MAXARGS {
            return Err(messages::TOO_MANY_ARGS);
        }
        let c = at(i);
        if c != '\0' && c.is_ascii_whitespace() {
            if state == St::Unquoted {
                out.args.push(std::mem::take(&mut cur));
                state = St::Start;
            } else if state != St::Start {
                cur.push(c);
            }
        } else if c == '"' || c == '\'' {
            let q = if c == '"' { St::DQuote } else { St::SQuote };
            if state == St::Start {
                state = q;
                out.lastquote = c;
            } else if state == St::Unquoted {
                state = q;
            } else if state == q {
                state = St::Unquoted;
            } else {
                cur.push(c);
            }
        } else if c == '\\' {
            if state == St::SQuote || state == St::DQuote {
                let quot = if state == St::SQuote { '\'' } else { '"' };
                let n = at(i + 1);
                if n == quot {
                    i += 1;
                    cur.push(n);
                } else if n == '?' || n == '[' || n == '*' {
                    cur.push('\\');
                    cur.push('\\');
                    i += 1;
                    cur.push('\\');
                    cur.push(n);
                } else {
                    cur.push('\\');
                    i += 1;
                    if n != '\0' {
                        cur.push(n);
                    } else {
                        // backslash at end of string: sftp copies the NUL
                        // and then stops at it.
                        i -= 1;
                    }
                }
            } else {
                if state == St::Start {
                    state = St::Unquoted;
                    out.lastquote = '\0';
                }
                let n = at(i + 1);
                if n == '?' || n == '[' || n == '*' || n == '\\' {
                    cur.push('\\');
                    i += 1;
                    cur.push(n);
                } else {
                    i += 1;
                    if n != '\0' {
                        cur.push(n);
                    } else {
                        i -= 1;
                    }
                }
            }
        } else if c == '#' {
            if state == St::SQuote || state == St::DQuote {
                cur.push(c);
            } else {
                if state == St::Unquoted {
                    out.args.push(std::mem::take(&mut cur));
                }
                break;
            }
        } else if c == '\0' {
            if state == St::SQuote || state == St::DQuote {
                if sloppy {
                    state = St::Unquoted;
                    out.terminated = false;
                } else {
                    return Err(messages::UNTERMINATED_QUOTE);
                }
            }
            if state == St::Unquoted {
                out.args.push(std::mem::take(&mut cur));
            }
            break;
        } else {
            if state == St::Start {
                state = St::Unquoted;
                out.lastquote = '\0';
            }
            if (state == St::SQuote || state == St::DQuote) && (c == '?' || c == '[' || c == '*') {
                cur.push('\\');
            }
            cur.push(c);
        }
        i += 1;
    }
    Ok(out)
}

/// Undo the glob escaping makeargv added, for arguments that are not globbed
/// (sftp's undo_glob_escape).
pub fn undo_glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.peek().copied() {
            Some(n @ ('?' | '[' | '*' | '\\')) => {
                out.push(n);
                it.next();
            }
            None => out.push('\\'),
            Some(n) => {
                out.push('\\');
                out.push(n);
                it.next();
            }
        }
    }
    out
}

/// BSD getopt over `args[1..]` with the option letters in `optstring` (no
/// option takes an argument here). Returns the flags seen and the index of
/// the first operand, or the unknown flag character.
pub fn getopt(args: &[String], optstring: &str) -> Result<(Vec<char>, usize), char> {
    let mut flags = Vec::new();
    let mut idx = 1;
    while let Some(a) = args.get(idx) {
        if a == "--" {
            idx += 1;
            break;
        }
        if !a.starts_with('-') || a.len() < 2 {
            break;
        }
        for c in a.chars().skip(1) {
            if optstring.contains(c) && c != ':' {
                flags.push(c);
            } else {
                return Err(c);
            }
        }
        idx += 1;
    }
    Ok((flags, idx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        makeargv(s, false).unwrap().args
    }

    #[test]
    fn splits_and_quotes() {
        assert_eq!(args("get a b"), vec!["get", "a", "b"]);
        assert_eq!(args("get \"a b\" 'c d'"), vec!["get", "a b", "c d"]);
        assert_eq!(args("put a\\ b"), vec!["put", "a b"]);
        assert_eq!(args("ls # comment"), vec!["ls"]);
        assert_eq!(args("ls \"*\""), vec!["ls", "\\*"]);
        assert_eq!(args("ls \\*"), vec!["ls", "\\*"]);
        assert_eq!(args("ls *.txt"), vec!["ls", "*.txt"]);
        assert_eq!(args("  "), Vec::<String>::new());
    }

    #[test]
    fn unterminated_quote() {
        assert_eq!(
            makeargv("get \"abc", false),
            Err(messages::UNTERMINATED_QUOTE)
        );
        let a = makeargv("get \"ab", true).unwrap();
        assert_eq!(a.args, vec!["get", "ab"]);
        assert!(!a.terminated);
        assert_eq!(a.lastquote, '"');
    }

    #[test]
    fn getopt_bsd() {
        let v: Vec<String> = ["ls", "-la", "-t", "dir", "-x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(getopt(&v, "1Safhlnrt"), Ok((vec!['l', 'a', 't'], 3)));
        let v: Vec<String> = ["ls", "-z"].iter().map(|s| s.to_string()).collect();
        assert_eq!(getopt(&v, "1Safhlnrt"), Err('z'));
        let v: Vec<String> = ["get", "--", "-a"].iter().map(|s| s.to_string()).collect();
        assert_eq!(getopt(&v, "afPpRr"), Ok((vec![], 2)));
    }

    #[test]
    fn undo_escape() {
        assert_eq!(undo_glob_escape("a\\*b"), "a*b");
        assert_eq!(undo_glob_escape("a\\xb"), "a\\xb");
    }
}
