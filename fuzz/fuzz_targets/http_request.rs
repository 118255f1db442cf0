//! Request heads and bodies from arbitrary bytes, pipelined, fed whole and in pieces.
//!
//! Invariants: no panic; every consumed count is within its input; every step makes progress or
//! asks for more input (no infinite loop); bodies and heads stay within the limits; and the same
//! byte stream yields the same requests and the same final error however it is split.
#![no_main]

use imphnen_protocol::http::{BodyDecoder, HeaderSlots, HttpError, Limits, Parsed, parse_request};

#[derive(Debug, PartialEq)]
struct Request {
    target: String,
    keep_alive: bool,
    body: Vec<u8>,
}

fn drive<'p>(
    pieces: impl Iterator<Item = &'p [u8]>,
    limits: &Limits,
) -> (Vec<Request>, Option<HttpError>) {
    let mut buf = Vec::new();
    let mut requests = Vec::new();
    let mut in_body: Option<(Request, BodyDecoder)> = None;
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            if let Some((request, decoder)) = in_body.as_mut() {
                let before = request.body.len();
                let progress = match decoder.decode(&buf, &mut request.body) {
                    Ok(progress) => progress,
                    Err(e) => return (requests, Some(e)),
                };
                assert!(progress.consumed <= buf.len());
                assert!(request.body.len() - before <= progress.consumed);
                assert!(request.body.len() as u64 <= limits.max_body_size);
                buf.drain(..progress.consumed);
                if progress.done {
                    requests.push(in_body.take().unwrap().0);
                    continue;
                }
                // Not done: the decoder must have used up everything it was given.
                assert!(buf.is_empty(), "undone decoder left input unconsumed");
                break;
            }
            let mut slots = HeaderSlots::<64>::new();
            match parse_request(&buf, &mut slots, limits) {
                Err(e) => return (requests, Some(e)),
                Ok(Parsed::Partial) => {
                    assert!(buf.len() <= limits.max_head_size);
                    break;
                }
                Ok(Parsed::Complete(head, len)) => {
                    assert!(len > 0 && len <= buf.len() && len <= limits.max_head_size);
                    assert!(head.headers().len() <= limits.max_headers);
                    assert!(head.target().len() <= limits.max_uri_length);
                    let request = Request {
                        target: head.target().to_owned(),
                        keep_alive: head.keep_alive(),
                        body: Vec::new(),
                    };
                    let decoder = BodyDecoder::new(head.body_framing(), limits);
                    buf.drain(..len);
                    in_body = Some((request, decoder));
                }
            }
        }
    }
    (requests, None)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    // Small limits half the time, so the fuzzer reaches every limit with short inputs.
    let limits = if control & 1 == 0 {
        Limits::default()
    } else {
        Limits {
            max_head_size: 256,
            max_headers: 8,
            max_uri_length: 64,
            max_body_size: 128,
        }
    };
    let piece = usize::from(control >> 1) + 1;
    let whole = drive(std::iter::once(stream), &limits);
    let split = drive(stream.chunks(piece), &limits);
    assert_eq!(whole, split, "split into pieces of {piece}");
});
