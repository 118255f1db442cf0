//! Incremental UTF-8 validation for text messages (RFC 6455 §8.1), across arbitrary splits.
//!
//! A text message may arrive in many frames and each frame in many reads; a code point may be
//! split anywhere. [`Utf8Validator`] keeps at most 3 bytes of an unfinished code point and fails
//! *fast*: as soon as the bytes seen so far cannot be the prefix of any valid UTF-8 string (for
//! example `F4 90`, above U+10FFFF, or `ED A0`, a UTF-16 surrogate), not when the message ends.
//! The checking itself is `core::str::from_utf8`, whose `error_len() == None` means exactly "the
//! input ends in an incomplete but so far valid sequence".

/// The bytes seen so far cannot begin a valid UTF-8 string (close 1007 for a text message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

/// Validates UTF-8 fed in pieces. Five bytes of state.
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Validator {
    /// The unfinished code point at the end of the last piece (at most 3 bytes).
    pending: [u8; 4],
    pending_len: u8,
}

/// The length of the sequence a lead byte starts, or 0 for a byte that cannot lead one.
const fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Self {
            pending: [0; 4],
            pending_len: 0,
        }
    }

    /// Forgets any unfinished code point, for the start of a new message.
    pub fn reset(&mut self) {
        self.pending_len = 0;
    }

    /// Whether the bytes fed so far end on a code point boundary.
    pub const fn is_complete(&self) -> bool {
        self.pending_len == 0
    }

    /// Validates the next piece of the message. Fails as soon as the bytes seen so far cannot be
    /// a prefix of valid UTF-8.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            // Complete the code point left over from the previous piece.
            let have = usize::from(self.pending_len);
            let want = sequence_len(self.pending[0]);
            let take = (want - have).min(bytes.len());
            let mut joined = self.pending;
            joined[have..have + take].copy_from_slice(&bytes[..take]);
            match core::str::from_utf8(&joined[..have + take]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; `take` was all of `bytes`.
                    self.pending = joined;
                    self.pending_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
            bytes = &bytes[take..];
        }
        match core::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                // An incomplete code point at the end, at most 3 bytes.
                let tail = &bytes[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Checks that the message ended on a code point boundary, and resets for the next one.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.is_complete();
        self.reset();
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent ground truth for "fail fast": a prefix is acceptable iff some sequence of at
    /// most 3 continuation bytes turns it into valid UTF-8 (found by exhaustive search).
    fn can_be_completed(prefix: &[u8]) -> bool {
        if core::str::from_utf8(prefix).is_ok() {
            return true;
        }
        let mut buf = prefix.to_vec();
        for n in 1..=3usize {
            let total = 64usize.pow(n as u32);
            for i in 0..total {
                buf.truncate(prefix.len());
                for j in 0..n {
                    buf.push(0x80 + ((i >> (6 * j)) & 0x3f) as u8);
                }
                if core::str::from_utf8(&buf).is_ok() {
                    return true;
                }
            }
        }
        false
    }

    const VALID: &[&str] = &[
        "",
        "a",
        "héllo",
        "κόσμε",
        "€",
        "\u{10ffff}",
        "😀 x 😀",
        "\u{ffff}\u{800}",
    ];

    const INVALID: &[&[u8]] = &[
        b"\xf4\x90\x80\x80", // above U+10FFFF: fails at the second byte
        b"\xed\xa0\x80",     // UTF-16 surrogate U+D800: fails at the second byte
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", // Autobahn 6.4.2-like
        b"\xc0\xaf",         // overlong "/"
        b"\xe0\x80\xaf",     // overlong, 3 bytes
        b"\xf0\x80\x80\xaf", // overlong, 4 bytes
        b"\xf5",             // never a lead byte
        b"\xff",
        b"\x80",      // lone continuation
        b"a\xc3(",    // lead byte then ASCII
        b"\xe2\x82(", // 3-byte sequence cut by ASCII
    ];

    #[test]
    fn valid_strings_pass_at_every_split() {
        for s in VALID {
            let bytes = s.as_bytes();
            for a in 0..=bytes.len() {
                for b in a..=bytes.len() {
                    let mut v = Utf8Validator::new();
                    v.feed(&bytes[..a]).unwrap();
                    v.feed(&bytes[a..b]).unwrap();
                    v.feed(&bytes[b..]).unwrap();
                    assert_eq!(v.finish(), Ok(()), "{s:?} split {a} {b}");
                }
            }
        }
    }

    #[test]
    fn invalid_strings_fail_at_the_first_byte_that_cannot_be_completed() {
        for bytes in INVALID {
            let first_bad = (1..=bytes.len())
                .find(|&n| !can_be_completed(&bytes[..n]))
                .expect("test input must be invalid");
            // Byte by byte: the error comes exactly with byte `first_bad`.
            let mut v = Utf8Validator::new();
            for (i, b) in bytes.iter().enumerate() {
                let r = v.feed(core::slice::from_ref(b));
                assert_eq!(r.is_err(), i + 1 == first_bad, "{bytes:x?} byte {i}");
                if r.is_err() {
                    break;
                }
            }
            // Any two-piece split: the error comes with the piece holding `first_bad`.
            for split in 0..=bytes.len() {
                let mut v = Utf8Validator::new();
                let first = v.feed(&bytes[..split]);
                assert_eq!(
                    first.is_err(),
                    split >= first_bad,
                    "{bytes:x?} split {split}"
                );
                if first.is_ok() {
                    assert_eq!(v.feed(&bytes[split..]), Err(InvalidUtf8));
                }
            }
        }
    }

    #[test]
    fn truncated_code_point_fails_only_at_finish() {
        for bytes in [&b"\xf0\x9f\x98"[..], b"\xc3", b"ab\xe2\x82"] {
            let mut v = Utf8Validator::new();
            assert_eq!(v.feed(bytes), Ok(()));
            assert_eq!(v.finish(), Err(InvalidUtf8));
            // `finish` resets: the next message starts clean.
            assert_eq!(v.feed(b"ok"), Ok(()));
            assert_eq!(v.finish(), Ok(()));
        }
    }
}
