//! The guide's "Real-Time Chat Example": every client of `/chat` is kept in one set, and every
//! event (someone joined, a message, someone left) is broadcast as JSON to all of them. `GET /`
//! serves the chat page.
//!
//! Kept apart from `main.rs` so the tests (`tests/chat.rs`) build the very same app in-process.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use imphnen::{
    App, Config, Ctx, HandlerError, HandlerResult, Message, ReadyState, WebSocket,
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
    // Serve chat client
    app.get("/", |ctx: Ctx| ctx.html(PAGE));
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
/// `2026-11-26T04:20:43.123Z`.
pub fn iso_timestamp(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, secs_of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// The proleptic Gregorian (year, month, day) of `days` after 1970-01-01.
///
/// Counts in 400-year eras (146,097 days each) starting on 0000-03-01, so that the leap day is
/// the last day of each counted year; then shifts the months back to start in January.
fn civil_date(days: u64) -> (u64, u64, u64) {
    const DAYS_0000_03_01_TO_1970_01_01: u64 = 719_468;
    let z = days + DAYS_0000_03_01_TO_1970_01_01;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// The chat page: the guide's client, connecting to whatever host served it, plus the count of
/// people online from the `user_joined` / `user_left` events.
const PAGE: &str = r#"<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>imphnen chat</title>
</head>
<body>
  <p><span id="count">0</span> online</p>
  <div id="messages"></div>
  <input type="text" id="input" placeholder="Type message..." />
  <script>
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat');
    const messages = document.getElementById('messages');
    const input = document.getElementById('input');
    const count = document.getElementById('count');

    ws.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (data.type === 'user_joined' || data.type === 'user_left') {
        count.textContent = data.count;
        return;
      }
      const div = document.createElement('div');
      div.className = 'message';
      div.textContent = `[${data.timestamp}] ${data.user}: ${data.content}`;
      messages.appendChild(div);
    };

    input.addEventListener('keypress', (e) => {
      if (e.key === 'Enter' && input.value) {
        ws.send(JSON.stringify({
          user: 'User',
          content: input.value
        }));
        input.value = '';
      }
    });
  </script>
</body>
</html>
"#;
