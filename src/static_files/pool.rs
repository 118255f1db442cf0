//! The bounded blocking pool that file system calls run on, so that a core never waits for a
//! disk.
//!
//! Owns its threads and its queue, and nothing else: a job is a closure, its result comes back
//! through a oneshot channel whose waker the core's task is polled with. The pool is one per
//! process, started on first use: [`THREADS`] threads and at most [`QUEUE`] jobs waiting; a job
//! that finds the queue full is refused at once (the caller answers `503`), never queued without
//! a bound. A job whose requester went away (connection closed) still runs; its result is
//! dropped.
//!
//! Why a pool and not monoio's file operations: monoio 0.2.4's `fs` is asynchronous only on its
//! io_uring driver; on its legacy driver (the one it falls back to where io_uring is refused,
//! the same machines our epoll driver is for, and the one `Stepper` runs on) every `open` and
//! `read` is a plain system call on the core. The pool behaves the same under every driver, and
//! lets `open.rs` use `openat2` with `RESOLVE_BENEATH`, which monoio does not offer.

use std::cell::Cell;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use futures_channel::oneshot;

/// Threads reading files. Page-cache hits are memory copies and disk reads wait on the device,
/// so a few more threads than a small machine's cores keep both going; four bound the memory of
/// reads in flight to four files.
pub(crate) const THREADS: usize = 4;

/// Jobs waiting for a thread. Past it, requests are answered `503` with `Retry-After: 1`
/// instead of piling up behind a slow disk.
pub(crate) const QUEUE: usize = 1024;

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// This thread steps a core by hand: jobs run in place.
    static IN_PLACE: Cell<bool> = const { Cell::new(false) };
}

/// From now on, jobs queued from this thread run on it, at once (`App::stepper`'s thread).
pub(crate) fn run_in_place_on_this_thread() {
    IN_PLACE.set(true);
}

/// The process's pool.
struct Pool {
    jobs: SyncSender<Job>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..THREADS {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("imphnen-fs-{i}"))
                .spawn(move || work(&queue))
                .expect("imphnen: cannot start a file-reading thread");
        }
        Pool { jobs }
    })
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held while waiting for a job only; the job runs without it.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            // A panicking job (a bug) must not take the thread with it.
            Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
            Err(_) => return,
        }
    }
}

/// The pool is full: the job was not queued.
#[derive(Debug)]
pub(crate) struct Busy;

/// Queues `job` and returns the receiver of its result (cancelled when the job panicked).
pub(crate) fn run<T, F>(job: F) -> Result<oneshot::Receiver<T>, Busy>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    if IN_PLACE.get() {
        let _ = tx.send(job());
        return Ok(rx);
    }
    let job: Job = Box::new(move || {
        let _ = tx.send(job());
    });
    match pool().jobs.try_send(job) {
        Ok(()) => Ok(rx),
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Busy),
    }
}
