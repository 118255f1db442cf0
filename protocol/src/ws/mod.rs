//! WebSocket framing (RFC 6455): frames, masking, message assembly, close codes.

pub mod handshake;
