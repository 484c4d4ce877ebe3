//! The bodies of the fuzz targets, plain functions so that a stable test can replay them over
//! the committed seed corpus (proto/tests/fuzz_replay.rs includes this file).

use ringftp_proto::command::Command;
use ringftp_proto::line::{LineBuffer, MAX_LINE};
use ringftp_proto::proxy::{self, Parsed};
use ringftp_proto::reply::parse_reply;

/// What the server does with bytes from a client: frame them into lines (the first byte of
/// `data` picks the size of the pieces they arrive in), parse each line, and check that a
/// parsed command's encoding is one line that parses back to the same command. Also feeds the
/// bytes to the client's reply parser. Panics on a broken rule; must never panic otherwise.
pub fn control(data: &[u8]) {
    let (chunk, rest) = match data.split_first() {
        Some((&c, rest)) => (usize::from(c).max(1), rest),
        None => (1, data),
    };
    let mut lines = LineBuffer::new(MAX_LINE);
    for piece in rest.chunks(chunk) {
        lines.push(piece);
        while let Some(line) = lines.next_line() {
            let Ok(line) = line else { continue };
            assert!(line.len() <= MAX_LINE, "a line over the limit came out");
            if let Ok(cmd) = Command::parse(&line) {
                let wire = cmd.encode();
                assert!(wire.ends_with("\r\n"), "{wire:?}");
                assert_eq!(
                    wire.matches('\n').count(),
                    1,
                    "one command, one line: {wire:?}"
                );
                let back = Command::parse(wire.trim_end_matches("\r\n"));
                assert_eq!(back.as_ref(), Ok(&cmd), "{line:?} -> {wire:?}");
            }
        }
    }
    // A trusted balancer's connection starts with a PROXY protocol header, read before framing.
    if let Ok(Parsed::Header(h)) = proxy::parse(rest) {
        assert!(h.len <= rest.len(), "a header longer than its input");
        assert!(h.len <= proxy::V1_MAX.max(proxy::V2_FIXED + proxy::V2_MAX_PAYLOAD));
    }
    if let Ok(Some((_, used))) = parse_reply(rest) {
        assert!(used <= rest.len());
    }
}
