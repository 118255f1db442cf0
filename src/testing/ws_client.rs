//! The blocking WebSocket client: the handshake, masked frames out, frames decoded with the
//! protocol crate's client-side decoder, pings and the close handshake answered.

use std::fmt;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use imphnen_protocol::ws::{
    CloseCode, CloseFrame, Decoder, DecoderConfig, Event, Role, encode_binary, encode_close,
    encode_ping, encode_pong, encode_text, handshake,
};

use super::{DEFAULT_TIMEOUT, MAX_HEAD, invalid, read_some};
use crate::Message;

/// What a [`TestClient`] received next: a data message or the server's close frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A complete text or binary message.
    Message(Message),
    /// The server's close frame: its code (1005 when it carried none) and reason.
    Close(u16, String),
}

/// A blocking WebSocket client for tests: masks what it sends, answers pings, and fails every
/// receive that takes longer than its timeout ([`DEFAULT_TIMEOUT`] unless changed).
pub struct TestClient {
    stream: TcpStream,
    decoder: Decoder,
    /// Received bytes not decoded yet.
    input: Vec<u8>,
    timeout: Duration,
    masks: MaskKeys,
    /// Our close frame went out.
    close_sent: bool,
    /// The server's close frame arrived.
    close_received: Option<(u16, String)>,
}

impl TestClient {
    /// Opens a WebSocket to `path` on `addr`, with extra request `headers`, and checks the
    /// server's `101 Switching Protocols` and `Sec-WebSocket-Accept`. A refusal is an error whose
    /// message carries the status line.
    pub fn connect(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<TestClient> {
        let mut stream = TcpStream::connect_timeout(&addr, DEFAULT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        let mut masks = MaskKeys::new();
        let key = masks.handshake_key();
        let mut req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        );
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes())?;

        let deadline = Instant::now() + DEFAULT_TIMEOUT;
        let mut buf = Vec::new();
        let (status, reason, head_len, accept) = loop {
            read_some(&mut stream, &mut buf, deadline)?;
            let mut slots = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut slots);
            match resp.parse(&buf).map_err(invalid)? {
                httparse::Status::Partial if buf.len() > MAX_HEAD => {
                    return Err(invalid("upgrade response head too large"));
                }
                httparse::Status::Partial => continue,
                httparse::Status::Complete(n) => {
                    let accept = resp
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
                        .map(|h| h.value.to_vec());
                    break (
                        resp.code.unwrap_or(0),
                        resp.reason.unwrap_or("").to_owned(),
                        n,
                        accept,
                    );
                }
            }
        };
        if status != 101 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("upgrade refused: {status} {reason}"),
            ));
        }
        if accept.as_deref() != Some(&handshake::accept_key(key.as_bytes())[..]) {
            return Err(invalid("missing or wrong Sec-WebSocket-Accept"));
        }
        // Frames the server sent right after the 101 (an `open` greeting) are already here.
        buf.drain(..head_len);
        Ok(TestClient {
            stream,
            decoder: Decoder::new(DecoderConfig {
                role: Role::Client,
                max_payload_length: usize::MAX,
                // The test client offers no extension.
                permessage_deflate: false,
                ..DecoderConfig::default()
            }),
            input: buf,
            timeout: DEFAULT_TIMEOUT,
            masks,
            close_sent: false,
            close_received: None,
        })
    }

    /// Changes how long receives wait from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends a text (`&str`, `String`) or binary (`Vec<u8>`, `&[u8]`) message in one frame.
    pub fn send(&mut self, message: impl Into<Message>) -> io::Result<()> {
        let message = message.into();
        let mut out = Vec::with_capacity(message.len() + 14);
        let mask = Some(self.masks.next());
        match message.as_text() {
            Some(text) => encode_text(&mut out, mask, text),
            None => encode_binary(&mut out, mask, message.as_bytes()),
        }
        self.stream.write_all(&out)
    }

    /// Sends a ping with `payload` (at most 125 bytes); the server's pong is not reported.
    pub fn ping(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut out = Vec::new();
        encode_ping(&mut out, Some(self.masks.next()), payload)
            .map_err(|_| invalid("ping payload longer than 125 bytes"))?;
        self.stream.write_all(&out)
    }

    /// The next data message, within the timeout. The server's close frame is an error
    /// (`ConnectionAborted`, naming its code and reason); use [`recv_event`](Self::recv_event) or
    /// [`recv_close`](Self::recv_close) to expect one.
    pub fn recv(&mut self) -> io::Result<Message> {
        self.recv_timeout(self.timeout)
    }

    /// [`recv`](Self::recv) with a timeout for this call only.
    pub fn recv_timeout(&mut self, timeout: Duration) -> io::Result<Message> {
        match self.recv_event_timeout(timeout)? {
            Received::Message(m) => Ok(m),
            Received::Close(code, reason) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("the server closed the connection: {code} {reason:?}"),
            )),
        }
    }

    /// The server's close frame, `(code, reason)`, within the timeout; a data message arriving
    /// first is an error (`InvalidData`). The close is answered (RFC 6455 §5.5.1).
    pub fn recv_close(&mut self) -> io::Result<(u16, String)> {
        match self.recv_event_timeout(self.timeout)? {
            Received::Close(code, reason) => Ok((code, reason)),
            Received::Message(m) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected a close frame, got {m:?}"),
            )),
        }
    }

    /// The next message or close frame, within the timeout. Pings are answered on the way.
    pub fn recv_event(&mut self) -> io::Result<Received> {
        self.recv_event_timeout(self.timeout)
    }

    /// [`recv_event`](Self::recv_event) with a timeout for this call only.
    pub fn recv_event_timeout(&mut self, timeout: Duration) -> io::Result<Received> {
        if let Some((code, reason)) = &self.close_received {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("the server already closed the connection: {code} {reason:?}"),
            ));
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(received) = self.decode_one()? {
                return Ok(received);
            }
            read_some(&mut self.stream, &mut self.input, deadline)?;
        }
    }

    /// Starts the close handshake with `code` and `reason`, then waits for the server's close
    /// frame (data messages arriving meanwhile are discarded) and returns its code and reason.
    pub fn close(&mut self, code: u16, reason: &str) -> io::Result<(u16, String)> {
        self.send_close(code, reason)?;
        if let Some(done) = self.close_received.clone() {
            return Ok(done);
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.recv_event_timeout(deadline.saturating_duration_since(Instant::now()))? {
                Received::Message(_) => {}
                Received::Close(code, reason) => return Ok((code, reason)),
            }
        }
    }

    /// Sends a close frame without waiting for the answer.
    pub fn send_close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        if self.close_sent {
            return Ok(());
        }
        if reason.len() > imphnen_protocol::ws::close::MAX_REASON_LEN {
            return Err(invalid("close reason longer than 123 bytes"));
        }
        let mut out = Vec::new();
        let frame = CloseFrame {
            code: CloseCode(code),
            reason,
        };
        let _ = encode_close(&mut out, Some(self.masks.next()), Some(frame));
        self.close_sent = true;
        self.stream.write_all(&out)
    }

    /// The underlying socket (e.g. to stop reading and watch backpressure).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Decodes one event from the bytes at hand: `None` when more are needed.
    fn decode_one(&mut self) -> io::Result<Option<Received>> {
        let mut pos = 0;
        let mut reply: Option<Vec<u8>> = None;
        let mut result = None;
        while result.is_none() {
            let decoded = self
                .decoder
                .decode(&mut self.input[pos..])
                .map_err(|e| invalid(format!("server broke the protocol: {e:?}")))?;
            pos += decoded.consumed;
            match decoded.event {
                None => break,
                Some(Event::Text(t)) => result = Some(Received::Message(Message::text(t))),
                Some(Event::Binary(b)) => {
                    result = Some(Received::Message(Message::binary(b.to_vec())))
                }
                Some(Event::Ping(p)) => {
                    let out = reply.get_or_insert_with(Vec::new);
                    let _ = encode_pong(out, Some(self.masks.next()), p);
                }
                Some(Event::Pong(_)) => {}
                Some(Event::CompressedText(_) | Event::CompressedBinary(_)) => {
                    // The decoder refuses RSV1 without the extension, which is never offered.
                    return Err(invalid("compressed message without permessage-deflate"));
                }
                Some(Event::Close(frame)) => {
                    let (code, reason) = match frame {
                        Some(f) => (f.code.0, f.reason.to_owned()),
                        None => (CloseCode::NO_STATUS.0, String::new()),
                    };
                    if !self.close_sent {
                        // §5.5.1: echo the code; an empty close is answered empty.
                        let out = reply.get_or_insert_with(Vec::new);
                        let echo = (code != CloseCode::NO_STATUS.0).then_some(CloseFrame {
                            code: CloseCode(code),
                            reason: "",
                        });
                        let _ = encode_close(out, Some(self.masks.next()), echo);
                        self.close_sent = true;
                    }
                    self.close_received = Some((code, reason.clone()));
                    result = Some(Received::Close(code, reason));
                }
            }
        }
        self.input.drain(..pos);
        if let Some(out) = reply {
            // The server may already be gone; a failed pong or close echo is not the test's
            // concern.
            let _ = self.stream.write_all(&out);
        }
        if matches!(result, Some(Received::Close(..))) {
            let _ = self.stream.shutdown(Shutdown::Write);
        }
        Ok(result)
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        if !self.close_sent {
            let _ = self.send_close(1000, "");
        }
    }
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("peer", &self.stream.peer_addr().ok())
            .field("close_sent", &self.close_sent)
            .field("close_received", &self.close_received)
            .finish()
    }
}
/// Masking keys and the handshake nonce (RFC 6455 §5.3 and §4.1 ask for unpredictable ones):
/// `fastrand`'s wyrand generator, seeded per client from the thread's randomly seeded one.
/// Not cryptographic, which a test client does not need.
struct MaskKeys(fastrand::Rng);

impl MaskKeys {
    fn new() -> MaskKeys {
        MaskKeys(fastrand::Rng::new())
    }

    /// The next frame's masking key.
    fn next(&mut self) -> [u8; 4] {
        self.0.u32(..).to_ne_bytes()
    }

    /// A fresh `Sec-WebSocket-Key`: 16 random bytes in base64 (RFC 4648, padded), 24 characters.
    fn handshake_key(&mut self) -> String {
        BASE64.encode(self.0.u128(..).to_ne_bytes())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_key_is_16_random_bytes_in_base64() {
        let mut keys = MaskKeys::new();
        let a = keys.handshake_key();
        let b = keys.handshake_key();
        assert_eq!(a.len(), 24);
        assert_eq!(BASE64.decode(&a).unwrap().len(), 16);
        assert_ne!(a, b);
    }

    #[test]
    fn mask_keys_vary() {
        let mut keys = MaskKeys::new();
        let a = keys.next();
        let b = keys.next();
        assert_ne!(a, b);
    }
}
