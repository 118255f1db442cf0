//! The HTTP/1.1 phase (RFC 9112): one complete request at a time out of the input.
//!
//! A request's head is parsed where it lies (`httparse`, through the protocol crate), its body
//! collected (Content-Length or chunked, within the limits) and the request handed back as an
//! event; a valid `Upgrade: websocket` head is handed back as such, since the rest of the input
//! then belongs to the WebSocket. Malformed input is an event too: the core answers it with its
//! status and closes.

use bytes::Bytes;
use imphnen_protocol::http::{
    BodyDecoder, BodyFraming, HeaderSlots, HttpError, Limits, Method, Parsed, RequestHead,
    parse_request, write_continue,
};

use crate::Request;
use crate::buf::QueuePool;
use crate::conn::{HttpConn, Millis, Output, PendingBody, ResponseFraming};

/// What the core must do after [`read`].
pub(crate) enum HttpEvent<'h> {
    /// A complete request without a body: its head (the core builds the owned `Request` where
    /// it hands it over, so the large struct is not moved through the layers between).
    Head(RequestHead<'h>, &'h [u8], ResponseFraming),
    /// A complete request with its body.
    WithBody(Box<PendingBody>),
    /// A WebSocket upgrade request: its head and the head's bytes; the input after them is the
    /// WebSocket's.
    Upgrade(RequestHead<'h>, &'h [u8]),
    /// Malformed or over a limit: answer with this error's status and close.
    Refuse(HttpError),
}

/// What [`read`] needs besides the connection's state.
pub(crate) struct HttpLimits<'a> {
    pub(crate) limits: &'a Limits,
    pub(crate) now: Millis,
    /// Keep-alive is allowed (the core is not shutting down).
    pub(crate) keep_alive: bool,
}

/// Reads at most one request out of `input`; returns the bytes consumed and the event, if a
/// request (or an upgrade, or a refusal) is complete. `None` means: more bytes are needed.
pub(crate) fn read<'h>(
    http: &mut HttpConn,
    input: &'h [u8],
    slots: &'h mut HeaderSlots<'h>,
    ctx: &HttpLimits<'_>,
    output: &mut Output,
    queues: &mut QueuePool,
) -> (usize, Option<HttpEvent<'h>>) {
    let mut pos = 0;
    if http.body.is_none() {
        if input.is_empty() {
            http.request_started = None;
            return (0, None);
        }
        let head = match parse_request(input, slots, ctx.limits) {
            Err(e) => return (input.len(), Some(HttpEvent::Refuse(e))),
            Ok(Parsed::Partial) => {
                http.request_started.get_or_insert(ctx.now);
                return (0, None);
            }
            Ok(Parsed::Complete(head, head_len)) => (head, head_len),
        };
        let (head, head_len) = head;
        let head_bytes = &input[..head_len];
        if is_websocket_upgrade(&head) {
            return (head_len, Some(HttpEvent::Upgrade(head, head_bytes)));
        }
        let framing = ResponseFraming {
            head_only: head.method() == Method::Head,
            keep_alive: head.keep_alive() && ctx.keep_alive,
        };
        let body_framing = head.body_framing();
        pos = head_len;
        if body_framing == BodyFraming::None {
            http.request_started = None;
            return (pos, Some(HttpEvent::Head(head, head_bytes, framing)));
        }
        let request = Request::from_head(&head, head_bytes, Bytes::new(), http.peer);
        http.request_started.get_or_insert(ctx.now);
        if head.expects_continue() && pos == input.len() {
            // RFC 9110 §10.1.1: the client waits for this before it sends the body.
            output.write(queues, None, write_continue);
        }
        http.body = Some(Box::new(PendingBody {
            request,
            decoder: BodyDecoder::new(body_framing, ctx.limits),
            body: Vec::new(),
            framing,
        }));
    }
    let pending = http.body.as_mut().expect("a body is pending");
    match pending.decoder.decode(&input[pos..], &mut pending.body) {
        Err(e) => (input.len(), Some(HttpEvent::Refuse(e))),
        Ok(progress) if pending.decoder.is_done() => {
            let done = http.body.take().expect("checked");
            http.request_started = None;
            (pos + progress.consumed, Some(HttpEvent::WithBody(done)))
        }
        Ok(progress) => (pos + progress.consumed, None),
    }
}

/// `Connection: upgrade` with `Upgrade: websocket` (the protocol crate validates the rest).
fn is_websocket_upgrade(head: &RequestHead<'_>) -> bool {
    head.upgrade().is_some_and(|u| {
        u.split(|&b| b == b',')
            .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"websocket"))
    })
}
