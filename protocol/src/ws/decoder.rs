//! The incremental message decoder (RFC 6455 §5, §6.2): bytes in, at most one event out per call.
//!
//! This module owns the receiving side of a connection's framing state: where the current frame's
//! payload stands, which fragmented message is being assembled, and every rule that depends on
//! that state or on the endpoint's role. It does not own IO, timers or the closing handshake; the
//! engine calls [`Decoder::decode`] on its read buffer and reacts to each [`Event`] and to each
//! [`ProtocolError`] (by sending a Close frame with [`ProtocolError::close_code`]).
//!
//! # Zero copy where possible
//! A complete unfragmented data frame that lies entirely in `input` is unmasked in place and
//! returned borrowing `input`. The payload of a frame that is cut short by the end of `input`, or
//! that belongs to a fragmented message, is unmasked into the decoder's own message buffer (one
//! pass: read the masked bytes, write the plain ones) and UTF-8 checked there (text); the
//! message's event then borrows that buffer, and [`Decoder::take_message`] hands the buffer over
//! to a caller who keeps the message. A caller that keeps every message sets
//! [`DecoderConfig::buffer_payloads_from`] so that whole frames from that size on take the same
//! path: one copy out of the receive buffer instead of an unmasking in place and then a copy.
//! Control frames are never buffered: until one is complete in `input` it stays unconsumed.
//!
//! # Compressed messages (RFC 7692)
//! With [`DecoderConfig::permessage_deflate`], RSV1 on the first frame of a data message marks
//! the message compressed; RSV1 on a continuation or a control frame stays a protocol error
//! (§6.1). A compressed message is assembled like any other and handed out still compressed, as
//! [`Event::CompressedText`] or [`Event::CompressedBinary`]: inflating it (and validating the
//! text that comes out) is the caller's, with the decompressor the negotiation chose.

use super::close::CloseFrame;
use super::error::ProtocolError;
use super::frame::FrameHeader;
use super::mask::{apply_mask, unmask_into};
use super::opcode::OpCode;
use super::utf8::Utf8Validator;

/// Which end of the connection the decoder is on; it decides the masking rule (RFC 6455 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Role {
    /// Decodes frames a client sent: they MUST be masked, an unmasked frame is closed with 1002.
    #[default]
    Server,
    /// Decodes frames a server sent: they MUST NOT be masked, a masked frame is closed with 1002.
    Client,
}

/// Settings of a [`Decoder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderConfig {
    /// The endpoint this decoder runs on. Default: [`Role::Server`].
    pub role: Role,
    /// The largest message accepted, in payload bytes, inclusive, summed over all fragments.
    /// A frame whose header would take a message past it is refused with 1009 before any of its
    /// payload is buffered, so this bounds the memory one connection can make the decoder hold.
    /// Default: 16 MiB, large enough for typical application messages while keeping a single
    /// peer from claiming gigabytes.
    pub max_payload_length: usize,
    /// permessage-deflate was negotiated (RFC 7692): RSV1 may mark a message compressed.
    /// Default: `false`, so RSV1 is refused with 1002 like RSV2 and RSV3.
    pub permessage_deflate: bool,
    /// Uncompressed data frames with a payload of at least this many bytes go through the
    /// message buffer even when whole in `input` (see the [module docs](self)), so that
    /// [`Decoder::take_message`] can hand them over. Default: `usize::MAX` (whole frames are
    /// unmasked in place).
    pub buffer_payloads_from: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            role: Role::Server,
            max_payload_length: 16 << 20,
            permessage_deflate: false,
            buffer_payloads_from: usize::MAX,
        }
    }
}

/// One thing the peer said: a complete message or a control frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete text message, validated as UTF-8.
    Text(&'a str),
    /// A complete binary message.
    Binary(&'a [u8]),
    /// A Ping (RFC 6455 §5.5.2); the engine answers with a Pong carrying the same payload.
    Ping(&'a [u8]),
    /// A Pong (RFC 6455 §5.5.3), solicited or not.
    Pong(&'a [u8]),
    /// A Close (RFC 6455 §5.5.1); `None` when the body was empty (no status code).
    Close(Option<CloseFrame<'a>>),
    /// A complete text message sent compressed (RFC 7692 §6): the DEFLATE data, tail removed.
    /// Its text is validated only once inflated.
    CompressedText(&'a [u8]),
    /// A complete binary message sent compressed (RFC 7692 §6).
    CompressedBinary(&'a [u8]),
}

/// The outcome of one [`Decoder::decode`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// How many bytes at the start of `input` were used. The rest (a partial frame header or a
    /// partial control frame) must be presented again, followed by the bytes that come next.
    pub consumed: usize,
    /// The event decoded, or `None` when more bytes are needed.
    pub event: Option<Event<'a>>,
    /// The event borrows the decoder's message buffer: once the event is dropped,
    /// [`Decoder::take_message`] hands that buffer over.
    pub buffered: bool,
}

impl<'a> Decoded<'a> {
    /// `consumed` bytes used, more needed for the next event.
    fn more(consumed: usize) -> Self {
        Decoded {
            consumed,
            event: None,
            buffered: false,
        }
    }

    /// An event borrowing `input`, after `consumed` bytes.
    fn in_place(consumed: usize, event: Event<'a>) -> Self {
        Decoded {
            consumed,
            event: Some(event),
            buffered: false,
        }
    }

    /// An event borrowing the decoder's message buffer, after `consumed` bytes.
    fn from_buffer(consumed: usize, event: Event<'a>) -> Self {
        Decoded {
            consumed,
            event: Some(event),
            buffered: true,
        }
    }
}

/// The kind of a data message, set by its first frame (RFC 6455 §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MessageKind {
    Text,
    Binary,
}

/// A data frame whose header was consumed and whose payload is still (partly) to come.
#[derive(Clone, Copy, Debug)]
struct PayloadInProgress {
    mask: Option<[u8; 4]>,
    /// Payload bytes still to come.
    remaining: u64,
    /// Payload bytes seen so far, modulo 4: where the masking key resumes (RFC 6455 §5.3).
    mask_offset: u8,
    fin: bool,
}

/// Decodes the frames of one connection, one event at a time. See the [module docs](self).
#[derive(Debug)]
pub struct Decoder {
    config: DecoderConfig,
    /// Set by the first error; every later call returns it again.
    failed: Option<ProtocolError>,
    /// The fragmented message being assembled, if any.
    message: Option<MessageKind>,
    /// The message being assembled is compressed (RSV1 on its first frame).
    compressed: bool,
    /// The data frame whose payload is being read, if any.
    payload: Option<PayloadInProgress>,
    utf8: Utf8Validator,
    /// The message being assembled, or the one last delivered from it.
    buffer: Option<Vec<u8>>,
    /// `buffer` holds a message already returned; drop it on the next call.
    delivered: bool,
}

impl Decoder {
    /// A decoder at the start of a connection.
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            config,
            failed: None,
            message: None,
            compressed: false,
            payload: None,
            utf8: Utf8Validator::new(),
            buffer: None,
            delivered: false,
        }
    }

    /// The settings this decoder was created with.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Hands over the message buffer that the last event borrowed ([`Decoded::buffered`]),
    /// instead of dropping it on the next call: the message's payload, unmasked (or still
    /// compressed, for a compressed message). `None` if the last event did not borrow it.
    pub fn take_message(&mut self) -> Option<Vec<u8>> {
        if !self.delivered {
            return None;
        }
        self.delivered = false;
        Some(self.buffer.take().unwrap_or_default())
    }

    /// Whether a fragmented message has begun and not yet ended (or a data frame's payload is
    /// still arriving).
    pub fn is_mid_message(&self) -> bool {
        self.message.is_some() || self.payload.is_some()
    }

    /// Decodes at most one event from `input`. Unmasks in place.
    ///
    /// Call it in a loop on `buf[pos..end]`, advancing `pos` by [`Decoded::consumed`] and handling
    /// each event, until the event is `None`; then keep the unconsumed bytes and present them
    /// again, followed by new ones. After an error the decoder stays failed and returns the same
    /// error on every call.
    pub fn decode<'a>(&'a mut self, input: &'a mut [u8]) -> Result<Decoded<'a>, ProtocolError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        if self.delivered {
            self.delivered = false;
            self.buffer = None;
        }
        let mut pos = 0;
        loop {
            if let Some(frame) = self.payload {
                pos += self.read_payload(frame, &input[pos..])?;
                if self.payload.is_some() {
                    // `input` is exhausted in the middle of the payload.
                    return Ok(Decoded::more(pos));
                }
                if frame.fin {
                    return self.finish_message(pos);
                }
                continue;
            }

            let (header, header_len) = match FrameHeader::parse(&input[pos..]) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => {
                    return Ok(Decoded::more(pos));
                }
                Err(err) => return Err(self.fail(err)),
            };
            self.check_header(&header)?;
            let payload_start = pos + header_len;
            let available = (input.len() - payload_start) as u64;

            if header.opcode.is_control() {
                // RFC 6455 §5.4: control frames MAY be injected in the middle of a fragmented
                // message. Decided only once complete, so that a partial one stays unconsumed.
                if available < header.payload_len {
                    return Ok(Decoded::more(pos));
                }
                let end = payload_start + header.payload_len as usize;
                let payload = &mut input[payload_start..end];
                if let Some(key) = header.mask {
                    apply_mask(payload, key, 0);
                }
                let payload = &*payload;
                let event = match header.opcode {
                    OpCode::Ping => Event::Ping(payload),
                    OpCode::Pong => Event::Pong(payload),
                    _ => match CloseFrame::parse(payload) {
                        Ok(close) => Event::Close(close),
                        Err(err) => return Err(self.fail(err)),
                    },
                };
                return Ok(Decoded::in_place(end, event));
            }

            if header.opcode != OpCode::Continuation
                && header.fin
                && available >= header.payload_len
                && (header.rsv != 0 || header.payload_len < self.config.buffer_payloads_from as u64)
            {
                // A whole unfragmented message in `input`: hand it out in place.
                let end = payload_start + header.payload_len as usize;
                let payload = &mut input[payload_start..end];
                if let Some(key) = header.mask {
                    apply_mask(payload, key, 0);
                }
                let payload = &*payload;
                let event = if header.rsv != 0 {
                    // RSV1, allowed by `check_header`: inflated by the caller.
                    if header.opcode == OpCode::Text {
                        Event::CompressedText(payload)
                    } else {
                        Event::CompressedBinary(payload)
                    }
                } else if header.opcode == OpCode::Text {
                    match core::str::from_utf8(payload) {
                        Ok(text) => Event::Text(text),
                        Err(_) => return Err(self.fail(ProtocolError::InvalidUtf8)),
                    }
                } else {
                    Event::Binary(payload)
                };
                return Ok(Decoded::in_place(end, event));
            }

            // The payload goes through the message buffer.
            match header.opcode {
                OpCode::Text => self.start_message(MessageKind::Text, header.rsv != 0),
                OpCode::Binary => self.start_message(MessageKind::Binary, header.rsv != 0),
                _ => {}
            }
            self.payload = Some(PayloadInProgress {
                mask: header.mask,
                remaining: header.payload_len,
                mask_offset: 0,
                fin: header.fin,
            });
            pos = payload_start;
        }
    }

    /// Records `err` as the decoder's final state and returns it.
    fn fail(&mut self, err: ProtocolError) -> ProtocolError {
        self.failed = Some(err);
        err
    }

    /// Applies the rules that depend on the connection's state and role to a parsed header.
    fn check_header(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        // RFC 6455 §5.2: RSV1-3 MUST be 0 unless an extension defining them was negotiated.
        // RFC 7692 §6: permessage-deflate defines RSV1, on the first frame of a data message
        // only (not on control frames, §6.1, nor on continuations).
        let rsv1_allowed = self.config.permessage_deflate
            && matches!(header.opcode, OpCode::Text | OpCode::Binary);
        if header.rsv & 0b011 != 0 || (header.rsv & 0b100 != 0 && !rsv1_allowed) {
            return Err(self.fail(ProtocolError::ReservedBitsSet));
        }
        // RFC 6455 §5.1: a server MUST close on an unmasked frame, a client on a masked one.
        match (self.config.role, header.mask) {
            (Role::Server, None) => return Err(self.fail(ProtocolError::UnmaskedFrame)),
            (Role::Client, Some(_)) => return Err(self.fail(ProtocolError::MaskedFrame)),
            _ => {}
        }
        if header.opcode.is_control() {
            return Ok(());
        }
        // RFC 6455 §5.4: a fragmented message is one Text/Binary frame with FIN clear, then
        // Continuation frames up to one with FIN set; fragments of two messages never interleave.
        let assembled = match (header.opcode, self.message) {
            (OpCode::Continuation, None) => {
                return Err(self.fail(ProtocolError::UnexpectedContinuation));
            }
            (OpCode::Continuation, Some(_)) => self.buffer.as_ref().map_or(0, Vec::len) as u64,
            (_, Some(_)) => return Err(self.fail(ProtocolError::ExpectedContinuation)),
            (_, None) => 0,
        };
        // RFC 6455 §7.4.1 (1009): decided from the header, before any payload is buffered.
        if assembled.saturating_add(header.payload_len) > self.config.max_payload_length as u64 {
            return Err(self.fail(ProtocolError::MessageTooBig));
        }
        Ok(())
    }

    fn start_message(&mut self, kind: MessageKind, compressed: bool) {
        self.message = Some(kind);
        self.compressed = compressed;
        self.utf8.reset();
    }

    /// Unmasks into the message buffer and validates as much of the current frame's payload as
    /// `input` holds. Returns the number of bytes used; clears `self.payload` when the frame is
    /// complete.
    fn read_payload(
        &mut self,
        mut frame: PayloadInProgress,
        input: &[u8],
    ) -> Result<usize, ProtocolError> {
        let take = frame.remaining.min(input.len() as u64) as usize;
        if take > 0 {
            let chunk = &input[..take];
            let buffer = self.buffer.get_or_insert_with(Vec::new);
            // Grows with the bytes that actually arrived, never with the declared length
            // alone: room for the rest of the frame is made at once only when at least a
            // quarter of it is here (so a payload cut by the end of a receive is not copied
            // again to grow). `reserve`, not `reserve_exact`: exact for a new buffer, doubling
            // for one that holds earlier fragments, so many small fragments grow it in
            // logarithmically many steps.
            if frame.remaining <= 4 * take as u64 {
                buffer.reserve(frame.remaining as usize);
            }
            let start = buffer.len();
            match frame.mask {
                Some(key) => unmask_into(buffer, chunk, key, usize::from(frame.mask_offset)),
                None => buffer.extend_from_slice(chunk),
            }
            // RFC 6455 §8.1: fail on invalid UTF-8 as soon as it is seen, even mid-frame.
            if self.message == Some(MessageKind::Text)
                && !self.compressed
                && self.utf8.feed(&buffer[start..]).is_err()
            {
                return Err(self.fail(ProtocolError::InvalidUtf8));
            }
        }
        frame.remaining -= take as u64;
        frame.mask_offset = ((usize::from(frame.mask_offset) + take) % 4) as u8;
        self.payload = (frame.remaining > 0).then_some(frame);
        Ok(take)
    }

    /// Ends the message in assembly and returns it, borrowing the message buffer.
    fn finish_message(&mut self, consumed: usize) -> Result<Decoded<'_>, ProtocolError> {
        // Always `Some` here: a data frame's payload is only read inside a message.
        let kind = self.message.take().unwrap_or(MessageKind::Binary);
        if self.compressed {
            self.delivered = true;
            let data: &[u8] = self.buffer.as_deref().unwrap_or(&[]);
            let event = match kind {
                MessageKind::Binary => Event::CompressedBinary(data),
                MessageKind::Text => Event::CompressedText(data),
            };
            return Ok(Decoded::from_buffer(consumed, event));
        }
        if kind == MessageKind::Text && self.utf8.finish().is_err() {
            // The message ends in the middle of a code point.
            return Err(self.fail(ProtocolError::InvalidUtf8));
        }
        self.delivered = true;
        let data: &[u8] = self.buffer.as_deref().unwrap_or(&[]);
        let event = match kind {
            MessageKind::Binary => Event::Binary(data),
            MessageKind::Text => {
                debug_assert!(core::str::from_utf8(data).is_ok());
                // SAFETY: every byte of `data` went through `self.utf8.feed` in order since
                // `start_message` reset it, and `finish` confirmed it ends on a code point
                // boundary; `Utf8Validator` accepts exactly what `core::str::from_utf8` accepts.
                Event::Text(unsafe { core::str::from_utf8_unchecked(data) })
            }
        };
        Ok(Decoded::from_buffer(consumed, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_state_stays_small() {
        // Per-connection memory: a few dozen bytes plus the optional message buffer.
        let size = core::mem::size_of::<Decoder>();
        println!("size_of::<Decoder>() = {size}");
        assert!(size <= 96, "Decoder grew to {size} bytes");
    }
}
