//! The byte stream under a client connection: the TCP socket itself for `ws://`, or a TLS
//! session over it for `wss://`. Both read and write plaintext with the nonblocking
//! conventions of the socket (`WouldBlock` when nothing more can move now, `Ok(0)` read at
//! the end of the stream), so `conn` drives either the same way.
//!
//! Owns the socket and, for TLS, the rustls client session with its record buffers. Does not
//! own what the plaintext means.

use std::io::{self, Read, Write};

use mio::net::TcpStream;
use rustls::ClientConnection;

/// A plain or TLS stream.
#[derive(Debug)]
pub enum Transport {
    /// `ws://`: bytes go straight to the socket.
    Plain(TcpStream),
    /// `wss://`: bytes go through a TLS session (boxed: it is large and only TLS runs use it).
    Tls(Box<Tls>),
}

/// A TLS client session over a socket.
#[derive(Debug)]
pub struct Tls {
    tcp: TcpStream,
    session: ClientConnection,
}

impl Transport {
    /// `tcp` as is, or wrapped in a client session of `tls` (which starts with a ClientHello
    /// queued, sent by the first [`flush_records`](Self::flush_records)).
    pub fn new(tcp: TcpStream, tls: Option<ClientConnection>) -> Transport {
        match tls {
            None => Transport::Plain(tcp),
            Some(session) => Transport::Tls(Box::new(Tls { tcp, session })),
        }
    }

    /// The socket, for readiness registration and connect status.
    pub fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(t) => &mut t.tcp,
        }
    }

    /// Whether a short read proves the socket drained: true for plain TCP; a TLS session may
    /// hold decrypted bytes beyond what one read returned, so it reads on to `WouldBlock`.
    pub fn short_read_drains(&self) -> bool {
        matches!(self, Transport::Plain(_))
    }

    /// Reads plaintext: `Ok(n > 0)` bytes, `Ok(0)` at the end of the stream (for TLS: a
    /// close_notify, or TCP ending without one), `WouldBlock` when nothing more is there now.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = match self {
            Transport::Plain(tcp) => return tcp.read(buf),
            Transport::Tls(t) => t,
        };
        loop {
            match t.session.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if t.session.read_tls(&mut t.tcp)? == 0 {
                return Ok(0);
            }
            if let Err(e) = t.session.process_new_packets() {
                // Send the alert rustls queued for the server, then give up.
                let _ = t.session.write_tls(&mut t.tcp);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }

    /// Writes plaintext: returns how much was taken. TLS takes it into its session (encrypted
    /// now, or held until the handshake ends), flushing records to the socket when the
    /// session's buffer is full; `WouldBlock` when neither can take more now.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let t = match self {
            Transport::Plain(tcp) => return tcp.write(buf),
            Transport::Tls(t) => t,
        };
        loop {
            let n = t.session.writer().write(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            if t.session.write_tls(&mut t.tcp)? == 0 {
                // Full with nothing sendable: plaintext waiting for the handshake to end.
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
    }

    /// Sends the TLS records the session has ready (handshake messages, encrypted data,
    /// alerts) until it has none or the socket is full. Nothing to do for plain TCP.
    pub fn flush_records(&mut self) -> io::Result<()> {
        let Transport::Tls(t) = self else {
            return Ok(());
        };
        while t.session.wants_write() {
            match t.session.write_tls(&mut t.tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
