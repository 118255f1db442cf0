//! One connection's state: a small struct in the core's slab, not a parked future.
//!
//! A connection owns its fd, whatever input it could not process yet, whatever output the kernel
//! did not take yet, and its protocol phase (HTTP/1.1, WebSocket, or draining before close).
//! Both buffers are empty `Vec`s (no allocation) while the connection is idle: bytes are read into
//! the core's shared buffer and only a remainder is copied here. Buffers that empty out go back to
//! the core's pool (`BufPool`).

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::Rc;

use imphnen_protocol::http::BodyDecoder;
use imphnen_protocol::ws::Decoder;

use crate::output::Output;
use crate::service::WsSession;
use crate::{Request, WebSocket};

/// A slab token: generation in the high half, slot index in the low half, so an event or a
/// handle that outlives its connection never reaches the slot's next occupant.
pub(crate) type Token = u64;

pub(crate) fn token(slot: u32, generation: u32) -> Token {
    (u64::from(generation) << 32) | u64::from(slot)
}

pub(crate) fn slot_of(token: Token) -> (u32, u32) {
    (token as u32, (token >> 32) as u32)
}

/// One connection.
pub(crate) struct Conn {
    pub(crate) fd: RawFd,
    /// The epoll interest currently registered.
    pub(crate) interest: u32,
    /// Core clock (ms) of the last byte received.
    pub(crate) last_rx_ms: u64,
    /// Core clock (ms) when the kernel last took output bytes: an HTTP connection whose output
    /// makes no progress for `keep_alive_timeout` belongs to a peer that stopped reading.
    pub(crate) last_tx_ms: u64,
    /// Received bytes not processed yet (a partial head or frame, or input held back while a
    /// handler runs).
    pub(crate) inbuf: HeldBytes,
    /// Bytes the kernel has not accepted yet.
    pub(crate) out: Output,
    /// A handler future of this connection is running; its next events wait.
    pub(crate) busy: bool,
    /// The peer sent FIN: nothing more will be read.
    pub(crate) peer_eof: bool,
    /// Close the connection once `out` is flushed.
    pub(crate) close_after_flush: bool,
    /// Queued in the core's list of connections to flush at the end of the turn.
    pub(crate) dirty: bool,
    pub(crate) phase: Phase,
}

// An idle connection's slot is most of what it costs (benches/README.md, "Idle memory"): a
// field that grows it shows up here, not weeks later in a load test.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Conn>() <= 128);

/// The protocol the connection currently speaks.
pub(crate) enum Phase {
    Http(HttpConn),
    /// Inline rather than boxed: upgraded connections are the ones that stay open idle, and a
    /// box would cost them an allocation and its header on top of the slot.
    Ws(WsConn),
    /// Our side is done: FIN sent; discard input until the peer's FIN or `until_ms`.
    Draining {
        until_ms: u64,
    },
}

/// HTTP/1.1 state between and during requests.
pub(crate) struct HttpConn {
    /// The peer's address, for each request (after an upgrade the handle keeps it).
    pub(crate) remote: SocketAddr,
    /// Core clock when the first byte of the current, incomplete request arrived.
    pub(crate) request_started_ms: Option<u64>,
    /// A request whose head is parsed and whose body is still arriving (boxed: most
    /// connections never have one, and the phase enum stays small).
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
    pub(crate) handle: WebSocket,
    /// Our close frame went out at this core time (ms), with this code.
    pub(crate) close_sent: Option<(u64, u16)>,
    /// `on_close` has run (or been started).
    pub(crate) close_notified: bool,
    /// A ping is out and no frame arrived since.
    pub(crate) ping_outstanding: bool,
}

impl Conn {
    pub(crate) fn new_http(fd: RawFd, remote: SocketAddr, now_ms: u64, interest: u32) -> Conn {
        Conn {
            fd,
            interest,
            last_rx_ms: now_ms,
            last_tx_ms: now_ms,
            inbuf: HeldBytes::default(),
            out: Output::default(),
            busy: false,
            peer_eof: false,
            close_after_flush: false,
            dirty: false,
            phase: Phase::Http(HttpConn {
                remote,
                request_started_ms: None,
                body: None,
                in_flight: None,
            }),
        }
    }

    /// The WebSocket state, if the connection is upgraded.
    pub(crate) fn ws(&mut self) -> Option<&mut WsConn> {
        match &mut self.phase {
            Phase::Ws(ws) => Some(ws),
            _ => None,
        }
    }

    /// Appends to the output with a writer (the protocol crate's encoders), keeping the
    /// handle's count of queued bytes in step.
    pub(crate) fn write_out(&mut self, pool: &mut BufPool, write: impl FnOnce(&mut Vec<u8>)) {
        let own = self.out.own_mut(pool);
        let before = own.len();
        write(own);
        let added = own.len() - before;
        self.count_out(added, true);
    }

    /// Queues a frame shared with other subscribers of a topic, without copying it.
    pub(crate) fn share_out(&mut self, frame: bytes::Bytes) {
        self.count_out(frame.len(), true);
        self.out.push_shared(frame);
    }

    /// Hands the kernel as much output as it takes now and forgets it; returns the count.
    pub(crate) fn flush_out(&mut self, pool: &mut BufPool) -> std::io::Result<usize> {
        let n = self.out.write_to(self.fd, pool)?;
        self.count_out(n, false);
        Ok(n)
    }

    /// Writes as much output as the kernel takes now, without waiting for the end of the turn;
    /// an error is left for the turn's flush to find.
    pub(crate) fn send_now(&mut self, pool: &mut BufPool) {
        let _ = self.flush_out(pool);
    }

    /// Adds (or subtracts) `n` output bytes to the handle's queued count. Only WebSocket output
    /// is counted; at the upgrade the count starts from the output then pending (the 101).
    pub(crate) fn count_out(&self, n: usize, added: bool) {
        if let Phase::Ws(ws) = &self.phase {
            let b = &ws.handle.0.buffered;
            if added {
                b.fetch_add(n, std::sync::atomic::Ordering::AcqRel);
            } else {
                b.fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
            }
        }
    }
}

/// Bytes a connection holds for later (input it could not process yet, output the kernel did
/// not take yet). Empty, it is nothing: 8 bytes in the slot and no allocation. With bytes in it,
/// it is a `Vec` behind a box, so the allocation and its capacity travel between connections and
/// the core's pool as one piece.
#[derive(Default)]
#[allow(clippy::box_collection)] // the box is the point: 8 bytes empty, one piece to pool
pub(crate) struct HeldBytes(Option<Box<Vec<u8>>>);

impl HeldBytes {
    /// The bytes, for appending; takes a recycled allocation from `pool` if there is none.
    pub(crate) fn vec_mut(&mut self, pool: &mut BufPool) -> &mut Vec<u8> {
        self.0.get_or_insert_with(|| pool.take())
    }

    /// Forgets the first `n` bytes; an emptied buffer goes back to `pool`.
    pub(crate) fn consume(&mut self, n: usize, pool: &mut BufPool) {
        let Some(v) = self.0.as_mut() else { return };
        if n >= v.len() {
            self.release(pool);
        } else {
            v.drain(..n);
        }
    }

    /// Drops the bytes and gives the allocation back to `pool`.
    pub(crate) fn release(&mut self, pool: &mut BufPool) {
        if let Some(v) = self.0.take() {
            pool.give(v);
        }
    }
}

impl std::ops::Deref for HeldBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl std::ops::DerefMut for HeldBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().map_or(&mut [], Vec::as_mut_slice)
    }
}

/// A small per-core stack of emptied buffers, so a connection that sends a reply every turn
/// does not allocate a fresh `Vec` every turn, while an idle connection holds none.
pub(crate) struct BufPool {
    #[allow(clippy::vec_box)]
    // the boxes are what connections hold (`HeldBytes`): moved, not copied
    free: Vec<Box<Vec<u8>>>,
    keep: usize,
    max_capacity: usize,
}

impl BufPool {
    pub(crate) fn new(keep: usize, max_capacity: usize) -> BufPool {
        BufPool {
            free: Vec::with_capacity(keep),
            keep,
            max_capacity,
        }
    }

    /// An empty buffer, recycled when one is available.
    #[allow(clippy::box_collection)] // see `HeldBytes`
    fn take(&mut self) -> Box<Vec<u8>> {
        self.free
            .pop()
            .unwrap_or_else(|| Box::new(Vec::with_capacity(4096)))
    }

    /// Returns a buffer; oversized ones and those beyond `keep` are freed.
    #[allow(clippy::box_collection)] // see `HeldBytes`
    fn give(&mut self, mut buf: Box<Vec<u8>>) {
        if buf.capacity() == 0 || buf.capacity() > self.max_capacity || self.free.len() >= self.keep
        {
            return;
        }
        buf.clear();
        self.free.push(buf);
    }
}
