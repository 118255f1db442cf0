//! `WsConfig::allowed_origins` against upgrade requests from tokio-tungstenite that carry the
//! `Origin` a browser page would send: refused ones get `403` (after the route's upgrade hook
//! saw them), allowed ones and programs without `Origin` open.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use imphnen::{AllowedOrigins, App, Config, Server, WsCallbacks, WsConfig};
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn server(origins: AllowedOrigins, hook_calls: Arc<AtomicUsize>) -> Server {
    let mut app = App::new(Config {
        workers: 1,
        websocket: WsConfig {
            allowed_origins: origins,
            ..WsConfig::default()
        },
        ..Config::default()
    });
    app.ws_with(
        "/chat",
        move |_req| {
            hook_calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        },
        WsCallbacks::with_data(),
    );
    app.listen("127.0.0.1:0").expect("listen")
}

/// The status the upgrade got when sent to `host_header` with `origin`.
fn status(server: &Server, host_header: &str, origin: Option<&str>) -> u16 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut req = format!("ws://{}/chat", server.local_addr())
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("host", host_header.parse().unwrap());
        if let Some(origin) = origin {
            req.headers_mut().insert("origin", origin.parse().unwrap());
        }
        let tcp = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        match client_async(req, tcp).await {
            Ok((_, res)) => res.status().as_u16(),
            Err(WsError::Http(res)) => res.status().as_u16(),
            Err(e) => panic!("{e}"),
        }
    })
}

#[test]
fn same_host_admits_pages_of_the_host_asked_and_refuses_others_with_403() {
    let hooks = Arc::new(AtomicUsize::new(0));
    let server = server(AllowedOrigins::SameHost, hooks.clone());
    let host = server.local_addr().to_string();
    let port = server.local_addr().port();
    assert_eq!(status(&server, &host, Some(&format!("http://{host}"))), 101);
    // The page was loaded from 127.0.0.1, the socket opened to localhost: two origins.
    let localhost = format!("localhost:{port}");
    assert_eq!(
        status(&server, &localhost, Some(&format!("http://{host}"))),
        403
    );
    assert_eq!(status(&server, &host, Some("https://evil.example")), 403);
    assert_eq!(status(&server, &host, Some("null")), 403);
    // No Origin: a program, not a page.
    assert_eq!(status(&server, &host, None), 101);
    assert_eq!(
        hooks.load(Ordering::SeqCst),
        5,
        "the hook sees every request"
    );
}

#[test]
fn a_list_admits_exactly_its_origins() {
    let hooks = Arc::new(AtomicUsize::new(0));
    let list = AllowedOrigins::List(vec!["https://app.example".into()]);
    let server = server(list, hooks);
    let host = server.local_addr().to_string();
    assert_eq!(status(&server, &host, Some("https://app.example")), 101);
    assert_eq!(status(&server, &host, Some("http://app.example")), 403);
    assert_eq!(status(&server, &host, Some(&format!("http://{host}"))), 403);
}

#[test]
fn any_is_the_default_and_admits_every_origin() {
    assert_eq!(WsConfig::default().allowed_origins, AllowedOrigins::Any);
    let hooks = Arc::new(AtomicUsize::new(0));
    let server = server(AllowedOrigins::Any, hooks);
    let host = server.local_addr().to_string();
    assert_eq!(status(&server, &host, Some("https://evil.example")), 101);
}
