//! Marker types that tell apart the kinds of closures an [`App`](crate::App) accepts: one that
//! returns its answer and one that returns a future of it. They only steer the choice of an
//! implementation at compile time; a program never names them.

use std::marker::PhantomData;

/// A closure that returns its answer (of type `R`) directly.
pub struct Returns<R>(PhantomData<R>);

/// A closure that returns a future (of type `F`) of its answer.
pub struct Awaits<F>(PhantomData<F>);

/// A type that implements [`Middleware`](crate::middleware::Middleware) itself.
pub struct Implements;
