//! Turns the byte stream a server sends into WebSocket events: complete messages (with
//! fragments reassembled), pings, pongs and close frames.
//!
//! Owns the per-connection carry-over of partial frames. Frames are parsed straight from
//! the caller's read buffer when nothing is carried over, so the common case copies
//! nothing. Does not own sockets or verification: events go to a callback.

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
}

impl WsReader {
    /// Feeds bytes read from the socket; calls `on_event` for each event, in order. An
    /// `Err` from the callback or a protocol violation stops parsing and is returned.
    pub fn feed<F>(&mut self, data: &[u8], on_event: &mut F) -> Result<(), String>
    where
        F: FnMut(Event<'_>) -> Result<(), String>,
    {
        if self.pending.is_empty() {
            let used = parse_frames(
                data,
                &mut self.fragments,
                &mut self.fragment_opcode,
                on_event,
            )?;
            self.pending.extend_from_slice(&data[used..]);
        } else {
            self.pending.extend_from_slice(data);
            let used = parse_frames(
                &self.pending,
                &mut self.fragments,
                &mut self.fragment_opcode,
                on_event,
            )?;
            self.pending.drain(..used);
        }
        Ok(())
    }
}

/// Parses every complete frame at the start of `buf` and returns how many bytes they took.
fn parse_frames<F>(
    buf: &[u8],
    fragments: &mut Vec<u8>,
    fragment_opcode: &mut Option<u8>,
    on_event: &mut F,
) -> Result<usize, String>
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
                if fragment_opcode.is_some() {
                    return Err("new message started inside a fragmented one".into());
                }
                if head.fin {
                    on_event(Event::Message {
                        opcode: head.opcode,
                        payload,
                    })?;
                } else {
                    *fragment_opcode = Some(head.opcode);
                    fragments.clear();
                    fragments.extend_from_slice(payload);
                }
            }
            OP_CONT => {
                let Some(opcode) = *fragment_opcode else {
                    return Err("continuation frame without a message to continue".into());
                };
                fragments.extend_from_slice(payload);
                if head.fin {
                    *fragment_opcode = None;
                    on_event(Event::Message {
                        opcode,
                        payload: fragments,
                    })?;
                    fragments.clear();
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
