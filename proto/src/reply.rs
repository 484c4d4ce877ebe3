//! Replies as values (RFC 959 section 4.2): a three-digit code and one or more lines of text.
//!
//! The server builds [`Reply`] values and sends [`Reply::encode`]; the client feeds received bytes
//! to [`parse_reply`], which answers "need more" (`Ok(None)`) or a reply and the bytes it used.

/// Largest reply [`parse_reply`] accepts, in bytes.
pub const MAX_REPLY: usize = 1024 * 1024;

/// One reply: code and text lines (without codes, separators or line ends).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    /// Three-digit reply code, e.g. 226.
    pub code: u16,
    /// Text lines; never empty when built with [`Reply::new`] or [`Reply::multi`].
    pub lines: Vec<String>,
}

impl Reply {
    /// A reply with one line of text; a `'\n'` in `text` starts a new line (multi-line reply).
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        Reply::multi(code, vec![text.into()])
    }

    /// A reply with several lines. Lines containing `'\n'` are split; CRs are removed.
    pub fn multi(code: u16, lines: Vec<String>) -> Reply {
        let mut out = Vec::with_capacity(lines.len().max(1));
        for l in lines {
            if l.contains(['\n', '\r']) {
                out.extend(l.split('\n').map(|part| part.replace('\r', "")));
            } else {
                out.push(l);
            }
        }
        if out.is_empty() {
            out.push(String::new());
        }
        Reply { code, lines: out }
    }

    /// The wire form: `"CODE text\r\n"`, or for several lines `"CODE-first\r\n"`, the middle lines
    /// (a space is put before a middle line that starts with a digit or is empty, so it can never
    /// be read as the last line), and `"CODE last\r\n"`. CR and LF inside lines are never sent.
    pub fn encode(&self) -> String {
        // Split again in case `lines` was built by hand with line ends inside.
        let lines: Vec<&str> = self.lines.iter().flat_map(|l| l.split('\n')).collect();
        let clean = |s: &str| s.replace('\r', "");
        let code = self.code;
        let mut out = String::new();
        match lines.split_first() {
            None => out.push_str(&format!("{code} \r\n")),
            Some((only, [])) => out.push_str(&format!("{code} {}\r\n", clean(only))),
            Some((first, rest)) => {
                out.push_str(&format!("{code}-{}\r\n", clean(first)));
                if let Some((last, middle)) = rest.split_last() {
                    for m in middle {
                        let m = clean(m);
                        if m.is_empty() || m.starts_with(|c: char| c.is_ascii_digit()) {
                            out.push(' ');
                        }
                        out.push_str(&m);
                        out.push_str("\r\n");
                    }
                    out.push_str(&format!("{code} {}\r\n", clean(last)));
                }
            }
        }
        out
    }

    /// All lines joined with `'\n'`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The first digit: 1 preliminary, 2 completion, 3 intermediate, 4 transient, 5 permanent.
    pub fn class(&self) -> u16 {
        self.code / 100
    }

    /// 1xx: more replies follow for this command.
    pub fn is_preliminary(&self) -> bool {
        self.class() == 1
    }

    /// 2xx: the command completed.
    pub fn is_success(&self) -> bool {
        self.class() == 2
    }
}

impl std::fmt::Display for Reply {
    /// `"CODE text"` with lines joined by `'\n'`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

/// Why received bytes are not a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A line that should start a reply does not start with a code (the line, lossily decoded).
    #[error("malformed reply: {0:?}")]
    Malformed(String),
    /// The reply is longer than [`MAX_REPLY`] bytes.
    #[error("reply longer than {MAX_REPLY} bytes")]
    TooLong,
}

/// Parses one reply from the start of `buf` (for the client).
///
/// `Ok(None)`: the reply is not complete yet, read more and call again with all bytes. `Ok(Some((r,
/// n)))`: a reply that used the first `n` bytes. Lines may end in CRLF or LF; invalid UTF-8 is
/// decoded lossily. A multi-line reply ends at the first line starting with the same code and a
/// space (or the code alone); middle lines are kept as they are, except that a `"CODE-"` prefix is
/// removed and one space before a digit (or before nothing) is removed, the inverse of
/// [`Reply::encode`].
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut lines = RawLines { buf, pos: 0 };
    let Some(first) = lines.next() else {
        return need_more(buf.len());
    };
    let first_text = String::from_utf8_lossy(first);
    let (code, sep) = match split_code(first) {
        Some(cs) => cs,
        None => {
            return Err(ReplyError::Malformed(
                first_text.chars().take(200).collect(),
            ))
        }
    };
    let text_of =
        |line: &[u8]| String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned();
    if sep != Some(b'-') {
        return finish(
            Reply {
                code,
                lines: vec![text_of(first)],
            },
            lines.pos,
        );
    }
    let mut out = vec![text_of(first)];
    let code_bytes = *first.first_chunk::<3>().unwrap_or(&[0; 3]);
    while let Some(line) = lines.next() {
        if lines.pos > MAX_REPLY {
            return Err(ReplyError::TooLong);
        }
        let same_code = line.first_chunk::<3>() == Some(&code_bytes);
        let after = line.get(3).copied();
        if same_code && matches!(after, None | Some(b' ')) {
            out.push(text_of(line));
            return finish(Reply { code, lines: out }, lines.pos);
        }
        let body = if same_code && after == Some(b'-') {
            line.get(4..).unwrap_or_default()
        } else {
            line
        };
        let body = match body.strip_prefix(b" ") {
            Some(rest) if rest.is_empty() || rest.first().is_some_and(u8::is_ascii_digit) => rest,
            _ => body,
        };
        out.push(String::from_utf8_lossy(body).into_owned());
    }
    need_more(buf.len())
}

fn need_more<T>(len: usize) -> Result<Option<T>, ReplyError> {
    if len > MAX_REPLY {
        Err(ReplyError::TooLong)
    } else {
        Ok(None)
    }
}

fn finish(reply: Reply, used: usize) -> Result<Option<(Reply, usize)>, ReplyError> {
    if used > MAX_REPLY {
        return Err(ReplyError::TooLong);
    }
    Ok(Some((reply, used)))
}

/// `"123 "`, `"123-"` or `"123"` at the start of a line: the code and the separator byte.
fn split_code(line: &[u8]) -> Option<(u16, Option<u8>)> {
    let digits = line.first_chunk::<3>()?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'1'..=b'6').contains(&digits[0]) {
        return None;
    }
    let sep = line.get(3).copied();
    if !matches!(sep, None | Some(b' ' | b'-')) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    Some((code, sep))
}

/// Complete lines of `buf` without their CRLF or LF; `pos` is the offset after the last one.
struct RawLines<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for RawLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.pos..)?;
        let lf = rest.iter().position(|&b| b == b'\n')?;
        let line = rest.get(..lf)?;
        self.pos += lf + 1;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Reply {
        let (r, n) = parse_reply(bytes).unwrap().unwrap();
        assert_eq!(n, bytes.len());
        r
    }

    #[test]
    fn single_line() {
        let r = Reply::new(226, "Transfer complete.");
        assert_eq!(r.encode(), "226 Transfer complete.\r\n");
        assert_eq!(parse_all(r.encode().as_bytes()), r);
        assert!(r.is_success());
        assert!(!r.is_preliminary());
        assert_eq!(r.class(), 2);
        assert_eq!(r.text(), "Transfer complete.");
        assert_eq!(r.to_string(), "226 Transfer complete.");
    }

    #[test]
    fn newline_in_text_makes_multi() {
        let r = Reply::new(211, "Features:\n EPSV\r\nEnd");
        assert_eq!(r.lines, vec!["Features:", " EPSV", "End"]);
        assert_eq!(r.encode(), "211-Features:\r\n EPSV\r\n211 End\r\n");
        assert_eq!(parse_all(r.encode().as_bytes()), r);
    }

    #[test]
    fn digit_and_empty_middle_lines_are_protected() {
        let r = Reply::multi(
            214,
            vec![
                "Help:".into(),
                "214 looks like an end".into(),
                String::new(),
                "2xx".into(),
                "done".into(),
            ],
        );
        let wire = r.encode();
        assert_eq!(
            wire,
            "214-Help:\r\n 214 looks like an end\r\n \r\n 2xx\r\n214 done\r\n"
        );
        assert_eq!(parse_all(wire.as_bytes()), r);
    }

    #[test]
    fn never_bare_line_ends_inside() {
        let r = Reply {
            code: 200,
            lines: vec!["a\rb\nc".into()],
        };
        let wire = r.encode();
        assert_eq!(wire.matches('\n').count(), wire.matches("\r\n").count());
        assert_eq!(wire, "200-ab\r\n200 c\r\n");
        let empty = Reply {
            code: 200,
            lines: vec![],
        };
        assert_eq!(empty.encode(), "200 \r\n");
        assert_eq!(Reply::multi(200, vec![]).lines, vec![String::new()]);
    }

    #[test]
    fn parses_lf_only_and_code_alone() {
        assert_eq!(parse_all(b"200 OK\n"), Reply::new(200, "OK"));
        assert_eq!(parse_all(b"200\r\n"), Reply::new(200, ""));
        assert_eq!(
            parse_all(b"230-Welcome\n230-second\n230\n").lines,
            vec!["Welcome", "second", ""]
        );
    }

    #[test]
    fn multi_line_with_code_prefixed_middle_lines() {
        let r =
            parse_all(b"230-Welcome\r\n230-Be nice\r\nplain\r\n 230 indented\r\n230 Login ok.\r\n");
        assert_eq!(r.code, 230);
        assert_eq!(
            r.lines,
            vec!["Welcome", "Be nice", "plain", "230 indented", "Login ok."]
        );
    }

    #[test]
    fn other_code_inside_multi_is_a_middle_line() {
        let r = parse_all(b"211-Status\r\n200 not the end\r\n211 End\r\n");
        assert_eq!(r.lines, vec!["Status", "200 not the end", "End"]);
    }

    #[test]
    fn partial_input_needs_more() {
        let wire = b"150-Opening\r\n data\r\n150 here\r\n226 Done\r\n";
        for cut in 0..13 + 7 + 10 {
            assert_eq!(parse_reply(&wire[..cut]), Ok(None), "cut at {cut}");
        }
        let (r, n) = parse_reply(wire).unwrap().unwrap();
        assert_eq!(r.code, 150);
        assert!(r.is_preliminary());
        assert_eq!(r.lines, vec!["Opening", " data", "here"]);
        let (r2, n2) = parse_reply(&wire[n..]).unwrap().unwrap();
        assert_eq!(r2, Reply::new(226, "Done"));
        assert_eq!(n + n2, wire.len());
        assert_eq!(parse_reply(b"226 Do"), Ok(None));
    }

    #[test]
    fn invalid_utf8_is_lossy() {
        let r = parse_all(b"550 caf\xE9\r\n");
        assert_eq!(r.code, 550);
        assert_eq!(r.lines, vec!["caf\u{FFFD}"]);
    }

    #[test]
    fn malformed() {
        for bad in [
            &b"hello\r\n"[..],
            b"20 x\r\n",
            b"2000 x\r\n",
            b"200x\r\n",
            b"099 x\r\n",
            b"\r\n",
        ] {
            assert!(
                matches!(parse_reply(bad), Err(ReplyError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn too_long() {
        let mut big = b"200-start\r\n".to_vec();
        while big.len() <= MAX_REPLY {
            big.extend_from_slice(b"filler filler filler filler\r\n");
        }
        assert_eq!(parse_reply(&big), Err(ReplyError::TooLong));
        big.extend_from_slice(b"200 end\r\n");
        assert_eq!(parse_reply(&big), Err(ReplyError::TooLong));
        let no_lf = vec![b'2'; MAX_REPLY + 1];
        assert_eq!(parse_reply(&no_lf), Err(ReplyError::TooLong));
        // Just under the cap is fine.
        let mut ok = b"200-start\r\n".to_vec();
        while ok.len() < MAX_REPLY - 100 {
            ok.extend_from_slice(b"x\r\n");
        }
        ok.extend_from_slice(b"200 end\r\n");
        assert!(parse_reply(&ok).unwrap().is_some());
    }

    #[test]
    fn round_trips() {
        for r in [
            Reply::new(220, "ringftpd ready"),
            Reply::new(257, "\"/a\"\"b\" is the current directory"),
            Reply::multi(
                211,
                vec![
                    "Features:".into(),
                    " MLST type*;size*;".into(),
                    " UTF8".into(),
                    "End".into(),
                ],
            ),
            Reply::multi(250, vec!["a".into(), "".into()]),
            Reply::new(500, "ünïcödé"),
        ] {
            assert_eq!(parse_all(r.encode().as_bytes()), r);
        }
    }

    /// Random bytes (LCG) never panic; whatever parses used at most the bytes given.
    #[test]
    fn fuzz_never_panics() {
        let mut state: u64 = 99;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u32
        };
        let pieces: [&[u8]; 8] = [b"200", b"-", b" ", b"\r\n", b"\n", b"x", b"\xFF", b"1"];
        for _ in 0..20_000 {
            let n = (next() % 16) as usize;
            let buf: Vec<u8> = (0..n)
                .flat_map(|_| pieces[(next() as usize) % pieces.len()].iter().copied())
                .collect();
            if let Ok(Some((r, used))) = parse_reply(&buf) {
                assert!(used <= buf.len());
                assert!(!r.lines.is_empty());
                let again = parse_all(r.encode().as_bytes());
                assert_eq!(again.code, r.code);
            }
        }
    }
}
