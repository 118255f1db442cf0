//! One connection's state: a small struct in the core's slab, not a parked future.
//!
//! A connection owns whatever input it could not process yet, whatever output waits for its next
//! send, a few timestamps and flags, and its protocol phase (HTTP/1.1, WebSocket, draining before
//! close, or closed and waiting for its driver to let go). Both buffers are empty (no allocation)
//! while the connection is idle: bytes arrive in the driver's buffer and only a remainder is
//! copied here. The socket itself belongs to the driver, which knows the connection by its token.
//!
//! Architecture invariant: this module holds state and the rules that keep it consistent (the
//! queued-bytes count, `output.rs`); it calls no user code and no driver.

mod output;
mod slab;

use std::net::SocketAddr;
use std::rc::Rc;

use imphnen_protocol::http::BodyDecoder;
use imphnen_protocol::ws::Decoder;

pub(crate) use output::Output;
pub(crate) use slab::{RESERVED_SLOTS, Slab};

use crate::Request;
use crate::buf::HeldBytes;
use crate::service::WsSession;

/// Core time in milliseconds since the core started. 32 bits wrap after 49 days; every
/// comparison subtracts with wrap-around, which holds for intervals under 24 days (timeouts are
/// capped there, `config.rs`).
pub(crate) type Millis = u32;

/// Milliseconds from `earlier` to `now` on the wrapping core clock.
pub(crate) fn elapsed(now: Millis, earlier: Millis) -> u32 {
    now.wrapping_sub(earlier)
}

/// One connection.
pub(crate) struct Conn {
    /// Received bytes not processed yet (a partial head or frame, or input held back while a
    /// handler runs or while the peer does not read our output).
    pub(crate) input: HeldBytes,
    /// Bytes waiting for the next send.
    pub(crate) output: Output,
    /// Core clock of the last byte received.
    pub(crate) last_rx: Millis,
    pub(crate) flags: Flags,
    pub(crate) phase: Phase,
}

// An idle connection's slot is most of what it costs (benches/README.md, "Idle memory"): a
// field that grows it shows up here, not weeks later in a load test.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Conn>() <= 56);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Phase>() == std::mem::size_of::<WsConn>());
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Option<Conn>>() == std::mem::size_of::<Conn>());

/// Connection flags.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags(u16);

impl Flags {
    /// A handler future of this connection is running; its next events wait.
    pub(crate) const BUSY: Flags = Flags(1);
    /// The peer sent FIN: nothing more will be received.
    pub(crate) const PEER_FIN: Flags = Flags(1 << 1);
    /// Close once the output is flushed (after the response in flight, if any).
    pub(crate) const CLOSE_AFTER_FLUSH: Flags = Flags(1 << 2);
    /// Listed for the end-of-turn flush.
    pub(crate) const DIRTY: Flags = Flags(1 << 3);
    /// The driver is receiving for this connection (as last requested).
    pub(crate) const RECEIVING: Flags = Flags(1 << 4);
    /// A send is in flight in the driver.
    pub(crate) const SENDING: Flags = Flags(1 << 5);
    /// FIN was sent (`shutdown_write`).
    pub(crate) const FIN_SENT: Flags = Flags(1 << 6);
    /// The socket failed; nothing more is sent or received.
    pub(crate) const FAILED: Flags = Flags(1 << 7);
    /// WebSocket: a ping is out and no frame arrived since.
    pub(crate) const PING_OUT: Flags = Flags(1 << 8);
    /// WebSocket: `on_close` has run (or been started).
    pub(crate) const CLOSE_NOTIFIED: Flags = Flags(1 << 9);
    /// WebSocket: the connection may be in the core's delivery index.
    pub(crate) const SUBSCRIBED: Flags = Flags(1 << 10);
    /// The driver was asked to close the connection; its release is awaited.
    pub(crate) const RELEASING: Flags = Flags(1 << 11);
    /// WebSocket: permessage-deflate was negotiated; RSV1 marks compressed messages.
    pub(crate) const DEFLATE: Flags = Flags(1 << 12);
    /// WebSocket: messages sent to the peer may be compressed.
    pub(crate) const COMPRESS: Flags = Flags(1 << 13);
    /// WebSocket: the connection's permessage-deflate parameters (or streams) are its own, kept
    /// by the core's `Deflate` under its slot; without it they are the shared defaults.
    pub(crate) const DEFLATE_OWN: Flags = Flags(1 << 14);
    /// The connection speaks TLS: its bytes on the wire are records, its session is the core's
    /// (`tls/`) under its slot. Never set without the `tls` feature.
    pub(crate) const TLS: Flags = Flags(1 << 15);

    #[inline]
    pub(crate) fn has(self, f: Flags) -> bool {
        self.0 & f.0 != 0
    }

    #[inline]
    pub(crate) fn set(&mut self, f: Flags) {
        self.0 |= f.0;
    }

    #[inline]
    pub(crate) fn clear(&mut self, f: Flags) {
        self.0 &= !f.0;
    }

    pub(crate) fn put(&mut self, f: Flags, on: bool) {
        if on { self.set(f) } else { self.clear(f) }
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;

    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// The protocol the connection currently speaks.
pub(crate) enum Phase {
    /// HTTP/1.1 (boxed: the phase an idle connection stays in is WebSocket, and its slot should
    /// not carry HTTP's state).
    Http(Box<HttpConn>),
    /// Inline rather than boxed: upgraded connections are the ones that stay open idle, and a
    /// box would cost them an allocation and its header on top of the slot.
    Ws(WsConn),
    /// Our side is done: FIN sent; input is discarded until the peer's FIN or `until`.
    Draining { until: Millis },
    /// The connection is over; its driver has not released the token yet.
    Closed,
}

/// HTTP/1.1 state between and during requests.
pub(crate) struct HttpConn {
    /// The peer's address, for each request (after an upgrade the handle keeps it).
    pub(crate) peer: SocketAddr,
    /// Core clock when the kernel last took output bytes: an HTTP connection whose output
    /// makes no progress for `keep_alive_timeout` belongs to a peer that stopped reading.
    pub(crate) last_tx: Millis,
    /// Core clock when the first byte of the current, incomplete request arrived.
    pub(crate) request_started: Option<Millis>,
    /// A request whose head is parsed and whose body is still arriving.
    pub(crate) body: Option<Box<PendingBody>>,
    /// Framing of the response a running handler will produce.
    pub(crate) in_flight: Option<ResponseFraming>,
}

/// A request waiting for the rest of its body.
pub(crate) struct PendingBody {
    pub(crate) request: Request,
    pub(crate) decoder: BodyDecoder,
    pub(crate) body: Vec<u8>,
    pub(crate) framing: ResponseFraming,
}

/// How the response to a request is to be written.
#[derive(Clone, Copy)]
pub(crate) struct ResponseFraming {
    /// A HEAD request: headers only.
    pub(crate) head_only: bool,
    /// Keep the connection open after the response.
    pub(crate) keep_alive: bool,
}

/// WebSocket state.
pub(crate) struct WsConn {
    /// The frame decoder, taken from the core's spares when the first frame arrives and given
    /// back once the connection has been silent for a second between messages (at rest a
    /// decoder is the same as a new one): an idle connection pays 8 bytes for it, not 72.
    pub(crate) decoder: Option<Box<Decoder>>,
    pub(crate) session: Rc<dyn WsSession>,
    /// Whether our close frame went out (at `close_at`, with `close_code`). Three plain fields
    /// instead of an `Option`: the enum's spare values hold the phase's tag, so a WebSocket's
    /// state stays 32 bytes and the connection's slot 56.
    closing: Closing,
    close_code: u16,
    close_at: Millis,
}

/// The close handshake from our side.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Closing {
    NotSent,
    Sent,
}

impl WsConn {
    /// The state of a WebSocket that just opened, handled by `session`.
    pub(crate) fn new(session: Rc<dyn WsSession>) -> WsConn {
        WsConn {
            decoder: None,
            session,
            closing: Closing::NotSent,
            close_code: 0,
            close_at: 0,
        }
    }

    /// Our close frame, if it went out.
    pub(crate) fn close_sent(&self) -> Option<CloseSent> {
        (self.closing == Closing::Sent).then_some(CloseSent {
            at: self.close_at,
            code: self.close_code,
        })
    }

    /// Our close frame went out at `at` with `code`.
    pub(crate) fn set_close_sent(&mut self, at: Millis, code: u16) {
        self.closing = Closing::Sent;
        self.close_at = at;
        self.close_code = code;
    }
}

/// Our close frame, sent.
#[derive(Clone, Copy)]
pub(crate) struct CloseSent {
    pub(crate) at: Millis,
    pub(crate) code: u16,
}

impl Conn {
    /// A new HTTP connection from `peer`.
    pub(crate) fn new_http(peer: SocketAddr, now: Millis) -> Conn {
        Conn {
            input: HeldBytes::default(),
            output: Output::default(),
            last_rx: now,
            flags: Flags::RECEIVING,
            phase: Phase::Http(Box::new(HttpConn {
                peer,
                last_tx: now,
                request_started: None,
                body: None,
                in_flight: None,
            })),
        }
    }

    /// The WebSocket state, if the connection is upgraded.
    pub(crate) fn ws(&mut self) -> Option<&mut WsConn> {
        match &mut self.phase {
            Phase::Ws(ws) => Some(ws),
            _ => None,
        }
    }

    /// The kernel took output bytes at `now` (what an HTTP connection's keep-alive watches).
    #[inline]
    pub(crate) fn sent_at(&mut self, now: Millis) {
        if let Phase::Http(h) = &mut self.phase {
            h.last_tx = now;
        }
    }

    /// `true` in the WebSocket phase (its output counts in the handle's queued bytes).
    pub(crate) fn is_ws(&self) -> bool {
        matches!(self.phase, Phase::Ws(_))
    }
}
