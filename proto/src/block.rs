//! Block mode (`MODE B`, RFC 959 section 3.4.2): the framing of a data
//! connection that stays open between transfers.
//!
//! In stream mode the end of a file is the close of its data connection, so
//! every file costs a connection. In block mode the data is a series of
//! blocks, each a 3-byte header (a descriptor byte, then a 16-bit count, most
//! significant byte first) and that many bytes; a block whose descriptor has
//! the EOF bit ends the file, and the connection can carry the next one.
//!
//! Descriptor bits (RFC 959 3.4.2): 128 end of record, 64 end of file, 32
//! suspected errors, 16 the block is a restart marker. With file structure
//! (the only one ringftp speaks) the record bit carries no meaning, suspect
//! data is still data, and a restart marker's bytes are not file data: the
//! [`Deframer`] drops them. The low four bits are unassigned and ignored.
//!
//! [`frame`] writes blocks; [`Deframer`] reads them from whatever pieces the
//! socket returns, handing back the file data in place (no copy).

/// Length of a block header.
pub const HEADER_LEN: usize = 3;
/// The most data one block holds (the count is 16 bits).
pub const MAX_BLOCK: usize = u16::MAX as usize;

/// Descriptor bit: end of record (meaningless in file structure).
pub const EOR: u8 = 0x80;
/// Descriptor bit: the last block of the file.
pub const EOF: u8 = 0x40;
/// Descriptor bit: the sender suspects errors in this block's data.
pub const SUSPECT: u8 = 0x20;
/// Descriptor bit: the block is a restart marker, not file data.
pub const RESTART: u8 = 0x10;

/// The header of a block of `count` bytes.
pub fn header(descriptor: u8, count: u16) -> [u8; HEADER_LEN] {
    let [hi, lo] = count.to_be_bytes();
    [descriptor, hi, lo]
}

/// An empty block that ends the file.
pub const EOF_BLOCK: [u8; HEADER_LEN] = [EOF, 0, 0];

/// Appends `data` to `out` as blocks of at most [`MAX_BLOCK`] bytes; with
/// `eof` the last block carries the EOF bit (an empty `data` then becomes
/// [`EOF_BLOCK`]). Without `eof` an empty `data` appends nothing.
pub fn frame(data: &[u8], eof: bool, out: &mut Vec<u8>) {
    out.reserve(data.len() + HEADER_LEN * (data.len() / MAX_BLOCK + 1));
    let mut chunks = data.chunks(MAX_BLOCK).peekable();
    if chunks.peek().is_none() {
        if eof {
            out.extend_from_slice(&EOF_BLOCK);
        }
        return;
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let descriptor = if last && eof { EOF } else { 0 };
        // A chunk is at most MAX_BLOCK long, so the count fits.
        let count = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&header(descriptor, count));
        out.extend_from_slice(chunk);
    }
}

/// What [`Deframer::decode`] found at the front of its input.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// File data (part of a block, or all of it), and how many input bytes
    /// were used to get it (headers and skipped restart markers included).
    Data { data: &'a [u8], consumed: usize },
    /// The EOF block is complete (its data, if any, came before as `Data`):
    /// the file ends after `consumed` input bytes, and whatever follows them
    /// is not part of it.
    Eof { consumed: usize },
    /// The input ran out inside a header or a restart marker (or was empty):
    /// all `consumed` bytes were used; more must be read.
    NeedMore { consumed: usize },
}

/// Reads blocks incrementally: feed it each piece the socket returns, as
/// often as it says [`Decoded::Data`], until [`Decoded::Eof`].
#[derive(Debug, Default, Clone)]
pub struct Deframer {
    /// The header being read, and how many of its bytes are in.
    head: [u8; HEADER_LEN],
    have: usize,
    /// Bytes of the current block still to come (after a complete header).
    left: usize,
    /// The current block's descriptor.
    descriptor: u8,
    /// The EOF block has been read completely.
    ended: bool,
}

impl Deframer {
    pub fn new() -> Deframer {
        Deframer::default()
    }

    /// The EOF block has been read: the file is complete.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// How many bytes can be read without going past the end of the
    /// current header or block: a reader that never reads more than this
    /// never takes a byte that follows the EOF block. 0 once ended.
    pub fn need(&self) -> usize {
        if self.ended {
            0
        } else if self.have < HEADER_LEN {
            HEADER_LEN - self.have
        } else {
            self.left
        }
    }

    /// Reads from the front of `input`. Call again with the rest of the
    /// input (after `consumed` bytes) while it returns `Data`.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Decoded<'a> {
        let mut pos = 0;
        loop {
            if self.ended {
                return Decoded::Eof { consumed: pos };
            }
            let rest = input.get(pos..).unwrap_or_default();
            if self.have < HEADER_LEN {
                let take = (HEADER_LEN - self.have).min(rest.len());
                for (slot, byte) in self.head.iter_mut().skip(self.have).zip(rest) {
                    *slot = *byte;
                }
                self.have += take;
                pos += take;
                if self.have < HEADER_LEN {
                    return Decoded::NeedMore { consumed: pos };
                }
                let [descriptor, hi, lo] = self.head;
                self.descriptor = descriptor;
                self.left = usize::from(u16::from_be_bytes([hi, lo]));
                continue;
            }
            if self.left == 0 {
                // The block is complete: the next header starts here.
                self.have = 0;
                if self.descriptor & EOF != 0 {
                    self.ended = true;
                }
                continue;
            }
            if rest.is_empty() {
                return Decoded::NeedMore { consumed: pos };
            }
            let take = self.left.min(rest.len());
            self.left -= take;
            let bytes = rest.get(..take).unwrap_or_default();
            pos += take;
            if self.descriptor & RESTART != 0 {
                // A restart marker: not file data.
                continue;
            }
            if self.left == 0 {
                self.have = 0;
                if self.descriptor & EOF != 0 {
                    self.ended = true;
                }
            }
            return Decoded::Data {
                data: bytes,
                consumed: pos,
            };
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces of `step` bytes; returns the data and
    /// the offset just past the EOF block, if it came.
    fn decode_all(wire: &[u8], step: usize) -> (Vec<u8>, Option<usize>) {
        let mut d = Deframer::new();
        let mut out = Vec::new();
        let mut base = 0;
        for piece in wire.chunks(step.max(1)) {
            let mut pos = 0;
            loop {
                match d.decode(&piece[pos..]) {
                    Decoded::Data { data, consumed } => {
                        out.extend_from_slice(data);
                        pos += consumed;
                    }
                    Decoded::Eof { consumed } => return (out, Some(base + pos + consumed)),
                    Decoded::NeedMore { consumed } => {
                        pos += consumed;
                        assert_eq!(pos, piece.len());
                        break;
                    }
                }
            }
            base += piece.len();
        }
        (out, None)
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn framing_round_trips_at_every_size_and_piece_length() {
        for size in [
            0, 1, 2, 3, 4095, 65534, 65535, 65536, 131070, 131071, 200_000,
        ] {
            let data = pattern(size);
            let mut wire = Vec::new();
            frame(&data, true, &mut wire);
            let blocks = size.div_ceil(MAX_BLOCK).max(1);
            assert_eq!(wire.len(), size + blocks * HEADER_LEN, "size {size}");
            for step in [1, 2, 3, 4, 1000, 65538, usize::MAX] {
                let (got, end) = decode_all(&wire, step);
                assert_eq!(got, data, "size {size} step {step}");
                assert_eq!(end, Some(wire.len()), "size {size} step {step}");
            }
        }
    }

    #[test]
    fn an_empty_file_is_one_eof_header() {
        let mut wire = Vec::new();
        frame(&[], true, &mut wire);
        assert_eq!(wire, EOF_BLOCK);
        frame(&[], false, &mut wire);
        assert_eq!(wire, EOF_BLOCK, "nothing without eof");
    }

    #[test]
    fn without_the_eof_block_the_file_never_ends() {
        let data = pattern(70_000);
        let mut wire = Vec::new();
        frame(&data, false, &mut wire);
        let (got, end) = decode_all(&wire, 4096);
        assert_eq!(got, data);
        assert_eq!(end, None, "a cut-off transfer is not complete");
        // The same data with an EOF block after it ends the file.
        wire.extend_from_slice(&EOF_BLOCK);
        assert_eq!(decode_all(&wire, 4096), (data, Some(wire.len())));
    }

    #[test]
    fn bytes_after_the_eof_block_are_left_alone() {
        let mut wire = Vec::new();
        frame(b"first", true, &mut wire);
        let end = wire.len();
        frame(b"second", true, &mut wire);
        let (got, at) = decode_all(&wire, usize::MAX);
        assert_eq!(got, b"first");
        assert_eq!(at, Some(end));
    }

    #[test]
    fn restart_markers_are_dropped_and_other_bits_keep_the_data() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&header(RESTART, 4));
        wire.extend_from_slice(b"1234");
        wire.extend_from_slice(&header(SUSPECT | EOR | 0x0f, 3));
        wire.extend_from_slice(b"abc");
        wire.extend_from_slice(&header(0, 0));
        wire.extend_from_slice(&header(RESTART | EOF, 2));
        wire.extend_from_slice(b"99");
        for step in [1, 2, 5, usize::MAX] {
            assert_eq!(
                decode_all(&wire, step),
                (b"abc".to_vec(), Some(wire.len())),
                "step {step}"
            );
        }
    }

    #[test]
    fn need_never_reaches_past_the_eof_block() {
        let mut wire = Vec::new();
        frame(&pattern(100), false, &mut wire);
        frame(b"tail", true, &mut wire);
        let end = wire.len();
        wire.extend_from_slice(b"next file");
        let mut d = Deframer::new();
        let mut pos = 0;
        let mut out = Vec::new();
        while !d.ended() {
            let n = d.need();
            assert!(n > 0);
            let piece = &wire[pos..pos + n];
            match d.decode(piece) {
                Decoded::Data { data, consumed } => {
                    out.extend_from_slice(data);
                    assert_eq!(consumed, n);
                }
                Decoded::NeedMore { consumed } | Decoded::Eof { consumed } => {
                    assert_eq!(consumed, n)
                }
            }
            pos += n;
        }
        assert_eq!(pos, end);
        assert_eq!(d.need(), 0);
        assert_eq!(out.len(), 104);
    }
}
