//! What an open WebSocket connection keeps of its upgrade request.
//!
//! Handlers read the route parameters, query, headers and URL of the upgrade request in every
//! callback (`ctx.params()` in `message`, as the guide does), so the request outlives the
//! handshake. An idle connection should cost little, so it keeps one exact-size allocation:
//! the request target, the subprotocol chosen in the 101, and the header fields, minus the
//! handshake's own (RFC 6455 §4.1: `Upgrade`, `Connection`, `Sec-WebSocket-Key`,
//! `Sec-WebSocket-Version`, `Sec-WebSocket-Extensions`), which the engine consumed. Everything is
//! found again by scanning on access; the upgrade hook still sees the complete request.
//!
//! Layout: `target \n protocol \n (name : value \n)*`. Neither a request target nor a field
//! contains CR or LF (RFC 9112 §3.2 and §5), and a field name contains no `:`, so the separators
//! are unambiguous.

use imphnen_engine::Request;

/// Header fields of the opening handshake that only the handshake reads (RFC 6455 §4.1).
const HANDSHAKE_FIELDS: [&str; 5] = [
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
];

/// The upgrade request's target, subprotocol and non-handshake header fields, in one buffer.
pub(crate) struct KeptRequest(Box<[u8]>);

impl KeptRequest {
    /// Keeps what handlers may read of `request`, with the subprotocol confirmed in the 101.
    pub(crate) fn new(request: &Request, protocol: Option<&str>) -> KeptRequest {
        let fields = || {
            request.headers().filter(|(name, _)| {
                !HANDSHAKE_FIELDS
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(name))
            })
        };
        let query = request.query();
        let len = request.path().len()
            + query.map_or(0, |q| q.len() + 1)
            + protocol.map_or(0, str::len)
            + 2
            + fields().map(|(n, v)| n.len() + v.len() + 2).sum::<usize>();
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(request.path().as_bytes());
        if let Some(q) = query {
            buf.push(b'?');
            buf.extend_from_slice(q.as_bytes());
        }
        buf.push(b'\n');
        buf.extend_from_slice(protocol.unwrap_or("").as_bytes());
        buf.push(b'\n');
        for (name, value) in fields() {
            buf.extend_from_slice(name.as_bytes());
            buf.push(b':');
            buf.extend_from_slice(value);
            buf.push(b'\n');
        }
        debug_assert_eq!(buf.len(), len);
        KeptRequest(buf.into_boxed_slice())
    }

    /// The lines in order: target, protocol, then one per field.
    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        // The buffer ends with `\n`: the last split piece is empty.
        let body = self.0.strip_suffix(b"\n").unwrap_or(&self.0);
        body.split(|&b| b == b'\n')
    }

    fn target(&self) -> &str {
        self.lines()
            .next()
            .and_then(|t| std::str::from_utf8(t).ok())
            .unwrap_or("/")
    }

    /// The path of the request target (still percent-encoded).
    pub(crate) fn path(&self) -> &str {
        let target = self.target();
        target.split_once('?').map_or(target, |(p, _)| p)
    }

    /// The raw query string after `?`, if any.
    pub(crate) fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, q)| q)
    }

    /// The subprotocol the 101 confirmed.
    pub(crate) fn protocol(&self) -> Option<&str> {
        let p = self.lines().nth(1)?;
        std::str::from_utf8(p).ok().filter(|p| !p.is_empty())
    }

    /// The kept header fields as (name, value bytes), in the order received.
    pub(crate) fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.lines().skip(2).filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = std::str::from_utf8(&line[..colon]).ok()?;
            Some((name, &line[colon + 1..]))
        })
    }

    /// The first value of field `name` (case-insensitive), if it is valid UTF-8.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}
