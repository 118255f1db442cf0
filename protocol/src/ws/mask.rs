//! Payload masking (RFC 6455 §5.3): XOR with a 4-byte key, resumable mid-payload.
//!
//! This module owns the one hot function of the codec. The bulk of the buffer is processed in
//! 64-byte blocks XORed with a pre-rotated key block (LLVM lowers that to the widest vector
//! registers the target has), then in 8-byte words, then byte by byte. Portable Rust with no
//! alignment requirement on the buffer; the one `unsafe` line marks as initialised the bytes
//! [`unmask_into`] has just written.

/// Masks or unmasks `buf` in place with `key` (masking is its own inverse).
///
/// `offset` is the position of `buf[0]` within the frame payload, so a payload that arrives in
/// pieces can be unmasked piece by piece: RFC 6455 §5.3, octet `i` of the payload is XORed with
/// octet `i MOD 4` of the masking key.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = Key::at(key, offset);
    let mut blocks = buf.chunks_exact_mut(64);
    if blocks.len() > 0 {
        let key_block = key.block();
        for block in &mut blocks {
            for (b, k) in block.iter_mut().zip(key_block.iter()) {
                *b ^= *k;
            }
        }
    }

    // 64 and 8 are multiples of 4: the key phase is unchanged after whole blocks and words.
    let mut words = blocks.into_remainder().chunks_exact_mut(8);
    for word in &mut words {
        let masked = u64::from_ne_bytes((&*word).try_into().unwrap_or([0; 8])) ^ key.word;
        word.copy_from_slice(&masked.to_ne_bytes());
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key.bytes[i % 4];
    }
}

/// Appends `src` to `dst` unmasked with `key` (or masked: it is its own inverse), copying and
/// XORing in one pass over the bytes; `offset` as for [`apply_mask`].
///
/// This is how a payload that is kept (a message buffer) leaves the receive buffer: one read of
/// the received bytes and one write, instead of unmasking them in place and then copying them.
#[inline]
pub fn unmask_into(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4], offset: usize) {
    let key = Key::at(key, offset);
    let start = dst.len();
    dst.reserve(src.len());
    let out = &mut dst.spare_capacity_mut()[..src.len()];

    let mut out_blocks = out.chunks_exact_mut(64);
    let mut in_blocks = src.chunks_exact(64);
    if in_blocks.len() > 0 {
        let key_block = key.block();
        for (o, i) in (&mut out_blocks).zip(&mut in_blocks) {
            for ((o, i), k) in o.iter_mut().zip(i).zip(key_block.iter()) {
                o.write(*i ^ *k);
            }
        }
    }
    let mut out_words = out_blocks.into_remainder().chunks_exact_mut(8);
    let mut in_words = in_blocks.remainder().chunks_exact(8);
    for (o, i) in (&mut out_words).zip(&mut in_words) {
        let masked = u64::from_ne_bytes(i.try_into().unwrap_or([0; 8])) ^ key.word;
        for (o, m) in o.iter_mut().zip(masked.to_ne_bytes()) {
            o.write(m);
        }
    }
    let rest = out_words
        .into_remainder()
        .iter_mut()
        .zip(in_words.remainder());
    for (n, (o, i)) in rest.enumerate() {
        o.write(*i ^ key.bytes[n % 4]);
    }
    // SAFETY: `out` is the `src.len()` bytes of spare capacity after `start` (reserved above),
    // and the three loops wrote each of them: the 64-byte blocks, the 8-byte words of what
    // they left, and the bytes of what the words left.
    unsafe { dst.set_len(start + src.len()) };
}

/// A masking key rotated to a position in the payload, as bytes and as a repeated word.
#[derive(Clone, Copy)]
struct Key {
    bytes: [u8; 4],
    word: u64,
}

impl Key {
    /// `key` rotated so that `bytes[0]` applies to payload octet `offset`.
    #[inline]
    fn at(key: [u8; 4], offset: usize) -> Key {
        let bytes = u32::from_le_bytes(key)
            .rotate_right(8 * (offset % 4) as u32)
            .to_le_bytes();
        let word = u64::from_ne_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[0], bytes[1], bytes[2], bytes[3],
        ]);
        Key { bytes, word }
    }

    /// The key repeated over 64 bytes, XORed a block at a time.
    #[inline]
    fn block(self) -> [u8; 64] {
        let mut block = [0u8; 64];
        for k in block.chunks_exact_mut(8) {
            k.copy_from_slice(&self.word.to_ne_bytes());
        }
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6455 §5.3 definition, one octet at a time.
    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_the_byte_loop_for_every_length_offset_and_alignment() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let source: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=100 {
            for offset in 0..4 {
                // Start at every misalignment relative to an 8-byte word.
                for start in 0..8 {
                    let mut fast = source[start..start + len].to_vec();
                    let mut slow = fast.clone();
                    let mut fast_in_place = source.clone();
                    apply_mask(&mut fast, key, offset);
                    naive(&mut slow, key, offset);
                    assert_eq!(fast, slow, "len {len} offset {offset}");
                    apply_mask(&mut fast_in_place[start..start + len], key, offset);
                    assert_eq!(&fast_in_place[start..start + len], &slow[..]);
                    assert_eq!(&fast_in_place[..start], &source[..start]);
                    assert_eq!(&fast_in_place[start + len..], &source[start + len..]);
                }
            }
        }
    }

    #[test]
    fn large_buffers_match_the_byte_loop() {
        let key = [1, 2, 0x80, 0xff];
        for len in [127, 128, 129, 1000, 4099] {
            for offset in [0, 1, 2, 3, 5, 1 << 20] {
                let mut fast: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let mut slow = fast.clone();
                apply_mask(&mut fast, key, offset);
                naive(&mut slow, key, offset);
                assert_eq!(fast, slow);
            }
        }
    }

    #[test]
    fn resuming_at_every_split_equals_one_pass() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let plain: Vec<u8> = (0..150u8).collect();
        let mut whole = plain.clone();
        naive(&mut whole, key, 0);
        for split in 0..=plain.len() {
            let mut pieces = plain.clone();
            let (a, b) = pieces.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            assert_eq!(pieces, whole, "split {split}");
        }
    }

    #[test]
    fn unmask_into_appends_what_the_byte_loop_gives() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let source: Vec<u8> = (0..400u32).map(|i| (i * 13 + 5) as u8).collect();
        for len in (0..=140).chain([191, 192, 193, 400]) {
            for offset in 0..4 {
                for start in 0..8 {
                    let src = &source[start..start + len.min(source.len() - start)];
                    let mut slow = src.to_vec();
                    naive(&mut slow, key, offset);
                    let mut dst = b"kept".to_vec();
                    unmask_into(&mut dst, src, key, offset);
                    assert_eq!(&dst[..4], b"kept");
                    assert_eq!(
                        &dst[4..],
                        &slow[..],
                        "len {len} offset {offset} start {start}"
                    );
                }
            }
        }
    }

    #[test]
    fn rfc_6455_section_5_7_masked_hello() {
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }
}
