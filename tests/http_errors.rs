//! Handler errors as responses, seen by curl: `imphnen::Error` sends its status and a JSON
//! body, any standard error behind `?` is a 500 that shows nothing of its cause, and a JSON
//! body that cannot be read answers 415 (content type), 400 (syntax) or 422 (shape, naming the
//! field), as axum's `Json` extractor does.

use std::process::Command;

use imphnen::http::StatusCode;
use imphnen::{App, Config, Ctx, Error};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[allow(dead_code)]
struct Order {
    customer: String,
    items: Vec<Item>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Item {
    name: String,
    quantity: u32,
}

fn server() -> imphnen::Server {
    let mut app = App::new(Config {
        workers: 1,
        ..Config::default()
    });
    app.post("/orders", |ctx: Ctx| -> Result<String, Error> {
        let order: Order = ctx.body().json()?;
        Ok(format!(
            "{} items for {}",
            order.items.len(),
            order.customer
        ))
    });
    app.get("/orders/:id", |ctx: Ctx| -> Result<String, Error> {
        let id: u32 = ctx
            .param("id")
            .unwrap_or_default()
            .parse()
            .map_err(|_| Error::bad_request("the id is a number").with_field("id"))?;
        if id != 7 {
            return Err(Error::not_found(format!("no order {id}")));
        }
        let stock = std::fs::read_to_string("/nonexistent/imphnen/stock")?;
        Ok(stock)
    });
    app.get("/quota", |ctx: Ctx| -> Result<String, Error> {
        let err = match ctx.query().get("as").as_deref() {
            Some("number") => Error::new(402, "pay first"),
            _ => Error::new(StatusCode::TOO_MANY_REQUESTS, "slow down"),
        };
        let status: StatusCode = err.status();
        assert!(status.is_client_error());
        Err(err)
    });
    // A rejection's status used for an answer of the handler's own.
    app.post("/note", |ctx: Ctx| match ctx.body().json::<Item>() {
        Ok(_) => (StatusCode::OK, "noted".to_owned()),
        Err(rejection) => (rejection.status(), format!("no note: {rejection}")),
    });
    app.listen("127.0.0.1:0").expect("listen")
}

/// `curl` of `path` (a POST of `body` with `content_type` when given): status and body.
fn curl(server: &imphnen::Server, path: &str, post: Option<(&str, &str)>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "5", "-w", "\n%{http_code}"]);
    if let Some((content_type, body)) = post {
        cmd.args(["--data-binary", body, "-H"]);
        cmd.arg(format!("Content-Type: {content_type}"));
    }
    cmd.arg(format!("http://{}{path}", server.local_addr()));
    let out = String::from_utf8(cmd.output().expect("curl runs").stdout).unwrap();
    let (body, status) = out.rsplit_once('\n').expect("a status line");
    (status.parse().expect("a status"), body.to_owned())
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn json_bodies_that_cannot_be_read_get_415_400_or_422_naming_the_field() {
    let server = server();
    let good = r#"{"customer":"ada","items":[{"name":"tea","quantity":2}]}"#;
    assert_eq!(
        curl(&server, "/orders", Some(("application/json", good))),
        (200, "1 items for ada".into())
    );
    // Parameters and structured suffixes are JSON too.
    for content_type in [
        "application/json; charset=utf-8",
        "application/vnd.shop+json",
    ] {
        assert_eq!(curl(&server, "/orders", Some((content_type, good))).0, 200);
    }

    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let (status, body) = curl(&server, "/orders", Some((content_type, good)));
        assert_eq!(status, 415, "{content_type}");
        assert!(
            json_of(&body)["error"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }

    for broken in [
        r#"{"customer":"ada","#,
        "",
        r#"{"customer":"ada","items":[]} trailing"#,
    ] {
        let (status, body) = curl(&server, "/orders", Some(("application/json", broken)));
        assert_eq!(status, 400, "{broken:?}: {body}");
        assert!(json_of(&body)["error"].is_string());
    }

    let wrong_type = r#"{"customer":"ada","items":[{"name":"tea","quantity":2},{"name":"jam","quantity":"many"}]}"#;
    let (status, body) = curl(&server, "/orders", Some(("application/json", wrong_type)));
    assert_eq!(status, 422, "{body}");
    let v = json_of(&body);
    assert_eq!(v["field"], "items[1].quantity");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid type: string \"many\""),
        "{v}"
    );

    let missing = r#"{"items":[]}"#;
    let (status, body) = curl(&server, "/orders", Some(("application/json", missing)));
    assert_eq!(status, 422);
    assert!(
        json_of(&body)["error"]
            .as_str()
            .unwrap()
            .contains("missing field `customer`")
    );
}

#[test]
fn errors_send_their_status_and_message_and_causes_stay_in_the_log() {
    let server = server();
    assert_eq!(
        curl(&server, "/orders/12", None),
        (404, json!({ "error": "no order 12" }).to_string())
    );
    assert_eq!(
        curl(&server, "/orders/twelve", None),
        (
            400,
            json!({ "error": "the id is a number", "field": "id" }).to_string()
        )
    );
    // An io::Error behind `?`: 500, and nothing of the path it failed on.
    let (status, body) = curl(&server, "/orders/7", None);
    assert_eq!(status, 500);
    assert_eq!(json_of(&body), json!({ "error": "Internal Server Error" }));
}

#[test]
fn errors_and_rejections_carry_status_codes() {
    let server = server();
    assert_eq!(
        curl(&server, "/quota", None),
        (429, json!({ "error": "slow down" }).to_string())
    );
    assert_eq!(
        curl(&server, "/quota?as=number", None),
        (402, json!({ "error": "pay first" }).to_string())
    );
    let item = r#"{"name":"tea","quantity":2}"#;
    assert_eq!(
        curl(&server, "/note", Some(("application/json", item))),
        (200, "noted".into())
    );
    for (content_type, body, status) in [
        ("text/plain", item, 415),
        ("application/json", "{", 400),
        ("application/json", r#"{"name":"tea"}"#, 422),
    ] {
        let (got, text) = curl(&server, "/note", Some((content_type, body)));
        assert_eq!(got, status, "{content_type} {body}: {text}");
        assert!(text.starts_with("no note: "), "{text}");
    }
}
