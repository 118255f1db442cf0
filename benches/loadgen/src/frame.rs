//! Client-side RFC 6455 framing: masked frames the client sends and the header parser for
//! the unmasked frames a server sends.
//!
//! Owns bytes only (no sockets, no message assembly: see `reader`). Message frames are
//! encoded once per (size, kind) into a [`FrameTemplate`]; each send copies the template
//! and patches a short prefix (sequence numbers, timestamps) under the template's mask, so
//! the hot path never masks a whole payload.

/// Opcode of a continuation frame.
pub const OP_CONT: u8 = 0x0;
/// Opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const OP_PONG: u8 = 0xA;

/// Appends one masked, final client frame carrying `payload` to `out`.
pub fn encode_masked(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
}

/// A message frame encoded once and sent many times, with a patchable payload prefix.
#[derive(Clone, Debug)]
pub struct FrameTemplate {
    bytes: Vec<u8>,
    /// Where the patchable prefix starts in `bytes`.
    prefix_offset: usize,
    /// Where the frame's payload starts in `bytes`; the mask runs from here.
    payload_offset: usize,
    mask: [u8; 4],
    payload: Vec<u8>,
}

impl FrameTemplate {
    /// Encodes `payload` as one masked frame of `opcode` (text or binary) under `mask`.
    pub fn new(opcode: u8, payload: Vec<u8>, mask: [u8; 4]) -> Self {
        let mut bytes = Vec::with_capacity(payload.len() + 14);
        encode_masked(&mut bytes, opcode, &payload, mask);
        let payload_offset = bytes.len() - payload.len();
        FrameTemplate {
            bytes,
            prefix_offset: payload_offset,
            payload_offset,
            mask,
            payload,
        }
    }

    /// Encodes `payload` as one compressed message (permessage-deflate, RFC 7692: RSV1 set)
    /// whose first `prefix_len` bytes stay patchable: they travel in a DEFLATE stored block
    /// (RFC 1951 §3.2.4: a byte `00` for BFINAL = 0 and BTYPE = 00, then LEN and its
    /// complement), the rest compressed by zlib with a sync flush and the `00 00 ff ff` tail
    /// removed. The compressed part refers to nothing before it, so the same bytes are a valid
    /// message after any patch, with or without context takeover.
    pub fn new_compressed(opcode: u8, payload: Vec<u8>, mask: [u8; 4], prefix_len: usize) -> Self {
        let prefix_len = prefix_len.min(payload.len()).min(u16::MAX as usize);
        let mut deflated = vec![0x00];
        deflated.extend_from_slice(&(prefix_len as u16).to_le_bytes());
        deflated.extend_from_slice(&(!(prefix_len as u16)).to_le_bytes());
        let prefix_at = deflated.len();
        deflated.extend_from_slice(&payload[..prefix_len]);
        let mut z = flate2::Compress::new(flate2::Compression::default(), false);
        let rest = &payload[prefix_len..];
        let mut out = Vec::with_capacity(rest.len() + 64);
        loop {
            let before = z.total_in() as usize;
            z.compress_vec(&rest[before..], &mut out, flate2::FlushCompress::Sync)
                .expect("zlib compresses");
            if z.total_in() as usize == rest.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        assert!(
            out.ends_with(&[0x00, 0x00, 0xff, 0xff]),
            "a sync flush ends the data"
        );
        out.truncate(out.len() - 4);
        deflated.extend_from_slice(&out);
        let mut bytes = Vec::with_capacity(deflated.len() + 14);
        encode_masked(&mut bytes, opcode, &deflated, mask);
        bytes[0] |= 0x40; // RSV1: compressed
        let payload_offset = bytes.len() - deflated.len();
        FrameTemplate {
            bytes,
            prefix_offset: payload_offset + prefix_at,
            payload_offset,
            mask,
            payload,
        }
    }

    /// The unmasked payload the server is expected to echo or publish back.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Appends the frame to `out` with the first `prefix.len()` payload bytes replaced by
    /// `prefix` (masked). `prefix` must not be longer than the payload.
    pub fn append_with_prefix(&self, out: &mut Vec<u8>, prefix: &[u8]) {
        debug_assert!(prefix.len() <= self.payload.len());
        let start = out.len() + self.prefix_offset;
        let phase = self.prefix_offset - self.payload_offset;
        out.extend_from_slice(&self.bytes);
        for (i, (dst, b)) in out[start..start + prefix.len()]
            .iter_mut()
            .zip(prefix)
            .enumerate()
        {
            *dst = b ^ self.mask[(phase + i) & 3];
        }
    }
}

/// The message template of a run: `size` bytes of `opcode`, the first `prefix_len` of them
/// patched per send; compressed JSON-like text with `deflate`, else [`pattern_payload`].
pub fn message_template(
    opcode: u8,
    size: usize,
    deflate: bool,
    prefix_len: usize,
) -> FrameTemplate {
    let mask = crate::net::random_array();
    if deflate {
        FrameTemplate::new_compressed(opcode, json_payload(size), mask, prefix_len)
    } else {
        FrameTemplate::new(opcode, pattern_payload(size), mask)
    }
}

/// Builds a payload of `size` bytes: printable ASCII (valid UTF-8 for text frames), with a
/// pattern that changes along the payload so a misplaced slice does not compare equal.
pub fn pattern_payload(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| b'A' + ((i * 7 + i / 26) % 26) as u8)
        .collect()
}

/// Builds `size` bytes of JSON-like text (chat records: ids, names, words, timestamps), as
/// compressible as real traffic is: deterministic, but no long repeats.
pub fn json_payload(size: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "hello", "world", "message", "server", "client", "latency", "socket", "frame", "topic",
        "deflate", "window", "context", "buffer", "kernel", "ring", "queue",
    ];
    let mut out = Vec::with_capacity(size + 128);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    out.push(b'[');
    while out.len() < size {
        let r = next();
        let words: Vec<&str> = (0..4)
            .map(|k| WORDS[((r >> (k * 4)) & 15) as usize])
            .collect();
        let record = format!(
            "{{\"id\":{},\"user\":\"user{}\",\"text\":\"{}\",\"ts\":{}}},",
            r % 100_000,
            (r >> 20) % 1000,
            words.join(" "),
            1_700_000_000 + (r >> 32) % 10_000_000
        );
        out.extend_from_slice(record.as_bytes());
    }
    out.truncate(size);
    out
}

/// Writes `value` as `out.len()` lowercase letters, 4 bits per letter ('a' = 0 ... 'p' = 15),
/// most significant first: ASCII, so it fits text frames too.
pub fn put_tag(out: &mut [u8], value: u64) {
    let n = out.len();
    for (i, b) in out.iter_mut().enumerate() {
        let shift = 4 * (n - 1 - i);
        *b = b'a' + ((value >> shift) & 0xF) as u8;
    }
}

/// Reads a value written by [`put_tag`]; `None` if any byte is outside 'a'..='p'.
pub fn get_tag(bytes: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &b in bytes {
        if !(b'a'..=b'p').contains(&b) {
            return None;
        }
        v = (v << 4) | u64::from(b - b'a');
    }
    Some(v)
}

/// Header of one server frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    /// FIN bit: last frame of its message.
    pub fin: bool,
    /// Opcode (low 4 bits of the first byte).
    pub opcode: u8,
    /// RSV1: the message is compressed (only meaningful once permessage-deflate is on).
    pub rsv1: bool,
    /// Bytes taken by the header (2, 4 or 10; servers never mask).
    pub header_len: usize,
    /// Payload length in bytes.
    pub payload_len: usize,
}

/// Why a server frame header is not acceptable to a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// RSV2 or RSV3 set, or RSV1 on a control frame (no extension defines them).
    ReservedBits,
    /// Server frames must not be masked (RFC 6455 §5.1).
    MaskedByServer,
    /// Opcode 3-7 or 11-15.
    UnknownOpcode(u8),
    /// Control frame longer than 125 bytes or fragmented.
    BadControlFrame,
    /// 64-bit length with the most significant bit set, or larger than memory allows.
    BadLength,
}

/// Parses the header of a server frame at the start of `buf`: `Ok(None)` when more bytes
/// are needed.
pub fn parse_server_head(buf: &[u8]) -> Result<Option<FrameHead>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x30 != 0 || (b0 & 0x40 != 0 && b0 & 0x08 != 0) {
        return Err(FrameError::ReservedBits);
    }
    if b1 & 0x80 != 0 {
        return Err(FrameError::MaskedByServer);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    match opcode {
        OP_CONT | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG => {
            if !fin || b1 & 0x7F > 125 {
                return Err(FrameError::BadControlFrame);
            }
        }
        other => return Err(FrameError::UnknownOpcode(other)),
    }
    let (header_len, payload_len) = match b1 & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (4, u16::from_be_bytes([buf[2], buf[3]]) as usize)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut len = [0u8; 8];
            len.copy_from_slice(&buf[2..10]);
            let len = u64::from_be_bytes(len);
            if len >> 63 != 0 {
                return Err(FrameError::BadLength);
            }
            (10, usize::try_from(len).map_err(|_| FrameError::BadLength)?)
        }
        n => (2, n as usize),
    };
    Ok(Some(FrameHead {
        fin,
        opcode,
        rsv1: b0 & 0x40 != 0,
        header_len,
        payload_len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_hello_matches_rfc6455_section_5_7() {
        let mut out = Vec::new();
        encode_masked(&mut out, OP_TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }

    #[test]
    fn unmasked_hello_from_server_parses_as_rfc6455_section_5_7() {
        let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let head = parse_server_head(&bytes).unwrap().unwrap();
        assert_eq!(
            head,
            FrameHead {
                fin: true,
                opcode: OP_TEXT,
                rsv1: false,
                header_len: 2,
                payload_len: 5
            }
        );
        assert_eq!(&bytes[2..], b"Hello");
    }

    #[test]
    fn a_compressed_template_inflates_to_its_payload_after_any_patch() {
        let payload = json_payload(3000);
        let mask = [9, 8, 7, 6];
        let t = FrameTemplate::new_compressed(OP_TEXT, payload.clone(), mask, 16);
        let mut frame = Vec::new();
        t.append_with_prefix(&mut frame, b"abcdefghijklmnop");
        assert_eq!(frame[0], 0xc1);
        let header = if frame[1] & 0x7f == 126 { 4 } else { 2 };
        let key = &frame[header..header + 4];
        let mut data: Vec<u8> = frame[header + 4..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i & 3])
            .collect();
        assert!(data.len() < payload.len() / 2, "{} bytes", data.len());
        data.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut z = flate2::Decompress::new(false);
        let mut out = Vec::with_capacity(8192);
        z.decompress_vec(&data, &mut out, flate2::FlushDecompress::Sync)
            .unwrap();
        assert_eq!(&out[..16], b"abcdefghijklmnop");
        assert_eq!(out[16..], payload[16..]);
    }

    #[test]
    fn fragmented_hello_parses_as_two_frames() {
        let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
        let second = [0x80, 0x02, 0x6c, 0x6f];
        let a = parse_server_head(&first).unwrap().unwrap();
        let b = parse_server_head(&second).unwrap().unwrap();
        assert_eq!((a.fin, a.opcode, a.payload_len), (false, OP_TEXT, 3));
        assert_eq!((b.fin, b.opcode, b.payload_len), (true, OP_CONT, 2));
    }

    #[test]
    fn binary_256_and_64k_lengths_use_extended_fields() {
        let h = parse_server_head(&[0x82, 0x7E, 0x01, 0x00])
            .unwrap()
            .unwrap();
        assert_eq!((h.header_len, h.payload_len), (4, 256));
        let h = parse_server_head(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
            .unwrap()
            .unwrap();
        assert_eq!((h.header_len, h.payload_len), (10, 65536));
    }

    #[test]
    fn client_encoder_uses_the_same_length_fields() {
        let mut out = Vec::new();
        encode_masked(&mut out, OP_BINARY, &[0u8; 256], [0; 4]);
        assert_eq!(&out[..4], &[0x82, 0xFE, 0x01, 0x00]);
        out.clear();
        encode_masked(&mut out, OP_BINARY, &[0u8; 65536], [0; 4]);
        assert_eq!(&out[..10], &[0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn ping_with_body_parses() {
        let h = parse_server_head(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
            .unwrap()
            .unwrap();
        assert_eq!((h.opcode, h.payload_len), (OP_PING, 5));
    }

    #[test]
    fn incomplete_headers_need_more_bytes() {
        assert_eq!(parse_server_head(&[0x82]), Ok(None));
        assert_eq!(parse_server_head(&[0x82, 0x7E, 0x01]), Ok(None));
        assert_eq!(parse_server_head(&[0x82, 0x7F, 0, 0, 0]), Ok(None));
    }

    #[test]
    fn protocol_violations_are_rejected() {
        assert_eq!(
            parse_server_head(&[0x81, 0x85]),
            Err(FrameError::MaskedByServer)
        );
        assert_eq!(
            parse_server_head(&[0xA1, 0x00]),
            Err(FrameError::ReservedBits)
        );
        assert_eq!(
            parse_server_head(&[0xC9, 0x00]),
            Err(FrameError::ReservedBits)
        );
        assert_eq!(
            parse_server_head(&[0x83, 0x00]),
            Err(FrameError::UnknownOpcode(3))
        );
        assert_eq!(
            parse_server_head(&[0x09, 0x00]),
            Err(FrameError::BadControlFrame)
        );
        assert_eq!(
            parse_server_head(&[0x89, 0x7E]),
            Err(FrameError::BadControlFrame)
        );
        let huge = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_server_head(&huge), Err(FrameError::BadLength));
    }

    #[test]
    fn template_prefix_patch_equals_fresh_encoding() {
        let mask = [1, 2, 3, 4];
        let t = FrameTemplate::new(OP_BINARY, pattern_payload(300), mask);
        let mut patched = Vec::new();
        t.append_with_prefix(&mut patched, b"abcdefgh");
        let mut expected_payload = pattern_payload(300);
        expected_payload[..8].copy_from_slice(b"abcdefgh");
        let mut fresh = Vec::new();
        encode_masked(&mut fresh, OP_BINARY, &expected_payload, mask);
        assert_eq!(patched, fresh);
    }

    #[test]
    fn tags_round_trip_and_stay_ascii() {
        let mut buf = [0u8; 8];
        put_tag(&mut buf, 0xDEAD_BEEF);
        assert!(buf.iter().all(u8::is_ascii_lowercase));
        assert_eq!(get_tag(&buf), Some(0xDEAD_BEEF));
        assert_eq!(get_tag(b"abcz"), None);
    }
}
