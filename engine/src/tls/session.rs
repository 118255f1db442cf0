//! [`Sessions`]: a core's TLS connections, each one's rustls state under its slot, and the two
//! directions of the record layer — records in, plaintext out into a per-core scratch buffer;
//! plaintext in, records out into the buffer of the send that carries them.
//!
//! rustls' unbuffered `UnbufferedServerConnection` is used, so that the buffers are ours: an
//! idle connection holds none. Received records are decrypted where they are — in the driver's
//! buffer, or (when a record was split across receives) in the connection's held bytes with
//! the new ones appended — and only the bytes rustls is not done with (an
//! incomplete record, or the records of an incomplete handshake message) stay with the
//! connection, in a buffer freed once it is empty. Records we send are written into the
//! buffer of the send that carries them; the handshake records a receive produced wait in the
//! session until the flush.

use std::sync::Arc;

use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, UnbufferedStatus, WriteTraffic,
};
use rustls::{Error, ServerConfig};

use crate::buf::SendQueue;
use crate::conn::{Millis, elapsed};

/// The first byte of every record a TLS client starts with: a handshake record (RFC 8446
/// §5.1, `ContentType.handshake`). An ASCII capital instead is the first letter of an HTTP
/// method: a plain HTTP client reached the TLS port.
const HANDSHAKE_RECORD: u8 = 22;

/// The most received bytes a session holds while rustls waits for the rest: a handshake
/// message of rustls' largest (64 KiB) and one record of the largest size (RFC 8446 §5.2:
/// 2^14 + 256 bytes of ciphertext, and TLS 1.2's 2^14 + 2048, behind a 5-byte header).
const MAX_HELD: usize = 0xffff + 5 + (1 << 14) + 2048;

/// Room for the records around each 2^14-byte fragment of plaintext, before rustls is asked
/// (header, content type, nonce, tag: 29 bytes at most with the suites `ring` offers).
const RECORD_OVERHEAD: usize = 64;

/// The largest plaintext fragment rustls puts in one record (RFC 8446 §5.1).
const MAX_FRAGMENT: usize = 1 << 14;

/// What a connection's received records came to.
pub(crate) enum Received {
    /// Decrypted: the plaintext (possibly none) is in the scratch buffer
    /// ([`Sessions::take_plain`]). `peer_closed`: the peer sent `close_notify`.
    Plain { peer_closed: bool },
    /// The connection's first bytes are an HTTP request, not a TLS handshake.
    PlainHttp,
    /// The peer broke the protocol; rustls queued the alert that says how, when there is one
    /// (a handshake message larger than a session holds closes without), sent with the
    /// connection's next records, after which it closes.
    Fatal(Error),
}

/// One TLS connection.
struct Session {
    conn: UnbufferedServerConnection,
    /// Received bytes rustls is not done with: an incomplete record, or the records of a
    /// handshake message still incomplete. No allocation while empty.
    held: Vec<u8>,
    /// Records a receive produced (a handshake flight, session tickets, an alert): sent at the
    /// flush, before any record encrypted then.
    records: Vec<u8>,
    /// Plaintext written before the handshake lets application data go: encrypted once it does.
    early: Vec<u8>,
    /// Core clock when the connection was accepted (the handshake deadline runs from it).
    opened: Millis,
    /// A record arrived already (the plain-HTTP check looks at the first byte only).
    started: bool,
    /// Our last record is queued: `close_notify`, or a fatal alert.
    closing: bool,
    /// `close_notify` is due with the next records.
    close_due: bool,
    /// rustls failed: nothing more is read or written.
    failed: bool,
}

/// Where running received bytes through a session stopped.
enum Stop {
    /// Every complete record is processed; the rest (`used..`) waits for more bytes.
    NeedMore { used: usize },
    /// The peer sent `close_notify`: whatever follows it is ignored.
    PeerClosed,
    /// rustls rejected the records; the alert that says why is in the session's records.
    Failed(Error),
}

/// A core's TLS connections by slot, and the scratch buffer of a receive: the plaintext its
/// records carried.
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
    ) -> Result<(), Error> {
        let conn = UnbufferedServerConnection::new(config)?;
        let slot = slot as usize;
        if self.by_slot.len() <= slot {
            self.by_slot.resize_with(slot + 1, || None);
        }
        self.by_slot[slot] = Some(Box::new(Session {
            conn,
            held: Vec::new(),
            records: Vec::new(),
            early: Vec::new(),
            opened: now,
            started: false,
            closing: false,
            close_due: false,
            failed: false,
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

    /// Runs `records` received for `slot` through its session (decrypting them in place); the
    /// plaintext they carried is appended to the scratch buffer. `None` if `slot` has no
    /// session.
    pub(crate) fn receive(&mut self, slot: u32, records: &mut [u8]) -> Option<Received> {
        let Some(Some(session)) = self.by_slot.get_mut(slot as usize) else {
            return None;
        };
        if !session.started && !records.is_empty() {
            session.started = true;
            if records[0] != HANDSHAKE_RECORD && records[0].is_ascii_uppercase() {
                return Some(Received::PlainHttp);
            }
        }
        if session.failed || records.is_empty() {
            return Some(Received::Plain { peer_closed: false });
        }
        let stop = if session.held.is_empty() {
            let stop = run(session, records, &mut self.plain);
            if let Stop::NeedMore { used } = stop {
                session.held.extend_from_slice(&records[used..]);
            }
            stop
        } else {
            // The new bytes join the held ones in the session's own buffer, processed there.
            let mut held = std::mem::take(&mut session.held);
            held.extend_from_slice(records);
            let stop = run(session, &mut held, &mut self.plain);
            if let Stop::NeedMore { used } = stop {
                held.drain(..used);
                session.held = held;
            }
            stop
        };
        if session.held.is_empty() {
            session.held = Vec::new();
        }
        let stop = match stop {
            Stop::NeedMore { .. } if session.held.len() > MAX_HELD => Stop::Failed(Error::General(
                "a handshake message larger than the session holds".into(),
            )),
            stop => stop,
        };
        match stop {
            Stop::NeedMore { .. } => Some(Received::Plain { peer_closed: false }),
            Stop::PeerClosed => {
                session.held = Vec::new();
                Some(Received::Plain { peer_closed: true })
            }
            Stop::Failed(error) => {
                session.failed = true;
                session.closing = true;
                session.held = Vec::new();
                // What the records carried before the bad one goes with the connection.
                self.plain.clear();
                Some(Received::Fatal(error))
            }
        }
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

    /// Appends to `records` every record the session has to send — those a receive produced
    /// (handshake, tickets, alerts), then `plaintext` (if any) encrypted, then `close_notify`
    /// if it is due. Plaintext the handshake does not let go yet is kept until it does.
    pub(crate) fn encrypt(
        &mut self,
        slot: u32,
        plaintext: Option<&SendQueue>,
        records: &mut Vec<u8>,
    ) {
        let Some(session) = self.get(slot) else {
            return;
        };
        if !session.records.is_empty() {
            records.extend_from_slice(&session.records);
            session.records = Vec::new();
        }
        if session.failed {
            return; // nothing follows a fatal alert
        }
        let has_plaintext = plaintext.is_some_and(|q| !q.is_empty());
        if !has_plaintext && session.early.is_empty() && !session.close_due {
            return;
        }
        let Session {
            conn,
            held,
            early,
            close_due,
            failed,
            ..
        } = session;
        // The bytes rustls holds on to are passed again, as it requires; all their complete
        // records were processed when they arrived.
        loop {
            let UnbufferedStatus { discard, state } = conn.process_tls_records(&mut held[..]);
            let done = match state {
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    *failed |= encode(&mut data, records).is_err();
                    *failed
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    transmit.done();
                    false
                }
                Ok(ConnectionState::WriteTraffic(mut traffic)) => {
                    let mut ok = early.is_empty() || seal(&mut traffic, early, records);
                    *early = Vec::new();
                    if let Some(q) = plaintext {
                        q.for_each_piece(|piece| ok = ok && seal(&mut traffic, piece, records));
                    }
                    if ok && *close_due {
                        ok = close(&mut traffic, records);
                    }
                    *close_due = false;
                    *failed |= !ok;
                    true
                }
                Ok(_) => {
                    // Not writable: still in the handshake (`BlockedHandshake`: the plaintext
                    // waits for its end; a WebSocket, whose bytes are counted, cannot exist
                    // before it, and `close_notify` has no way out before it: the connection
                    // closes without), or no longer (the peer closed: the connection goes, and
                    // what waits with it).
                    if let Some(q) = plaintext {
                        q.for_each_piece(|piece| early.extend_from_slice(piece));
                    }
                    *close_due = false;
                    true
                }
                Err(_) => {
                    *failed = true;
                    true
                }
            };
            if discard > 0 {
                held.drain(..discard);
            }
            if done {
                return;
            }
        }
    }

    /// `true` while `slot`'s session has records to send.
    pub(crate) fn wants_write(&mut self, slot: u32) -> bool {
        self.get(slot)
            .is_some_and(|s| !s.records.is_empty() || s.close_due)
    }

    /// Queues `close_notify` for `slot` unless its last record is queued already; `true` if it
    /// was queued now.
    pub(crate) fn close_notify(&mut self, slot: u32) -> bool {
        match self.get(slot) {
            Some(s) if !s.closing => {
                s.closing = true;
                s.close_due = !s.failed;
                s.close_due
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

/// Runs `incoming` through `session` until every complete record in it is processed: the
/// plaintext they carry is appended to `plain`, the records the session answers with to
/// `session.records`.
fn run(session: &mut Session, incoming: &mut [u8], plain: &mut Vec<u8>) -> Stop {
    let conn = &mut session.conn;
    let mut used = 0;
    loop {
        let UnbufferedStatus { mut discard, state } =
            conn.process_tls_records(&mut incoming[used..]);
        let state = match state {
            Ok(state) => state,
            Err(error) => {
                drain_alerts(conn, &mut session.records);
                return Stop::Failed(error);
            }
        };
        match state {
            ConnectionState::ReadTraffic(mut traffic) => {
                while let Some(record) = traffic.next_record() {
                    match record {
                        Ok(record) => {
                            plain.extend_from_slice(record.payload);
                            discard += record.discard;
                        }
                        Err(error) => return Stop::Failed(error),
                    }
                }
            }
            // 0-RTT data is accepted only if a user's config enables it, and is not read (it
            // can be replayed): it is dropped, as the buffered connection left it unread.
            ConnectionState::ReadEarlyData(mut early) => {
                while let Some(record) = early.next_record() {
                    if let Ok(record) = record {
                        discard += record.discard;
                    }
                }
            }
            ConnectionState::EncodeTlsData(mut data) => {
                if let Err(error) = encode(&mut data, &mut session.records) {
                    return Stop::Failed(Error::General(error.to_string()));
                }
            }
            // The records are in `session.records`, which the flush sends before anything else.
            ConnectionState::TransmitTlsData(transmit) => transmit.done(),
            ConnectionState::PeerClosed | ConnectionState::Closed => return Stop::PeerClosed,
            // `BlockedHandshake`, `WriteTraffic`: the rest is an incomplete record, if anything.
            _ => {
                return Stop::NeedMore {
                    used: used + discard,
                };
            }
        }
        used += discard;
    }
}

/// After rustls failed: encodes the alert it queued (and anything queued with it) into
/// `records`. Only while rustls has records queued, which it hands out before it looks at
/// received bytes again (those would fail again).
fn drain_alerts(conn: &mut UnbufferedServerConnection, records: &mut Vec<u8>) {
    while conn.wants_write() {
        match conn.process_tls_records(&mut []).state {
            Ok(ConnectionState::EncodeTlsData(mut data)) => {
                if encode(&mut data, records).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// Appends the handshake record of `data` to `records`.
fn encode(
    data: &mut EncodeTlsData<'_, ServerConnectionData>,
    records: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    // The first call only learns the size (nothing is consumed when the room is too small).
    let size = match data.encode(&mut []) {
        Err(EncodeError::InsufficientSize(e)) => e.required_size,
        Ok(_) => return Ok(()),
        Err(error) => return Err(error),
    };
    let start = records.len();
    records.resize(start + size, 0);
    let written = data.encode(&mut records[start..])?;
    records.truncate(start + written);
    Ok(())
}

/// Encrypts `plaintext` into records appended to `records`; `false` if rustls refused (its
/// keys are exhausted).
fn seal(
    traffic: &mut WriteTraffic<'_, ServerConnectionData>,
    plaintext: &[u8],
    records: &mut Vec<u8>,
) -> bool {
    let room = plaintext.len() + (plaintext.len() / MAX_FRAGMENT + 1) * RECORD_OVERHEAD;
    write_records(records, room, |out| traffic.encrypt(plaintext, out))
}

/// Appends `close_notify` to `records`.
fn close(traffic: &mut WriteTraffic<'_, ServerConnectionData>, records: &mut Vec<u8>) -> bool {
    write_records(records, RECORD_OVERHEAD, |out| {
        traffic.queue_close_notify(out)
    })
}

/// Lets `write` put records at the end of `records`, in `room` bytes, or in as many as it asks
/// for if that was too few (it writes nothing then).
fn write_records(
    records: &mut Vec<u8>,
    room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, EncryptError>,
) -> bool {
    let start = records.len();
    records.resize(start + room, 0);
    let written = match write(&mut records[start..]) {
        Err(EncryptError::InsufficientSize(e)) => {
            records.resize(start + e.required_size, 0);
            write(&mut records[start..])
        }
        other => other,
    };
    match written {
        Ok(n) => {
            records.truncate(start + n);
            true
        }
        Err(_) => {
            records.truncate(start);
            false
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
