//! The guide's "Real-Time Chat Example": every client of `/chat` is kept in one set, and every
//! event (someone joined, a message, someone left) is broadcast as JSON to all of them; the join
//! and leave events carry the count of open chat sockets, which the page shows as "online".
//! `GET /` serves the chat page, `public/` beside this file (its script and stylesheet too).
//!
//! Kept apart from `main.rs` so the tests (`tests/chat.rs`) build the very same app in-process.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::SystemTime;

use imphnen::{
    App, Config, Ctx, HandlerError, HandlerResult, Message, ReadyState, Response, WebSocket,
    WebSocketHandler, WsCtx,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The chat application, served as `config` says.
pub fn app(config: Config) -> App {
    let mut app = App::new(config);
    app.ws("/chat", Chat::default());
    // 200 while serving, 503 once the graceful shutdown has started.
    app.health("/healthz");
    // The server's counters, for Prometheus.
    app.metrics("/metrics");
    serve_public(&mut app);
    app
}

/// The chat page: `public/index.html` at `/`, its script and stylesheet beside it, built into the
/// binary so the example runs from any directory.
// switch to static_files: `app.static_file("/", "examples/chat/public/index.html")` and
// `app.static_files("/", "examples/chat/public")` replace this function once they are merged.
fn serve_public(app: &mut App) {
    fn file(content_type: &'static str, body: &'static str) -> Response {
        Response::new(200)
            .with_header("content-type", content_type)
            .with_body(body)
    }
    app.get("/", |_: Ctx| {
        file(
            "text/html; charset=utf-8",
            include_str!("public/index.html"),
        )
    });
    app.get("/chat.js", |_: Ctx| {
        file(
            "text/javascript; charset=utf-8",
            include_str!("public/chat.js"),
        )
    });
    app.get("/chat.css", |_: Ctx| {
        file("text/css; charset=utf-8", include_str!("public/chat.css"))
    });
}

/// What clients send: `{"user": "...", "content": "..."}`.
#[derive(Deserialize)]
struct Incoming {
    user: Value,
    content: Value,
}

/// What every client receives.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    UserJoined {
        count: usize,
    },
    Message {
        user: Value,
        content: Value,
        timestamp: String,
    },
    UserLeft {
        count: usize,
    },
}

/// The `/chat` route; its `clients` set is shared by every connection on every core.
#[derive(Default)]
struct Chat {
    clients: Mutex<HashSet<WebSocket>>,
}

impl Chat {
    /// Sends `data` to every open client. The set stays locked while sending, so every client
    /// sees the events in the same order (a send only queues the frame; it never waits).
    fn broadcast<'a>(&self, clients: impl IntoIterator<Item = &'a WebSocket>, data: &Event) {
        let message = serde_json::to_string(data).expect("events serialize");
        for client in clients {
            if client.ready_state() == ReadyState::Open {
                client.send(&message);
            }
        }
    }
}

impl WebSocketHandler for Chat {
    async fn open(&self, ctx: &WsCtx) -> HandlerResult {
        let mut clients = self.clients.lock().unwrap();
        clients.insert(ctx.ws.clone());
        let count = clients.len();
        self.broadcast(&*clients, &Event::UserJoined { count });
        Ok(())
    }

    async fn message(&self, _ctx: &WsCtx, message: Message) -> HandlerResult {
        let data: Incoming = serde_json::from_slice(message.as_bytes())?;
        let clients = self.clients.lock().unwrap();
        self.broadcast(
            &*clients,
            &Event::Message {
                user: data.user,
                content: data.content,
                timestamp: iso_timestamp(SystemTime::now()),
            },
        );
        Ok(())
    }

    async fn close(&self, ctx: &WsCtx, _code: u16, _reason: &str) -> HandlerResult {
        let mut clients = self.clients.lock().unwrap();
        clients.remove(&ctx.ws);
        let count = clients.len();
        self.broadcast(&*clients, &Event::UserLeft { count });
        Ok(())
    }

    async fn error(&self, ctx: &WsCtx, error: &HandlerError) {
        eprintln!("WebSocket error: {error}");
        self.clients.lock().unwrap().remove(&ctx.ws);
    }
}

/// `time` as ISO 8601 in UTC with milliseconds, like JavaScript's `toISOString()`:
/// `2026-11-26T04:20:43.123Z` (RFC 3339's profile of it, as `humantime` prints it).
pub fn iso_timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}
