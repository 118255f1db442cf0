//! Raw-TCP helpers shared by the `engine_*` tests: an HTTP/1.1 response reader and a minimal
//! WebSocket handshake, written against the RFCs rather than against our own protocol crate, so
//! the engine is checked by an independent peer.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long any single receive may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A blocking TCP connection with a read timeout, keeping bytes read past one response.
pub struct Raw {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

/// One parsed HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads more bytes; panics on timeout, returns `false` at EOF.
    pub fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 << 10];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read failed (timeout?): {e}"),
        }
    }

    /// Reads one response (Content-Length or chunked body; none for `head_only`).
    pub fn response(&mut self, head_only: bool) -> Resp {
        loop {
            if let Some(r) = self.try_parse(head_only) {
                return r;
            }
            assert!(
                self.fill(),
                "connection closed before a full response; got {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    fn try_parse(&mut self, head_only: bool) -> Option<Resp> {
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut slots);
        let head_len = match r.parse(&self.buf).expect("a valid response head") {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => return None,
        };
        let status = r.code.unwrap();
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        if head_only || (100..200).contains(&status) || status == 204 || status == 304 {
            self.buf.drain(..head_len);
            return Some(Resp {
                status,
                headers,
                body: Vec::new(),
            });
        }
        if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            let (body, used) = decode_chunked(&self.buf[head_len..])?;
            self.buf.drain(..head_len + used);
            return Some(Resp {
                status,
                headers,
                body,
            });
        }
        let len: usize = find("content-length")
            .map(|v| v.trim().parse().expect("numeric content-length"))
            .unwrap_or(0);
        if self.buf.len() < head_len + len {
            return None;
        }
        let body = self.buf[head_len..head_len + len].to_vec();
        self.buf.drain(..head_len + len);
        Some(Resp {
            status,
            headers,
            body,
        })
    }

    /// `true` when the server closes the connection (EOF or reset) within the timeout, with no
    /// further bytes.
    pub fn closed_by_server(&mut self) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            let before = self.buf.len();
            if !self.fill() {
                return true;
            }
            assert_eq!(
                before,
                self.buf.len(),
                "unexpected bytes before close: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
        false
    }
}

fn decode_chunked(mut b: &[u8]) -> Option<(Vec<u8>, usize)> {
    let total = b.len();
    let mut body = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            // No trailers from our server: the final CRLF.
            if b.len() < 2 {
                return None;
            }
            b = &b[2..];
            return Some((body, total - b.len()));
        }
        if b.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// A request with the given head lines (Host is added).
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

// ---- raw WebSocket ----

/// Opens a WebSocket by hand (fixed RFC 6455 §1.3 sample key) and returns the connection with
/// any frames that followed the 101 left in `buf`.
pub fn ws_connect(addr: SocketAddr, path: &str) -> Raw {
    let mut raw = Raw::connect(addr);
    raw.send(
        format!(
            "GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    );
    let r = raw.response(true);
    assert_eq!(r.status, 101, "upgrade refused: {r:?}");
    // The RFC's own example answer for that key.
    assert_eq!(
        r.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    raw
}

/// A client frame: FIN set, `opcode`, masked with `mask` when given.
pub fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n if n <= 0xFFFF => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// One server frame: `(opcode, payload)`.
pub fn read_frame(raw: &mut Raw) -> Option<(u8, Vec<u8>)> {
    loop {
        if raw.buf.len() >= 2 {
            let op = raw.buf[0] & 0x0F;
            assert_eq!(raw.buf[1] & 0x80, 0, "server frames are not masked");
            let (len, hdr) = match raw.buf[1] & 0x7F {
                126 if raw.buf.len() >= 4 => {
                    (u16::from_be_bytes([raw.buf[2], raw.buf[3]]) as usize, 4)
                }
                127 if raw.buf.len() >= 10 => (
                    u64::from_be_bytes(raw.buf[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => (usize::MAX, 0),
                n => (n as usize, 2),
            };
            if len != usize::MAX && raw.buf.len() >= hdr + len {
                let payload = raw.buf[hdr..hdr + len].to_vec();
                raw.buf.drain(..hdr + len);
                return Some((op, payload));
            }
        }
        if !raw.fill() {
            return None;
        }
    }
}

/// Reads frames until a Close; returns its code (1005 when empty).
pub fn read_close(raw: &mut Raw) -> u16 {
    loop {
        let (op, payload) = read_frame(raw).expect("a close frame before EOF");
        if op == 0x8 {
            return if payload.len() >= 2 {
                u16::from_be_bytes([payload[0], payload[1]])
            } else {
                1005
            };
        }
    }
}
