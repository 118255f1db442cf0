//! TLS (RFC 8446, and TLS 1.2 for older clients) between the driver and the protocol phases:
//! wss:// and https:// served by rustls used as a state machine over the core's own buffers.
//!
//! The driver's received bytes are records: [`Sessions`] decrypts them in place (rustls'
//! unbuffered API), keeps only the bytes of a record not yet complete, and hands the plaintext
//! over in a per-core scratch buffer; the core runs its HTTP and WebSocket phases over it
//! exactly as it runs them over a plain connection's bytes (input it holds back stays
//! plaintext). At the flush, a connection's plaintext output is encrypted into a new
//! [`SendQueue`](crate::buf::SendQueue) that goes to the driver the usual way; records rustls
//! makes on its own (the handshake, session tickets, alerts, `close_notify`) leave the same
//! way, even when there is no plaintext. An idle connection holds no buffer here.
//!
//! Owns: [`TlsConfig`] (the certificate, key and rustls settings a server starts with or
//! reloads) and each TLS connection's rustls state, kept by the core beside its slab under the
//! connection's slot (so a connection's slot stays small; one flag says the connection speaks
//! TLS). Does not own: the connection's queued-byte count (`conn/output.rs` moves it from the
//! plaintext to the records that carry it), the handshake deadline (the core's timers), or any
//! IO: nothing here calls a driver or user code.
//!
//! kTLS would plug in at the flush: once a handshake is over, the session's traffic secrets
//! (`UnbufferedServerConnection::dangerous_into_kernel_connection`) would be handed to the
//! socket with the `tls` ULP, and the connection would go on as a plain one; the kernel here
//! has no `tls` module.

mod config;
mod random;
mod session;

pub use config::TlsConfig;
pub(crate) use session::{Received, Sessions};
