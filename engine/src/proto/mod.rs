//! Protocol handling as functions over one connection's state: given the phase's state, the
//! bytes that arrived and the limits, each returns how many bytes it consumed and at most one
//! event the core must act on (a request to answer, an upgrade, a message to deliver, a close).
//! Answers that need no decision (a pong, `100 Continue`) are written into the output here.
//!
//! Architecture invariant: these functions call no user code, no driver and no other
//! connection; the core carries out their events after they return. The permessage-deflate
//! streams (`deflate.rs`) are the one state shared by a core's connections here: plain data,
//! borrowed for one message at a time.

pub(crate) mod deflate;
pub(crate) mod http;
pub(crate) mod ws;
