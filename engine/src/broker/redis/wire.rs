//! One connection to Redis: a blocking TCP stream, its handshake, and RESP through the `redis`
//! crate's command encoder and reply parser. The link needs the stream itself (one thread
//! blocks reading it while another writes to it), which the crate's own connection types keep
//! to themselves.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
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
    /// connection `name` (it shows in `CLIENT LIST`). `connected` sees the socket before the
    /// handshake, whose replies may be long in coming: it keeps a handle to shut down to
    /// interrupt them, and its error ends the attempt.
    pub(super) fn open(
        info: &ConnectionInfo,
        name: &str,
        connected: impl FnOnce(&TcpStream) -> io::Result<()>,
    ) -> io::Result<Conn> {
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
        connected(&stream)?;
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

    /// The peer closed (or reset) the connection, as far as the socket already knows; asked
    /// without waiting. A connection nothing is read from between commands (the publisher's)
    /// learns of a broker's restart only this way before it writes into the dead socket.
    pub(super) fn closed_by_peer(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: MSG_PEEK | MSG_DONTWAIT copies at most one byte into `byte`, which outlives
        // the call, and consumes nothing.
        let rc = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match rc {
            0 => true,
            n if n > 0 => false,
            _ => !matches!(
                io::Error::last_os_error().kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        }
    }

    /// What the socket holds that has not been read yet, and its receive buffer's size
    /// (`SO_RCVBUF`: the kernel grows it while the connection is busy).
    pub(super) fn receive_queue(&self) -> io::Result<ReceiveQueue> {
        let mut unread: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, which outlives the call.
        let rc = unsafe { libc::ioctl(self.stream.as_raw_fd(), libc::FIONREAD, &mut unread) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ReceiveQueue {
            unread: usize::try_from(unread).unwrap_or(0),
            buffer: socket2::SockRef::from(&self.stream).recv_buffer_size()?,
        })
    }

    /// Another handle on the same socket (for writing from a second thread, or for
    /// shutting it down to interrupt a blocked read).
    pub(super) fn stream(&self) -> io::Result<TcpStream> {
        self.stream.try_clone()
    }
}

/// A socket's receive queue at one moment.
#[derive(Clone, Copy, Debug)]
pub(super) struct ReceiveQueue {
    /// Bytes received and not read yet (`FIONREAD`).
    pub(super) unread: usize,
    /// The receive buffer's size (`SO_RCVBUF`), which counts the kernel's overhead per
    /// packet as well as the bytes.
    pub(super) buffer: usize,
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
