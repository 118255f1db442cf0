//! Turns the byte stream a server sends into WebSocket events: complete messages (with
//! fragments reassembled), pings, pongs and close frames.
//!
//! Owns the per-connection carry-over of partial frames, and, once permessage-deflate is on,
//! the connection's decompressor (zlib): a message whose first frame has RSV1 is inflated
//! before it is handed out. Frames are parsed straight from the caller's read buffer when
//! nothing is carried over, so the common case copies nothing. Does not own sockets or
//! verification: events go to a callback.

use crate::frame::{OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, parse_server_head};

/// One thing a server said.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete text or binary message (fragments joined).
    Message {
        /// `OP_TEXT` or `OP_BINARY`.
        opcode: u8,
        /// The unmasked payload.
        payload: &'a [u8],
    },
    /// A ping; the caller owes a pong with the same payload.
    Ping(&'a [u8]),
    /// A pong (ignored by the modes, counted by nobody).
    Pong,
    /// A close frame with its status code, if it carried one.
    Close(Option<u16>),
}

/// Incremental reader state of one connection.
#[derive(Debug, Default)]
pub struct WsReader {
    pending: Vec<u8>,
    fragments: Vec<u8>,
    fragment_opcode: Option<u8>,
    /// The fragmented message in assembly is compressed.
    fragment_compressed: bool,
    inflate: Option<Inflate>,
}

/// The decompressor of a connection that negotiated permessage-deflate.
struct Inflate {
    z: flate2::Decompress,
    /// The server resets its context per message, so may we.
    reset_each: bool,
    out: Vec<u8>,
}

impl std::fmt::Debug for Inflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflate")
            .field("reset_each", &self.reset_each)
            .finish()
    }
}

impl Inflate {
    /// Inflates one message (RFC 7692 §7.2.2: the tail `00 00 ff ff` appended).
    fn message(&mut self, payload: &[u8]) -> Result<&[u8], String> {
        self.out.clear();
        for input in [payload, &[0x00, 0x00, 0xff, 0xff][..]] {
            let mut used = 0;
            loop {
                if self.out.len() == self.out.capacity() {
                    self.out.reserve(self.out.capacity().max(4096));
                }
                let (before_in, before_out) = (self.z.total_in(), self.z.total_out());
                let status = self
                    .z
                    .decompress_vec(&input[used..], &mut self.out, flate2::FlushDecompress::Sync)
                    .map_err(|e| format!("bad compressed message: {e}"))?;
                used += (self.z.total_in() - before_in) as usize;
                let produced = self.z.total_out() - before_out;
                if status == flate2::Status::StreamEnd {
                    // A final block: whatever follows starts a new stream.
                    self.z.reset(false);
                }
                if used == input.len() && self.out.len() < self.out.capacity() {
                    break;
                }
                if produced == 0
                    && self.z.total_in() == before_in
                    && status != flate2::Status::StreamEnd
                    && self.out.len() < self.out.capacity()
                {
                    return Err("compressed message stalled the decompressor".into());
                }
            }
        }
        if self.reset_each {
            self.z.reset(false);
        }
        Ok(&self.out)
    }
}

impl WsReader {
    /// permessage-deflate is negotiated: inflate compressed messages, keeping the context
    /// between them unless the server resets its own (`server_no_context_takeover`).
    pub fn enable_inflate(&mut self, server_no_context_takeover: bool) {
        self.inflate = Some(Inflate {
            z: flate2::Decompress::new(false),
            reset_each: server_no_context_takeover,
            out: Vec::new(),
        });
    }

    /// Feeds bytes read from the socket; calls `on_event` for each event, in order. An
    /// `Err` from the callback or a protocol violation stops parsing and is returned.
    pub fn feed<F>(&mut self, data: &[u8], on_event: &mut F) -> Result<(), String>
    where
        F: FnMut(Event<'_>) -> Result<(), String>,
    {
        if self.pending.is_empty() {
            let used = parse_frames(data, &mut self.assembly(), on_event)?;
            self.pending.extend_from_slice(&data[used..]);
        } else {
            self.pending.extend_from_slice(data);
            let mut pending = std::mem::take(&mut self.pending);
            let used = parse_frames(&pending, &mut self.assembly(), on_event);
            pending.drain(..used.as_ref().map_or(0, |u| *u));
            self.pending = pending;
            used?;
        }
        Ok(())
    }

    fn assembly(&mut self) -> Assembly<'_> {
        Assembly {
            fragments: &mut self.fragments,
            opcode: &mut self.fragment_opcode,
            compressed: &mut self.fragment_compressed,
            inflate: self.inflate.as_mut(),
        }
    }
}

/// The parts of the reader a frame changes.
struct Assembly<'a> {
    fragments: &'a mut Vec<u8>,
    opcode: &'a mut Option<u8>,
    compressed: &'a mut bool,
    inflate: Option<&'a mut Inflate>,
}

impl Assembly<'_> {
    /// Hands out a complete message, inflated first if it came compressed.
    fn deliver<F>(
        &mut self,
        opcode: u8,
        compressed: bool,
        payload: &[u8],
        on_event: &mut F,
    ) -> Result<(), String>
    where
        F: FnMut(Event<'_>) -> Result<(), String>,
    {
        if !compressed {
            return on_event(Event::Message { opcode, payload });
        }
        let inflate = self
            .inflate
            .as_deref_mut()
            .ok_or("RSV1 set but permessage-deflate was not negotiated")?;
        let payload = inflate.message(payload)?;
        on_event(Event::Message { opcode, payload })
    }
}

/// Parses every complete frame at the start of `buf` and returns how many bytes they took.
fn parse_frames<F>(buf: &[u8], asm: &mut Assembly<'_>, on_event: &mut F) -> Result<usize, String>
where
    F: FnMut(Event<'_>) -> Result<(), String>,
{
    let mut pos = 0;
    while let Some(head) =
        parse_server_head(&buf[pos..]).map_err(|e| format!("bad server frame: {e:?}"))?
    {
        let end = pos + head.header_len + head.payload_len;
        if end > buf.len() {
            break;
        }
        let payload = &buf[pos + head.header_len..end];
        match head.opcode {
            OP_TEXT | OP_BINARY => {
                if asm.opcode.is_some() {
                    return Err("new message started inside a fragmented one".into());
                }
                if head.fin {
                    asm.deliver(head.opcode, head.rsv1, payload, on_event)?;
                } else {
                    *asm.opcode = Some(head.opcode);
                    *asm.compressed = head.rsv1;
                    asm.fragments.clear();
                    asm.fragments.extend_from_slice(payload);
                }
            }
            OP_CONT => {
                let Some(opcode) = *asm.opcode else {
                    return Err("continuation frame without a message to continue".into());
                };
                if head.rsv1 {
                    return Err("RSV1 on a continuation frame (RFC 7692 §6)".into());
                }
                asm.fragments.extend_from_slice(payload);
                if head.fin {
                    *asm.opcode = None;
                    let fragments = std::mem::take(asm.fragments);
                    let compressed = *asm.compressed;
                    let delivered = asm.deliver(opcode, compressed, &fragments, on_event);
                    *asm.fragments = fragments;
                    asm.fragments.clear();
                    delivered?;
                }
            }
            OP_PING => on_event(Event::Ping(payload))?,
            OP_PONG => on_event(Event::Pong)?,
            OP_CLOSE => {
                let code =
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                on_event(Event::Close(code))?;
            }
            _ => unreachable!("parse_server_head rejects other opcodes"),
        }
        pos = end;
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(reader: &mut WsReader, chunks: &[&[u8]]) -> Vec<String> {
        let mut seen = Vec::new();
        for chunk in chunks {
            reader
                .feed(chunk, &mut |e| {
                    seen.push(format!("{e:?}"));
                    Ok(())
                })
                .unwrap();
        }
        seen
    }

    #[test]
    fn hello_split_across_reads_arrives_once() {
        let mut r = WsReader::default();
        let seen = collect(&mut r, &[&[0x81], &[0x05, 0x48, 0x65], &[0x6c, 0x6c, 0x6f]]);
        assert_eq!(
            seen,
            [format!(
                "{:?}",
                Event::Message {
                    opcode: OP_TEXT,
                    payload: b"Hello"
                }
            )]
        );
    }

    #[test]
    fn fragmented_hello_is_reassembled_around_a_ping() {
        let mut r = WsReader::default();
        let bytes = [
            0x01, 0x03, 0x48, 0x65, 0x6c, 0x89, 0x00, 0x80, 0x02, 0x6c, 0x6f,
        ];
        let seen = collect(&mut r, &[&bytes]);
        assert_eq!(
            seen,
            [
                format!("{:?}", Event::Ping(b"")),
                format!(
                    "{:?}",
                    Event::Message {
                        opcode: OP_TEXT,
                        payload: b"Hello"
                    }
                ),
            ]
        );
    }

    #[test]
    fn close_frame_reports_its_code() {
        let mut r = WsReader::default();
        let seen = collect(&mut r, &[&[0x88, 0x02, 0x03, 0xE8]]);
        assert_eq!(seen, [format!("{:?}", Event::Close(Some(1000)))]);
    }

    #[test]
    fn continuation_without_start_is_an_error() {
        let mut r = WsReader::default();
        assert!(r.feed(&[0x80, 0x00], &mut |_| Ok(())).is_err());
    }
}
