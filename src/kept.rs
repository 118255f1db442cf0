//! What an open WebSocket connection keeps of its upgrade request.
//!
//! Every idle connection pays for what it keeps, so it keeps only what its handlers can read
//! after the upgrade: the request target, when it says more than the route's pattern (route
//! parameters, a wildcard, a query string), the subprotocol the 101 confirmed, and the header
//! fields only when the route's upgrade hook asked for them
//! ([`UpgradeRequest::keep_headers`](crate::UpgradeRequest::keep_headers)). A connection to a
//! static route with no query and no kept headers keeps nothing at all (no allocation). The
//! upgrade hook always sees the complete request.
//!
//! Layout, one exact-size allocation behind a thin pointer: `target \n protocol \n (name : value
//! \n)*`, where an empty target line stands for the route's pattern. Neither a request target
//! nor a field contains CR or LF (RFC 9112 §3.2 and §5), and a field name contains no `:`, so
//! the separators are unambiguous. The handshake's own fields (RFC 6455 §4.1: `Upgrade`,
//! `Connection`, `Sec-WebSocket-Key`, `-Version`, `-Extensions`) are never kept.

use imphnen_engine::Request;
use thin_vec::ThinVec;

/// Header fields of the opening handshake that only the handshake reads (RFC 6455 §4.1).
const HANDSHAKE_FIELDS: [&str; 5] = [
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
];

/// What a connection keeps of its upgrade request; empty (8 bytes, no allocation) for most.
pub(crate) struct KeptRequest(ThinVec<u8>);

impl KeptRequest {
    /// Keeps what handlers may read of `request` after the upgrade: its target unless it is
    /// the route's `pattern` itself, the subprotocol confirmed in the 101, and the header
    /// fields when `headers` is set.
    pub(crate) fn new(
        request: &Request,
        pattern: &str,
        protocol: Option<&str>,
        headers: bool,
    ) -> KeptRequest {
        let query = request.query();
        let target_kept = query.is_some() || request.path() != pattern;
        if !target_kept && protocol.is_none() && !headers {
            return KeptRequest(ThinVec::new());
        }
        let fields = || {
            request.headers().filter(move |(name, _)| {
                headers
                    && !HANDSHAKE_FIELDS
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(name))
            })
        };
        let target_len = if target_kept {
            request.path().len() + query.map_or(0, |q| q.len() + 1)
        } else {
            0
        };
        let len = target_len
            + protocol.map_or(0, str::len)
            + 2
            + fields().map(|(n, v)| n.len() + v.len() + 2).sum::<usize>();
        let mut buf = ThinVec::with_capacity(len);
        if target_kept {
            buf.extend_from_slice(request.path().as_bytes());
            if let Some(q) = query {
                buf.push(b'?');
                buf.extend_from_slice(q.as_bytes());
            }
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
        KeptRequest(buf)
    }

    /// The lines in order: target, protocol, then one per field (none when nothing is kept).
    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        // The buffer ends with `\n`: the last split piece is empty.
        let body = self.0.strip_suffix(b"\n").unwrap_or(&self.0);
        body.split(|&b| b == b'\n')
            .filter(move |_| !self.0.is_empty())
    }

    /// The request target; `pattern` when it was the route's pattern itself.
    fn target<'a>(&'a self, pattern: &'a str) -> &'a str {
        match self.lines().next() {
            Some(t) if !t.is_empty() => std::str::from_utf8(t).unwrap_or(pattern),
            _ => pattern,
        }
    }

    /// The path of the request target (still percent-encoded).
    pub(crate) fn path<'a>(&'a self, pattern: &'a str) -> &'a str {
        let target = self.target(pattern);
        target.split_once('?').map_or(target, |(p, _)| p)
    }

    /// The raw query string after `?`, if any.
    pub(crate) fn query(&self) -> Option<&str> {
        self.target("").split_once('?').map(|(_, q)| q)
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

    /// The first value of kept field `name` (case-insensitive), if it is valid UTF-8.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}
