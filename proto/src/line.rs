//! Framing of the control connection (RFC 959 section 4.1.3, RFC 854 for the Telnet bytes).
//!
//! [`LineBuffer`] takes the bytes as they arrive and hands back whole command lines. It does no
//! I/O: the session reads the socket and calls [`LineBuffer::push`], then drains
//! [`LineBuffer::next_line`] until it answers `None` ("need more").
//!
//! Bounds: a line longer than the limit is never stored. Its bytes are dropped up to the next LF
//! and exactly one [`LineError::TooLong`] is reported for it, in order with the lines around it.
//! The buffer starts with no allocation and [`LineBuffer::shrink`] gives memory back when idle.

use std::collections::VecDeque;

/// Longest accepted command line in bytes, without the CRLF.
pub const MAX_LINE: usize = 4096;

/// Telnet "Interpret As Command" byte.
const IAC: u8 = 0xFF;
/// Telnet WILL, WONT, DO, DONT: these three-byte negotiations carry an option byte.
const NEGOTIATION: std::ops::RangeInclusive<u8> = 251..=254;

/// Why a line could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line was longer than the limit; its bytes were discarded.
    #[error("Command line too long.")]
    TooLong,
    /// The line was not valid UTF-8 (RFC 2640 asks for UTF-8).
    #[error("Command line is not valid UTF-8.")]
    NotUtf8,
}

/// Splits a byte stream into command lines. See the module docs.
#[derive(Debug, Default)]
pub struct LineBuffer {
    /// Received bytes; `buf[pos..]` is not yet consumed.
    buf: Vec<u8>,
    /// Read cursor into `buf`.
    pos: usize,
    /// Start of the incomplete line at the end of `buf`.
    line_start: usize,
    /// Offsets in `buf` where a [`LineError::TooLong`] is due (before the line starting there).
    too_long_at: VecDeque<usize>,
    /// Dropping the rest of an over-long line until its LF.
    discarding: bool,
    max_len: usize,
}

impl LineBuffer {
    /// An empty buffer accepting lines of at most `max_len` bytes (CRLF not counted). No allocation.
    pub fn new(max_len: usize) -> Self {
        LineBuffer {
            max_len,
            ..LineBuffer::default()
        }
    }

    /// Appends received bytes. Over-long lines are dropped as they arrive (see the module docs),
    /// so the buffer never holds more than the complete lines plus `max_len + 1` bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let lf = rest.iter().position(|&b| b == b'\n');
            if self.discarding {
                match lf {
                    Some(i) => {
                        self.discarding = false;
                        rest = rest.get(i + 1..).unwrap_or_default();
                        continue;
                    }
                    None => return,
                }
            }
            let partial = self.buf.len() - self.line_start;
            match lf {
                Some(i) => {
                    let (seg, tail) = rest.split_at(i + 1);
                    // Content without the LF and one optional CR before it.
                    let before_lf = partial + i;
                    let ends_cr = match seg.len().checked_sub(2).and_then(|j| seg.get(j)) {
                        Some(&b) => b == b'\r',
                        None => self.buf.last() == Some(&b'\r'),
                    };
                    let content = before_lf - usize::from(ends_cr);
                    if content > self.max_len {
                        self.reject_partial();
                    } else {
                        self.buf.extend_from_slice(seg);
                        self.line_start = self.buf.len();
                    }
                    rest = tail;
                }
                None => {
                    let total = partial + rest.len();
                    // A trailing CR may still be followed by LF, so allow one byte more for it.
                    let too_long = total > self.max_len + 1
                        || (total == self.max_len + 1 && rest.last() != Some(&b'\r'));
                    if too_long {
                        self.reject_partial();
                        self.discarding = true;
                    } else {
                        self.buf.extend_from_slice(rest);
                    }
                    return;
                }
            }
        }
    }

    /// Drops the incomplete line and schedules one `TooLong` at its place.
    fn reject_partial(&mut self) {
        self.buf.truncate(self.line_start);
        self.too_long_at.push_back(self.line_start);
    }

    /// The next complete line with its terminator (CRLF or bare LF) removed and Telnet commands
    /// stripped: `IAC x` is removed (and `IAC WILL/WONT/DO/DONT opt` as a whole), `IAC IAC`
    /// becomes one 0xFF byte. `None` when no complete line is buffered.
    pub fn next_line(&mut self) -> Option<Result<String, LineError>> {
        if self.too_long_at.front() == Some(&self.pos) {
            self.too_long_at.pop_front();
            self.compact();
            return Some(Err(LineError::TooLong));
        }
        let unread = self.buf.get(self.pos..self.line_start)?;
        let lf = unread.iter().position(|&b| b == b'\n')?;
        let raw = unread.get(..lf)?;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = strip_telnet(raw);
        self.pos += lf + 1;
        self.compact();
        Some(String::from_utf8(line).map_err(|_| LineError::NotUtf8))
    }

    /// Forgets consumed bytes once everything before the incomplete line was read.
    fn compact(&mut self) {
        if self.pos == self.line_start && self.too_long_at.front().is_none_or(|&p| p > self.pos) {
            let consumed = self.pos;
            self.buf.drain(..consumed);
            self.pos = 0;
            self.line_start = 0;
            for p in &mut self.too_long_at {
                *p -= consumed;
            }
        }
    }

    /// No buffered bytes and no pending error.
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len() && self.too_long_at.is_empty()
    }

    /// Releases the allocation when the buffer is empty (an idle session costs nothing).
    pub fn shrink(&mut self) {
        if self.is_empty() {
            self.buf = Vec::new();
            self.too_long_at = VecDeque::new();
            self.pos = 0;
            self.line_start = 0;
        }
    }
}

/// Removes Telnet command sequences from one line.
fn strip_telnet(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.iter().copied();
    while let Some(b) = it.next() {
        if b != IAC {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(IAC) => out.push(IAC),
            Some(cmd) if NEGOTIATION.contains(&cmd) => {
                it.next();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buf: &mut LineBuffer) -> Vec<Result<String, LineError>> {
        std::iter::from_fn(|| buf.next_line()).collect()
    }

    #[test]
    fn starts_without_allocation() {
        let b = LineBuffer::new(MAX_LINE);
        assert_eq!(b.buf.capacity(), 0);
        assert!(b.is_empty());
    }

    #[test]
    fn crlf_and_bare_lf() {
        let mut b = LineBuffer::new(MAX_LINE);
        b.push(b"USER alice\r\nPASS x\nNOOP\r\n");
        assert_eq!(
            lines(&mut b),
            vec![
                Ok("USER alice".into()),
                Ok("PASS x".into()),
                Ok("NOOP".into())
            ]
        );
        assert!(b.is_empty());
    }

    #[test]
    fn partial_lines_wait_for_lf() {
        let mut b = LineBuffer::new(MAX_LINE);
        b.push(b"RETR fi");
        assert_eq!(b.next_line(), None);
        assert!(!b.is_empty());
        b.push(b"le.txt\r");
        assert_eq!(b.next_line(), None);
        b.push(b"\nQU");
        assert_eq!(b.next_line(), Some(Ok("RETR file.txt".into())));
        assert_eq!(b.next_line(), None);
        b.push(b"IT\n");
        assert_eq!(b.next_line(), Some(Ok("QUIT".into())));
        assert!(b.is_empty());
        b.shrink();
        assert_eq!(b.buf.capacity(), 0);
    }

    #[test]
    fn byte_by_byte() {
        let mut b = LineBuffer::new(MAX_LINE);
        let mut got = Vec::new();
        for &x in b"CWD a b\r\nPWD\n".iter() {
            b.push(&[x]);
            got.extend(lines(&mut b));
        }
        assert_eq!(got, vec![Ok("CWD a b".into()), Ok("PWD".into())]);
    }

    #[test]
    fn only_one_cr_removed_and_inner_cr_kept() {
        let mut b = LineBuffer::new(MAX_LINE);
        b.push(b"NOOP\r\r\nA\rB\n");
        assert_eq!(lines(&mut b), vec![Ok("NOOP\r".into()), Ok("A\rB".into())]);
    }

    #[test]
    fn empty_lines() {
        let mut b = LineBuffer::new(MAX_LINE);
        b.push(b"\r\n\n");
        assert_eq!(lines(&mut b), vec![Ok(String::new()), Ok(String::new())]);
    }

    #[test]
    fn telnet_sequences_stripped() {
        let mut b = LineBuffer::new(MAX_LINE);
        // IAC IP IAC DM ABOR, as sent by clients for an urgent abort.
        b.push(&[0xFF, 0xF4, 0xFF, 0xF2, b'A', b'B', b'O', b'R', b'\r', b'\n']);
        assert_eq!(b.next_line(), Some(Ok("ABOR".into())));
        // IAC DO option is three bytes; IAC IAC is one 0xFF (which then is not UTF-8).
        b.push(&[0xFF, 0xFD, 0x01, b'N', b'O', b'O', b'P', b'\n']);
        assert_eq!(b.next_line(), Some(Ok("NOOP".into())));
        b.push(&[b'a', 0xFF, 0xFF, b'\n']);
        assert_eq!(b.next_line(), Some(Err(LineError::NotUtf8)));
        // A lone IAC at the end disappears.
        b.push(&[b'X', 0xFF, b'\n']);
        assert_eq!(b.next_line(), Some(Ok("X".into())));
    }

    #[test]
    fn utf8_names_pass_and_bad_utf8_reported() {
        let mut b = LineBuffer::new(MAX_LINE);
        b.push("STOR Grüße aus Köln.txt\r\n".as_bytes());
        b.push(b"STOR \xC3\x28\r\nNOOP\r\n");
        assert_eq!(
            lines(&mut b),
            vec![
                Ok("STOR Grüße aus Köln.txt".into()),
                Err(LineError::NotUtf8),
                Ok("NOOP".into())
            ]
        );
    }

    #[test]
    fn exact_limit_accepted() {
        let mut b = LineBuffer::new(8);
        b.push(b"12345678\r");
        b.push(b"\n12345678\n");
        assert_eq!(
            lines(&mut b),
            vec![Ok("12345678".into()), Ok("12345678".into())]
        );
    }

    #[test]
    fn too_long_in_one_push() {
        let mut b = LineBuffer::new(8);
        b.push(b"NOOP\r\n123456789\r\nQUIT\r\n");
        assert_eq!(
            lines(&mut b),
            vec![
                Ok("NOOP".into()),
                Err(LineError::TooLong),
                Ok("QUIT".into())
            ]
        );
        assert!(b.is_empty());
    }

    #[test]
    fn too_long_across_pushes_reported_once_and_not_stored() {
        let mut b = LineBuffer::new(16);
        b.push(b"NOOP\r\n");
        for _ in 0..1000 {
            b.push(&[b'x'; 100]);
            assert!(b.buf.len() <= 17 + 6);
        }
        b.push(b"xxx\r\nPWD\r\n");
        assert_eq!(
            lines(&mut b),
            vec![Ok("NOOP".into()), Err(LineError::TooLong), Ok("PWD".into())]
        );
        assert!(b.is_empty());
    }

    #[test]
    fn too_long_reported_before_lf_arrives() {
        let mut b = LineBuffer::new(4);
        b.push(b"abcdef");
        assert_eq!(b.next_line(), Some(Err(LineError::TooLong)));
        assert_eq!(b.next_line(), None);
        b.push(b"gh\nok\n");
        assert_eq!(b.next_line(), Some(Ok("ok".into())));
        assert_eq!(b.next_line(), None);
    }

    #[test]
    fn two_long_lines_two_errors() {
        let mut b = LineBuffer::new(3);
        b.push(b"aaaa\nbbbbbbbbb\nok\n");
        assert_eq!(
            lines(&mut b),
            vec![
                Err(LineError::TooLong),
                Err(LineError::TooLong),
                Ok("ok".into())
            ]
        );
    }

    #[test]
    fn cr_at_limit_boundary() {
        // max 3: "abc\r" is fine while waiting for LF, "abcd" is not.
        let mut b = LineBuffer::new(3);
        b.push(b"abc\r");
        assert_eq!(b.next_line(), None);
        b.push(b"\n");
        assert_eq!(b.next_line(), Some(Ok("abc".into())));
        b.push(b"abc\rd\n");
        assert_eq!(b.next_line(), Some(Err(LineError::TooLong)));
        assert_eq!(b.next_line(), None);
    }

    /// A tiny LCG: random bytes never panic and the buffer stays bounded.
    #[test]
    fn fuzz_never_panics() {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u32
        };
        for _ in 0..300 {
            let mut b = LineBuffer::new(32);
            for _ in 0..50 {
                let n = (next() % 40) as usize;
                let chunk: Vec<u8> = (0..n)
                    .map(|_| match next() % 8 {
                        0 => b'\n',
                        1 => b'\r',
                        2 => 0xFF,
                        _ => (next() % 256) as u8,
                    })
                    .collect();
                b.push(&chunk);
                while let Some(r) = b.next_line() {
                    if let Ok(l) = r {
                        assert!(l.len() <= 32);
                        assert!(!l.contains('\n'));
                    }
                }
                assert!(b.buf.len() <= 33);
            }
        }
    }
}
