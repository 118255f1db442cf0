//! [`Sessions`]: a core's TLS connections, each one's rustls state under its slot, and the two
//! directions of the record layer — records in, plaintext out into a per-core scratch buffer;
//! plaintext in, records out into the buffer of the send that carries them.
//!
//! rustls' buffered `ServerConnection` is used rather than its unbuffered API: received bytes
//! live in the driver's buffer for one completion only, so a record split across receives
//! must be copied somewhere anyway, and the buffered connection does that copy; its
//! plaintext buffers stay empty between turns because every call here drains them.

use std::io::{BufRead, Write};
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};

use crate::buf::SendQueue;
use crate::conn::{Millis, elapsed};

/// The first byte of every record a TLS client starts with: a handshake record (RFC 8446
/// §5.1, `ContentType.handshake`). An ASCII capital instead is the first letter of an HTTP
/// method: a plain HTTP client reached the TLS port.
const HANDSHAKE_RECORD: u8 = 22;

/// What a connection's received records came to.
pub(crate) enum Received {
    /// Decrypted: the plaintext (possibly none) is in the scratch buffer
    /// ([`Sessions::take_plain`]). `peer_closed`: the peer sent `close_notify`.
    Plain { peer_closed: bool },
    /// The connection's first bytes are an HTTP request, not a TLS handshake.
    PlainHttp,
    /// The peer broke the protocol; rustls queued the alert that says how (sent with the
    /// connection's next records, after which it closes).
    Fatal(rustls::Error),
}

/// One TLS connection.
struct Session {
    conn: ServerConnection,
    /// Core clock when the connection was accepted (the handshake deadline runs from it).
    opened: Millis,
    /// A record arrived already (the plain-HTTP check looks at the first byte only).
    started: bool,
    /// Our last record is queued: `close_notify`, or a fatal alert.
    closing: bool,
}

/// A core's TLS connections by slot, and the scratch buffer their plaintext is decrypted into.
#[derive(Default)]
pub(crate) struct Sessions {
    #[allow(clippy::vec_box)] // a session is a kilobyte: the table holds pointers to them
    by_slot: Vec<Option<Box<Session>>>,
    plain: Vec<u8>,
}

impl Sessions {
    /// Starts the server side of a TLS connection in `slot` with `config`.
    pub(crate) fn open(
        &mut self,
        slot: u32,
        config: Arc<ServerConfig>,
        now: Millis,
    ) -> Result<(), rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        // Unlimited: the connection's queued-byte count is the limit (the backpressure limit
        // on the plaintext), and every flush drains the records rustls made.
        conn.set_buffer_limit(None);
        let slot = slot as usize;
        if self.by_slot.len() <= slot {
            self.by_slot.resize_with(slot + 1, || None);
        }
        self.by_slot[slot] = Some(Box::new(Session {
            conn,
            opened: now,
            started: false,
            closing: false,
        }));
        Ok(())
    }

    fn get(&mut self, slot: u32) -> Option<&mut Session> {
        self.by_slot.get_mut(slot as usize)?.as_deref_mut()
    }

    /// Forgets the connection in `slot` (it ended).
    pub(crate) fn remove(&mut self, slot: u32) {
        if let Some(s) = self.by_slot.get_mut(slot as usize) {
            *s = None;
        }
    }

    /// Runs `records` received for `slot` through its session; the plaintext they carried is
    /// appended to the scratch buffer. `None` if `slot` has no session.
    pub(crate) fn receive(&mut self, slot: u32, mut records: &[u8]) -> Option<Received> {
        let Some(Some(session)) = self.by_slot.get_mut(slot as usize) else {
            return None;
        };
        let conn = &mut session.conn;
        if !session.started && !records.is_empty() {
            session.started = true;
            if records[0] != HANDSHAKE_RECORD && records[0].is_ascii_uppercase() {
                return Some(Received::PlainHttp);
            }
        }
        let mut peer_closed = false;
        // Never with an empty reader: rustls takes a read of 0 bytes for the end of the stream.
        while !records.is_empty() && !peer_closed {
            match conn.read_tls(&mut records) {
                Ok(0) => break, // after close_notify: the rest is ignored
                Ok(_) => {}
                Err(error) => {
                    // Only a full plaintext buffer, which the drain below prevents.
                    session.closing = true;
                    return Some(Received::Fatal(rustls::Error::General(error.to_string())));
                }
            }
            let state = match conn.process_new_packets() {
                Ok(state) => state,
                Err(error) => {
                    session.closing = true;
                    return Some(Received::Fatal(error));
                }
            };
            peer_closed = state.peer_has_closed();
            drain_plaintext(conn, &mut self.plain);
        }
        Some(Received::Plain { peer_closed })
    }

    /// The plaintext decrypted so far, for the protocol phases; give it back with
    /// [`give_plain`](Self::give_plain).
    pub(crate) fn take_plain(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.plain)
    }

    /// The scratch buffer, done with.
    pub(crate) fn give_plain(&mut self, mut plain: Vec<u8>) {
        plain.clear();
        self.plain = plain;
    }

    /// Encrypts `plaintext` (if any) for `slot` and appends every record the session has to
    /// send (handshake, tickets, alerts, data) to `records`.
    pub(crate) fn encrypt(
        &mut self,
        slot: u32,
        plaintext: Option<&SendQueue>,
        records: &mut Vec<u8>,
    ) {
        let Some(session) = self.get(slot) else {
            return;
        };
        let conn = &mut session.conn;
        if let Some(q) = plaintext {
            q.for_each_piece(|piece| {
                // Before the handshake ends rustls keeps the plaintext; after it, it encrypts
                // at once. Without a buffer limit it takes every byte.
                let taken = conn.writer().write(piece).unwrap_or(0);
                debug_assert_eq!(taken, piece.len(), "rustls took part of the plaintext");
            });
        }
        while conn.wants_write() {
            match conn.write_tls(records) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// `true` while `slot`'s session has records to send.
    pub(crate) fn wants_write(&mut self, slot: u32) -> bool {
        self.get(slot).is_some_and(|s| s.conn.wants_write())
    }

    /// Queues `close_notify` for `slot` unless its last record is queued already; `true` if it
    /// was queued now.
    pub(crate) fn close_notify(&mut self, slot: u32) -> bool {
        match self.get(slot) {
            Some(s) if !s.closing => {
                s.closing = true;
                s.conn.send_close_notify();
                true
            }
            _ => false,
        }
    }

    /// `true` if `slot` is still in its handshake `timeout` ms after it was accepted.
    pub(crate) fn handshake_overdue(&mut self, slot: u32, now: Millis, timeout: u32) -> bool {
        self.get(slot)
            .is_some_and(|s| s.conn.is_handshaking() && elapsed(now, s.opened) >= timeout)
    }
}

/// Moves every decrypted byte of `conn` into `plain`, chunk by chunk from rustls' own buffer
/// (one copy, nothing zeroed first).
fn drain_plaintext(conn: &mut ServerConnection, plain: &mut Vec<u8>) {
    let mut reader = conn.reader();
    loop {
        // `WouldBlock` when nothing more is decrypted now; empty after `close_notify`.
        let n = match reader.fill_buf() {
            Ok(chunk) if !chunk.is_empty() => {
                plain.extend_from_slice(chunk);
                chunk.len()
            }
            _ => return,
        };
        reader.consume(n);
    }
}
