//! Property tests: splitting a valid stream anywhere changes nothing, and whatever the encoder
//! writes, the decoder reads back. Expected events come from the generated messages themselves,
//! and wire bytes from the independent `ws_support::raw_frame`, not from the codec under test.

mod ws_support;

use imphnen_protocol::ws::{
    CloseCode, CloseFrame, DecoderConfig, FrameHeader, MAX_HEADER_LEN, OpCode, encode_close,
    encode_frame, encode_ping, encode_pong,
};
use proptest::prelude::*;
use ws_support::{Owned, b0, buffering_server, client, feed, feed_chunks, raw_frame, server};

/// One item of a generated conversation, as a client would send it.
#[derive(Clone, Debug)]
enum Item {
    /// A message sent in fragments (`cuts` are byte offsets, possibly inside a code point), with
    /// an optional ping injected after each fragment but the last.
    Text {
        text: String,
        cuts: Vec<usize>,
        pings: Vec<Option<Vec<u8>>>,
    },
    Binary {
        data: Vec<u8>,
        cuts: Vec<usize>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn control_payload() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=125)
}

fn cuts(max: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..=max, 0..4)
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (
            ".{0,40}",
            cuts(160),
            proptest::collection::vec(proptest::option::of(control_payload()), 4)
        )
            .prop_map(|(text, cuts, pings)| Item::Text { text, cuts, pings }),
        (proptest::collection::vec(any::<u8>(), 0..300), cuts(300))
            .prop_map(|(data, cuts)| Item::Binary { data, cuts }),
        control_payload().prop_map(Item::Ping),
        control_payload().prop_map(Item::Pong),
    ]
}

/// Splits `bytes` at the (clamped, sorted, deduplicated) `cuts`.
fn fragments<'b>(bytes: &'b [u8], cuts: &[usize]) -> Vec<&'b [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points {
        out.push(&bytes[start..p]);
        start = p;
    }
    out.push(&bytes[start..]);
    out
}

/// Builds the wire bytes of a conversation and the events a receiver must see.
struct Conversation<'k> {
    wire: Vec<u8>,
    expected: Vec<Owned>,
    keys: std::iter::Cycle<std::slice::Iter<'k, [u8; 4]>>,
}

impl Conversation<'_> {
    fn frame(&mut self, b0: u8, payload: &[u8]) {
        let key = self.keys.next().copied();
        self.wire.extend(raw_frame(b0, key, payload));
    }

    fn message(&mut self, opcode: u8, bytes: &[u8], cuts: &[usize], pings: &[Option<Vec<u8>>]) {
        let parts = fragments(bytes, cuts);
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let op = if i == 0 { opcode } else { 0x0 };
            self.frame(b0(last, op), part);
            if let (false, Some(Some(ping))) = (last, pings.get(i)) {
                self.frame(b0(true, 0x9), ping);
                self.expected.push(Owned::Ping(ping.clone()));
            }
        }
    }
}

/// Writes a conversation as masked client frames; returns the wire and the expected events.
fn conversation(items: &[Item], keys: &[[u8; 4]], close: (u16, &str)) -> (Vec<u8>, Vec<Owned>) {
    let mut c = Conversation {
        wire: Vec::new(),
        expected: Vec::new(),
        keys: keys.iter().cycle(),
    };
    for item in items {
        match item {
            Item::Text { text, cuts, pings } => {
                c.message(0x1, text.as_bytes(), cuts, pings);
                c.expected.push(Owned::Text(text.clone()));
            }
            Item::Binary { data, cuts } => {
                c.message(0x2, data, cuts, &[]);
                c.expected.push(Owned::Binary(data.clone()));
            }
            Item::Ping(p) => {
                c.frame(b0(true, 0x9), p);
                c.expected.push(Owned::Ping(p.clone()));
            }
            Item::Pong(p) => {
                c.frame(b0(true, 0xa), p);
                c.expected.push(Owned::Pong(p.clone()));
            }
        }
    }
    let body = [&close.0.to_be_bytes()[..], close.1.as_bytes()].concat();
    c.frame(b0(true, 0x8), &body);
    c.expected
        .push(Owned::Close(Some((close.0, close.1.to_owned()))));
    (c.wire, c.expected)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_split_of_a_valid_stream_decodes_to_the_same_events(
        items in proptest::collection::vec(item(), 1..8),
        keys in proptest::collection::vec(any::<[u8; 4]>(), 1..5),
        close_code in prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999],
        reason in "[a-z ]{0,20}",
        splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let (wire, expected) = conversation(&items, &keys, (close_code, &reason));
        prop_assert_eq!(feed(server(), &wire), (expected.clone(), Ok(())));
        let points: Vec<usize> = splits.iter().map(|i| i.index(wire.len() + 1)).collect();
        let chunks = fragments(&wire, &points);
        prop_assert_eq!(feed_chunks(server(), chunks.iter().copied()), (expected.clone(), Ok(())));
        prop_assert_eq!(feed_chunks(buffering_server(), chunks.iter().copied()), (expected.clone(), Ok(())));
        prop_assert_eq!(feed(buffering_server(), &wire), (expected, Ok(())));
    }

    #[test]
    fn encoded_frames_decode_back(
        payload in proptest::collection::vec(any::<u8>(), 0..70_000),
        text in ".{0,100}",
        kind in 0u8..5,
        mask in proptest::option::of(any::<[u8; 4]>()),
        split in any::<prop::sample::Index>(),
    ) {
        let config = if mask.is_some() { server() } else { client() };
        let control = &payload[..payload.len().min(125)];
        let mut out = Vec::new();
        let (expected, raw) = match kind {
            0 => {
                encode_frame(&mut out, true, OpCode::Text, mask, text.as_bytes());
                (Owned::Text(text.clone()), raw_frame(0x81, mask, text.as_bytes()))
            }
            1 => {
                encode_frame(&mut out, true, OpCode::Binary, mask, &payload);
                (Owned::Binary(payload.clone()), raw_frame(0x82, mask, &payload))
            }
            2 => {
                encode_ping(&mut out, mask, control).unwrap();
                (Owned::Ping(control.to_vec()), raw_frame(0x89, mask, control))
            }
            3 => {
                encode_pong(&mut out, mask, control).unwrap();
                (Owned::Pong(control.to_vec()), raw_frame(0x8a, mask, control))
            }
            _ => {
                let reason: String = text.chars().take(30).collect();
                let close = CloseFrame { code: CloseCode(3000 + kind as u16), reason: &reason };
                encode_close(&mut out, mask, Some(close)).unwrap();
                let body = [&close.code.0.to_be_bytes()[..], reason.as_bytes()].concat();
                (Owned::Close(Some((close.code.0, reason.clone()))), raw_frame(0x88, mask, &body))
            }
        };
        prop_assert_eq!(&out, &raw);
        prop_assert_eq!(feed(config, &out), (vec![expected.clone()], Ok(())));
        let at = split.index(out.len() + 1);
        prop_assert_eq!(feed_chunks(config, [&out[..at], &out[at..]]), (vec![expected.clone()], Ok(())));
        if mask.is_some() {
            let buffering = DecoderConfig { buffer_payloads_from: payload.len() / 2, ..config };
            prop_assert_eq!(feed(buffering, &out), (vec![expected], Ok(())));
        }
    }

    #[test]
    fn headers_write_and_parse_back(
        fin in any::<bool>(),
        rsv in 0u8..8,
        opcode in prop::sample::select(vec![OpCode::Continuation, OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping, OpCode::Pong]),
        mask in proptest::option::of(any::<[u8; 4]>()),
        payload_len in prop_oneof![0u64..=125, 126u64..=65535, 65536u64..=(u64::MAX >> 1)],
    ) {
        let control = opcode.is_control();
        let header = FrameHeader {
            fin: fin || control,
            rsv,
            opcode,
            mask,
            payload_len: if control { payload_len % 126 } else { payload_len },
        };
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = header.write(&mut buf);
        prop_assert_eq!(FrameHeader::parse(&buf[..n]), Ok(Some((header, n))));
        // The first byte carries FIN, RSV and opcode exactly as §5.2 lays them out.
        prop_assert_eq!(buf[0], (u8::from(header.fin) << 7) | (rsv << 4) | u8::from(opcode));
    }
}
