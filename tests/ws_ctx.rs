//! What `WsCtx` tells a handler about the upgrade request long after the handshake: route
//! parameters, query, header fields (when the upgrade hook keeps them), URL and remote address,
//! read in `message` callbacks against requests sent by tokio-tungstenite.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use imphnen::{App, Config, Server, WsCallbacks};
use tokio::time::timeout;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const T: Duration = Duration::from_secs(10);

/// `WS /room/:id?` (headers kept by its upgrade hook) and `WS /bare/:id?` (nothing asked
/// for): every message is answered with one line per fact the context gives.
fn start() -> Server {
    let mut app = App::new(Config::default());
    app.ws_with(
        "/room/:id?",
        |req| {
            req.keep_headers();
            Ok(())
        },
        facts(),
    );
    app.ws("/bare/:id?", facts());
    app.listen("127.0.0.1:0").expect("listen")
}

fn facts<D: 'static>() -> WsCallbacks<D> {
    WsCallbacks::with_data().on_message(|ctx, _| {
        let names: Vec<&str> = ctx.headers().map(|(n, _)| n).collect();
        ctx.ws.send(format!(
            "path={} id={:?} token={:?} x-a={:?} url={} \
                 loopback={} names={}",
            ctx.path(),
            ctx.param("id").map(|c| c.into_owned()),
            ctx.query().get("token").map(|c| c.into_owned()),
            ctx.header("X-A"),
            ctx.url(),
            ctx.remote_addr().ip().is_loopback(),
            names.join(",").to_ascii_lowercase(),
        ));
        Ok(())
    })
}

async fn ask(req: tokio_tungstenite::tungstenite::handshake::client::Request) -> String {
    let (mut ws, _) = timeout(T, connect_async(req)).await.unwrap().unwrap();
    ws.send(TMessage::text("?")).await.unwrap();
    let reply = match timeout(T, ws.next()).await.unwrap().unwrap().unwrap() {
        TMessage::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    };
    ws.close(None).await.unwrap();
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_handlers_read_the_upgrade_request() {
    let server = start();
    let addr = server.local_addr();
    let mut req = format!("ws://{addr}/room/caf%C3%A9?token=a%20b&x=1")
        .into_client_request()
        .unwrap();
    let h = req.headers_mut();
    h.insert("x-a", HeaderValue::from_static("first"));
    h.append("x-a", HeaderValue::from_static("second"));
    let reply = ask(req).await;
    let expected_url = format!("url=ws://{addr}/room/caf%C3%A9?token=a%20b&x=1");
    for part in [
        "path=/room/caf%C3%A9 ",
        "id=Some(\"café\") ",
        "token=Some(\"a b\") ",
        "x-a=Some(\"first\") ",
        &expected_url,
        "loopback=true ",
    ] {
        assert!(reply.contains(part), "{part:?} missing from {reply:?}");
    }
    let names = reply.split("names=").nth(1).unwrap();
    let names: Vec<&str> = names.split(',').collect();
    for kept in ["host", "x-a"] {
        assert!(names.contains(&kept), "{kept} missing from {names:?}");
    }
    assert_eq!(names.iter().filter(|n| **n == "x-a").count(), 2);
    // The handshake's own fields were consumed by the engine (RFC 6455 §4.1).
    for consumed in [
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
    ] {
        assert!(!names.contains(&consumed), "{consumed} kept: {names:?}");
    }
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_optional_parameter_and_query_read_as_none() {
    let server = start();
    let req = format!("ws://{}/room", server.local_addr())
        .into_client_request()
        .unwrap();
    let reply = ask(req).await;
    assert!(
        reply.starts_with("path=/room id=None token=None x-a=None "),
        "{reply}"
    );
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_kept_headers_params_and_query_remain_and_headers_are_gone() {
    let server = start();
    let mut req = format!("ws://{}/bare/7?token=t", server.local_addr())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("x-a", HeaderValue::from_static("first"));
    let reply = ask(req).await;
    assert!(
        reply.starts_with(
            "path=/bare/7 id=Some(\"7\") token=Some(\"t\") x-a=None \
             url=ws://localhost/bare/7?token=t loopback=true names="
        ),
        "{reply}"
    );
    assert!(reply.ends_with("names="), "no header is kept: {reply}");
    server.shutdown();
}
