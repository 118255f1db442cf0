//! Compressing and decompressing one message (RFC 7692 §7.2): raw DEFLATE (RFC 1951) through
//! `flate2` on system zlib.
//!
//! - Sending (§7.2.1): the message is compressed with a sync flush, which ends the data on a
//!   byte boundary with an empty stored block `00 00 ff ff`; those four bytes are removed. An
//!   empty message becomes the single byte `00`.
//! - Receiving (§7.2.2): the four bytes are appended back and the whole is inflated, with the
//!   output capped: inflating stops as soon as the message would pass the limit, so a small
//!   payload that expands without bound (a "deflate bomb") costs at most the limit plus one
//!   chunk. A final block (BFINAL set, §7.2.3.4) ends a DEFLATE stream: the decompressor starts
//!   a new one for whatever follows, in this message or the next.
//! - Context takeover (§7.1.1): without it the compressor or decompressor is reset after every
//!   message; with it the LZ77 window carries over to the next message of the connection.
//!
//! Why system zlib: it takes the window size the negotiation chose (miniz_oxide cannot), and its
//! state is sized by that window (about 2^(w+2) + 128 KiB for compressing, 2^w + 7 KiB for
//! decompressing), where zlib-rs always allocates its largest tables.

use core::fmt;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The empty stored block a sync flush ends with, removed by the sender, appended by the
/// receiver (RFC 7692 §7.2.1, §7.2.2).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output is produced in chunks of this size at most: the overshoot past a limit is bounded by it.
const CHUNK: usize = 16 * 1024;

/// Why a compressed message could not be inflated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The message inflates to more than the limit (RFC 6455 §7.4.1: close 1009).
    TooBig,
    /// The payload is not valid DEFLATE data. The connection fails with close 1007, "data
    /// within a message that was not consistent with the type of the message" (RFC 6455
    /// §7.4.1), the code Autobahn|Testsuite and most servers use for it.
    Corrupt,
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InflateError::TooBig => "message inflates past the size limit",
            InflateError::Corrupt => "message is not valid DEFLATE data",
        })
    }
}

impl std::error::Error for InflateError {}

/// Decompresses the messages of one connection, or of many when none keeps context.
pub struct Inflater {
    stream: Decompress,
    window_bits: u8,
    /// Reset after every message (the peer does not take over context).
    no_context_takeover: bool,
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .finish()
    }
}

impl Inflater {
    /// A decompressor with an LZ77 window of `window_bits` (clamped to 9..=15), reset after
    /// every message if `no_context_takeover`.
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        let window_bits = window_bits.clamp(9, 15);
        Inflater {
            stream: Decompress::new_with_window_bits(false, window_bits),
            window_bits,
            no_context_takeover,
        }
    }

    /// Inflates one message's `payload` (the frames' payloads concatenated, tail removed by the
    /// sender) and appends it to `out`, which must not grow past `max` bytes in total.
    ///
    /// After an error the decompressor is reset; the connection is to be failed anyway.
    pub fn inflate(
        &mut self,
        payload: &[u8],
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), InflateError> {
        // A payload whose DEFLATE stream ends with a final block has nothing the tail could
        // complete: the tail would be the start of a stream of its own, cut short.
        let result = self.feed(payload, max, out).and_then(|ended| {
            if ended {
                Ok(())
            } else {
                self.feed(&TAIL, max, out).map(drop)
            }
        });
        if result.is_err() || self.no_context_takeover {
            self.stream.reset(false);
        }
        result
    }

    /// Inflates all of `input` into `out`, bounded by `max`. `Ok(true)`: the input ended with
    /// the final block of a DEFLATE stream (the next byte starts a new one).
    fn feed(
        &mut self,
        mut input: &[u8],
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<bool, InflateError> {
        loop {
            // One byte past the limit is room enough to tell that the limit is passed.
            let room = (max + 1).saturating_sub(out.len()).min(CHUNK);
            if room == 0 {
                return Err(InflateError::TooBig);
            }
            let len = out.len();
            out.resize(len + room, 0);
            let (before_in, before_out) = (self.stream.total_in(), self.stream.total_out());
            let status = self
                .stream
                .decompress(input, &mut out[len..], FlushDecompress::Sync);
            let used = (self.stream.total_in() - before_in) as usize;
            let produced = (self.stream.total_out() - before_out) as usize;
            out.truncate(len + produced);
            let status = status.map_err(|_| InflateError::Corrupt)?;
            input = &input[used..];
            if out.len() > max {
                return Err(InflateError::TooBig);
            }
            match status {
                Status::StreamEnd => {
                    // A final block: what follows (the appended tail at least) starts anew.
                    self.stream.reset(false);
                    if input.is_empty() {
                        return Ok(true);
                    }
                }
                Status::Ok | Status::BufError => {
                    // Done when the input is used and the output was not what stopped it.
                    if input.is_empty() && produced < room {
                        return Ok(false);
                    }
                    if used == 0 && produced == 0 {
                        return Err(InflateError::Corrupt);
                    }
                }
            }
        }
    }
}

/// Compresses the messages of one connection, or of many when none keeps context.
pub struct Deflater {
    stream: Compress,
    window_bits: u8,
    no_context_takeover: bool,
}

impl fmt::Debug for Deflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflater")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .finish()
    }
}

impl Deflater {
    /// A compressor at zlib level `level` (0-9, clamped: 1 is the fastest that compresses, 6
    /// zlib's default) with an LZ77 window of `window_bits` (clamped to 9..=15), reset after
    /// every message if `no_context_takeover`.
    pub fn new(level: u32, window_bits: u8, no_context_takeover: bool) -> Self {
        let window_bits = window_bits.clamp(9, 15);
        Deflater {
            stream: Compress::new_with_window_bits(
                Compression::new(level.min(9)),
                false,
                window_bits,
            ),
            window_bits,
            no_context_takeover,
        }
    }

    /// Compresses `message` and appends the payload of its frame (tail removed) to `out`.
    pub fn deflate(&mut self, message: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let mut input = message;
        loop {
            out.reserve((input.len() / 2).clamp(64, CHUNK));
            let before = self.stream.total_in();
            // Errors only on a misused stream (none here): treated like an empty step.
            let _ = self.stream.compress_vec(input, out, FlushCompress::Sync);
            input = &input[(self.stream.total_in() - before) as usize..];
            // The flush is complete once the input is used and output room was left over.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if out.len() == start {
            // Nothing new to flush (zlib writes no second empty block): an empty stored block
            // without its tail, as §7.2.3.6 has it.
            out.push(0x00);
        }
        if self.no_context_takeover {
            self.stream.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate_all(
        inflater: &mut Inflater,
        payload: &[u8],
        max: usize,
    ) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        inflater.inflate(payload, max, &mut out).map(|()| out)
    }

    #[test]
    fn rfc7692_examples_inflate() {
        // §7.2.3.1: "Hello" compressed into one message.
        let mut i = Inflater::new(15, false);
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate_all(&mut i, &hello, 1000).unwrap(), b"Hello");
        // §7.2.3.2: the same "Hello" again with context takeover: a back-reference.
        let again = [0xf2, 0x00, 0x11, 0x00, 0x00];
        assert_eq!(inflate_all(&mut i, &again, 1000).unwrap(), b"Hello");
        // §7.2.3.3: a stored (uncompressed) block.
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        let mut i = Inflater::new(15, true);
        assert_eq!(inflate_all(&mut i, &stored, 1000).unwrap(), b"Hello");
        // §7.2.3.4: a block with BFINAL set, then a message after it.
        let last = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        let mut i = Inflater::new(15, false);
        assert_eq!(inflate_all(&mut i, &last, 1000).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut i, &hello, 1000).unwrap(), b"Hello");
        // A stream that ends with its final block and nothing after (zlib's Z_FINISH), with
        // context takeover: the next message inflates too.
        let mut z = flate2::Compress::new(flate2::Compression::default(), false);
        let mut finished = Vec::with_capacity(64);
        z.compress_vec(b"Hello", &mut finished, flate2::FlushCompress::Finish)
            .unwrap();
        assert_eq!(inflate_all(&mut i, &finished, 1000).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut i, &finished, 1000).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut i, &hello, 1000).unwrap(), b"Hello");
        // §7.2.3.5: two DEFLATE blocks in one message.
        let two = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        assert_eq!(inflate_all(&mut i, &two, 1000).unwrap(), b"Hello");
        // §7.2.3.6: an empty message.
        assert_eq!(inflate_all(&mut i, &[0x00], 1000).unwrap(), b"");
    }

    #[test]
    fn deflated_hello_is_the_rfc_bytes() {
        let mut d = Deflater::new(6, 15, false);
        let mut out = Vec::new();
        d.deflate(b"Hello", &mut out);
        assert_eq!(out, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        out.clear();
        d.deflate(b"", &mut out);
        assert_eq!(out, [0x00]);
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_limit() {
        let mut d = Deflater::new(9, 15, true);
        let mut bomb = Vec::new();
        d.deflate(&vec![0u8; 64 << 20], &mut bomb);
        assert!(
            bomb.len() < 100 << 10,
            "64 MiB of zeros in {} bytes",
            bomb.len()
        );
        let mut i = Inflater::new(15, true);
        let mut out = Vec::new();
        assert_eq!(
            i.inflate(&bomb, 1 << 20, &mut out),
            Err(InflateError::TooBig)
        );
        assert!(out.len() <= (1 << 20) + CHUNK + 1, "inflated {}", out.len());
        // The limit itself is allowed.
        let mut exact = Vec::new();
        d.deflate(&vec![7u8; 1 << 20], &mut exact);
        assert_eq!(inflate_all(&mut i, &exact, 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn garbage_is_corrupt_and_the_inflater_recovers() {
        let mut i = Inflater::new(15, false);
        assert_eq!(
            inflate_all(&mut i, &[0xff, 0xff, 0xff, 0xff], 1000),
            Err(InflateError::Corrupt)
        );
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate_all(&mut i, &hello, 1000).unwrap(), b"Hello");
    }

    #[test]
    fn context_takeover_carries_the_window_and_its_absence_resets_it() {
        let text = "the quick brown fox jumps over the lazy dog ".repeat(40);
        for takeover in [true, false] {
            let mut d = Deflater::new(1, 12, !takeover);
            let mut i = Inflater::new(12, !takeover);
            let mut sizes = Vec::new();
            for _ in 0..3 {
                let mut wire = Vec::new();
                d.deflate(text.as_bytes(), &mut wire);
                sizes.push(wire.len());
                assert_eq!(
                    inflate_all(&mut i, &wire, 1 << 20).unwrap(),
                    text.as_bytes()
                );
            }
            if takeover {
                assert!(sizes[1] < sizes[0] / 2, "{sizes:?}");
            } else {
                assert_eq!(sizes[0], sizes[1], "{sizes:?}");
            }
        }
    }
}
