//! Middleware, nesting and the fallback, seen by independent clients: curl for HTTP (status,
//! headers, body) and tokio-tungstenite for WebSocket upgrades (refused by a middleware,
//! accepted after an async one awaited, a header a middleware added to the `101`).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use imphnen::middleware::Next;
use imphnen::{App, Config, Ctx, Response, Server, WsCallbacks};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as TMessage};

/// What curl saw: status, header fields (names lowercase) and body.
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// `curl -i -X method` of `path` with `headers`.
fn curl(server: &Server, method: &str, path: &str, headers: &[&str]) -> Seen {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-i", "--max-time", "5", "-X", method]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    cmd.arg(format!("http://{}{path}", server.local_addr()));
    let out = cmd.output().expect("curl runs");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Seen {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn config() -> Config {
    Config {
        workers: 1,
        ..Config::default()
    }
}

/// Each middleware appends its name to `x-trail` on the way out, so the header lists them
/// innermost first.
fn trail(name: &'static str) -> impl Fn(Ctx, Next) -> imphnen::middleware::Reply {
    move |ctx: Ctx, next: Next| {
        next.run(ctx).map(move |res| {
            let before = res
                .header("x-trail")
                .map(|v| String::from_utf8_lossy(v).into_owned());
            let mut res = res;
            res.remove_header("x-trail");
            let value = match before {
                Some(b) => format!("{b},{name}"),
                None => name.to_owned(),
            };
            res.with_header("x-trail", value)
        })
    }
}

#[test]
fn middleware_runs_in_registration_order_around_the_handler_and_around_a_404() {
    let mut app = App::new(config());
    app.middleware(trail("outer"));
    app.middleware(trail("inner"));
    app.get("/", |_: Ctx| "home");
    let server = app.listen("127.0.0.1:0").expect("listen");

    let home = curl(&server, "GET", "/", &[]);
    assert_eq!((home.status, home.body.as_str()), (200, "home"));
    assert_eq!(home.header("x-trail"), Some("inner,outer"));

    let missing = curl(&server, "GET", "/nothing", &[]);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("x-trail"), Some("inner,outer"));
}

#[test]
fn a_middleware_that_answers_early_keeps_the_handler_from_running() {
    let ran = Arc::new(AtomicUsize::new(0));
    let mut app = App::new(config());
    app.middleware(|ctx: Ctx, next: Next| {
        if ctx.header(imphnen::http::header::AUTHORIZATION) == Some("Bearer good") {
            next.run(ctx)
        } else {
            Response::text("who are you?").with_status(401).into()
        }
    });
    let counter = ran.clone();
    app.get("/secret", move |_: Ctx| {
        counter.fetch_add(1, Ordering::SeqCst);
        "the secret"
    });
    let server = app.listen("127.0.0.1:0").expect("listen");

    let refused = curl(&server, "GET", "/secret", &[]);
    assert_eq!(
        (refused.status, refused.body.as_str()),
        (401, "who are you?")
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the handler ran");

    let allowed = curl(&server, "GET", "/secret", &["Authorization: Bearer good"]);
    assert_eq!((allowed.status, allowed.body.as_str()), (200, "the secret"));
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn an_async_middleware_awaits_before_and_after_an_async_handler() {
    let mut app = App::new(config());
    app.middleware(|ctx: Ctx, next: Next| async move {
        monoio::time::sleep(Duration::from_millis(5)).await;
        let res = next.run(ctx).await;
        monoio::time::sleep(Duration::from_millis(5)).await;
        res.with_status(202).with_header("x-after", "yes")
    });
    app.get("/slow", |_: Ctx| async {
        monoio::time::sleep(Duration::from_millis(5)).await;
        "done"
    });
    let server = app.listen("127.0.0.1:0").expect("listen");
    let seen = curl(&server, "GET", "/slow", &[]);
    assert_eq!((seen.status, seen.body.as_str()), (202, "done"));
    assert_eq!(seen.header("x-after"), Some("yes"));
}

/// A middleware that refuses upgrades without `?key=open` and adds a cookie to the 101 of the
/// ones it lets through, after awaiting a timer (an async check, such as a session lookup).
fn ws_app() -> Server {
    let mut app = App::new(config());
    app.middleware(|ctx: Ctx, next: Next| async move {
        monoio::time::sleep(Duration::from_millis(20)).await;
        if !ctx.is_upgrade() {
            return next.run(ctx).await;
        }
        if ctx.query().get("key").as_deref() != Some("open") {
            return Response::text("no key").with_status(403);
        }
        next.run(ctx)
            .await
            .with_header("set-cookie", "session=abc; HttpOnly")
    });
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    app.listen("127.0.0.1:0").expect("listen")
}

#[test]
fn middleware_refuses_an_upgrade_with_its_own_response() {
    let server = ws_app();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("ws://{}/echo", server.local_addr());
        match connect_async(url.as_str()).await {
            Err(WsError::Http(res)) => {
                assert_eq!(res.status(), 403);
                assert_eq!(res.body().as_deref(), Some(&b"no key"[..]));
            }
            other => panic!("expected a 403, got {:?}", other.map(|(_, r)| r.status())),
        }
    });
}

#[test]
fn an_upgrade_accepted_after_an_async_middleware_carries_its_header_and_echoes() {
    let server = ws_app();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("ws://{}/echo?key=open", server.local_addr());
        let (mut ws, res) = connect_async(url.as_str()).await.expect("upgrade");
        assert_eq!(res.status(), 101);
        assert_eq!(
            res.headers().get("set-cookie").map(|v| v.to_str().unwrap()),
            Some("session=abc; HttpOnly")
        );
        // Frames sent at once (the client does not wait for anything after the 101).
        for i in 0..3 {
            ws.send(TMessage::text(format!("m{i}"))).await.unwrap();
        }
        for i in 0..3 {
            let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("an echo in time")
                .expect("open")
                .expect("a message");
            assert_eq!(got, TMessage::text(format!("m{i}")));
        }
    });
    // A plain request to the route still passes the middleware and gets 426.
    let plain = curl(&server, "GET", "/echo", &[]);
    assert_eq!(plain.status, 426);
}

#[test]
fn a_nested_app_has_its_prefix_its_own_middleware_and_fallback() {
    let mut api = App::new(config());
    api.middleware(trail("api"));
    api.get("/", |_: Ctx| "api root");
    api.get("/users/:id", |ctx: Ctx| {
        format!("user {}", ctx.param("id").unwrap_or_default())
    });
    api.ws(
        "/live/:topic",
        WsCallbacks::new().on_open(|ctx| {
            ctx.ws
                .send(format!("live {}", ctx.param("topic").unwrap_or_default()));
            Ok(())
        }),
    );
    api.fallback(|ctx: Ctx| Response::text(format!("no API at {}", ctx.path())).with_status(404));

    let mut app = App::new(config());
    app.middleware(trail("app"));
    app.get("/", |_: Ctx| "home");
    app.nest("/api", api);
    let server = app.listen("127.0.0.1:0").expect("listen");

    let root = curl(&server, "GET", "/api", &[]);
    assert_eq!((root.status, root.body.as_str()), (200, "api root"));
    assert_eq!(root.header("x-trail"), Some("api,app"));
    let user = curl(&server, "GET", "/api/users/42", &[]);
    assert_eq!(user.body, "user 42");
    let home = curl(&server, "GET", "/", &[]);
    assert_eq!(
        home.header("x-trail"),
        Some("app"),
        "api's middleware ran for /"
    );
    let unknown = curl(&server, "DELETE", "/api/zzz/1", &[]);
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (404, "no API at /api/zzz/1")
    );
    let outside = curl(&server, "GET", "/zzz", &[]);
    assert_eq!((outside.status, outside.body.as_str()), (404, "Not Found"));

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("ws://{}/api/live/news", server.local_addr());
        let (mut ws, _) = connect_async(url.as_str()).await.expect("upgrade");
        let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("in time")
            .unwrap()
            .unwrap();
        assert_eq!(got, TMessage::text("live news"));
    });
}

#[test]
fn the_fallback_of_an_app_nested_two_deep_answers_under_its_prefix() {
    let mut inner = App::new(config());
    inner.get("/x", |_: Ctx| "inner x");
    inner.fallback(|ctx: Ctx| {
        Response::text(format!("inner has no {}", ctx.path())).with_status(404)
    });
    let mut middle = App::new(config());
    middle.nest("/c", inner);
    let mut app = App::new(config());
    app.nest("/b", middle);
    let server = app.listen("127.0.0.1:0").expect("listen");

    assert_eq!(curl(&server, "GET", "/b/c/x", &[]).body, "inner x");
    let missing = curl(&server, "GET", "/b/c/nothing", &[]);
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (404, "inner has no /b/c/nothing")
    );
}

#[test]
fn merged_apps_serve_side_by_side_and_a_fallback_replaces_the_404() {
    let mut users = App::new(config());
    users.get("/users", |_: Ctx| "users");
    let mut app = App::new(config());
    app.get("/", |_: Ctx| "home");
    app.merge(users);
    app.fallback(|_: Ctx| Response::text("nothing here").with_status(404));
    let server = app.listen("127.0.0.1:0").expect("listen");

    assert_eq!(curl(&server, "GET", "/users", &[]).body, "users");
    assert_eq!(curl(&server, "GET", "/", &[]).body, "home");
    let missing = curl(&server, "GET", "/missing", &[]);
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (404, "nothing here")
    );
    // A path with a route for another method is still 405, with Allow.
    let wrong = curl(&server, "POST", "/users", &[]);
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET, HEAD"));
}

#[test]
#[should_panic(expected = "registered twice")]
fn merging_a_route_twice_is_refused_at_start_up() {
    let mut a = App::new(config());
    a.get("/x", |_: Ctx| "a");
    let mut b = App::new(config());
    b.get("/x", |_: Ctx| "b");
    a.merge(b);
}

mod cors {
    use super::*;
    use imphnen::http::{Method, header};
    use imphnen::middleware::Cors;

    fn server(cors: Cors) -> Server {
        let mut app = App::new(config());
        app.middleware(cors);
        app.get("/api/data", |_: Ctx| "data");
        app.post("/api/data", |_: Ctx| "posted");
        app.listen("127.0.0.1:0").expect("listen")
    }

    fn listed() -> Cors {
        Cors::new()
            .allow_origins(["https://app.example"])
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .expose_headers([header::ETAG])
            .allow_credentials(true)
            .max_age(Duration::from_secs(600))
    }

    #[test]
    fn a_preflight_from_an_allowed_origin_is_answered_without_the_route() {
        let server = server(listed());
        let seen = curl(
            &server,
            "OPTIONS",
            "/api/data",
            &[
                "Origin: https://app.example",
                "Access-Control-Request-Method: DELETE",
                "Access-Control-Request-Headers: content-type",
            ],
        );
        assert_eq!(seen.status, 204);
        assert_eq!(
            seen.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(
            seen.header("access-control-allow-methods"),
            Some("GET, POST, DELETE")
        );
        assert_eq!(
            seen.header("access-control-allow-headers"),
            Some("content-type, authorization")
        );
        assert_eq!(
            seen.header("access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(seen.header("access-control-max-age"), Some("600"));
        assert!(seen.header("vary").unwrap().contains("Origin"));
        assert_eq!(seen.body, "");
    }

    #[test]
    fn a_preflight_from_another_origin_gets_no_permission() {
        let server = server(listed());
        let seen = curl(
            &server,
            "OPTIONS",
            "/api/data",
            &[
                "Origin: https://evil.example",
                "Access-Control-Request-Method: POST",
            ],
        );
        assert_eq!(seen.status, 204);
        assert_eq!(seen.header("access-control-allow-origin"), None);
        assert_eq!(seen.header("access-control-allow-methods"), None);
    }

    #[test]
    fn a_request_from_an_allowed_origin_names_it_and_varies_by_origin() {
        let server = server(listed());
        let seen = curl(
            &server,
            "GET",
            "/api/data",
            &["Origin: https://app.example"],
        );
        assert_eq!((seen.status, seen.body.as_str()), (200, "data"));
        assert_eq!(
            seen.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(
            seen.header("access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(seen.header("access-control-expose-headers"), Some("etag"));
        assert_eq!(seen.all("vary"), ["Origin"]);

        let other = curl(
            &server,
            "GET",
            "/api/data",
            &["Origin: https://evil.example"],
        );
        assert_eq!((other.status, other.body.as_str()), (200, "data"));
        assert_eq!(other.header("access-control-allow-origin"), None);
        assert_eq!(other.all("vary"), ["Origin"]);

        // Without Origin (not a browser's cross-origin request): the route, and Vary for caches.
        let plain = curl(&server, "GET", "/api/data", &[]);
        assert_eq!(plain.header("access-control-allow-origin"), None);
        assert_eq!(plain.all("vary"), ["Origin"]);
    }

    #[test]
    fn permissive_allows_every_origin_with_a_star_and_mirrors_requested_headers() {
        let server = server(Cors::permissive());
        let seen = curl(
            &server,
            "GET",
            "/api/data",
            &["Origin: https://any.example"],
        );
        assert_eq!(seen.header("access-control-allow-origin"), Some("*"));
        assert_eq!(seen.header("vary"), None);
        let pre = curl(
            &server,
            "OPTIONS",
            "/api/data",
            &[
                "Origin: https://any.example",
                "Access-Control-Request-Method: PUT",
                "Access-Control-Request-Headers: x-custom, content-type",
            ],
        );
        assert_eq!(pre.status, 204);
        assert_eq!(
            pre.header("access-control-allow-headers"),
            Some("x-custom, content-type")
        );
    }

    #[test]
    fn a_nested_app_answers_preflights_for_its_own_routes() {
        let mut api = App::new(config());
        api.middleware(listed());
        api.get("/data", |_: Ctx| "data");
        api.post("/data", |_: Ctx| "posted");
        let mut app = App::new(config());
        app.nest("/api", api);
        let server = app.listen("127.0.0.1:0").expect("listen");

        let pre = curl(
            &server,
            "OPTIONS",
            "/api/data",
            &[
                "Origin: https://app.example",
                "Access-Control-Request-Method: POST",
            ],
        );
        assert_eq!(pre.status, 204);
        assert_eq!(
            pre.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        // Without the preflight's fields, another method is still 405 with Allow.
        let wrong = curl(&server, "PUT", "/api/data", &[]);
        assert_eq!(wrong.status, 405);
        assert_eq!(wrong.header("allow"), Some("GET, POST, HEAD"));
        assert_eq!(wrong.all("vary"), ["Origin"]);
        server.shutdown();

        // A path the outer app also serves, registered after the nesting, is shared: its 405
        // is the outer app's, outside the nested app's middleware.
        let mut api = App::new(config());
        api.middleware(listed());
        api.get("/data", |_: Ctx| "data");
        let mut app = App::new(config());
        app.nest("/api", api);
        app.put("/api/data", |_: Ctx| "put");
        let server = app.listen("127.0.0.1:0").expect("listen");
        let wrong = curl(
            &server,
            "PATCH",
            "/api/data",
            &["Origin: https://app.example"],
        );
        assert_eq!(wrong.status, 405);
        assert!(wrong.all("vary").is_empty(), "{:?}", wrong.all("vary"));
        server.shutdown();
    }

    #[test]
    #[should_panic(expected = "credentials")]
    fn every_origin_with_credentials_is_refused() {
        let _ = Cors::new().allow_any_origin().allow_credentials(true);
    }
}
