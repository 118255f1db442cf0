//! `Listen`: one address a [`Server`](crate::Server) listens on, and whether the connections
//! accepted there speak TLS. A server has a short list of them (a plain port and a TLS port,
//! say); every core accepts on each, and every connection, whichever port it came through,
//! reaches the same routes, topics, metrics and shutdown.

use std::net::SocketAddr;

/// An address to listen on and what its connections speak.
///
/// ```
/// use imphnen_engine::Listen;
/// let plain = Listen::plain("127.0.0.1:0".parse().unwrap());
/// assert!(!plain.tls);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen {
    /// The address; after start, the bound one (the real port when port 0 was asked for).
    pub addr: SocketAddr,
    /// Connections accepted here start a TLS session with the server's
    /// [`Config::tls`](crate::Config) (which must then be set).
    pub tls: bool,
}

impl Listen {
    /// Plain TCP on `addr`: ws:// and http://.
    pub fn plain(addr: SocketAddr) -> Listen {
        Listen { addr, tls: false }
    }

    /// TLS on `addr`: wss:// and https://.
    pub fn tls(addr: SocketAddr) -> Listen {
        Listen { addr, tls: true }
    }
}
