//! One client WebSocket connection over a nonblocking socket (TLS for `wss://`): connect, opening handshake,
//! reading into the caller's (per-thread, large) buffer, and a write buffer flushed with
//! one `write` per turn however many frames were queued.
//!
//! Owns the socket life cycle and control frames (pongs to pings, the close reply). Does
//! not own what messages mean: each mode passes a callback for complete messages.

use std::io;
use std::net::IpAddr;

use mio::{Interest, Registry, Token};

use crate::args::Target;
use crate::frame::{OP_CLOSE, OP_PONG, encode_masked};
use crate::handshake::{self, Response};
use crate::net;
use crate::reader::{Event, WsReader};
use crate::tls;
use crate::transport::Transport;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// TCP connect in progress.
    Connecting,
    /// Upgrade request sent, waiting for the 101.
    Handshaking,
    /// WebSocket open.
    Open,
    /// Peer closed the TCP stream (or we gave up on it).
    Closed,
}

/// What one call of [`Conn::on_ready`] changed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ready {
    /// The handshake completed during this call.
    pub opened: bool,
    /// The server sent a close frame during this call.
    pub close_received: bool,
    /// The TCP stream ended (EOF) during this call.
    pub eof: bool,
}

/// A client connection and its buffers.
#[derive(Debug)]
pub struct Conn {
    io: Transport,
    state: State,
    accept: String,
    head: Vec<u8>,
    reader: WsReader,
    out: Vec<u8>,
    out_pos: usize,
    mask: [u8; 4],
    close_sent: bool,
    /// permessage-deflate was offered.
    deflate: bool,
}

impl Conn {
    /// Starts connecting to `target` (from `source` if given), registers the socket under
    /// `token` for edge-triggered read and write readiness, and queues the upgrade request
    /// (offering permessage-deflate if `deflate`).
    pub fn start(
        target: &Target,
        source: Option<IpAddr>,
        registry: &Registry,
        token: Token,
        deflate: bool,
    ) -> io::Result<Conn> {
        let mut stream = net::connect(target.addr, source)?;
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        let session = match target.tls {
            true => Some(tls::session(&target.name).map_err(io::Error::other)?),
            false => None,
        };
        let key = handshake::key_from_nonce(net::random_array());
        Ok(Conn {
            io: Transport::new(stream, session),
            state: State::Connecting,
            accept: handshake::accept_for(&key),
            head: Vec::new(),
            reader: WsReader::default(),
            out: handshake::request(&target.host, &target.path, &key, deflate),
            out_pos: 0,
            mask: net::random_array(),
            close_sent: false,
            deflate,
        })
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The write buffer, for appending pre-encoded frames (flushed by [`Conn::flush`]).
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Queues a close frame with `code` (once).
    pub fn queue_close(&mut self, code: u16) {
        if !self.close_sent {
            self.close_sent = true;
            encode_masked(&mut self.out, OP_CLOSE, &code.to_be_bytes(), self.mask);
        }
    }

    /// Deregisters the socket; the connection is dropped by the caller.
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(self.io.tcp());
    }

    /// Writes as much of the queued bytes as the socket takes now.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.state == State::Connecting {
            return Ok(());
        }
        while self.out_pos < self.out.len() {
            match self.io.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        self.io.flush_records()
    }

    /// Handles a readiness event: finishes the connect, reads everything available into
    /// `rbuf` and feeds it to the handshake check or the frame reader. `on_message` gets
    /// each complete data message with the write buffer, to queue replies. Queued bytes are
    /// flushed before returning. An `Err` means the connection failed.
    ///
    /// `peer_closed` is the event's read-closed flag: a short read normally proves the
    /// socket drained (edge-triggered epoll reports the next data), but a FIN that arrived
    /// with the data raises no further edge, so then reading continues to the EOF.
    pub fn on_ready<F>(
        &mut self,
        rbuf: &mut [u8],
        peer_closed: bool,
        on_message: &mut F,
    ) -> Result<Ready, String>
    where
        F: FnMut(u8, &[u8], &mut Vec<u8>) -> Result<(), String>,
    {
        let mut ready = Ready::default();
        if self.state == State::Connecting {
            if let Some(e) = self.io.tcp().take_error().map_err(|e| e.to_string())? {
                return Err(format!("connect: {e}"));
            }
            match self.io.tcp().peer_addr() {
                Ok(_) => self.state = State::Handshaking,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(ready),
                Err(e) => return Err(format!("connect: {e}")),
            }
        }
        loop {
            let n = match self.io.read(rbuf) {
                Ok(0) => {
                    self.state = State::Closed;
                    ready.eof = true;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            };
            let data = &rbuf[..n];
            match self.state {
                State::Handshaking => {
                    self.head.extend_from_slice(data);
                    if let Response::Upgraded(len, negotiated) =
                        handshake::check_response(&self.head, &self.accept, self.deflate)?
                    {
                        if let Some(d) = negotiated {
                            self.reader.enable_inflate(d.server_no_context_takeover);
                        }
                        self.state = State::Open;
                        ready.opened = true;
                        let rest = self.head.split_off(len);
                        self.head = Vec::new();
                        self.feed(&rest, &mut ready, on_message)?;
                    }
                }
                State::Open => self.feed(data, &mut ready, on_message)?,
                State::Connecting | State::Closed => {}
            }
            if n < rbuf.len() && !peer_closed && self.io.short_read_drains() {
                break;
            }
        }
        self.flush().map_err(|e| format!("write: {e}"))?;
        Ok(ready)
    }

    fn feed<F>(&mut self, data: &[u8], ready: &mut Ready, on_message: &mut F) -> Result<(), String>
    where
        F: FnMut(u8, &[u8], &mut Vec<u8>) -> Result<(), String>,
    {
        let (out, mask, close_sent) = (&mut self.out, self.mask, &mut self.close_sent);
        self.reader.feed(data, &mut |event| {
            match event {
                Event::Message { opcode, payload } => return on_message(opcode, payload, out),
                Event::Ping(body) => encode_masked(out, OP_PONG, body, mask),
                Event::Pong => {}
                Event::Close(code) => {
                    ready.close_received = true;
                    if !*close_sent {
                        *close_sent = true;
                        let body = code.map(u16::to_be_bytes);
                        encode_masked(
                            out,
                            OP_CLOSE,
                            body.as_ref().map_or(&[][..], |b| &b[..]),
                            mask,
                        );
                    }
                }
            }
            Ok(())
        })
    }
}
