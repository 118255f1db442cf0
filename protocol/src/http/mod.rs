//! HTTP/1.1 (RFC 9112): request heads, message bodies, responses, and the WebSocket opening handshake.
