//! Helpers shared by the `engine_*` tests: an HTTP/1.1 response reader, a minimal WebSocket
//! handshake and frame codec written against the RFCs rather than against our own protocol
//! crate (so the engine is checked by an independent peer), and the client side of either
//! transport a server may run on: TCP, or the memory driver's pipes when the suite runs with
//! `IMPHNEN_DRIVER=memory` (same tests, same assertions, no sockets on the server).
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use imphnen::Server;
use imphnen::memory::MemoryStream;

/// How long any single receive may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// `true` when this run is the memory-driver run of the suite (`IMPHNEN_DRIVER=memory`).
pub fn memory_suite() -> bool {
    std::env::var("IMPHNEN_DRIVER").as_deref() == Ok("memory")
}

/// `true` when `server` runs on the memory driver (tests of TCP itself are skipped there).
pub fn on_memory(server: &Server) -> bool {
    server.memory_net().is_some()
}

/// A blocking client connection: TCP, or a memory pipe.
pub enum Stream {
    Tcp(TcpStream),
    Memory(MemoryStream),
}

impl Stream {
    /// A connection to `server`, by whichever transport it serves.
    pub fn to(server: &Server) -> Stream {
        Stream::to_listener(server, 0)
    }

    /// A connection to `server`'s `listener`-th listening address (in the order it was given).
    pub fn to_listener(server: &Server, listener: usize) -> Stream {
        match server.memory_net() {
            Some(net) => Stream::Memory(net.connect_to(listener).expect("connect")),
            None => {
                Stream::Tcp(TcpStream::connect(server.listeners()[listener].addr).expect("connect"))
            }
        }
    }

    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout).unwrap(),
            Stream::Memory(s) => s.set_read_timeout(timeout),
        }
    }

    /// Sends FIN.
    pub fn shutdown_write(&self) {
        match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write).unwrap(),
            Stream::Memory(s) => s.shutdown_write(),
        }
    }

    /// Writes what the transport takes now; `WouldBlock` when it takes nothing.
    pub fn write_nonblocking(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => {
                s.set_nonblocking(true)?;
                s.write(buf)
            }
            Stream::Memory(s) => s.try_write(buf),
        }
    }

    /// The TCP stream (tests of TCP behaviour).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(s) => s,
            Stream::Memory(_) => panic!("not a TCP connection"),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Memory(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Memory(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An async client connection for tokio-tungstenite: TCP, or a memory pipe driven through
/// its non-blocking calls and change notifications.
#[derive(Debug)]
pub enum Transport {
    Tcp(tokio::net::TcpStream),
    Memory(MemoryStream),
}

impl tokio::io::AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Memory(s) => {
                // Registered first: a change between the two calls still wakes us.
                s.poll_changed(cx.waker());
                match s.try_read(buf.initialize_unfilled()) {
                    Ok(n) => {
                        buf.advance(n);
                        Poll::Ready(Ok(()))
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                    Err(e) => Poll::Ready(Err(e)),
                }
            }
        }
    }
}

impl tokio::io::AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Memory(s) => {
                s.poll_changed(cx.waker());
                match s.try_write(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                    r => Poll::Ready(r),
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
            Transport::Memory(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Memory(s) => {
                s.shutdown_write();
                Poll::Ready(Ok(()))
            }
        }
    }
}

/// An async connection to `server` (TCP, or a memory pipe).
pub async fn transport(server: &Server) -> Transport {
    transport_to(server, 0).await
}

/// An async connection to `server`'s `listener`-th listening address (in the order given).
pub async fn transport_to(server: &Server, listener: usize) -> Transport {
    match server.memory_net() {
        Some(net) => Transport::Memory(net.connect_to(listener).expect("connect")),
        None => Transport::Tcp(
            tokio::net::TcpStream::connect(server.listeners()[listener].addr)
                .await
                .expect("connect"),
        ),
    }
}

/// A tokio-tungstenite client.
pub type Ws = tokio_tungstenite::WebSocketStream<Transport>;

/// The URL of `path` on `server` (its address, or `memory` on the memory driver).
pub fn url(server: &Server, path: &str) -> String {
    match server.memory_net() {
        Some(_) => format!("ws://memory{path}"),
        None => format!("ws://{}{path}", server.local_addr()),
    }
}

/// Opens a tokio-tungstenite client on `path` with the handshake `request` made from
/// [`url`] (headers may be added to it); fails as the handshake does.
pub async fn tungstenite_with(
    server: &Server,
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> Result<
    (
        Ws,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    tokio_tungstenite::client_async(request, transport(server).await).await
}

/// Opens a tokio-tungstenite client on `path`; fails as the handshake does.
pub async fn tungstenite(
    server: &Server,
    path: &str,
) -> Result<
    (
        Ws,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    tungstenite_with(server, url(server, path).into_client_request()?).await
}

/// A blocking connection with a read timeout, keeping bytes read past one response.
pub struct Raw {
    pub stream: Stream,
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
    /// A TCP connection to `addr` (tests of TCP and of addresses).
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream: Stream::Tcp(stream),
            buf: Vec::new(),
        }
    }

    /// A connection to `server` by whichever transport it serves.
    pub fn to(server: &Server) -> Raw {
        Raw::to_listener(server, 0)
    }

    /// A connection to `server`'s `listener`-th listening address (in the order given).
    pub fn to_listener(server: &Server, listener: usize) -> Raw {
        let mut stream = Stream::to_listener(server, listener);
        stream.set_read_timeout(Some(TIMEOUT));
        if let Stream::Tcp(s) = &stream {
            s.set_nodelay(true).unwrap();
        }
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
pub fn ws_connect(server: &Server, path: &str) -> Raw {
    ws_handshake(Raw::to(server), path)
}

/// [`ws_connect`] over TCP to `addr`.
pub fn ws_connect_tcp(addr: SocketAddr, path: &str) -> Raw {
    ws_handshake(Raw::connect(addr), path)
}

/// Opens a WebSocket by hand over a connection already made (a socket with options of its own).
pub fn ws_handshake(mut raw: Raw, path: &str) -> Raw {
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
