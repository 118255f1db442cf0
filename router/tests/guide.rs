//! Every route and URL of the seed WebSocket guide, matched as the guide uses it.

use imphnen_router::{InsertError, Router, split_target};

/// The guide's routes that live together in one app (WebSocket table).
fn ws_routes() -> Router<&'static str> {
    let mut router = Router::new();
    for pattern in [
        "/chat",
        "/room/:roomId",
        "/connect",
        "/api",
        "/user/:userId",
        "/limited",
        "/robust",
        "/echo",
    ] {
        router.insert(pattern, pattern).unwrap();
    }
    router
}

#[test]
fn guide_static_websocket_paths_match_themselves() {
    let router = ws_routes();
    for path in ["/chat", "/connect", "/api", "/limited", "/robust", "/echo"] {
        let m = router.at(path).unwrap();
        assert_eq!(*m.value, path);
        assert!(m.params.is_empty());
    }
}

#[test]
fn guide_room_param_is_extracted() {
    let router = ws_routes();
    let m = router.at("/room/general").unwrap();
    assert_eq!(*m.value, "/room/:roomId");
    assert_eq!(m.params.get("roomId").as_deref(), Some("general"));
}

#[test]
fn guide_user_param_is_extracted() {
    let router = ws_routes();
    let m = router.at("/user/alice").unwrap();
    assert_eq!(*m.value, "/user/:userId");
    assert_eq!(m.params.get("userId").as_deref(), Some("alice"));
}

#[test]
fn guide_optional_user_id_matches_with_and_without() {
    let mut router = Router::new();
    router.insert("/chat/:userId?", ()).unwrap();
    assert_eq!(router.at("/chat").unwrap().params.get("userId"), None);
    assert_eq!(
        router
            .at("/chat/42")
            .unwrap()
            .params
            .get("userId")
            .as_deref(),
        Some("42")
    );
    assert!(router.at("/chat/42/more").is_none());
}

#[test]
fn guide_connect_query_gives_token_and_username() {
    let router = ws_routes();
    let (path, query) = split_target("/connect?token=abc123&username=alice");
    assert_eq!(*router.at(path).unwrap().value, "/connect");
    assert_eq!(query.get("token").as_deref(), Some("abc123"));
    assert_eq!(query.get("username").as_deref(), Some("alice"));

    #[derive(serde::Deserialize)]
    struct Auth {
        token: Option<String>,
        username: String,
    }
    let auth: Auth = query.parse().unwrap();
    assert_eq!(auth.token.as_deref(), Some("abc123"));
    assert_eq!(auth.username, "alice");

    let (_, no_token) = split_target("/connect?username=alice");
    assert!(no_token.parse::<Auth>().unwrap().token.is_none());
}

#[test]
fn guide_http_and_ws_tables_route_the_integration_example() {
    let mut http = Router::new();
    http.insert("/", "index").unwrap();
    http.insert("/api/messages/:roomId", "history").unwrap();
    let mut ws = Router::new();
    ws.insert("/chat/:roomId", "room chat").unwrap();

    assert_eq!(*http.at("/").unwrap().value, "index");
    let m = http.at("/api/messages/lobby").unwrap();
    assert_eq!(
        (*m.value, m.params.raw("roomId")),
        ("history", Some("lobby"))
    );
    let m = ws.at("/chat/lobby").unwrap();
    assert_eq!(
        (*m.value, m.params.raw("roomId")),
        ("room chat", Some("lobby"))
    );
    assert!(ws.at("/chat").is_none());
}

#[test]
fn guide_chat_patterns_with_optional_and_required_param_conflict() {
    // The guide shows `/chat/:userId?` and `/chat/:roomId` in separate examples; in one table
    // they would both answer `/chat/42`, so the second is refused, naming both.
    let mut router = Router::new();
    router.insert("/chat/:userId?", ()).unwrap();
    let err = router.insert("/chat/:roomId", ()).unwrap_err();
    assert!(matches!(err, InsertError::Conflict { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("`/chat/:roomId`") && msg.contains("`/chat/:userId?`"),
        "{msg}"
    );
}

#[test]
fn guide_test_runner_connects_to_echo() {
    let router = ws_routes();
    let (path, query) = split_target("/echo");
    assert_eq!(*router.at(path).unwrap().value, "/echo");
    assert!(query.is_empty());
}
