//! Every snippet of the guide besides the chat example, each at its own path of one app:
//!
//! | path | snippet |
//! |---|---|
//! | `/quickstart` | Quick Start: `Welcome!` on open, `Echo: <msg>` for each message |
//! | `/echo` | Testing WebSocket Endpoints: `Echo: <msg>` |
//! | `/room/:roomId` | Route Parameters: `[<roomId>] <msg>` |
//! | `/users/:userId?` | optional parameter: `User <id> connected` or `Anonymous connected` |
//! | `/connect` | Query Parameters: no `token` closes with 4001 |
//! | `/info` | WebSocket Context: params, query, url and a header sent back as JSON |
//! | `/user/:userId` | Connection Management: a new session closes the old one with 4000 |
//! | `/api` | Message Validation: bad JSON closes with 4002, missing fields get an error |
//! | `/limited` | Rate Limiting: 10 messages a minute per `x-client-id`, then 4003 |
//! | `/robust` | Error Handling: a failed message gets an error JSON |
//! | `/chat/:roomId`, `GET /api/messages/:roomId` | Integration with HTTP Routes: rooms (one pub/sub topic each) with history |
//!
//! Kept apart from `main.rs` so the tests (`tests/seed_tour.rs`) build the very same app
//! in-process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imphnen::{
    App, BoxError, Config, Ctx, HandlerError, HandlerResult, Message, Response, UpgradeRequest,
    WebSocket, WebSocketHandler, WsCallbacks, WsConfig, WsCtx,
};
use serde_json::{Map, Value, json};

/// Every snippet's route on one app; `config` gives the workers and compression, the guide's
/// `websocket` options are set here.
pub fn app(config: Config) -> App {
    let mut app = App::new(Config {
        websocket: WsConfig {
            max_payload_length: 1024 * 1024,        // 1MB
            idle_timeout: Duration::from_secs(120), // 2 minutes
            backpressure_limit: 64 * 1024,          // 64KB
            ..config.websocket
        },
        ..config
    });

    app.ws("/quickstart", QuickStart);
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, message| {
            ctx.ws.send(format!("Echo: {message}"));
            Ok(())
        }),
    );
    app.ws("/room/:roomId", Room);
    app.ws("/users/:userId?", Users);
    app.ws("/connect", Connect);
    // These two read header fields after the upgrade, which a connection keeps only when its
    // upgrade hook asks for them.
    app.ws_with("/info", keep_headers, Info);
    app.ws("/user/:userId", UserSessions::default());
    app.ws("/api", Api);
    app.ws_with("/limited", keep_headers, Limited::default());
    app.ws("/robust", Robust);

    let rooms = Arc::new(Rooms::default());
    // HTTP API for chat history
    let history = rooms.clone();
    app.get("/api/messages/:roomId", move |ctx: Ctx| {
        let rooms = history.clone();
        async move {
            let room_id = ctx.param("roomId").unwrap_or_default();
            let messages = rooms.chat_history(&room_id).await;
            ctx.json(&messages)
        }
    });
    // WebSocket for real-time messages
    app.ws("/chat/:roomId", RoomChat { rooms });
    app
}

// ---------------------------------------------------------------- Quick Start

struct QuickStart;

impl WebSocketHandler for QuickStart {
    async fn open(&self, ctx: &WsCtx) -> HandlerResult {
        println!("Client connected");
        ctx.ws.send("Welcome!");
        Ok(())
    }

    async fn message(&self, ctx: &WsCtx, message: Message) -> HandlerResult {
        println!("Received: {message}");
        ctx.ws.send(format!("Echo: {message}"));
        Ok(())
    }

    async fn close(&self, _ctx: &WsCtx, _code: u16, _reason: &str) -> HandlerResult {
        println!("Client disconnected");
        Ok(())
    }
}

// ---------------------------------------------------------------- Route Parameters

struct Room;

impl WebSocketHandler for Room {
    async fn open(&self, ctx: &WsCtx) -> HandlerResult {
        let room_id = ctx.param("roomId").unwrap_or_default();
        println!("Joined room: {room_id}");
        Ok(())
    }

    async fn message(&self, ctx: &WsCtx, message: Message) -> HandlerResult {
        let room_id = ctx.param("roomId").unwrap_or_default();
        // Handle room-specific message
        ctx.ws.send(format!("[{room_id}] {message}"));
        Ok(())
    }
}

/// Optional parameters: `userId` may be absent.
struct Users;

impl WebSocketHandler for Users {
    async fn open(&self, ctx: &WsCtx) -> HandlerResult {
        match ctx.param("userId") {
            Some(user_id) => ctx.ws.send(format!("User {user_id} connected")),
            None => ctx.ws.send("Anonymous connected"),
        };
        Ok(())
    }
}

// ---------------------------------------------------------------- Query Parameters

/// Connect with `ws://localhost:3000/connect?token=abc123&username=alice`.
struct Connect;

impl WebSocketHandler for Connect {
    async fn open(&self, ctx: &WsCtx) -> HandlerResult {
        let query = ctx.query();
        let (token, username) = (query.get("token"), query.get("username"));
        if token.is_none() {
            ctx.ws.close(4001, "Authentication required");
            return Ok(());
        }
        let username = username.unwrap_or_default();
        println!("{username} authenticated with token");
        ctx.ws.send(format!("{username} authenticated"));
        Ok(())
    }
}

// ---------------------------------------------------------------- WebSocket Context

/// The upgrade hook of routes whose handlers read header fields after the upgrade.
fn keep_headers(req: &mut UpgradeRequest<'_>) -> Result<(), Response> {
    req.keep_headers();
    Ok(())
}

/// Sends back what the context knows: params, query, url and the `x-client-id` header.
struct Info;

impl WebSocketHandler for Info {
    async fn open(&self, ctx: &WsCtx) -> HandlerResult {
        let params: Map<String, Value> = ctx
            .params()
            .iter()
            .map(|(name, _)| (name.to_owned(), json!(ctx.param(name))))
            .collect();
        let query: Map<String, Value> = ctx
            .query()
            .iter()
            .map(|(name, value)| (name.into_owned(), json!(value)))
            .collect();
        let info = json!({
            "params": params,
            "query": query,
            "url": ctx.url(),
            "headers": { "x-client-id": ctx.header("x-client-id") },
        });
        ctx.ws.send(info.to_string());
        Ok(())
    }
}

// ---------------------------------------------------------------- Connection Management

/// One connection per user: a new session closes the previous one.
#[derive(Default)]
struct UserSessions {
    connections: Mutex<HashMap<String, WebSocket>>,
}

impl WebSocketHandler for UserSessions {
    async fn open(&self, ctx: &WsCtx) -> HandlerResult {
        let user_id = ctx.param("userId").unwrap_or_default().into_owned();
        let mut connections = self.connections.lock().unwrap();

        // Close existing connection for this user
        if let Some(existing) = connections.get(&user_id) {
            existing.close(4000, "New session started");
        }

        connections.insert(user_id, ctx.ws.clone());
        Ok(())
    }

    async fn close(&self, ctx: &WsCtx, _code: u16, _reason: &str) -> HandlerResult {
        let user_id = ctx.param("userId").unwrap_or_default();
        let mut connections = self.connections.lock().unwrap();
        // The session this one replaced closes after the new one is stored: keep the new one.
        if connections.get(user_id.as_ref()) == Some(&ctx.ws) {
            connections.remove(user_id.as_ref());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- Message Validation

struct Api;

impl WebSocketHandler for Api {
    async fn message(&self, ctx: &WsCtx, message: Message) -> HandlerResult {
        let Ok(data) = serde_json::from_slice::<Value>(message.as_bytes()) else {
            ctx.ws.close(4002, "Invalid JSON");
            return Ok(());
        };

        // Validate message structure
        let (Some(kind), Some(payload)) = (truthy(&data["type"]), truthy(&data["payload"])) else {
            ctx.ws
                .send(json!({ "error": "Invalid message format" }).to_string());
            return Ok(());
        };

        // Handle valid message
        handle_message(ctx, kind, payload);
        Ok(())
    }
}

/// `Some(value)` when JavaScript would find `value` truthy (not absent, null, false, 0 or "").
fn truthy(value: &Value) -> Option<&Value> {
    let falsy = match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(_) | Value::Object(_) => false,
    };
    (!falsy).then_some(value)
}

fn handle_message(ctx: &WsCtx, kind: &Value, _payload: &Value) {
    ctx.ws.send(json!({ "type": kind, "ok": true }).to_string());
}

// ---------------------------------------------------------------- Rate Limiting

/// At most 10 messages a minute per `x-client-id`, counted across all its connections.
#[derive(Default)]
struct Limited {
    rate_limits: Mutex<HashMap<String, Vec<Instant>>>,
}

impl WebSocketHandler for Limited {
    async fn message(&self, ctx: &WsCtx, _message: Message) -> HandlerResult {
        let client_id = ctx.header("x-client-id").unwrap_or("anonymous");
        let now = Instant::now();
        let mut rate_limits = self.rate_limits.lock().unwrap();

        // Get client's message timestamps
        let timestamps = rate_limits.entry(client_id.to_owned()).or_default();

        // Remove old timestamps (older than 1 minute)
        timestamps.retain(|time| now.duration_since(*time) < Duration::from_secs(60));

        // Check rate limit (max 10 messages per minute)
        if timestamps.len() >= 10 {
            ctx.ws.close(4003, "Rate limit exceeded");
            return Ok(());
        }

        // Add current timestamp
        timestamps.push(now);
        drop(rate_limits);

        // Process message
        ctx.ws.send("accepted");
        Ok(())
    }
}

// ---------------------------------------------------------------- Error Handling

struct Robust;

impl WebSocketHandler for Robust {
    async fn message(&self, ctx: &WsCtx, message: Message) -> HandlerResult {
        match process_message(&message).await {
            Ok(reply) => {
                ctx.ws.send(reply);
            }
            Err(error) => {
                eprintln!("Message processing error: {error}");

                // Send error to client
                ctx.ws.send(
                    json!({ "type": "error", "message": "Failed to process message" }).to_string(),
                );
            }
        }
        Ok(())
    }

    async fn error(&self, ctx: &WsCtx, error: &HandlerError) {
        eprintln!("WebSocket error: {error}");

        // Optionally notify monitoring service, clean up resources
        eprintln!("cleaning up client {}", ctx.ws.id());
    }
}

/// Takes a moment (as real work would), then fails on `fail` and answers anything else.
async fn process_message(message: &Message) -> Result<String, BoxError> {
    monoio::time::sleep(Duration::from_millis(1)).await;
    if message.as_text() == Some("fail") {
        return Err("the client asked for a failure".into());
    }
    Ok(format!("Processed: {message}"))
}

// ---------------------------------------------------------------- Integration with HTTP Routes

/// Chat rooms: each room's history. Who is in a room is the engine's business: a room is a
/// pub/sub topic, joined with `subscribe` and left on its own when the connection closes.
#[derive(Default)]
struct Rooms {
    history: Mutex<HashMap<String, Vec<Value>>>,
}

/// The topic of room `room_id`.
fn room_topic(room_id: &str) -> String {
    format!("chat:{room_id}")
}

impl Rooms {
    fn join_room(&self, room_id: &str, ws: &WebSocket) {
        ws.subscribe(&room_topic(room_id));
    }

    /// Save to database (here, memory).
    fn save_chat_message(&self, room_id: &str, data: Value) {
        let mut history = self.history.lock().unwrap();
        history.entry(room_id.to_owned()).or_default().push(data);
    }

    async fn chat_history(&self, room_id: &str) -> Vec<Value> {
        let history = self.history.lock().unwrap();
        history.get(room_id).cloned().unwrap_or_default()
    }

    /// Every member, the sender included (a server-level publish; `ws.publish` would skip
    /// the sender).
    fn broadcast_to_room(&self, ctx: &WsCtx, room_id: &str, message: Message) {
        ctx.publisher().publish(&room_topic(room_id), message);
    }
}

struct RoomChat {
    rooms: Arc<Rooms>,
}

impl WebSocketHandler for RoomChat {
    async fn open(&self, ctx: &WsCtx) -> HandlerResult {
        let room_id = ctx.param("roomId").unwrap_or_default();
        self.rooms.join_room(&room_id, &ctx.ws);
        Ok(())
    }

    async fn message(&self, ctx: &WsCtx, message: Message) -> HandlerResult {
        let room_id = ctx.param("roomId").unwrap_or_default();
        let Ok(data) = serde_json::from_slice::<Map<String, Value>>(message.as_bytes()) else {
            ctx.ws.close(4002, "Invalid JSON");
            return Ok(());
        };

        // Save to database
        self.rooms.save_chat_message(&room_id, Value::Object(data));

        // Broadcast to room, exactly as received
        self.rooms.broadcast_to_room(ctx, &room_id, message);
        Ok(())
    }
}
