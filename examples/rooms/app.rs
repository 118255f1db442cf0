//! The rooms app, kept apart from `main.rs` so `tests/rooms.rs` builds the very same app.
//!
//! | route | what it does |
//! |---|---|
//! | `WS /room/:roomId?name=<name>` | the upgrade hook refuses a missing name (400); on open the member subscribes to the room's topic, is told who is there, and the others hear `<name> joined`; each message is published to the others as `<name>: <message>`; on close they hear `<name> left` |
//! | `GET /rooms/:roomId` | `{"room": .., "members": n}` |
//! | `POST /rooms/:roomId/announce` | publishes `[announcement] <body>` to every member; answers how many got it |
//!
//! There is no member list to keep: the room is the topic, the engine tracks who is
//! subscribed on every core, and a closing connection leaves it by itself.

use imphnen::{App, Config, Ctx, HandlerResult, Message, Response, WebSocketHandler, WsCtx};
use serde_json::json;

/// The room's topic.
fn topic(room: &str) -> String {
    format!("room:{room}")
}

/// Who a connection is, decided by the upgrade hook before the connection opens.
pub struct Member {
    name: String,
    topic: String,
}

struct Room;

impl WebSocketHandler<Member> for Room {
    async fn open(&self, ctx: &WsCtx<Member>) -> HandlerResult {
        let me = &ctx.data;
        ctx.ws.subscribe(&me.topic);
        let room = ctx.param("roomId").unwrap_or_default();
        let here = ctx.ws.subscriber_count(&me.topic);
        ctx.ws
            .send(format!("Joined room: {room} as {} ({here} here)", me.name));
        ctx.ws.publish(&me.topic, format!("{} joined", me.name));
        Ok(())
    }

    async fn message(&self, ctx: &WsCtx<Member>, message: Message) -> HandlerResult {
        let me = &ctx.data;
        // Everyone else in the room; the sender's own client already shows what it typed.
        ctx.ws.publish(&me.topic, format!("{}: {message}", me.name));
        Ok(())
    }

    async fn close(&self, ctx: &WsCtx<Member>, _code: u16, _reason: &str) -> HandlerResult {
        // The connection has already left the topic; tell those still there.
        let me = &ctx.data;
        ctx.ws.publish(&me.topic, format!("{} left", me.name));
        Ok(())
    }
}

/// The rooms app, served as `config` says.
pub fn app(config: Config) -> App {
    let mut app = App::new(config);
    app.ws_with(
        "/room/:roomId",
        |req| {
            let name = req
                .query()
                .get("name")
                .unwrap_or_default()
                .trim()
                .to_owned();
            if name.is_empty() {
                return Err(Response::text("a ?name= is required").with_status(400));
            }
            let room = req.param("roomId").unwrap_or_default();
            Ok(Member {
                name,
                topic: topic(&room),
            })
        },
        Room,
    );
    app.get("/rooms/:roomId", |ctx: Ctx| {
        let room = ctx.param("roomId").unwrap_or_default().into_owned();
        let members = ctx.publisher().subscriber_count(&topic(&room));
        ctx.json(&json!({ "room": room, "members": members }))
    });
    app.post("/rooms/:roomId/announce", |ctx: Ctx| {
        let room = ctx.param("roomId").unwrap_or_default().into_owned();
        let body = ctx.body().text().unwrap_or_default();
        let reached = ctx
            .publisher()
            .publish(&topic(&room), format!("[announcement] {body}"));
        ctx.json(&json!({ "reached": reached }))
    });
    app
}
