//! Sockets for the client side: nonblocking connects (optionally from a chosen 127.0.0.x
//! source address so tens of thousands of connections do not run out of ephemeral ports),
//! the open-file limit, and random bytes from the kernel.
//!
//! Owns socket creation only; reading and writing live in `conn`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

/// Starts a nonblocking TCP connect to `addr` from `source` (port chosen at connect time).
pub fn connect(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<mio::net::TcpStream> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    socket.set_nodelay(true)?;
    if let Some(ip) = source {
        let one: libc::c_int = 1;
        // SAFETY: valid fd, option value points to a live c_int of the stated size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

/// The source address for connection number `i` when spreading over `n` addresses
/// 127.0.0.1..=127.0.0.n; `None` (kernel's choice) when `n <= 1` or the target is not IPv4.
pub fn source_for(i: usize, n: usize, target: SocketAddr) -> Option<IpAddr> {
    if n <= 1 || !target.is_ipv4() {
        return None;
    }
    let last = 1 + (i % n.min(254)) as u8;
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
}

/// Source addresses to use for `connections` sockets when the user left `--source-ips` at
/// 0: one address per ~20,000 connections (a 127.0.0.x address has ~28,000 ephemeral ports).
pub fn auto_source_ips(requested: usize, connections: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        connections.div_ceil(20_000)
    }
}

/// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the resulting soft limit.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer for getrlimit/setrlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
    }
    lim.rlim_cur
}

/// Fills `buf` with random bytes from the kernel (handshake keys, masks, seeds).
pub fn random_bytes(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: writes at most the remaining length into `buf`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        } else if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            panic!("getrandom failed: {}", io::Error::last_os_error());
        }
    }
}

/// A fresh random value of a fixed-size byte array.
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    random_bytes(&mut out);
    out
}
