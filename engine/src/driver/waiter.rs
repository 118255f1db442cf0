//! [`FdWaiter`]: awaits the readability of one file descriptor inside monoio, which is how a core
//! sleeps until its driver has something (an epoll set, later an io_uring ring).

use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::rc::Rc;

/// Awaits readability of a duplicate of an fd.
#[derive(Clone)]
pub(crate) struct FdWaiter(Rc<monoio::net::TcpStream>);

impl FdWaiter {
    /// A waiter on a duplicate of `fd` (the caller keeps `fd`). Must be called inside the
    /// core's monoio runtime.
    pub(crate) fn new(fd: RawFd) -> io::Result<FdWaiter> {
        // SAFETY: plain syscall; the result is checked.
        let dup = crate::sys::fd::cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
        // monoio exposes readiness waits (io_uring `PollAdd`, or its legacy driver's epoll) only
        // on its socket types, so the duplicate is wrapped as one purely to reach `readable()`:
        // no byte is read from it and no socket option is set on it.
        // SAFETY: `dup` is a fresh descriptor we own; the stream closes it on drop.
        let std = unsafe { std::net::TcpStream::from_raw_fd(dup) };
        Ok(FdWaiter(Rc::new(monoio::net::TcpStream::from_std(std)?)))
    }

    /// Resolves once the fd is readable (monoio's own future: no state machine of ours around
    /// it, polled twice every turn).
    pub(crate) fn ready(&self) -> impl std::future::Future<Output = io::Result<()>> + '_ {
        self.0.readable(false)
    }
}
