//! The WebSocket phase (RFC 6455 §5–§7): frames in, at most one event out per call.
//!
//! Decoding is the protocol crate's; this function decides what each frame means for the
//! connection. A ping is answered with a pong in the output (§5.5.2), a pong is noted, data that
//! arrives after our Close is not acted on (§5.5.1). A complete message, the peer's Close, or a
//! protocol error (with the decoder's close code: 1002, 1007, 1009) is handed to the core.

use imphnen_protocol::ws::{CloseCode, CloseFrame, Decoder, DecoderConfig, Event, encode_pong};

use imphnen_protocol::ws::deflate::InflateError;

use crate::Message;
use crate::buf::QueuePool;
use crate::conn::{Flags, Output, WsConn};
use crate::proto::deflate::Deflate;
use crate::shared::slots::SlotCell;

/// What the core must do after [`read`].
pub(crate) enum WsEvent {
    /// A complete data message for the handler.
    Message(Incoming),
    /// The peer's Close, with its code (1005 when it had none) and reason.
    PeerClose { code: u16, reason: String },
    /// The peer broke the protocol: fail the connection with this code.
    Fail(CloseCode),
}

/// A complete data message, as [`read`] hands it over.
pub(crate) enum Incoming {
    /// Its payload is the last `len` bytes [`read`] consumed, unmasked there (and validated,
    /// for text): the core copies them into the [`Message`] it hands to the handler, at the
    /// call, so the message is built where the handler takes it rather than moved there.
    Received { text: bool, len: usize },
    /// Assembled (from fragments, or a payload kept whole) or inflated: a message already.
    Message(Message),
}

/// What [`read`] needs besides the connection's state.
pub(crate) struct WsIo<'a> {
    pub(crate) queues: &'a mut QueuePool,
    /// The connection's cell: pongs count in its queued bytes.
    pub(crate) cell: &'a SlotCell,
    /// Decoders not held by any connection.
    #[allow(clippy::vec_box)] // see `State::decoders`
    pub(crate) spares: &'a mut Vec<Box<Decoder>>,
    pub(crate) limits: DecoderConfig,
    /// The core's permessage-deflate streams, for compressed messages.
    pub(crate) deflate: &'a mut Deflate,
    /// The connection's slot and flags (which streams inflate its messages).
    pub(crate) slot: u32,
    pub(crate) flags: Flags,
}

/// Decodes frames out of `input` until an event for the core or the end of the input; returns
/// the bytes consumed and the event.
#[inline]
pub(crate) fn read(
    ws: &mut WsConn,
    output: &mut Output,
    io: &mut WsIo<'_>,
    input: &mut [u8],
) -> (usize, Option<WsEvent>) {
    let close_sent = ws.close_sent();
    let WsConn { decoder, .. } = ws;
    let decoder = decoder.get_or_insert_with(|| match io.spares.pop() {
        Some(mut spare) => {
            // A spare is at rest; its settings may be another connection's.
            *spare = Decoder::new(io.limits);
            spare
        }
        None => Box::new(Decoder::new(io.limits)),
    });
    let mut pos = 0;
    loop {
        let decoded = match decoder.decode(&mut input[pos..]) {
            Ok(d) => d,
            Err(e) => return (input.len(), Some(WsEvent::Fail(e.close_code()))),
        };
        pos += decoded.consumed;
        let buffered = decoded.buffered;
        let event = match decoded.event {
            None => return (pos, None),
            // §5.5.1: after sending a Close frame, data is not acted on.
            Some(Event::Text(_) | Event::Binary(_)) if close_sent.is_some() => continue,
            // In place: the payload ends where the frame does, at `pos`.
            Some(Event::Text(s)) if !buffered => WsEvent::Message(Incoming::Received {
                text: true,
                len: s.len(),
            }),
            Some(Event::Binary(b)) if !buffered => WsEvent::Message(Incoming::Received {
                text: false,
                len: b.len(),
            }),
            // Unmasked (and validated, for text) into the decoder's buffer: the message keeps it.
            Some(Event::Text(_) | Event::Binary(_)) => {
                let text = matches!(decoded.event, Some(Event::Text(_)));
                let payload = decoder.take_message();
                debug_assert!(
                    payload.is_some(),
                    "a buffered event's buffer is there to take"
                );
                let payload = payload.unwrap_or_default();
                WsEvent::Message(Incoming::Message(Message::from_decoder_buffer(
                    text, payload,
                )))
            }
            Some(Event::CompressedText(_) | Event::CompressedBinary(_)) if close_sent.is_some() => {
                continue;
            }
            Some(Event::CompressedText(data)) => inflated(io, true, data),
            Some(Event::CompressedBinary(data)) => inflated(io, false, data),
            Some(Event::Ping(payload)) => {
                // §5.5.2: a Pong with the same payload, unless our Close is already out.
                if close_sent.is_none() {
                    output.write(io.queues, Some(io.cell), |out| {
                        let _ = encode_pong(out, None, payload);
                    });
                }
                continue;
            }
            Some(Event::Pong(_)) => continue,
            Some(Event::Close(frame)) => match frame {
                Some(CloseFrame { code, reason }) => WsEvent::PeerClose {
                    code: code.0,
                    reason: reason.to_owned(),
                },
                None => WsEvent::PeerClose {
                    code: CloseCode::NO_STATUS.0,
                    reason: String::new(),
                },
            },
        };
        return (pos, Some(event));
    }
}

/// A compressed message, inflated (RFC 7692 §6.2); failing with 1009 past the size limit, and
/// with 1007 for data that does not inflate or text that is not UTF-8 once inflated.
fn inflated(io: &mut WsIo<'_>, text: bool, data: &[u8]) -> WsEvent {
    let max = io.limits.max_payload_length;
    match io.deflate.inflate(io.slot, io.flags, text, data, max) {
        Ok(msg) => WsEvent::Message(Incoming::Message(msg)),
        Err(InflateError::TooBig) => WsEvent::Fail(CloseCode::MESSAGE_TOO_BIG),
        Err(InflateError::Corrupt) => WsEvent::Fail(CloseCode::INVALID_PAYLOAD),
    }
}
