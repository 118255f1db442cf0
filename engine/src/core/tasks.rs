//! Running user futures: poll once in place, keep only what is not finished, inside the core's
//! own task.
//!
//! Most handler futures finish on their first poll (they send a reply and return), so the core
//! polls each one immediately, inside the turn that produced the event. A future that returns
//! `Pending` joins the core's set of running futures (`FuturesUnordered`), which the core's task
//! polls while it waits; a finished one comes back as a [`Finished`] for the turn to act on (write
//! the response, resume the connection). Every poll is wrapped in `catch_unwind`: a panicking
//! handler costs its own connection, never the core.
//!
//! The first poll cannot use a no-op waker: some wakers are kept from the first poll only (monoio
//! 0.2.4's timer entry stores a waker once and never replaces it), so a `sleep` first polled with
//! a no-op waker would never wake. The first poll uses a [`Forward`] waker instead, and later
//! polls keep using it, pointing it at the waker of the set. Futures that finish at once leave the
//! forwarder unshared, and it is reused for the next one: no allocation there.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::Response;
use crate::driver::Token;
use crate::service::{Call, HandlerResult, LocalFuture, Upgrade};

use super::http::Offer;

/// A handler future that finished after its first poll, and what it was for.
pub(crate) enum Finished {
    /// The response to connection `token`'s request in flight (`Err`: the panic message).
    Http(Token, Result<Response, String>),
    /// `open` or `message` of WebSocket `token`.
    Ws(Token, Result<HandlerResult, String>),
    /// The service's decision on connection `token`'s upgrade, with what its 101 needs.
    Upgrade(Token, Box<Offer>, Result<Upgrade, String>),
    /// A future nobody waits for (`close`, `error`, `drain`).
    Detached,
}

type Running = Pin<Box<dyn Future<Output = Finished>>>;

/// The core's running futures. Empty, it owns no allocation (the set is made on first use), so
/// it can be moved out and back around a poll for free.
#[derive(Default)]
pub(crate) struct Tasks {
    running: Option<FuturesUnordered<Running>>,
    finished: Vec<Finished>,
}

impl Tasks {
    /// Adds a future that did not finish on its first poll.
    pub(crate) fn push<T: 'static>(
        &mut self,
        fut: LocalFuture<T>,
        done: impl FnOnce(Result<T, String>) -> Finished + 'static,
    ) {
        self.running
            .get_or_insert_with(FuturesUnordered::new)
            .push(Box::pin(async move { done(CatchUnwind(Some(fut)).await) }));
    }

    /// Polls the running futures with the core task's context; `true` when some finished.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(running) = self.running.as_mut() {
            while let Poll::Ready(Some(f)) = running.poll_next_unpin(cx) {
                self.finished.push(f);
            }
        }
        !self.finished.is_empty()
    }

    /// Some futures finished and wait to be acted on.
    #[inline]
    pub(crate) fn has_finished(&self) -> bool {
        !self.finished.is_empty()
    }

    /// Nothing runs and nothing finished.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.finished.is_empty() && self.running.as_ref().is_none_or(FuturesUnordered::is_empty)
    }

    /// The futures that finished since the last call.
    pub(crate) fn take_finished(&mut self) -> Vec<Finished> {
        std::mem::take(&mut self.finished)
    }

    /// Futures still running.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.running.as_ref().map_or(0, FuturesUnordered::len)
    }
}

/// A future's first poll: finished (with its output or a panic message) or still running.
pub(crate) enum Polled<T> {
    /// Finished on the first poll; `Err` carries the panic message.
    Done(Result<T, String>),
    /// Still running.
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

/// Drives a future to completion, turning a panic into `Err(message)`.
struct CatchUnwind<T>(Option<LocalFuture<T>>);

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

    use super::{Finished, Polled, Tasks, poll_once};

    /// A handler that awaits a timer is woken: the timer keeps the first poll's waker.
    #[test]
    fn future_pending_on_a_timer_at_first_poll_finishes_in_the_set() {
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
            let mut tasks = Tasks::default();
            tasks.push(fut, |r| {
                assert_eq!(r, Ok(7));
                Finished::Detached
            });
            let finished = monoio::time::timeout(
                Duration::from_secs(2),
                std::future::poll_fn(|cx| {
                    if tasks.poll(cx) {
                        std::task::Poll::Ready(())
                    } else {
                        std::task::Poll::Pending
                    }
                }),
            )
            .await;
            assert!(finished.is_ok(), "the sleeping future was never woken");
            assert_eq!(tasks.take_finished().len(), 1);
            assert_eq!(tasks.len(), 0);
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
