//! The `http` crate's types in the API, seen by curl: statuses as `StatusCode`, answers
//! built as `http::Response`, header fields named by `http::header` constants, the method
//! as `http::Method`, the target as `http::Uri`, and a request copied into `http::Request`.
//! The test harness sends an `http::Request` and reads an `http::Response`
//! (`TestServer::send_http`), checked against what the handlers saw.

use std::process::Command;

use imphnen::http::{self, Method, StatusCode, header};
use imphnen::testing::TestServer;
use imphnen::{App, Config, Ctx, Error, IntoResponse, Json, Response, Server};
use serde_json::{Value, json};

fn app() -> App {
    let mut app = App::new(Config {
        workers: 1,
        ..Config::default()
    });
    app.get("/teapot", |_: Ctx| StatusCode::IM_A_TEAPOT);
    app.post("/items", |_: Ctx| {
        (StatusCode::CREATED, Json(serde_json::json!({ "id": 7 })))
    });
    app.get("/built", |_: Ctx| {
        http::Response::builder()
            .status(StatusCode::ACCEPTED)
            .header(header::CACHE_CONTROL, "no-store")
            .header("x-twice", "1")
            .header("x-twice", "2")
            .body("from http::Response")
            .unwrap()
    });
    app.route(Method::PUT, "/echo-head", |ctx: Ctx| {
        assert_eq!(*ctx.method(), Method::PUT);
        assert!(ctx.method() == "PUT");
        let uri = ctx.uri().expect("a representable target");
        let agent = ctx.header(header::USER_AGENT).unwrap_or("").to_owned();
        let copy = ctx.request().to_http();
        Response::text(format!(
            "{} {} q={} agent={} copy={} {} {:?}",
            ctx.method(),
            uri.path(),
            uri.query().unwrap_or(""),
            agent,
            copy.method(),
            copy.uri(),
            copy.headers().get(header::USER_AGENT),
        ))
        .with_header(header::ETAG, http::HeaderValue::from_static("\"v1\""))
    });
    app.post("/orders", |ctx: Ctx| -> Result<_, Error> {
        let order: Value = ctx.body().json()?;
        let id = ctx.header("x-request-id").unwrap_or("none").to_owned();
        let seen = json!({
            "order": order,
            "request_id": id,
            "content_length": ctx.header(header::CONTENT_LENGTH),
        });
        Ok((StatusCode::CREATED, Json(seen))
            .into_response()
            .with_header("x-request-id", id)
            .with_header(header::LOCATION, "/orders/1"))
    });
    app
}

fn server() -> Server {
    app().listen("127.0.0.1:0").expect("listen")
}

/// Status, then the header lines and body as curl printed them.
fn curl(server: &Server, args: &[&str], path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "5", "-A", "test-agent/1"])
        .args(args)
        .arg(format!("http://{}{path}", server.local_addr()))
        .output()
        .expect("curl runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, text)
}

#[test]
fn a_status_code_alone_is_an_answer() {
    let server = server();
    let (status, _) = curl(&server, &[], "/teapot");
    assert_eq!(status, 418);
}

#[test]
fn a_status_with_json_sets_both() {
    let server = server();
    let (status, text) = curl(&server, &["-X", "POST"], "/items");
    assert_eq!(status, 201);
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    assert!(text.ends_with(r#"{"id":7}"#), "{text}");
}

#[test]
fn an_http_response_keeps_its_status_headers_and_body() {
    let server = server();
    let (status, text) = curl(&server, &[], "/built");
    assert_eq!(status, 202);
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("cache-control: no-store"), "{text}");
    assert!(lower.contains("x-twice: 1\r\nx-twice: 2"), "{text}");
    assert!(text.ends_with("from http::Response"), "{text}");
}

#[test]
fn method_uri_and_header_names_come_as_http_types() {
    let server = server();
    let (status, text) = curl(&server, &["-X", "PUT"], "/echo-head?a=1&b=two");
    assert_eq!(status, 200, "{text}");
    assert!(
        text.ends_with(
            "PUT /echo-head q=a=1&b=two agent=test-agent/1 \
             copy=PUT /echo-head?a=1&b=two Some(\"test-agent/1\")"
        ),
        "{text}"
    );
    assert!(text.to_ascii_lowercase().contains("etag: \"v1\""), "{text}");
}

#[test]
fn responses_convert_to_and_from_http_responses() {
    let res = Response::text("hi")
        .with_status(StatusCode::NOT_FOUND)
        .with_header(header::CACHE_CONTROL, "max-age=5");
    let converted: http::Response<bytes::Bytes> = res.into();
    assert_eq!(converted.status(), StatusCode::NOT_FOUND);
    assert_eq!(converted.headers()[header::CACHE_CONTROL], "max-age=5");
    assert_eq!(
        converted.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(converted.body().as_ref(), b"hi");
    let back = Response::from(converted);
    assert_eq!(back.status(), 404);
    assert_eq!(back.header(header::CACHE_CONTROL), Some(&b"max-age=5"[..]));
}

#[test]
fn an_http_request_is_sent_whole_and_its_answer_read_as_an_http_response() {
    let server = TestServer::start(app()).expect("start");
    let order = br#"{"item":"tea","quantity":2}"#.to_vec();
    let req = http::Request::post("/orders")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", "abc-123")
        .body(order.clone())
        .unwrap();
    let res = server.send_http(req).expect("an answer");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.version(), http::Version::HTTP_11);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    assert_eq!(res.headers()[header::LOCATION], "/orders/1");
    assert!(res.headers().contains_key(header::DATE));
    assert_eq!(
        res.headers()[header::CONTENT_LENGTH],
        res.body().len().to_string().as_str()
    );
    // What the handler saw: the body, the custom header and the length the harness added.
    let seen: Value = serde_json::from_slice(res.body()).expect("a JSON body");
    assert_eq!(
        seen,
        json!({
            "order": { "item": "tea", "quantity": 2 },
            "request_id": "abc-123",
            "content_length": order.len().to_string(),
        })
    );

    // The same route refuses a body that is not JSON: the rejection's 415 comes back as it is.
    let text = http::Request::post("/orders")
        .header(header::CONTENT_TYPE, "text/plain")
        .body("tea, 2")
        .unwrap();
    let res = server.send_http(text).expect("an answer");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[test]
fn the_method_target_and_headers_of_an_http_request_reach_the_handler() {
    let server = TestServer::start(app()).expect("start");
    let req = http::Request::put("http://example.test/echo-head?a=1&b=two")
        .header(header::USER_AGENT, "http-crate/1")
        .body(bytes::Bytes::new())
        .unwrap();
    let res = server.send_http(req).expect("an answer");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::ETAG], "\"v1\"");
    assert_eq!(
        res.body().as_ref(),
        b"PUT /echo-head q=a=1&b=two agent=http-crate/1 \
          copy=PUT /echo-head?a=1&b=two Some(\"http-crate/1\")"
    );
}

#[test]
fn not_found_method_not_allowed_and_head_come_back_as_http_responses() {
    let server = TestServer::start(app()).expect("start");
    let get = |path: &str| http::Request::get(path).body(Vec::new()).unwrap();

    let missing = server.send_http(get("/nowhere")).expect("an answer");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let wrong_method = http::Request::delete("/teapot").body("").unwrap();
    let res = server.send_http(wrong_method).expect("an answer");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()[header::ALLOW], "GET, HEAD");

    let full = server.send_http(get("/built")).expect("an answer");
    assert_eq!(full.status(), StatusCode::ACCEPTED);
    assert_eq!(full.body().as_ref(), b"from http::Response");
    let head = http::Request::head("/built").body("").unwrap();
    let head = server.send_http(head).expect("an answer");
    assert_eq!(head.status(), StatusCode::ACCEPTED);
    assert!(head.body().is_empty());
    // HEAD announces the length GET sends (RFC 9110 §9.3.2), and repeated fields stay apart.
    assert_eq!(
        head.headers()[header::CONTENT_LENGTH],
        full.body().len().to_string().as_str()
    );
    let twice: Vec<_> = head.headers().get_all("x-twice").iter().collect();
    assert_eq!(twice, ["1", "2"]);
    assert_eq!(head.headers()[header::CACHE_CONTROL], "no-store");
}
