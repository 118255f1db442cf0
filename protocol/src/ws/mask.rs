//! Payload masking (RFC 6455 §5.3): XOR with a 4-byte key, resumable mid-payload.
//!
//! This module owns the one hot function of the codec. The bulk of the buffer is processed in
//! 64-byte blocks XORed with a pre-rotated key block (LLVM lowers that to the widest vector
//! registers the target has), then in 8-byte words, then byte by byte. All of it is safe,
//! portable Rust: no `unsafe`, no alignment requirement on the buffer.

/// Masks or unmasks `buf` in place with `key` (masking is its own inverse).
///
/// `offset` is the position of `buf[0]` within the frame payload, so a payload that arrives in
/// pieces can be unmasked piece by piece: RFC 6455 §5.3, octet `i` of the payload is XORed with
/// octet `i MOD 4` of the masking key.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that `key[0]` applies to `buf[0]`.
    let key = u32::from_le_bytes(key)
        .rotate_right(8 * (offset % 4) as u32)
        .to_le_bytes();

    let key_word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);

    let mut blocks = buf.chunks_exact_mut(64);
    if blocks.len() > 0 {
        let mut key_block = [0u8; 64];
        for k in key_block.chunks_exact_mut(8) {
            k.copy_from_slice(&key_word.to_ne_bytes());
        }
        for block in &mut blocks {
            for (b, k) in block.iter_mut().zip(key_block.iter()) {
                *b ^= *k;
            }
        }
    }

    // 64 and 8 are multiples of 4: the key phase is unchanged after whole blocks and words.
    let mut words = blocks.into_remainder().chunks_exact_mut(8);
    for word in &mut words {
        let masked = u64::from_ne_bytes((&*word).try_into().unwrap_or([0; 8])) ^ key_word;
        word.copy_from_slice(&masked.to_ne_bytes());
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
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
    fn rfc_6455_section_5_7_masked_hello() {
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }
}
