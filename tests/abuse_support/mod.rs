//! Raw-TCP tools for the abuse tests: a server on a free port with a chosen `Config`, an HTTP
//! connection that writes exactly the bytes a test gives it, and a WebSocket connection that can
//! send frames no well-behaved client would (unmasked, oversized, reserved opcodes).
//!
//! Deliberately independent of `imphnen-protocol`: the frames are built and read by hand here, so
//! a bug in the protocol crate cannot hide itself from these tests. Every read has a timeout.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use imphnen::{App, Config, Server};

/// How long any single receive may wait before the test fails.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// A server for one test, shut down when dropped.
pub struct Served {
    server: Option<Server>,
    pub addr: SocketAddr,
}

impl Served {
    pub fn start(app: App) -> Served {
        let server = app.listen("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = server.local_addr();
        Served {
            server: Some(server),
            addr,
        }
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }

    pub fn ws(&self, path: &str) -> Raw {
        let mut raw = self.raw();
        raw.upgrade(path);
        raw
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.handle().shutdown();
            server.wait();
        }
    }
}

/// A config with one worker and short close timeouts, so shutdown in tests is quick.
pub fn small_config() -> Config {
    let mut config = Config {
        workers: 1,
        shutdown_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    config.websocket.close_timeout = Duration::from_secs(1);
    config
}

/// What the server did with the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// Close code (1005 when the body is empty) and reason.
    Close(u16, String),
    /// Any other opcode, or a non-final frame (the server never fragments what we test).
    Other(u8, Vec<u8>),
}

/// One TCP connection speaking raw bytes.
pub struct Raw {
    pub stream: TcpStream,
    /// Bytes received and not consumed yet.
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(RECV_TIMEOUT)).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads more bytes into the buffer; `Ok(0)` at EOF.
    fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 16 << 10];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one HTTP response head and its Content-Length body; returns (status, head, body).
    pub fn response(&mut self) -> io::Result<(u16, String, Vec<u8>)> {
        let deadline = Instant::now() + RECV_TIMEOUT;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill(deadline)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "EOF before a response head; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        let len = header(&head, "content-length")
            .map(|v| v.parse::<usize>().expect("numeric Content-Length"))
            .unwrap_or(0);
        while self.buf.len() < head_end + len {
            if self.fill(deadline)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok((status, head, body))
    }

    /// Waits for the server to close the connection (EOF or reset), discarding what arrives.
    /// Returns how long it took.
    pub fn expect_closed(&mut self, within: Duration) -> Duration {
        let start = Instant::now();
        let deadline = start + within;
        loop {
            match self.fill(deadline) {
                Ok(0) => return start.elapsed(),
                Ok(_) => self.buf.clear(),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return start.elapsed(),
                Err(e) => panic!("connection still open after {within:?}: {e}"),
            }
        }
    }

    /// The WebSocket opening handshake for `path`; panics unless the answer is 101.
    pub fn upgrade(&mut self, path: &str) {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        self.send(req.as_bytes()).unwrap();
        let (status, head, _) = self.response().expect("handshake response");
        assert_eq!(status, 101, "upgrade refused: {head}");
        assert_eq!(
            header(&head, "sec-websocket-accept"),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }

    /// Sends one frame, masked with a fixed key when `masked`.
    pub fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8], masked: bool) {
        let bytes = frame_bytes(fin, opcode, payload, masked);
        self.send(&bytes).unwrap();
    }

    /// Reads the next frame the server sends.
    pub fn next_frame(&mut self) -> io::Result<Frame> {
        self.next_frame_within(RECV_TIMEOUT)
    }

    pub fn next_frame_within(&mut self, within: Duration) -> io::Result<Frame> {
        let deadline = Instant::now() + within;
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buf) {
                self.buf.drain(..used);
                return Ok(frame);
            }
            if self.fill(deadline)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "EOF before a complete frame",
                ));
            }
        }
    }

    /// Skips data frames until the server's Close; returns its code and reason.
    pub fn close_frame(&mut self) -> (u16, String) {
        loop {
            match self.next_frame().expect("a Close frame from the server") {
                Frame::Close(code, reason) => return (code, reason),
                _ => continue,
            }
        }
    }
}

/// A client frame: FIN/opcode byte, length (7, 16 or 64 bit), optional mask, payload.
pub fn frame_bytes(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = frame_header(fin, opcode, payload.len() as u64, masked);
    let key = [0x37, 0xfa, 0x21, 0x3d];
    out.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, b)| if masked { b ^ key[i % 4] } else { *b }),
    );
    out
}

/// Only the header of a client frame announcing `len` payload bytes.
pub fn frame_header(fin: bool, opcode: u8, len: u64, masked: bool) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if masked {
        out.extend_from_slice(&[0x37, 0xfa, 0x21, 0x3d]);
    }
    out
}

/// A complete server frame at the start of `buf`, and its length in bytes.
fn parse_server_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    assert_eq!(buf[1] & 0x80, 0, "server frames are never masked");
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0f;
    let (len, start) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (
            u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    if buf.len() < start + len {
        return None;
    }
    let payload = buf[start..start + len].to_vec();
    let frame = match (fin, opcode) {
        (true, 1) => Frame::Text(String::from_utf8(payload).expect("server text is UTF-8")),
        (true, 2) => Frame::Binary(payload),
        (true, 8) if payload.len() >= 2 => Frame::Close(
            u16::from_be_bytes([payload[0], payload[1]]),
            String::from_utf8(payload[2..].to_vec()).expect("close reason is UTF-8"),
        ),
        (true, 8) => Frame::Close(1005, String::new()),
        (true, 9) => Frame::Ping(payload),
        (true, 10) => Frame::Pong(payload),
        (_, op) => Frame::Other(op, payload),
    };
    Some((frame, start + len))
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The value of header `name` (lower case) in a response head.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
