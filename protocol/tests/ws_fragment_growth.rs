//! A message of many small fragments grows the decoder's buffer in a logarithmic number of
//! steps (RFC 6455 §5.4 lets a peer split a message anywhere): counted with an allocator of
//! this test binary's own, the frames written by the independent `ws_support::raw_frame`.

mod ws_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use imphnen_protocol::ws::{Decoder, DecoderConfig, Event};
use ws_support::{b0, buffering_server, raw_frame};

/// Counts reallocations (and allocations) made through it.
struct Counting;

static GROWS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        GROWS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        GROWS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn fragmented(fragments: usize) -> Vec<u8> {
    let key = Some([0x11, 0x22, 0x33, 0x44]);
    let mut wire = raw_frame(b0(false, 0x2), key, &[0]);
    for i in 1..fragments - 1 {
        wire.extend(raw_frame(b0(false, 0x0), key, &[i as u8]));
    }
    wire.extend(raw_frame(b0(true, 0x0), key, &[0xff]));
    wire
}

fn decode_counting(config: DecoderConfig, wire: &mut [u8]) -> (Vec<u8>, usize) {
    let mut decoder = Decoder::new(config);
    let before = GROWS.load(Ordering::Relaxed);
    let decoded = decoder.decode(wire).expect("a valid message");
    let grows = GROWS.load(Ordering::Relaxed) - before;
    let Some(Event::Binary(data)) = decoded.event else {
        panic!("expected the binary message");
    };
    (data.to_vec(), grows)
}

#[test]
fn ten_thousand_one_byte_fragments_grow_the_buffer_a_few_times() {
    const FRAGMENTS: usize = 10_000;
    let mut wire = fragmented(FRAGMENTS);
    for config in [buffering_server(), DecoderConfig::default()] {
        let (data, grows) = decode_counting(config, &mut wire.clone());
        assert_eq!(data.len(), FRAGMENTS);
        assert_eq!(data[1], 1);
        assert_eq!(data[FRAGMENTS - 1], 0xff);
        // Doubling from one byte to 10,000 takes 14 steps; one per fragment would be 10,000.
        assert!(grows <= 32, "{grows} allocations for {FRAGMENTS} fragments");
    }
    // The input is unmasked into the buffer, not in place: decoding it again gives the same.
    let (again, _) = decode_counting(buffering_server(), &mut wire);
    assert_eq!(again.len(), FRAGMENTS);
}
