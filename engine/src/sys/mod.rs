//! The operating system below the engine: socket syscalls, binding the per-core listeners, the
//! epoll set, the io_uring ring and its provided buffers, and the eventfd and timerfd the
//! drivers wait on.
//!
//! Architecture invariant: nothing here knows about connections, protocols or the runtime; every
//! function is a thin, checked wrapper over a syscall or `socket2`.

pub(crate) mod epoll;
pub(crate) mod fd;
pub(crate) mod listener;
pub(crate) mod socket;
pub(crate) mod uring;
