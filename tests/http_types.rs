//! The `http` crate's types in the API, seen by curl: statuses as `StatusCode`, answers
//! built as `http::Response`, header fields named by `http::header` constants, the method
//! as `http::Method`, the target as `http::Uri`, and a request copied into `http::Request`.

use std::process::Command;

use imphnen::http::{self, Method, StatusCode, header};
use imphnen::{App, Config, Ctx, Json, Response, Server};

fn server() -> Server {
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
    app.listen("127.0.0.1:0").expect("listen")
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
