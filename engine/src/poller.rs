//! The per-core readiness set: one epoll instance holding every socket of the core, plus the
//! core's wake-up `eventfd` and tick `timerfd`.
//!
//! The core's driver task awaits the readiness of the epoll fd itself through monoio (an io_uring
//! `PollAdd`, or the legacy driver's own epoll), then drains ready events with a non-blocking
//! `epoll_wait`. A connection therefore costs a slab entry and a kernel registration, not a
//! parked future and a read buffer: buffers belong to the core (see DESIGN.md, "engine").
//!
//! Owns: the epoll/eventfd/timerfd file descriptors and their syscalls. Does not own: what a
//! ready event means (that is `core.rs`).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Interest in reading (`EPOLLIN`, plus `EPOLLRDHUP` so a peer's half-close is noticed).
pub const READ: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
/// Interest in writing (`EPOLLOUT`).
pub const WRITE: u32 = libc::EPOLLOUT as u32;

/// One ready event: the token registered with the fd and the readiness bits.
#[derive(Clone, Copy, Debug)]
pub struct Ready {
    /// Token given at registration (a slab key, or one of the reserved tokens).
    pub token: u64,
    /// `EPOLL*` bits.
    pub events: u32,
}

impl Ready {
    /// Readable, or the peer hung up / errored (a read will tell which).
    pub fn readable(&self) -> bool {
        self.events & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32
            != 0
    }

    /// Writable, or errored (a write will tell).
    pub fn writable(&self) -> bool {
        self.events & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0
    }
}

/// An epoll instance whose own readiness can be awaited inside monoio.
pub struct Poller {
    /// The epoll fd wrapped as a monoio stream purely to reach `readable()`: monoio exposes
    /// readiness waits (io_uring `PollAdd`) only on its socket types. No byte is ever read from it.
    waiter: monoio::net::TcpStream,
    epfd: RawFd,
    capacity: usize,
}

impl Poller {
    /// Creates the epoll instance. Must be called inside the core's monoio runtime.
    pub fn new(capacity: usize) -> io::Result<Poller> {
        // SAFETY: plain syscall; the result is checked.
        let epfd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `epfd` is a fresh fd we own; the std stream takes ownership and monoio's stream
        // closes it on drop. Socket options are never called on it.
        let std = unsafe { std::net::TcpStream::from_raw_fd(epfd) };
        let waiter = monoio::net::TcpStream::from_std(std)?;
        Ok(Poller {
            waiter,
            epfd,
            capacity: capacity.max(16),
        })
    }

    /// Registers `fd` with `interest` under `token`.
    pub fn add(&self, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// Changes the interest of a registered `fd`.
    pub fn modify(&self, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    /// Removes `fd` (closing an fd removes it too; this is for fds that stay open).
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: plain syscall; a null event pointer is allowed for EPOLL_CTL_DEL since 2.6.9.
        cvt(unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) })
            .map(drop)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest,
            u64: token,
        };
        // SAFETY: `ev` outlives the call; the result is checked.
        cvt(unsafe { libc::epoll_ctl(self.epfd, op, fd, &mut ev) }).map(drop)
    }

    /// Waits (asynchronously, letting other tasks of the core run) until some registered fd is ready.
    pub async fn wait_ready(&self) -> io::Result<()> {
        self.waiter.readable(false).await
    }

    /// Drains ready events without blocking, appending them to `out`.
    pub fn poll_now(&self, out: &mut Vec<Ready>) -> io::Result<()> {
        // Left uninitialised: the kernel fills the first `n` entries and only those are read
        // (zeroing 3 KiB every loop turn showed up as the top symbol under callgrind).
        let mut events = [const { MaybeUninit::<libc::epoll_event>::uninit() }; 256];
        let max = events.len().min(self.capacity);
        // SAFETY: the kernel writes at most `max` entries into `events`.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd,
                events.as_mut_ptr().cast::<libc::epoll_event>(),
                max as libc::c_int,
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
            ready_of(unsafe { ev.assume_init_ref() })
        }));
        Ok(())
    }
}

/// Converts the raw epoll event into a [`Ready`].
fn ready_of(ev: &libc::epoll_event) -> Ready {
    Ready {
        token: ev.u64,
        events: ev.events,
    }
}

/// A counter fd other threads write to wake the core (`eventfd(2)`).
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    /// A non-blocking eventfd.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall; the result is checked and owned.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Adds one to the counter, making the fd readable. Safe to call from any thread.
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64. A full counter (EAGAIN) is still readable: fine.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter so the fd stops being readable.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (already zero) is ignored.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// A periodic timer fd (`timerfd_create(2)`) that becomes readable every `period`.
pub struct TimerFd(OwnedFd);

impl TimerFd {
    /// A monotonic, non-blocking timer firing every `period`.
    pub fn periodic(period: Duration) -> io::Result<TimerFd> {
        // SAFETY: plain syscall; the result is checked and owned.
        let fd = cvt(unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        })?;
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let ts = libc::timespec {
            tv_sec: period.as_secs() as libc::time_t,
            tv_nsec: period.subsec_nanos() as libc::c_long,
        };
        let spec = libc::itimerspec {
            it_interval: ts,
            it_value: ts,
        };
        // SAFETY: `spec` outlives the call; the old value is not requested.
        cvt(unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) })?;
        Ok(TimerFd(owned))
    }

    /// Consumes the expirations so far.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN is ignored.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Turns a `-1` syscall result into the OS error.
pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}
