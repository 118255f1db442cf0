//! Running user futures: poll once in place, keep running only what is not finished.
//!
//! Most handler futures finish on their first poll (they send a reply and return), so the engine
//! polls each one immediately, inside the loop turn that produced the event. Only a future that
//! returns `Pending` is handed to monoio as a task of the core. Every poll is wrapped in
//! `catch_unwind`: a panicking handler costs its own connection, never the core.
//!
//! The first poll cannot use a no-op waker: some wakers are kept from the first poll only (monoio
//! 0.2.4's timer entry stores a waker once and never replaces it), so a `sleep` first polled with
//! a no-op waker would never wake its task. The first poll uses a [`Forward`] waker instead, and
//! the task keeps polling with that same waker, pointing it at its own waker. Futures that finish
//! at once leave the forwarder unshared, and it is reused for the next one: no allocation there.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::conn::Token;
use crate::core::Core;
use crate::service::{Call, LocalFuture};

/// A future's first poll: finished (with its output or a panic message) or still running.
pub(crate) enum Polled<T> {
    /// Finished on the first poll; `Err` carries the panic message.
    Done(Result<T, String>),
    /// Still running; drive it with [`finish`].
    Pending(LocalFuture<T>),
}

/// Calls `make` for a handler's future and polls it once, catching a panic in either: user code
/// may run (and panic) while the future is built, before there is a future to poll (the facade's
/// synchronous handlers run right there and answer [`Call::Ready`]).
pub(crate) fn start<T: 'static>(make: impl FnOnce() -> Call<T>) -> Polled<T> {
    match catch_unwind(AssertUnwindSafe(make)) {
        Ok(Call::Ready(v)) => Polled::Done(Ok(v)),
        Ok(Call::Future(fut)) => poll_once(fut),
        Err(payload) => Polled::Done(Err(panic_message(payload))),
    }
}

/// Polls `fut` once with a [`Forward`] waker, catching a panic.
pub(crate) fn poll_once<T: 'static>(mut fut: LocalFuture<T>) -> Polled<T> {
    let forward = SPARE_FORWARD
        .with(|spare| spare.borrow_mut().take())
        .unwrap_or_default();
    let waker = Waker::from(forward.clone());
    let mut cx = Context::from_waker(&waker);
    let polled = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
    let result = match polled {
        Ok(Poll::Pending) => {
            return Polled::Pending(Box::pin(Forwarded {
                fut,
                waker,
                forward,
            }));
        }
        Ok(Poll::Ready(v)) => Ok(v),
        Err(payload) => Err(panic_message(payload)),
    };
    drop(waker);
    // Nobody kept the waker: the forwarder can serve the next future.
    if Arc::strong_count(&forward) == 1 {
        SPARE_FORWARD.with(|spare| *spare.borrow_mut() = Some(forward));
    }
    Polled::Done(result)
}

thread_local! {
    /// A forwarder no future holds, for the next [`poll_once`].
    static SPARE_FORWARD: RefCell<Option<Arc<Forward>>> = const { RefCell::new(None) };
}

/// A waker that wakes whichever waker was last given to it: the first poll's waker, which the
/// future may keep for good, reaches the task that polls the future afterwards.
#[derive(Default)]
struct Forward(Mutex<Option<Waker>>);

impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let target = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(target) = target {
            target.wake();
        }
    }
}

/// A future that returned `Pending` from [`poll_once`], polled on with the same waker.
struct Forwarded<T> {
    fut: LocalFuture<T>,
    waker: Waker,
    forward: Arc<Forward>,
}

impl<T> Future for Forwarded<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        {
            let mut target = self.forward.0.lock().unwrap_or_else(|e| e.into_inner());
            if !target.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *target = Some(cx.waker().clone());
            }
        }
        let this = &mut *self;
        this.fut
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker))
    }
}

/// Drives `fut` to completion as a task, turning a panic into `Err(message)`.
pub(crate) fn finish<T>(fut: LocalFuture<T>) -> CatchUnwind<T> {
    CatchUnwind(Some(fut))
}

/// See [`finish`].
pub(crate) struct CatchUnwind<T>(Option<LocalFuture<T>>);

impl<T> Future for CatchUnwind<T> {
    type Output = Result<T, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(fut) = self.0.as_mut() else {
            return Poll::Pending; // polled after completion: never resolves again
        };
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                self.0 = None;
                Poll::Ready(Ok(v))
            }
            Err(payload) => {
                // A future that panicked is not polled again; dropping it may panic as well.
                if let Some(f) = self.0.take() {
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(f)));
                }
                Poll::Ready(Err(panic_message(payload)))
            }
        }
    }
}

/// Runs `fut` to completion on the current core, ignoring its output (used for `on_close` and
/// `on_error`, whose results have no one left to report to).
pub(crate) fn detach<T: 'static>(fut: LocalFuture<T>) {
    if let Polled::Pending(fut) = poll_once(fut) {
        monoio::spawn(async move {
            let _ = finish(fut).await;
        });
    }
}

impl Core {
    /// Runs a handler of connection `t`: its future is built and polled at once; if it is not
    /// finished, it continues as a task of the core while the connection's next events wait
    /// (`busy`), and the connection resumes when it is done. `done` receives the outcome either way.
    pub(crate) fn run_handler<T: 'static>(
        &self,
        t: Token,
        make: impl FnOnce() -> Call<T>,
        done: fn(&Core, Token, Result<T, String>),
    ) {
        match start(make) {
            Polled::Done(r) => done(self, t, r),
            Polled::Pending(fut) => {
                if let Some(c) = self.conns.borrow_mut().get_mut(t) {
                    c.busy = true;
                }
                let core = self.rc();
                monoio::spawn(async move {
                    let r = finish(fut).await;
                    if let Some(c) = core.conns.borrow_mut().get_mut(t) {
                        c.busy = false;
                    }
                    done(&core, t, r);
                    core.process_leftover(t);
                    core.after_io(t);
                });
            }
        }
    }
}

/// The text of a panic payload, when it is a string.
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use monoio::{FusionDriver, RuntimeBuilder};

    use super::{Polled, finish, poll_once};

    /// A handler that awaits a timer is woken: the timer keeps the first poll's waker.
    #[test]
    fn future_pending_on_a_timer_at_first_poll_completes_as_a_task() {
        let mut rt = RuntimeBuilder::<FusionDriver>::new()
            .enable_timer()
            .build()
            .expect("a monoio runtime");
        rt.block_on(async {
            let fut = Box::pin(async {
                monoio::time::sleep(Duration::from_millis(1)).await;
                7
            });
            let Polled::Pending(fut) = poll_once(fut) else {
                panic!("a sleep is pending at first");
            };
            let task = monoio::spawn(finish(fut));
            let finished = monoio::time::timeout(Duration::from_secs(2), task).await;
            assert_eq!(
                finished.expect("the sleeping future was never woken"),
                Ok(7)
            );
        });
    }

    #[test]
    fn future_ready_at_first_poll_is_done() {
        assert!(matches!(
            poll_once(Box::pin(async { 1 })),
            Polled::Done(Ok(1))
        ));
        // And again, with the forwarder the first one left behind.
        assert!(matches!(
            poll_once(Box::pin(async { 2 })),
            Polled::Done(Ok(2))
        ));
    }
}
