//! An epoll instance: a readiness set of file descriptors, each registered under a `u64` token.
//!
//! Owns: the epoll fd and its syscalls. Does not own: what a ready event means (the driver that
//! holds the set decides), nor how the core waits for the set itself (`driver::waiter`).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::fd::cvt;

/// Interest in reading (`EPOLLIN`, plus `EPOLLRDHUP` so a peer's half-close is noticed).
pub(crate) const READ: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
/// Interest in writing (`EPOLLOUT`).
pub(crate) const WRITE: u32 = libc::EPOLLOUT as u32;

/// Events drained per `epoll_wait`; more wait for the next call.
pub(crate) const MAX_EVENTS: usize = 256;

/// One ready event: the token registered with the fd and the readiness bits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ready {
    /// Token given at registration.
    pub(crate) token: u64,
    /// `EPOLL*` bits.
    pub(crate) events: u32,
}

impl Ready {
    /// Readable, or the peer hung up / errored (a read will tell which).
    pub(crate) fn readable(&self) -> bool {
        self.events & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32
            != 0
    }

    /// The socket errored or hung up: reported whatever the registered interest, as long as
    /// it lasts.
    pub(crate) fn hung_up(&self) -> bool {
        self.events & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0
    }

    /// Writable, or errored (a write will tell).
    pub(crate) fn writable(&self) -> bool {
        self.events & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0
    }
}

/// An epoll instance.
pub(crate) struct Epoll(OwnedFd);

impl Epoll {
    /// A new, empty set.
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall; the result is checked.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Registers `fd` with `interest` under `token`.
    pub(crate) fn add(&self, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// Changes the interest of a registered `fd`.
    pub(crate) fn modify(&self, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    /// Removes `fd` (closing an fd removes it too; this is for fds that stay open).
    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: plain syscall; a null event pointer is allowed for EPOLL_CTL_DEL since 2.6.9.
        cvt(unsafe {
            libc::epoll_ctl(
                self.0.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        })
        .map(drop)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest,
            u64: token,
        };
        // SAFETY: `ev` outlives the call; the result is checked.
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    /// Drains up to [`MAX_EVENTS`] ready events without blocking, appending them to `out`.
    pub(crate) fn poll_now(&self, out: &mut Vec<Ready>) -> io::Result<()> {
        // Left uninitialised: the kernel fills the first `n` entries and only those are read
        // (zeroing 3 KiB every loop turn showed up as the top symbol under callgrind).
        let mut events = [const { MaybeUninit::<libc::epoll_event>::uninit() }; MAX_EVENTS];
        // SAFETY: the kernel writes at most `MAX_EVENTS` entries into `events`.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                events.as_mut_ptr().cast::<libc::epoll_event>(),
                MAX_EVENTS as libc::c_int,
                0,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(err)
            };
        }
        out.extend(events[..n as usize].iter().map(|ev| {
            // SAFETY: `epoll_wait` initialised the first `n` entries.
            let ev = unsafe { ev.assume_init_ref() };
            Ready {
                token: ev.u64,
                events: ev.events,
            }
        }));
        Ok(())
    }
}

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}
