//! The guide's "Real-Time Chat Example": every client of `/chat` is kept in one set, and every
//! event (someone joined, a message, someone left) is broadcast as JSON to all of them; the join
//! and leave events carry the count of open chat sockets, which the page shows as "online".
//! `GET /` serves the chat page from `public/` beside this file (its script and stylesheet too)
//! through `app.static_files`.
//!
//! Kept apart from `main.rs` so the tests (`tests/chat.rs`) build the very same app in-process.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::SystemTime;

use imphnen::{
    AllowedOrigins, App, Config, HandlerError, HandlerResult, Message, ReadyState, WebSocket,
    WebSocketHandler, WsCtx,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The page's files, read from the source tree so that the example serves the same files from
/// any working directory.
const PUBLIC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/chat/public");

/// The chat application, served as `config` says, except that only pages of the host the
/// browser asked for may open its WebSocket (the chat trusts whoever connects: a page on another
/// site must not join in the user's name).
pub fn app(mut config: Config) -> App {
    config.websocket.allowed_origins = AllowedOrigins::SameHost;
    let mut app = App::new(config);
    app.ws("/chat", Chat::default());
    // 200 while serving, 503 once the graceful shutdown has started.
    app.health("/healthz");
    // The server's counters, for Prometheus.
    app.metrics("/metrics");
    // The page at `/`, its script and stylesheet beside it (`/chat.js`, `/chat.css`).
    app.static_file("/", format!("{PUBLIC}/index.html"));
    app.static_files("/", PUBLIC);
    app
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
