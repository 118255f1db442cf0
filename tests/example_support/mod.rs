//! What the tests of the examples (`chat`, `seed_tour`, `rooms`) share: an example app running
//! on a free port, tokio-tungstenite clients and raw HTTP/1.1 exchanges, every step bounded by
//! [`STEP`] so a hang fails the test instead of stalling it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use imphnen::{App, Server};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A WebSocket client connection.
pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any single step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(5);

/// An example app listening on a free port.
pub struct Running {
    pub server: Server,
    pub addr: SocketAddr,
}

/// One HTTP response: status, head (lowercased, for header checks) and body.
pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Running {
    /// Starts `app` on a free port.
    pub fn start(app: App) -> Running {
        let server = app.listen("127.0.0.1:0").expect("bind a free port");
        let addr = server.local_addr();
        Running { server, addr }
    }

    /// Opens a WebSocket to `path` (with its query).
    pub async fn connect(&self, path: &str) -> Client {
        self.connect_with(path, &[]).await
    }

    /// Opens a WebSocket to `path`, sending `headers` with the handshake.
    pub async fn connect_with(&self, path: &str, headers: &[(&'static str, &str)]) -> Client {
        let mut request = format!("ws://{}{path}", self.addr)
            .into_client_request()
            .expect("a valid URL");
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let (ws, _) = timeout(STEP, tokio_tungstenite::connect_async(request))
            .await
            .expect("handshake timed out")
            .expect("handshake failed");
        ws
    }

    /// One request over a fresh connection (`Connection: close`).
    pub async fn http(&self, method: &str, path: &str, body: &str) -> HttpResponse {
        let exchange = async {
            let mut tcp = TcpStream::connect(self.addr).await.unwrap();
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                self.addr,
                body.len()
            );
            tcp.write_all(request.as_bytes()).await.unwrap();
            let mut response = Vec::new();
            tcp.read_to_end(&mut response).await.unwrap();
            String::from_utf8(response).unwrap()
        };
        let response = timeout(STEP, exchange)
            .await
            .expect("HTTP exchange timed out");
        let (head, body) = response.split_once("\r\n\r\n").expect("a full response");
        HttpResponse {
            status: head.split(' ').nth(1).unwrap().parse().unwrap(),
            head: head.to_ascii_lowercase(),
            body: body.to_owned(),
        }
    }

    /// `GET path` over a fresh connection.
    pub async fn get(&self, path: &str) -> HttpResponse {
        self.http("GET", path, "").await
    }

    /// Graceful shutdown; callers drop their clients first.
    pub async fn stop(self) {
        let server = self.server;
        timeout(STEP, tokio::task::spawn_blocking(move || server.shutdown()))
            .await
            .expect("shutdown timed out")
            .unwrap();
    }
}

/// Sends a text message.
pub async fn send_text(ws: &mut Client, text: &str) {
    timeout(STEP, ws.send(Message::text(text)))
        .await
        .expect("send timed out")
        .expect("send failed");
}

/// Sends `value` as a JSON text message.
pub async fn send_json(ws: &mut Client, value: &Value) {
    send_text(ws, &value.to_string()).await;
}

/// The next text message (pings and pongs are skipped); fails on anything else.
pub async fn recv_text(ws: &mut Client) -> String {
    loop {
        let msg = timeout(STEP, ws.next())
            .await
            .expect("no message within the timeout")
            .expect("connection ended")
            .expect("read failed");
        match msg {
            Message::Text(text) => return text.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// The next text message, parsed as JSON.
pub async fn recv_json(ws: &mut Client) -> Value {
    let text = recv_text(ws).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The server's close frame as the client sees it: (code, reason). Waits for the server to end
/// the connection after the close handshake, so its close handler has run.
pub async fn recv_close(ws: &mut Client) -> (u16, String) {
    let frame = loop {
        let msg = timeout(STEP, ws.next())
            .await
            .expect("no close within the timeout")
            .expect("connection ended without a close frame")
            .expect("read failed");
        match msg {
            Message::Close(Some(frame)) => break (u16::from(frame.code), frame.reason.to_string()),
            Message::Close(None) => panic!("close frame without a code"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    // The client answers the close; the server then closes TCP.
    let end = timeout(STEP, async { while ws.next().await.is_some() {} }).await;
    end.expect("the server did not end the connection after the close handshake");
    frame
}
