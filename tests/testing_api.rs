//! `imphnen::testing` used the way a user would: the guide's echo test, HTTP requests, query and
//! headers on the upgrade, close codes, timeouts, refusals.

use std::io;
use std::time::{Duration, Instant};

use imphnen::testing::{Received, TestServer};
use imphnen::{App, Config, Ctx, Message, WsCallbacks};

fn app() -> App {
    let mut app = App::new(Config::default());
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, message| {
            match message.as_text() {
                Some("bye") => ctx.ws.close(4000, "x"),
                Some("ping me") => {
                    ctx.ws.send("pinged");
                }
                Some(_) => {
                    ctx.ws.send(format!("Echo: {message}"));
                }
                None => {
                    ctx.ws.send(message);
                }
            }
            Ok(())
        }),
    );
    app.ws_with(
        "/connect",
        |req| {
            req.keep_headers();
            Ok(())
        },
        WsCallbacks::with_data().on_open(|ctx| {
            let token = ctx.query().get("token").map(|t| t.into_owned());
            let agent = ctx.header("x-client").unwrap_or("none").to_owned();
            ctx.ws.send(format!("{token:?} {agent}"));
            Ok(())
        }),
    );
    app.get("/hello", |_: Ctx| "Hello");
    app.post("/len", |ctx: Ctx| format!("{}", ctx.body().bytes().len()));
    app
}

#[test]
fn websocket_echo() -> io::Result<()> {
    let server = TestServer::start(app())?;
    let mut client = server.connect("/echo")?;
    client.send("Hello!")?;
    assert_eq!(client.recv()?.as_text(), Some("Echo: Hello!"));
    client.send(vec![1u8, 2, 3])?;
    assert_eq!(client.recv()?, Message::binary(vec![1u8, 2, 3]));
    assert_eq!(client.close(1000, "done")?.0, 1000);
    Ok(())
}

#[test]
fn url_names_the_bound_port() -> io::Result<()> {
    let server = TestServer::start(app())?;
    assert_eq!(
        server.url("/echo"),
        format!("ws://127.0.0.1:{}/echo", server.addr().port())
    );
    Ok(())
}

#[test]
fn query_and_headers_reach_the_handler() -> io::Result<()> {
    let server = TestServer::start(app())?;
    let mut client = server.connect_with_headers("/connect?token=abc", &[("X-Client", "t1")])?;
    assert_eq!(client.recv()?.as_text(), Some("Some(\"abc\") t1"));
    Ok(())
}

#[test]
fn server_close_is_received_with_code_and_reason() -> io::Result<()> {
    let server = TestServer::start(app())?;
    let mut client = server.connect("/echo")?;
    client.send("bye")?;
    assert_eq!(client.recv_close()?, (4000, "x".to_owned()));
    // Receiving after the close is an error, not a hang.
    assert_eq!(
        client.recv().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    Ok(())
}

#[test]
fn recv_on_a_close_is_an_error_and_recv_event_reports_it() -> io::Result<()> {
    let server = TestServer::start(app())?;
    let mut a = server.connect("/echo")?;
    a.send("bye")?;
    assert_eq!(
        a.recv().unwrap_err().kind(),
        io::ErrorKind::ConnectionAborted
    );
    let mut b = server.connect("/echo")?;
    b.send("bye")?;
    assert_eq!(b.recv_event()?, Received::Close(4000, "x".to_owned()));
    Ok(())
}

#[test]
fn recv_times_out_when_nothing_comes() -> io::Result<()> {
    let server = TestServer::start(app())?;
    let mut client = server.connect("/echo")?;
    let started = Instant::now();
    let err = client.recv_timeout(Duration::from_millis(100)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(1));
    // The connection still works afterwards.
    client.send("again")?;
    assert_eq!(client.recv()?.as_text(), Some("Echo: again"));
    Ok(())
}

#[test]
fn ping_is_answered_and_not_reported() -> io::Result<()> {
    let server = TestServer::start(app())?;
    let mut client = server.connect("/echo")?;
    client.ping(b"p")?;
    client.send("ping me")?;
    assert_eq!(client.recv()?.as_text(), Some("pinged"));
    Ok(())
}

#[test]
fn http_get_and_post() -> io::Result<()> {
    let server = TestServer::start(app())?;
    let r = server.get("/hello")?;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello");
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    let r = server.request("POST", "/len", b"12345")?;
    assert_eq!(r.text(), "5");
    assert_eq!(server.get("/missing")?.status, 404);
    assert!(server.request("HEAD", "/hello", b"")?.body.is_empty());
    Ok(())
}

#[test]
fn refused_upgrade_is_an_error_naming_the_status() -> io::Result<()> {
    let server = TestServer::start(app())?;
    let err = server.connect("/nowhere").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert!(err.to_string().contains("404"), "{err}");
    Ok(())
}

#[test]
fn dropping_the_server_stops_it() -> io::Result<()> {
    let server = TestServer::start(app())?;
    let addr = server.addr();
    drop(server);
    assert!(std::net::TcpStream::connect(addr).is_err());
    Ok(())
}
