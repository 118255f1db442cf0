//! The Redis link: two connections per node, each with a thread of its own.
//!
//! - The subscriber connection (`receive`): its thread connects, hands a second handle on the
//!   socket to the writing thread, and then does nothing but read pushed messages and hand them
//!   to the cores. Redis disconnects subscribers that fall behind (`client-output-buffer-limit
//!   pubsub`), so this thread waits for a core whose queue is full only while its own socket's
//!   backlog is small (`patience.rs`); past that, the core's subscribers miss the message,
//!   counted in `undelivered`, and the link keeps up with Redis.
//! - The writing thread (`write`): it owns the publisher connection (pipelined `PUBLISH`es,
//!   whatever the queue holds at once) and the write side of the subscriber connection
//!   (`SUBSCRIBE`/`UNSUBSCRIBE` as the registry's transitions come, every current topic again on
//!   each new subscriber connection, and a `PING` when the link has been quiet, which the reader
//!   needs: a subscriber connection silent for `SILENCE` is taken for dead).
//!
//! Both reconnect with capped exponential back-off; the link is up when both are.

mod patience;
mod wire;

use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::{ConnectionInfo, IntoConnectionInfo, Value};

use super::envelope::{self, HEADER_LEN, Received};
use super::link::{Link, PUBLISHER, SUBSCRIBER, Sequences, Work};
use crate::shared::hub::Hub;
use patience::Patience;
use wire::Conn;

/// How long the subscriber connection may stay silent before it is taken for dead.
const SILENCE: Duration = Duration::from_secs(15);
/// A quiet link sends a `PING` this often on its subscriber connection.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// Channels per `SUBSCRIBE` or `UNSUBSCRIBE` command.
const CHANNELS_PER_COMMAND: usize = 512;
/// The first wait before reconnecting, and the longest.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));

/// How the node uses Redis.
#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub(super) url: String,
    pub(super) sharded: bool,
    pub(super) prefix: String,
}

impl Settings {
    pub(super) fn new(url: String) -> Settings {
        Settings {
            url,
            sharded: false,
            prefix: String::new(),
        }
    }

    fn subscribe(&self) -> &'static str {
        if self.sharded {
            "SSUBSCRIBE"
        } else {
            "SUBSCRIBE"
        }
    }

    fn unsubscribe(&self) -> &'static str {
        if self.sharded {
            "SUNSUBSCRIBE"
        } else {
            "UNSUBSCRIBE"
        }
    }

    fn publish(&self) -> &'static str {
        if self.sharded { "SPUBLISH" } else { "PUBLISH" }
    }

    fn channel(&self, topic: &str) -> Vec<u8> {
        let mut c = Vec::with_capacity(self.prefix.len() + topic.len());
        c.extend_from_slice(self.prefix.as_bytes());
        c.extend_from_slice(topic.as_bytes());
        c
    }
}

/// What the link's two threads share.
struct Shared {
    settings: Settings,
    info: ConnectionInfo,
    link: Arc<Link>,
    hub: Arc<Hub>,
    /// The current subscriber connection, as the reader hands it to the writer.
    subscriber: Mutex<Subscriber>,
    /// Handles on every open socket, shut down to interrupt blocked reads when stopping.
    sockets: Mutex<[Option<TcpStream>; 2]>,
}

#[derive(Default)]
struct Subscriber {
    /// Counts subscriber connections made and lost: the writer marks the subscriber up only
    /// for the connection it was handed.
    epoch: u64,
    /// The write side of the newest connection, until the writer takes it.
    handed: Option<(u64, TcpStream)>,
}

impl Shared {
    fn subscriber(&self) -> MutexGuard<'_, Subscriber> {
        self.subscriber.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keep_socket(&self, which: usize, socket: Option<TcpStream>) {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())[which] = socket;
    }

    /// Keeps a handle on the socket of connection `which`, just connected, for `stop` to shut
    /// down; fails if the link is stopping (`stop` may have looked at the sockets already).
    fn keep_connected(&self, which: usize, socket: &TcpStream) -> io::Result<()> {
        self.keep_socket(which, Some(socket.try_clone()?));
        if self.link.is_stopping() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the link is stopping",
            ));
        }
        Ok(())
    }
}

/// The running threads of one link.
pub(crate) struct Running {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops both threads (interrupting a blocked read) and waits for them.
    pub(crate) fn stop(self) {
        self.shared.link.stop();
        for s in self
            .shared
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flatten()
        {
            let _ = s.shutdown(Shutdown::Both);
        }
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// Starts the link's threads. Fails only for a URL that is not a Redis URL: an unreachable
/// broker is retried in the background, and the server serves meanwhile.
pub(super) fn start(settings: &Settings, link: Arc<Link>, hub: Arc<Hub>) -> io::Result<Running> {
    let info = settings.url.as_str().into_connection_info().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("broker URL {:?}: {e}", settings.url),
        )
    })?;
    let shared = Arc::new(Shared {
        settings: settings.clone(),
        info,
        link,
        hub,
        subscriber: Mutex::default(),
        sockets: Mutex::default(),
    });
    let mut handles = Vec::with_capacity(2);
    for (name, body) in [
        ("imphnen-broker-recv", receive as fn(&Shared)),
        ("imphnen-broker-send", write),
    ] {
        let mine = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(&mine));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                Running { shared, handles }.stop();
                return Err(e);
            }
        }
    }
    Ok(Running { shared, handles })
}

/// Capped exponential back-off between connection attempts.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(BACKOFF.0)
    }

    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(BACKOFF.1);
        d
    }
}

/// The subscriber connection's thread.
fn receive(shared: &Shared) {
    let link = &shared.link;
    let name = format!("imphnen-{:016x}-sub", link.node);
    let mut backoff = Backoff::new();
    let mut seqs = Sequences::default();
    while !link.is_stopping() {
        let opened = Conn::open(&shared.info, &name, |s| {
            shared.keep_connected(SUBSCRIBER, s)
        })
        .and_then(|conn| {
            conn.set_read_timeout(Some(SILENCE))?;
            Ok((conn.stream()?, conn))
        });
        let (writer, mut conn) = match opened {
            Ok(parts) => parts,
            Err(e) => {
                shared.keep_socket(SUBSCRIBER, None);
                lose_subscriber(shared, &e);
                link.pause(backoff.next());
                continue;
            }
        };
        backoff = Backoff::new();
        {
            let mut sub = shared.subscriber();
            sub.epoch += 1;
            sub.handed = Some((sub.epoch, writer));
        }
        link.request_resync();
        let e = read_messages(shared, &mut conn, &mut seqs);
        shared.keep_socket(SUBSCRIBER, None);
        lose_subscriber(shared, &e);
    }
}

/// The subscriber connection is gone (or could not be made).
fn lose_subscriber(shared: &Shared, e: &io::Error) {
    let mut sub = shared.subscriber();
    sub.epoch += 1;
    sub.handed = None;
    if !shared.link.is_stopping() {
        shared.link.set_up(SUBSCRIBER, false, Some(&e.to_string()));
    }
}

/// Reads pushed messages until the connection fails.
fn read_messages(shared: &Shared, conn: &mut Conn, seqs: &mut Sequences) -> io::Error {
    let mut patience = Patience::default();
    loop {
        let items = match conn.read() {
            Ok(Value::Array(items)) => items,
            Ok(Value::ServerError(error)) => {
                // A refused subscription (an ACL without the channel, `SSUBSCRIBE` before
                // Redis 7): the topic's messages from other nodes will not come.
                tracing::warn!(%error, "the broker refused a subscription command");
                continue;
            }
            Ok(_) => continue,
            Err(e) => return e,
        };
        let mut items = items.into_iter();
        let (Some(Value::BulkString(kind)), Some(Value::BulkString(channel))) =
            (items.next(), items.next())
        else {
            continue;
        };
        let Some(topic) = channel
            .strip_prefix(shared.settings.prefix.as_bytes())
            .and_then(|t| std::str::from_utf8(t).ok())
        else {
            continue;
        };
        match (kind.as_slice(), items.next()) {
            (b"message" | b"smessage", Some(Value::BulkString(payload))) => {
                let mut wait = || patience.wait(conn, &shared.link);
                let taken = deliver(shared, seqs, topic, &payload, &mut wait);
                patience.settle(taken);
            }
            (b"unsubscribe" | b"sunsubscribe", _) => seqs.forget(topic),
            _ => {}
        }
    }
}

/// Hands one message from the broker to the cores with subscribers to `topic`, waiting for
/// a full core while `wait` says so; `false` when a core had no room for it.
fn deliver(
    shared: &Shared,
    seqs: &mut Sequences,
    topic: &str,
    payload: &[u8],
    wait: &mut dyn FnMut() -> bool,
) -> bool {
    let link = &shared.link;
    let counts = &link.counts;
    let (text, body) = match envelope::read(payload) {
        Received::Node(h) if h.node == link.node => {
            counts.echoes.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        Received::Node(h) => {
            let skipped = seqs.note(topic, h.node, h.seq);
            if skipped > 0 {
                counts.gaps.fetch_add(skipped, Ordering::Relaxed);
            }
            (h.text, &payload[HEADER_LEN..])
        }
        Received::Foreign => {
            counts.foreign.fetch_add(1, Ordering::Relaxed);
            (std::str::from_utf8(payload).is_ok(), payload)
        }
        Received::Unknown => {
            counts.malformed.fetch_add(1, Ordering::Relaxed);
            return true;
        }
    };
    if text && std::str::from_utf8(body).is_err() {
        counts.malformed.fetch_add(1, Ordering::Relaxed);
        return true;
    }
    counts.received.fetch_add(1, Ordering::Relaxed);
    let taken = shared.hub.deliver_from_broker(topic, text, body, wait);
    if !taken {
        counts.undelivered.fetch_add(1, Ordering::Relaxed);
    }
    taken
}

/// The writing thread: publishes, and the subscriber connection's commands.
fn write(shared: &Shared) {
    let link = &shared.link;
    let name = format!("imphnen-{:016x}-pub", link.node);
    let mut publisher: Option<Conn> = None;
    let mut retry_at = Instant::now();
    let mut backoff = Backoff::new();
    let mut subscriber: Option<(u64, TcpStream)> = None;
    let mut subscribed = std::collections::HashSet::<Arc<str>>::new();
    // When the subscriber connection was last written to.
    let mut last_sent = Instant::now();
    let mut work = Work::default();
    let mut out = Vec::new();
    while !link.is_stopping() {
        if publisher.is_none() && Instant::now() >= retry_at {
            publisher = open_publisher(shared, &name, &mut backoff, &mut retry_at);
        }
        let wake_at = match publisher {
            None => retry_at.min(last_sent + KEEPALIVE),
            Some(_) => last_sent + KEEPALIVE,
        };
        link.next_work(Some(wake_at), &mut work);
        if link.is_stopping() {
            break;
        }
        // The broker closed the publishing connection while nothing was written to it (it
        // restarted, say): a new one takes this turn's publishes instead of the dead one losing
        // them, and is there before a resync below reports the link up.
        if publisher.as_ref().is_some_and(Conn::closed_by_peer) {
            shared.keep_socket(PUBLISHER, None);
            publisher = open_publisher(shared, &name, &mut backoff, &mut retry_at);
        }
        if let Some(handed) = shared.subscriber().handed.take() {
            subscriber = Some(handed);
            subscribed.clear();
            work.resync = true;
        }
        if let Some((epoch, stream)) = &mut subscriber {
            let epoch = *epoch;
            let quiet = last_sent.elapsed() >= KEEPALIVE;
            let sent = send_interest(shared, stream, &mut work, &mut subscribed, quiet, &mut out);
            match sent {
                Ok(wrote) => {
                    if wrote {
                        last_sent = Instant::now();
                    }
                    if work.resync {
                        let sub = shared.subscriber();
                        if sub.epoch == epoch {
                            link.set_up(SUBSCRIBER, true, None);
                        }
                    }
                }
                Err(_) => {
                    // The reader sees the same failure and reports it.
                    let _ = stream.shutdown(Shutdown::Both);
                    subscriber = None;
                }
            }
        }
        work.changes.clear();
        work.resync = false;
        if !work.publishes.is_empty() {
            match &mut publisher {
                Some(conn) => {
                    if let Err(e) = publish(shared, conn, &mut work, &mut out) {
                        shared.keep_socket(PUBLISHER, None);
                        publisher = None;
                        link.set_up(PUBLISHER, false, Some(&e.to_string()));
                        retry_at = Instant::now();
                    }
                }
                None => {
                    let n = work.publishes.len() as u64;
                    link.counts.dropped.fetch_add(n, Ordering::Relaxed);
                    work.publishes.clear();
                }
            }
        }
    }
}

/// Opens the publishing connection and marks it up; on failure marks it down and sets when
/// to try again.
fn open_publisher(
    shared: &Shared,
    name: &str,
    backoff: &mut Backoff,
    retry_at: &mut Instant,
) -> Option<Conn> {
    match Conn::open(&shared.info, name, |s| shared.keep_connected(PUBLISHER, s)) {
        Ok(conn) => {
            *backoff = Backoff::new();
            shared.link.set_up(PUBLISHER, true, None);
            Some(conn)
        }
        Err(e) => {
            shared.keep_socket(PUBLISHER, None);
            if shared.link.is_stopping() {
                return None;
            }
            shared.link.set_up(PUBLISHER, false, Some(&e.to_string()));
            *retry_at = Instant::now() + backoff.next();
            None
        }
    }
}

/// Writes the subscription changes of `work` (or, on a resync, every current topic) to the
/// subscriber connection, or a keep-alive `PING` when it is `quiet` and has nothing else to
/// say. `Ok(true)` when something was written.
fn send_interest(
    shared: &Shared,
    stream: &mut TcpStream,
    work: &mut Work,
    subscribed: &mut std::collections::HashSet<Arc<str>>,
    quiet: bool,
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    use std::io::Write;
    let settings = &shared.settings;
    out.clear();
    let mut add = Vec::new();
    let mut remove = Vec::new();
    if work.resync {
        // The registry forgets the changes it reported before this snapshot.
        let now = shared.hub.registry.resync_broker(&shared.link);
        remove.extend(subscribed.iter().filter(|t| !now.contains(t)).cloned());
        add = now;
    } else {
        for (topic, on) in work.changes.drain(..) {
            match (on, subscribed.contains(&topic)) {
                (true, false) => add.push(topic),
                (false, true) => remove.push(topic),
                _ => {}
            }
        }
    }
    for (command, topics) in [
        (settings.subscribe(), &add),
        (settings.unsubscribe(), &remove),
    ] {
        // A sharded subscription names channels of one hash slot; one per command keeps them
        // valid on a cluster.
        let per_command = if settings.sharded {
            1
        } else {
            CHANNELS_PER_COMMAND
        };
        for chunk in topics.chunks(per_command) {
            let mut cmd = redis::cmd(command);
            for topic in chunk {
                cmd.arg(settings.channel(topic));
            }
            cmd.write_packed_command(out);
        }
    }
    for topic in add {
        subscribed.insert(topic);
    }
    for topic in &remove {
        subscribed.remove(topic);
    }
    if out.is_empty() && quiet {
        redis::cmd("PING").write_packed_command(out);
    }
    if out.is_empty() {
        return Ok(false);
    }
    stream.write_all(out)?;
    Ok(true)
}

/// Publishes everything in `work` in one pipeline and reads the replies.
fn publish(shared: &Shared, conn: &mut Conn, work: &mut Work, out: &mut Vec<u8>) -> io::Result<()> {
    let settings = &shared.settings;
    let counts = &shared.link.counts;
    out.clear();
    let mut message = Vec::new();
    let n = work.publishes.len();
    for p in work.publishes.drain(..) {
        message.clear();
        p.header.write(&mut message);
        message.extend_from_slice(&p.payload);
        redis::cmd(settings.publish())
            .arg(settings.channel(&p.topic))
            .arg(&message[..])
            .write_packed_command(out);
    }
    if let Err(e) = conn.write(out) {
        counts.dropped.fetch_add(n as u64, Ordering::Relaxed);
        return Err(e);
    }
    for i in 0..n {
        match conn.read() {
            Ok(Value::ServerError(e)) => {
                counts.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "the broker refused a publish");
            }
            Ok(_) => {
                counts.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // Whether the broker took the rest is unknown: they are counted as dropped.
                counts.dropped.fetch_add((n - i) as u64, Ordering::Relaxed);
                return Err(e);
            }
        }
    }
    Ok(())
}
