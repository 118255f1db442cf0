//! permessage-deflate on a core (RFC 7692): what the upgrade offers, the streams that compress
//! and inflate, and which connection uses which.
//!
//! A connection in the shared mode (the default parameters: no context takeover either way,
//! 15-bit windows) holds nothing: its flags say the extension is on, and the core's shared
//! streams, reset after every message, do the work. A connection with parameters of its own
//! (a dedicated stream in either direction, or a smaller window the client asked for) has an
//! entry here under its slot, holding its agreement and the streams made for it on first use.
//! The entry goes when the WebSocket ends; its compressor already when the connection has been
//! quiet for a while (`rest`), since zlib's compression state is the large one (about 256 KiB
//! at 15 bits, against 39 KiB to inflate).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use imphnen_protocol::ws::deflate::{
    Agreement, DeflatePolicy, Deflater, InflateError, Inflater, negotiate,
};
use imphnen_protocol::ws::{FrameHeader, OpCode, encode_compressed};

use crate::Message;
use crate::config::{Compression, WsConfig};
use crate::conn::Flags;
use crate::shared::metrics::CoreCounters;

/// The window sizes a compressor may be made with: 9..=15 bits.
pub(crate) const WINDOW_SIZES: usize = 7;

/// Index of a window size (9..=15) in the per-size tables.
pub(crate) fn window_index(bits: u8) -> usize {
    usize::from(bits.clamp(9, 15) - 9)
}

/// The own state of the connection in `slot`, if its `flags` say it has one.
fn own_of(own: &mut HashMap<u32, Box<Own>>, slot: u32, flags: Flags) -> Option<&mut Own> {
    if flags.has(Flags::DEFLATE_OWN) {
        own.get_mut(&slot).map(|o| &mut **o)
    } else {
        None
    }
}

/// The shared compressor for windows of `bits` (made on first use).
fn shared_deflater(
    deflaters: &mut [Option<Deflater>; WINDOW_SIZES],
    level: u32,
    bits: u8,
) -> &mut Deflater {
    deflaters[window_index(bits)].get_or_insert_with(|| Deflater::new(level, bits, true))
}

/// The opcode and payload of a published frame (unmasked, one frame, as the hub encodes it).
fn split_frame(frame: &[u8]) -> Option<(OpCode, &[u8])> {
    let (header, header_len) = FrameHeader::parse(frame).ok()??;
    Some((header.opcode, &frame[header_len..]))
}

/// The connection's own permessage-deflate state.
struct Own {
    agreement: Agreement,
    /// Made on the first compressed message received, when the client keeps its context.
    inflater: Option<Inflater>,
    /// Made on the first message compressed, when the server keeps its context.
    deflater: Option<Deflater>,
}

impl Own {
    fn dedicated(&self) -> bool {
        !self.agreement.server_no_context_takeover || !self.agreement.client_no_context_takeover
    }
}

/// The core's permessage-deflate streams and the connections with parameters of their own.
pub(crate) struct Deflate {
    /// Inflates every message whose sender resets its context (any window fits in 15 bits).
    shared_inflater: Option<Inflater>,
    /// Compresses for connections without server context takeover, by window size.
    shared_deflaters: [Option<Deflater>; WINDOW_SIZES],
    /// Connections with parameters of their own, by slot index.
    own: HashMap<u32, Box<Own>>,
    /// Connections in `own` that keep a context (counted against `max_dedicated_streams`).
    dedicated: usize,
    /// Compressed payloads, before they are framed.
    scratch: Vec<u8>,
    /// zlib level of every compressor (`WsConfig::compression_level`).
    level: u32,
    /// Where the core's count of compressed messages is reported.
    counters: Arc<CoreCounters>,
}

/// What an upgrade agreed on: the flags of the connection and the answer for the 101.
pub(crate) struct Negotiated {
    pub(crate) flags: Flags,
    pub(crate) response: String,
}

impl Deflate {
    /// No streams yet, compressing at zlib level `level`, counting in `counters`.
    pub(crate) fn new(level: u8, counters: Arc<CoreCounters>) -> Deflate {
        Deflate {
            shared_inflater: None,
            shared_deflaters: Default::default(),
            own: HashMap::new(),
            dedicated: 0,
            scratch: Vec::new(),
            level: u32::from(level),
            counters,
        }
    }

    /// One more message compressed.
    fn count(&self) {
        self.counters.compressed.add(1);
    }

    /// Answers the client's offers (`Sec-WebSocket-Extensions` values) for the connection in
    /// `slot`, as configured; `None` when nothing is negotiated.
    pub(crate) fn negotiate<'a>(
        &mut self,
        cfg: &WsConfig,
        slot: u32,
        offers: impl Iterator<Item = &'a [u8]>,
    ) -> Option<Negotiated> {
        if cfg.compression == Compression::Off && cfg.decompression == Compression::Off {
            return None;
        }
        let dedicated_allowed = self.dedicated < cfg.max_dedicated_streams;
        let (server, server_bits) = match cfg.compression {
            Compression::Dedicated { window_bits } if dedicated_allowed => (false, window_bits),
            _ => (true, 15),
        };
        let (client, client_bits) = match cfg.decompression {
            Compression::Dedicated { window_bits } if dedicated_allowed => (false, window_bits),
            _ => (true, 15),
        };
        let policy = DeflatePolicy {
            server_no_context_takeover: server,
            client_no_context_takeover: client,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        let agreement = negotiate(offers, &policy)?;
        let mut flags = Flags::DEFLATE;
        if cfg.compression != Compression::Off && agreement.server_window_bits.is_some() {
            flags.set(Flags::COMPRESS);
        }
        let shared = agreement.server_no_context_takeover
            && agreement.client_no_context_takeover
            && agreement.server_window_bits.is_none_or(|bits| bits == 15);
        if !shared {
            flags.set(Flags::DEFLATE_OWN);
            let own = Box::new(Own {
                agreement,
                inflater: None,
                deflater: None,
            });
            if own.dedicated() {
                self.dedicated += 1;
            }
            if let Some(stale) = self.own.insert(slot, own)
                && stale.dedicated()
            {
                self.dedicated -= 1;
            }
        }
        Some(Negotiated {
            flags,
            response: agreement.response(),
        })
    }

    /// The connection in `slot` is quiet: its own compressor goes (made again on the next
    /// message). The server may drop its compression context whenever it likes: later messages
    /// then refer to nothing earlier, which the peer inflates as well. Its decompressor stays
    /// while the peer keeps its context: the peer's next message may refer to the last one.
    pub(crate) fn rest(&mut self, slot: u32) {
        if let Some(own) = self.own.get_mut(&slot) {
            own.deflater = None;
        }
    }

    /// The WebSocket in `slot` ended: its own streams go.
    pub(crate) fn forget(&mut self, slot: u32) {
        if let Some(own) = self.own.remove(&slot)
            && own.dedicated()
        {
            self.dedicated -= 1;
        }
    }

    /// Inflates a compressed message of the connection in `slot` (with `flags`) into a message
    /// of at most `max` bytes.
    pub(crate) fn inflate(
        &mut self,
        slot: u32,
        flags: Flags,
        text: bool,
        payload: &[u8],
        max: usize,
    ) -> Result<Message, InflateError> {
        let inflater = match own_of(&mut self.own, slot, flags) {
            Some(own) if !own.agreement.client_no_context_takeover => {
                let bits = own.agreement.client_window_bits;
                own.inflater
                    .get_or_insert_with(|| Inflater::new(bits, false))
            }
            _ => self
                .shared_inflater
                .get_or_insert_with(|| Inflater::new(15, true)),
        };
        let mut out = Vec::with_capacity((payload.len() * 4).clamp(64, max.max(64)));
        inflater.inflate(payload, max, &mut out)?;
        if text {
            // RFC 6455 §8.1 holds for the inflated text (RFC 7692 §6.2).
            let text = String::from_utf8(out).map_err(|_| InflateError::Corrupt)?;
            Ok(Message::text(text))
        } else {
            Ok(Message::binary(Bytes::from(out)))
        }
    }

    /// Appends `payload` as one compressed frame of kind `opcode` for the connection in `slot`.
    /// Only for connections with [`Flags::COMPRESS`].
    pub(crate) fn write_frame(
        &mut self,
        slot: u32,
        flags: Flags,
        opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        let level = self.level;
        let deflater = match own_of(&mut self.own, slot, flags) {
            Some(own) if !own.agreement.server_no_context_takeover => {
                let bits = own.agreement.server_window_bits.unwrap_or(15);
                own.deflater
                    .get_or_insert_with(|| Deflater::new(level, bits, false))
            }
            own => {
                let bits = own
                    .and_then(|o| o.agreement.server_window_bits)
                    .unwrap_or(15);
                shared_deflater(&mut self.shared_deflaters, level, bits)
            }
        };
        self.scratch.clear();
        deflater.deflate(payload, &mut self.scratch);
        self.count();
        encode_compressed(out, opcode, None, &self.scratch);
    }

    /// Appends a published `frame` (unmasked, one frame) compressed by the connection's own
    /// stream.
    pub(crate) fn write_published(
        &mut self,
        slot: u32,
        flags: Flags,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) {
        if let Some((opcode, payload)) = split_frame(frame) {
            self.write_frame(slot, flags, opcode, payload, out);
        }
    }

    /// The window a shared compressed frame must have been made with for the connection in
    /// `slot`, or `None` when the connection keeps its own context (a shared frame would not
    /// match what its peer's decompressor holds).
    pub(crate) fn shared_window(&self, slot: u32, flags: Flags) -> Option<u8> {
        if !flags.has(Flags::DEFLATE_OWN) {
            return Some(15);
        }
        let own = self.own.get(&slot)?;
        own.agreement
            .server_no_context_takeover
            .then(|| own.agreement.server_window_bits.unwrap_or(15))
    }

    /// A published `frame` (unmasked, one frame) compressed with a shared stream of `bits`.
    pub(crate) fn compress_shared(&mut self, frame: &[u8], bits: u8) -> Option<Bytes> {
        let (opcode, payload) = split_frame(frame)?;
        let deflater = shared_deflater(&mut self.shared_deflaters, self.level, bits);
        self.scratch.clear();
        deflater.deflate(payload, &mut self.scratch);
        self.count();
        let mut out = Vec::with_capacity(self.scratch.len() + 10);
        encode_compressed(&mut out, opcode, None, &self.scratch);
        Some(Bytes::from(out))
    }
}
