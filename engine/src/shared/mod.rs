//! The `Send + Sync` side of the engine: what threads other than a connection's core may touch.
//!
//! - `handle`: [`WebSocket`](crate::WebSocket), the address of one connection plus its peer.
//! - `slots`: per-core tables of per-connection atomics (state, generation, queued bytes, flags).
//! - `command`: what a thread asks of a core.
//! - `ring`: the bounded single-producer single-consumer ring between two cores.
//! - `inbox`: a core's receiving side (plain-thread queue, wake-up fd).
//! - `local`: the thread-local identity of a core thread, which picks each command's path.
//! - `topics`: the topic registry, the one authority on subscriptions.
//! - `hub`: what one server's cores and handles share.
//! - `admission`: the connection limits, counted across cores at accept and close.
//! - `metrics`: per-core counters, summed into [`Metrics`](crate::Metrics) when read.
//!
//! Architecture invariant: nothing here depends on the core, its connections or its driver. The
//! core reads this layer; this layer never reaches into the core: it only queues commands.

pub(crate) mod admission;
pub(crate) mod command;
pub(crate) mod handle;
pub(crate) mod hub;
pub(crate) mod inbox;
pub(crate) mod local;
pub(crate) mod metrics;
pub(crate) mod ring;
pub(crate) mod slots;
pub(crate) mod topics;
