//! Sans-io protocol layer of imphnen: HTTP/1.1 (RFC 9112) and WebSocket (RFC 6455).
//!
//! Everything here is a pure function or a small state machine over byte buffers. Nothing in this
//! crate performs IO, spawns tasks or reads a clock it was not handed: the engine feeds bytes in and
//! writes the bytes that come out. Every decoder error names the exact wire reaction (an HTTP status
//! or a WebSocket close code), so the engine never has to guess what to say to a misbehaving peer.
#![deny(missing_docs)]

pub mod http;
pub mod ws;
