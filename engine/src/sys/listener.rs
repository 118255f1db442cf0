//! Binding: one `SO_REUSEPORT` listening socket per core on the same address, with
//! `TCP_NODELAY` set once for every connection it accepts.
//!
//! `SO_REUSEPORT` lets a second group of sockets join a port that another process already
//! listens on with the same option, which would make a busy port look free. So the address is
//! first bound by a probe socket *without* `SO_REUSEPORT`: if anything listens there, the probe
//! fails with `EADDRINUSE`, and that error is what the user gets. The probe also resolves port
//! `0` to the real port every core then binds.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `workers` listening sockets on `addr`, all sharing one port via `SO_REUSEPORT`.
/// Returns them with the address actually bound (the real port when `addr` asked for port 0).
pub(crate) fn bind_per_core(
    addr: SocketAddr,
    workers: usize,
    backlog: i32,
) -> io::Result<(Vec<TcpListener>, SocketAddr)> {
    let probe = new_socket(addr)?;
    probe.bind(&addr.into())?;
    let bound = probe
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("bound address is not an IP socket address"))?;
    // The probe only proves the port is free and names it; the listeners replace it.
    drop(probe);

    let mut listeners = Vec::with_capacity(workers);
    for _ in 0..workers {
        let s = new_socket(bound)?;
        s.set_reuse_port(true)?;
        // Linux copies the listener's TCP_NODELAY into every socket it accepts: one call here
        // instead of a setsockopt per connection.
        s.set_nodelay(true)?;
        s.bind(&bound.into())?;
        s.listen(backlog)?;
        s.set_nonblocking(true)?;
        listeners.push(TcpListener::from(s));
    }
    Ok((listeners, bound))
}

fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Lets a restarted server rebind while old connections sit in TIME_WAIT. On Linux this never
    // allows two listeners on one port (that is what SO_REUSEPORT does).
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(false).ok();
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_connections_inherit_nodelay() {
        use std::os::fd::AsRawFd;
        let (listeners, bound) = bind_per_core("127.0.0.1:0".parse().unwrap(), 1, 16).unwrap();
        let _client = std::net::TcpStream::connect(bound).unwrap();
        listeners[0].set_nonblocking(false).unwrap();
        let (accepted, _) = listeners[0].accept().unwrap();
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are live out-pointers of the sizes given.
        let rc = unsafe {
            libc::getsockopt(
                accepted.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(
            (rc, value),
            (0, 1),
            "TCP_NODELAY is not set on an accepted socket"
        );
    }

    #[test]
    fn port_zero_resolves_to_a_real_shared_port() {
        let (ls, addr) = bind_per_core("127.0.0.1:0".parse().unwrap(), 2, 128).unwrap();
        assert_ne!(addr.port(), 0);
        assert_eq!(ls.len(), 2);
        for l in &ls {
            assert_eq!(l.local_addr().unwrap(), addr);
        }
    }

    #[test]
    fn busy_port_is_eaddrinuse() {
        let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std.local_addr().unwrap();
        let err = bind_per_core(addr, 2, 128).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn port_held_by_another_reuseport_group_is_eaddrinuse() {
        let (_first, addr) = bind_per_core("127.0.0.1:0".parse().unwrap(), 1, 128).unwrap();
        let err = bind_per_core(addr, 1, 128).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
