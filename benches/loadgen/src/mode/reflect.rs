//! `reflect`: a deliberately trivial WebSocket echo server (one thread, epoll, no
//! validation beyond framing) on the port of `--url`. It exists to measure the load
//! generator's own ceiling: pin it to one core, the client to another, and the echo rate
//! is bounded by whichever is slower; the client reports its CPU per message either way.
//! Not a server to compare against.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::args::Args;
use crate::frame::OP_CLOSE;
use crate::handshake::accept_for;

const LISTENER: Token = Token(usize::MAX);

struct Peer {
    stream: TcpStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    upgraded: bool,
}

/// Answers the upgrade request in `buf`, if complete: returns the bytes it took.
fn upgrade(buf: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]);
    let key = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-key"))
        })
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    out.extend_from_slice(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_for(&key)
        )
        .as_bytes(),
    );
    Some(end)
}

/// Echoes every complete masked frame in `buf` unmasked into `out`; returns bytes used and
/// whether a close frame was seen.
fn reflect(buf: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
    let mut pos = 0;
    while buf.len() - pos >= 6 {
        let (b0, b1) = (buf[pos], buf[pos + 1]);
        let (hdr, len) = match b1 & 0x7F {
            126 if buf.len() - pos >= 8 => {
                (4, u16::from_be_bytes([buf[pos + 2], buf[pos + 3]]) as usize)
            }
            127 if buf.len() - pos >= 14 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&buf[pos + 2..pos + 10]);
                (10, u64::from_be_bytes(l) as usize)
            }
            126 | 127 => break,
            n => (2, n as usize),
        };
        let end = pos + hdr + 4 + len;
        if end > buf.len() {
            break;
        }
        let mask = [
            buf[pos + hdr],
            buf[pos + hdr + 1],
            buf[pos + hdr + 2],
            buf[pos + hdr + 3],
        ];
        out.push(b0);
        match len {
            0..=125 => out.push(len as u8),
            126..=0xFFFF => {
                out.push(126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend(
            buf[pos + hdr + 4..end]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i & 3]),
        );
        pos = end;
        if b0 & 0x0F == OP_CLOSE {
            return (pos, true);
        }
    }
    (pos, false)
}

fn serve(args: &Args) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(args.target.addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!(
        "reflect: listening on {} for {:?}",
        args.target.addr, args.duration
    );
    let mut peers: HashMap<usize, Peer> = HashMap::new();
    let mut next_id = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut rbuf = vec![0u8; 256 * 1024];
    let deadline = Instant::now() + args.duration;
    while Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            if ev.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    stream.set_nodelay(true)?;
                    poll.registry()
                        .register(&mut stream, Token(next_id), Interest::READABLE)?;
                    peers.insert(
                        next_id,
                        Peer {
                            stream,
                            inbuf: Vec::new(),
                            out: Vec::new(),
                            upgraded: false,
                        },
                    );
                    next_id += 1;
                }
                continue;
            }
            let id = ev.token().0;
            let Some(p) = peers.get_mut(&id) else {
                continue;
            };
            let mut close = false;
            loop {
                match p.stream.read(&mut rbuf) {
                    Ok(0) => {
                        close = true;
                        break;
                    }
                    Ok(n) => p.inbuf.extend_from_slice(&rbuf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        close = true;
                        break;
                    }
                }
            }
            if !p.upgraded
                && let Some(used) = upgrade(&p.inbuf, &mut p.out)
            {
                p.inbuf.drain(..used);
                p.upgraded = true;
            }
            if p.upgraded {
                let (used, closing) = reflect(&p.inbuf, &mut p.out);
                p.inbuf.drain(..used);
                close |= closing;
            }
            // Blocking-style flush: a trivial server may stall on a full socket buffer.
            while !p.out.is_empty() {
                match p.stream.write(&p.out) {
                    Ok(n) => drop(p.out.drain(..n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(_) => {
                        close = true;
                        break;
                    }
                }
            }
            if close {
                peers.remove(&id);
            }
        }
    }
    Ok(())
}

/// Serves until `--duration` has passed.
pub fn run(args: &Args) -> ExitCode {
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reflect: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{OP_TEXT, encode_masked};

    #[test]
    fn masked_hello_is_reflected_unmasked() {
        let mut input = Vec::new();
        encode_masked(&mut input, OP_TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        let mut out = Vec::new();
        assert_eq!(reflect(&input, &mut out), (input.len(), false));
        assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
    }
}
