//! The WebSocket opening handshake (RFC 6455 §4.2): validating the upgrade request and writing the 101 response.
