//! Running user futures: poll once in place, keep running only what is not finished.
//!
//! Most handler futures finish on their first poll (they send a reply and return), so the engine
//! polls each one immediately, inside the loop turn that produced the event, with a no-op waker.
//! Only a future that returns `Pending` is handed to monoio as a task of the core (monoio polls it
//! again at once with a real waker). Every poll is wrapped in `catch_unwind`: a panicking handler
//! costs its own connection, never the core.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::service::LocalFuture;

/// A future's first poll: finished (with its output or a panic message) or still running.
pub(crate) enum Polled<T> {
    /// Finished on the first poll; `Err` carries the panic message.
    Done(Result<T, String>),
    /// Still running; drive it with [`finish`].
    Pending(LocalFuture<T>),
}

/// Polls `fut` once with a no-op waker, catching a panic.
pub(crate) fn poll_once<T>(mut fut: LocalFuture<T>) -> Polled<T> {
    let mut cx = Context::from_waker(Waker::noop());
    match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(v)) => Polled::Done(Ok(v)),
        Ok(Poll::Pending) => Polled::Pending(fut),
        Err(payload) => Polled::Done(Err(panic_message(payload))),
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
