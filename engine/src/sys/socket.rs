//! Non-blocking socket syscalls on raw fds: accept, recv, send, shutdown, close.
//!
//! The epoll driver calls these only when the epoll set says a socket is ready, so every call is
//! non-blocking and reports `WouldBlock` instead of waiting. Owns: the syscalls and their error
//! mapping. Does not own: when to call them.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Result of one non-blocking read.
pub(crate) enum Recv {
    /// `n > 0` bytes arrived.
    Data(usize),
    /// Nothing to read now.
    WouldBlock,
    /// The peer closed its sending side (orderly FIN).
    Eof,
}

/// Reads into `buf` without blocking.
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<Recv> {
    loop {
        // SAFETY: `buf` is valid for `buf.len()` writable bytes.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n > 0 {
            return Ok(Recv::Data(n as usize));
        }
        if n == 0 {
            return Ok(if buf.is_empty() {
                Recv::WouldBlock
            } else {
                Recv::Eof
            });
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(Recv::WouldBlock),
            _ => return Err(err),
        }
    }
}

/// Writes as much of `buf` as the socket takes now; returns the count (0 when it would block).
/// `MSG_NOSIGNAL`: a peer that went away yields `EPIPE`, not a process-killing `SIGPIPE`.
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for `buf.len()` readable bytes.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(0),
            _ => return Err(err),
        }
    }
}

/// Writes as much of `bufs`, in order, as the socket takes now (`sendmsg(2)`, one syscall);
/// returns the count (0 when it would block).
pub(crate) fn send_vectored(fd: RawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is guaranteed ABI-compatible with `iovec` on Unix.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len() as _;
    loop {
        // SAFETY: `msg` points at `bufs.len()` valid iovecs that outlive the call.
        let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(0),
            _ => return Err(err),
        }
    }
}

/// Accepts one pending connection as a non-blocking fd (`TCP_NODELAY` comes from the
/// listener, `sys/listener.rs`).
/// `Ok(None)` when none is pending.
pub(crate) fn accept(listener: RawFd) -> io::Result<Option<(RawFd, SocketAddr)>> {
    let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    loop {
        // SAFETY: `storage` has room for any address; `len` says how much.
        let fd = unsafe {
            libc::accept4(
                listener,
                storage.as_mut_ptr().cast(),
                &mut len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel filled `len` bytes of the storage.
            let addr = unsafe { sockaddr_to_std(storage.as_ptr()) };
            return Ok(Some((fd, addr)));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(None),
            // The connection was reset before we took it: nothing to serve.
            Some(libc::ECONNABORTED) | Some(libc::EPROTO) => continue,
            _ => return Err(err),
        }
    }
}

/// Closes our sending side (sends FIN) while keeping the fd to read what the peer still sends.
pub(crate) fn shutdown_write(fd: RawFd) {
    // SAFETY: plain syscall on an fd we own; errors (already closed) are irrelevant.
    unsafe { libc::shutdown(fd, libc::SHUT_WR) };
}

/// The socket's pending error (`SO_ERROR`, which reading clears), or `ConnectionAborted` when
/// it has none (it hung up without one).
pub(crate) fn take_error(fd: RawFd) -> io::Error {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` outlive the call and describe an `int`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    match (r, err) {
        (r, _) if r < 0 => io::Error::last_os_error(),
        (_, 0) => io::ErrorKind::ConnectionAborted.into(),
        (_, err) => io::Error::from_raw_os_error(err),
    }
}

/// Closes the fd (which also removes it from every epoll set).
pub(crate) fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and never uses it again.
    unsafe { libc::close(fd) };
}

/// # Safety
/// `storage` must point to a `sockaddr_storage` the kernel filled with an AF_INET/AF_INET6 address.
pub(crate) unsafe fn sockaddr_to_std(storage: *const libc::sockaddr_storage) -> SocketAddr {
    // SAFETY: guaranteed by the caller; the family tag selects the layout.
    unsafe {
        match (*storage).ss_family as libc::c_int {
            libc::AF_INET6 => {
                let a = &*(storage as *const libc::sockaddr_in6);
                SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                ))
            }
            _ => {
                let a = &*(storage as *const libc::sockaddr_in);
                SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                ))
            }
        }
    }
}

/// The address of the peer of a connected socket (`getpeername(2)`).
pub(crate) fn peer_addr(fd: RawFd) -> io::Result<SocketAddr> {
    let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` has room for any address; `len` says how much.
    let r = unsafe { libc::getpeername(fd, storage.as_mut_ptr().cast(), &mut len) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled `len` bytes of the storage with the peer's address.
    Ok(unsafe { sockaddr_to_std(storage.as_ptr()) })
}
