//! One connection to Redis: a blocking TCP stream, its handshake, and RESP through the `redis`
//! crate's command encoder and reply parser. The link needs the stream itself (one thread
//! blocks reading it while another writes to it), which the crate's own connection types keep
//! to themselves.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, Parser, Value};

/// How long connecting, the handshake, and a write may take.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// An open, authenticated connection.
pub(super) struct Conn {
    stream: TcpStream,
    parser: Parser,
}

impl Conn {
    /// Connects to `info`'s address, authenticates if it names a password, and names the
    /// connection `name` (it shows in `CLIENT LIST`).
    pub(super) fn open(info: &ConnectionInfo, name: &str) -> io::Result<Conn> {
        let (host, port) = match info.addr() {
            ConnectionAddr::Tcp(host, port) => (host.as_str(), *port),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the broker link speaks plain TCP only, not {other:?}"),
                ));
            }
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("no address for {host}"));
        let mut stream = None;
        for addr in (host, port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or(last)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut conn = Conn {
            stream,
            parser: Parser::new(),
        };
        let settings = info.redis_settings();
        if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = settings.username() {
                auth.arg(user);
            }
            auth.arg(password);
            conn.call(&auth.get_packed_command())?;
        }
        conn.call(
            &redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(name)
                .get_packed_command(),
        )?;
        Ok(conn)
    }

    /// Sends one command and reads its reply; an error reply is an error.
    fn call(&mut self, packed: &[u8]) -> io::Result<Value> {
        self.write(packed)?;
        match self.read()? {
            Value::ServerError(e) => Err(io::Error::other(format!("redis: {e}"))),
            v => Ok(v),
        }
    }

    /// Writes packed commands.
    pub(super) fn write(&mut self, packed: &[u8]) -> io::Result<()> {
        self.stream.write_all(packed)
    }

    /// Reads the next reply or pushed message.
    pub(super) fn read(&mut self) -> io::Result<Value> {
        self.parser
            .parse_value(Restarted(&self.stream))
            .map_err(|e| match e.kind() {
                redis::ErrorKind::Io => {
                    io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string())
                }
                _ => io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
            })
    }

    /// Reads with no deadline but `timeout` (`None`: wait for ever).
    pub(super) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// Another handle on the same socket (for writing from a second thread, or for
    /// shutting it down to interrupt a blocked read).
    pub(super) fn stream(&self) -> io::Result<TcpStream> {
        self.stream.try_clone()
    }
}

/// Reads from a socket, trying again when a signal interrupts the read: a socket with a read
/// timeout is not restarted by the kernel (signal(7)), and a SIGTERM meant for the server's
/// shutdown must not look like a broken link.
struct Restarted<'a>(&'a TcpStream);

impl Read for Restarted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match (&mut &*self.0).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                done => return done,
            }
        }
    }
}
