//! [`BatchedRandom`]: the random bytes rustls asks for (server random, session ticket
//! identities and age offsets), served from a per-thread block filled by one `getrandom(2)`.
//!
//! ring's own source asks the kernel on every call, and a full TLS 1.3 handshake with two
//! session tickets asks nine times: more than half the handshake's system calls. A block of
//! kernel randomness read ahead is the same randomness used later, so quality is unchanged;
//! each thread has its own block (a core never waits on another), nothing is shared across a
//! `fork`, and a used byte is zeroed so no value is handed out twice or stays in memory.
//! Large requests bypass the block. The ephemeral key and the ECDSA nonce are drawn by ring
//! itself (its random source cannot be replaced), two calls per handshake.

use std::cell::RefCell;

use rustls::crypto::{GetRandomFailed, SecureRandom};

/// Bytes read from the kernel at a time: 16 handshakes' worth of rustls' requests.
const BLOCK: usize = 1024;
/// Requests larger than this go straight to the kernel.
const DIRECT: usize = 128;

/// rustls' random source for our crypto provider (see the module doc).
#[derive(Debug)]
pub(crate) struct BatchedRandom;

struct Block {
    bytes: [u8; BLOCK],
    /// Bytes before `used` are handed out (and zeroed).
    used: usize,
}

thread_local! {
    static BLOCK_OF_THREAD: RefCell<Block> = const {
        RefCell::new(Block { bytes: [0; BLOCK], used: BLOCK })
    };
}

impl SecureRandom for BatchedRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        if buf.len() > DIRECT {
            return getrandom(buf);
        }
        BLOCK_OF_THREAD.with(|block| {
            let mut block = block.borrow_mut();
            if BLOCK - block.used < buf.len() {
                getrandom(&mut block.bytes)?;
                block.used = 0;
            }
            let start = block.used;
            let taken = &mut block.bytes[start..start + buf.len()];
            buf.copy_from_slice(taken);
            taken.fill(0);
            block.used += buf.len();
            Ok(())
        })
    }
}

/// Fills `buf` from the kernel's CSPRNG, retrying interrupted and short reads.
fn getrandom(buf: &mut [u8]) -> Result<(), GetRandomFailed> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the kernel writes at most `rest.len()` bytes into `rest`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return Err(GetRandomFailed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_filled_and_never_repeat_a_value() {
        let mut seen = std::collections::HashSet::new();
        // Enough 32-byte requests to cross several refills.
        for _ in 0..200 {
            let mut id = [0u8; 32];
            BatchedRandom.fill(&mut id).unwrap();
            assert_ne!(id, [0; 32]);
            assert!(seen.insert(id), "a 32-byte value came out twice");
        }
        let mut big = vec![0u8; 4096];
        BatchedRandom.fill(&mut big).unwrap();
        assert!(big.iter().filter(|&&b| b == 0).count() < 64);
    }
}
