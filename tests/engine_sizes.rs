//! Every message size arrives intact, one and many in flight, when the server has almost no
//! receive memory (an io_uring ring of 8 buffers of 4 KiB for all connections, so nearly every
//! message spans buffers and receives run out of buffers) and the clients' sockets have tiny
//! buffers (so the server's sends are short and resumed). Payloads are checked byte for byte.

mod engine_support;

use std::time::Duration;

use engine_support::{Raw, Stream, frame, read_frame, ws_connect, ws_handshake};
use imphnen::{App, Config, Server, UringConfig, WsCallbacks, WsConfig};

const CONNECTIONS: usize = 12;
const SIZES: [usize; 6] = [20, 2 << 10, 2049, 16 << 10, 64 << 10, 1 << 20];

fn server() -> Server {
    server_with(UringConfig {
        buffers: 8,
        buffer_size: 4096,
    })
}

fn server_with(uring: UringConfig) -> Server {
    let mut app = App::new(Config {
        workers: 1,
        uring,
        websocket: WsConfig {
            max_payload_length: 2 << 20,
            backpressure_limit: 4 << 20,
            ..WsConfig::default()
        },
        ..Config::default()
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

/// A WebSocket whose TCP socket has 4 KiB buffers each way (over the memory driver: a pipe).
fn small_client(server: &Server) -> Raw {
    if server.memory_net().is_some() {
        return ws_connect(server, "/echo");
    }
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    socket.connect(&server.local_addr().into()).unwrap();
    let tcp: std::net::TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    ws_handshake(
        Raw {
            stream: Stream::Tcp(tcp),
            buf: Vec::new(),
        },
        "/echo",
    )
}

/// A payload no other message has: connection, message and position all show in it.
fn payload(conn: usize, seq: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ conn.wrapping_mul(7) ^ seq.wrapping_mul(13)) as u8)
        .collect()
}

fn echo_all(raw: &mut Raw, conn: usize, in_flight: usize, size: usize, seq: &mut usize) {
    let sent: Vec<Vec<u8>> = (0..in_flight)
        .map(|k| payload(conn, *seq + k, size))
        .collect();
    // Written from another thread: with tiny buffers a writer that does not read would
    // deadlock against a server whose replies fill the client's receive buffer.
    let frames: Vec<u8> = sent
        .iter()
        .flat_map(|p| frame(0x2, p, Some([1, 2, 3, 4])))
        .collect();
    let mut writer = match &raw.stream {
        Stream::Tcp(tcp) => Some(tcp.try_clone().unwrap()),
        Stream::Memory(_) => None,
    };
    let handle = writer.take().map(|mut tcp| {
        std::thread::spawn(move || {
            use std::io::Write;
            tcp.write_all(&frames).unwrap();
        })
    });
    if handle.is_none() {
        raw.send(
            &sent
                .iter()
                .flat_map(|p| frame(0x2, p, Some([1, 2, 3, 4])))
                .collect::<Vec<u8>>(),
        );
    }
    for (k, want) in sent.iter().enumerate() {
        let (opcode, got) = read_frame(raw).expect("an echo");
        assert_eq!(opcode, 0x2);
        assert!(
            got == *want,
            "connection {conn}, message {} of {size} B: the echo differs",
            *seq + k
        );
    }
    if let Some(h) = handle {
        h.join().unwrap();
    }
    *seq += in_flight;
}

#[test]
fn every_size_arrives_intact_with_tiny_buffers_one_and_sixteen_in_flight() {
    let server = server();
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|conn| {
            let mut raw = small_client(&server);
            std::thread::spawn(move || {
                let mut seq = 0;
                for size in SIZES {
                    echo_all(&mut raw, conn, 1, size, &mut seq);
                    // Sixteen in flight for the sizes a client pipelines; one for the largest.
                    if size <= 64 << 10 {
                        echo_all(&mut raw, conn, 16, size, &mut seq);
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a client saw a wrong or missing echo");
    }
    server.shutdown();
}

/// A ring asked for more buffers than a ring holds (65,535, above the 32,768 a buffer group
/// can have) starts with as many as it can and serves.
#[test]
fn a_receive_ring_asked_for_too_many_buffers_still_serves() {
    let server = server_with(UringConfig {
        buffers: u16::MAX,
        buffer_size: 4096,
    });
    let mut raw = small_client(&server);
    let mut seq = 0;
    for size in [20, 16 << 10] {
        echo_all(&mut raw, 0, 4, size, &mut seq);
    }
    server.shutdown();
}
