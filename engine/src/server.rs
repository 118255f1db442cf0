//! `Server`: starts one thread per core, each with its own monoio runtime, driver and copy of
//! the application; shuts them down gracefully.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use monoio::{FusionDriver, RuntimeBuilder};

use crate::config::{Config, DriverKind};
use crate::core::{Clock, Core, tick_period};
use crate::driver::epoll::EpollDriver;
use crate::driver::memory::MemoryDriver;
use crate::driver::uring::UringDriver;
use crate::driver::{Driver, MAX_LISTENERS};
use crate::service::Service;
use crate::shared::command::{Command, MAX_CORES};
use crate::shared::hub::Hub;
use crate::shared::inbox::RING_CAPACITY;
use crate::shared::local;
use crate::shared::metrics::Metrics;
use crate::shared::ring::{Consumer, Producer, ring};
use crate::sys::listener::bind_per_core;
use crate::{Listen, Message};

/// A running server.
///
/// ```no_run
/// # fn demo(server: imphnen_engine::Server) {
/// println!("listening on {}", server.local_addr());
/// server.shutdown(); // close 1001 to every WebSocket, finish HTTP, join the cores
/// # }
/// ```
pub struct Server {
    /// The listening addresses as bound (real ports), in the order given.
    listeners: Vec<Listen>,
    hub: Arc<Hub>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    cfg: Arc<Config>,
    driver: DriverKind,
    /// The broker link's threads, stopped once the cores are.
    broker: Mutex<Option<crate::broker::Threads>>,
}

/// What one core thread starts with.
struct CoreStart {
    index: usize,
    /// The core's socket for each listening address, in order (none on the memory driver).
    listeners: Vec<TcpListener>,
    producers: Vec<Option<Producer<Command>>>,
    consumers: Vec<Consumer<Command>>,
}

impl Server {
    /// Binds `addr` on every core and starts serving: TLS when the config has
    /// [`tls`](Config::tls), plain TCP otherwise. `service` is called once on each core thread
    /// to build that core's application. Returns once every core is bound and running; a busy
    /// port is `EADDRINUSE`. On the memory driver nothing is bound, and
    /// [`local_addr`](Self::local_addr) is `addr` as given.
    pub fn start<F>(config: Config, addr: impl ToSocketAddrs, service: F) -> io::Result<Server>
    where
        F: Fn(usize) -> Rc<dyn Service> + Send + Sync + 'static,
    {
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))?;
        #[cfg(feature = "tls")]
        let tls = config.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        Server::start_on(config, &[Listen { addr, tls }], service)
    }

    /// Like [`start`](Self::start), listening on each of `listeners` (at most 16) with the
    /// same cores: every core accepts on every address, and a connection accepted on a
    /// [`Listen::tls`] address starts a TLS session with [`Config::tls`] (which must then be
    /// set), one on a plain address does not. Routes, pub/sub topics, metrics and shutdown are
    /// the one server's. A busy address is `EADDRINUSE` and nothing stays bound.
    ///
    /// ```no_run
    /// # use std::rc::Rc;
    /// # use imphnen_engine::{Config, Service};
    /// # fn demo(config: Config, app: fn(usize) -> Rc<dyn Service>) -> std::io::Result<()> {
    /// use imphnen_engine::{Listen, Server};
    /// let plain = Listen::plain("0.0.0.0:8080".parse().unwrap());
    /// let tls = Listen::tls("0.0.0.0:8443".parse().unwrap());
    /// let server = Server::start_on(config /* with `tls` set */, &[plain, tls], app)?;
    /// println!("ws:// on {}, wss:// on {:?}", server.local_addr(), server.tls_addr());
    /// # Ok(()) }
    /// ```
    pub fn start_on<F>(config: Config, listeners: &[Listen], service: F) -> io::Result<Server>
    where
        F: Fn(usize) -> Rc<dyn Service> + Send + Sync + 'static,
    {
        check_listeners(&config, listeners)?;
        let workers = config.effective_workers().min(MAX_CORES);
        let driver = config.driver.resolve();
        let mut sockets: Vec<Vec<TcpListener>> = (0..workers).map(|_| Vec::new()).collect();
        let mut bound = listeners.to_vec();
        if !matches!(driver, DriverKind::Memory(_)) {
            for l in &mut bound {
                let (per_core, addr) = bind_per_core(l.addr, workers, 4096)?;
                l.addr = addr;
                for (core, socket) in sockets.iter_mut().zip(per_core) {
                    core.push(socket);
                }
            }
        }
        let cfg = Arc::new(config);
        let hub = Arc::new(Hub::new(workers, &cfg, &bound)?);
        let broker = match &cfg.broker {
            Some(b) => Some(b.start(&hub)?),
            None => None,
        };
        let service = Arc::new(service);
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        let mut starts = rings(workers, sockets);
        let mut threads = Vec::with_capacity(workers);
        for start in starts.drain(..) {
            let (hub, cfg, service, ready, driver) = (
                hub.clone(),
                cfg.clone(),
                service.clone(),
                ready_tx.clone(),
                driver.clone(),
            );
            let count = bound.len();
            let thread = std::thread::Builder::new()
                .name(format!("imphnen-core-{}", start.index))
                .spawn(move || {
                    let mut rt = match RuntimeBuilder::<FusionDriver>::new().enable_timer().build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    let core = Setup {
                        hub,
                        cfg,
                        driver,
                        listeners: count,
                    };
                    rt.block_on(serve(start, core, service.as_ref(), ready));
                })?;
            threads.push(thread);
        }
        drop(ready_tx);
        let server = Server {
            listeners: bound,
            hub,
            threads: Mutex::new(threads),
            cfg,
            driver,
            broker: Mutex::new(broker),
        };
        for _ in 0..workers {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    server.shutdown();
                    return Err(e);
                }
                Err(_) => {
                    server.shutdown();
                    return Err(io::Error::other("a core thread exited during start-up"));
                }
            }
        }
        Ok(server)
    }

    /// Replaces the certificate (and the rest of the TLS configuration) of a server started
    /// with [`Config::tls`]: handshakes that start from now on, on every TLS listener, use
    /// `tls`; connections already open keep the session they have. An error if the server
    /// serves plain TCP only.
    #[cfg(feature = "tls")]
    pub fn reload_tls(&self, tls: crate::TlsConfig) -> io::Result<()> {
        let Some(current) = &self.hub.tls else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the server was started without TLS",
            ));
        };
        *current.write().unwrap_or_else(|e| e.into_inner()) = tls.rustls().clone();
        Ok(())
    }

    /// The bound address (with the real port when port 0 was asked for); with several
    /// listening addresses, the first one given.
    pub fn local_addr(&self) -> SocketAddr {
        self.listeners[0].addr
    }

    /// The bound address of the first TLS listener (the real port when port 0 was asked
    /// for); `None` when the server serves plain TCP only.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.listeners.iter().find(|l| l.tls).map(|l| l.addr)
    }

    /// Every listening address as bound, in the order given, with whether it serves TLS.
    pub fn listeners(&self) -> &[Listen] {
        &self.listeners
    }

    /// The number of cores (worker threads) serving.
    pub fn workers(&self) -> usize {
        self.hub.cores.len()
    }

    /// The driver the cores run (what [`DriverKind::Auto`] resolved to).
    pub fn driver(&self) -> &DriverKind {
        &self.driver
    }

    /// The network clients reach the server through, on the memory driver.
    pub fn memory_net(&self) -> Option<&crate::memory::MemoryNet> {
        match &self.driver {
            DriverKind::Memory(net) => Some(net),
            _ => None,
        }
    }

    /// Graceful shutdown: stop accepting; close every WebSocket with 1001 after its queued
    /// messages; let in-flight HTTP requests finish; then join the cores. Connections still open
    /// after `Config::shutdown_timeout` are closed. Must not be called from a handler (it waits
    /// for the handler's own core).
    pub fn shutdown(&self) {
        self.handle().shutdown();
        self.wait();
    }

    /// Serves until the process gets SIGINT or SIGTERM (Ctrl-C, `docker stop`, Kubernetes),
    /// then shuts down gracefully as [`shutdown`](Self::shutdown) does: no new connections,
    /// every WebSocket closed with 1001 after its queued messages, in-flight HTTP requests
    /// finished, all within `Config::shutdown_timeout`. A second signal during the drain ends
    /// the process at once (exit status 128 + the signal, as a shell reports a killed one).
    ///
    /// ```no_run
    /// # fn demo(server: imphnen_engine::Server) -> std::io::Result<()> {
    /// server.wait_for_shutdown_signal()?; // returns once every connection is closed
    /// # Ok(()) }
    /// ```
    pub fn wait_for_shutdown_signal(&self) -> io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let handle = self.handle();
        std::thread::Builder::new()
            .name("imphnen-signals".into())
            .spawn(move || {
                let mut signals = signals.forever();
                if let Some(signal) = signals.next() {
                    tracing::info!(signal, "shutting down: draining connections");
                    handle.shutdown();
                }
                if let Some(signal) = signals.next() {
                    tracing::warn!(signal, "second signal: exiting without draining");
                    std::process::exit(128 + signal);
                }
            })?;
        self.wait();
        Ok(())
    }

    /// Blocks until every core has stopped (after `shutdown`, possibly from another thread).
    pub fn wait(&self) {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
        let broker = self.broker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(threads) = broker {
            threads.stop();
        }
    }

    /// Sends `msg` to every connection subscribed to `topic`, on every core, and to the other
    /// nodes through the [`Config::broker`], if there is one. Returns the number of this
    /// node's subscribers when the publish started.
    ///
    /// Whether the other nodes get it is not in the return value: a publish the broker link
    /// cannot take (down, or its queue full) still reaches this node's subscribers, is never
    /// waited for, and is counted in [`BrokerStats::dropped`](crate::BrokerStats::dropped)
    /// ([`broker_stats`](Self::broker_stats)).
    pub fn publish(&self, topic: &str, msg: impl Into<Message>) -> usize {
        self.hub.publish(topic, &msg.into(), None)
    }

    /// Connections subscribed to `topic`, across every core.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.hub.subscriber_count(topic)
    }

    /// The broker link's counters; `None` without a [`Config::broker`].
    pub fn broker_stats(&self) -> Option<crate::BrokerStats> {
        self.hub.broker.as_ref().map(|l| l.stats())
    }

    /// Messages compressed with permessage-deflate since the server started, over every core.
    /// A published message counts once per core (and window size) that compressed it for its
    /// shared-mode subscribers, however many they are; a dedicated stream counts each of its
    /// messages.
    pub fn compressed_messages(&self) -> u64 {
        self.metrics().compressed_messages
    }

    /// The server's counters now, summed over its cores ([`Metrics::to_prometheus`] writes
    /// them for a scraper).
    pub fn metrics(&self) -> Metrics {
        Metrics::sum(
            self.hub.cores.iter().map(|c| &*c.counters),
            &self.hub.foreign_sends,
            self.hub.refused.load(Ordering::Relaxed),
            self.hub.broker.as_ref().map(|l| l.stats()),
        )
    }

    /// A cloneable, thread-safe handle for publishing (e.g. from a plain thread).
    pub fn publisher(&self) -> Publisher {
        Publisher(self.hub.clone())
    }

    /// A cloneable handle that can shut the server down from another thread (e.g. a Ctrl-C
    /// handler) while the main thread is in [`wait`](Self::wait).
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            hub: self.hub.clone(),
            cfg: self.cfg.clone(),
        }
    }
}

/// A list of listening addresses a server can start with: one at least, at most
/// [`MAX_LISTENERS`], and TLS ones only with a TLS configuration.
fn check_listeners(config: &Config, listeners: &[Listen]) -> io::Result<()> {
    let invalid = |why: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, why.to_owned()));
    if listeners.is_empty() {
        return invalid("no address to listen on");
    }
    if listeners.len() > MAX_LISTENERS {
        return invalid("more than 16 listening addresses");
    }
    #[cfg(feature = "tls")]
    let has_tls = config.tls.is_some();
    #[cfg(not(feature = "tls"))]
    let has_tls = {
        let _ = config;
        false
    };
    if listeners.iter().any(|l| l.tls) && !has_tls {
        return invalid("a TLS listener needs a TLS configuration (Config::tls)");
    }
    Ok(())
}

/// The rings between every ordered pair of cores, dealt to the cores' starts.
fn rings(workers: usize, listeners: Vec<Vec<TcpListener>>) -> Vec<CoreStart> {
    let mut starts: Vec<CoreStart> = listeners
        .into_iter()
        .enumerate()
        .map(|(index, listeners)| CoreStart {
            index,
            listeners,
            producers: (0..workers).map(|_| None).collect(),
            consumers: Vec::new(),
        })
        .collect();
    for from in 0..workers {
        for to in 0..workers {
            if from != to {
                let (p, c) = ring(RING_CAPACITY);
                starts[from].producers[to] = Some(p);
                starts[to].consumers.push(c);
            }
        }
    }
    starts
}

/// What every core thread gets alike.
struct Setup {
    hub: Arc<Hub>,
    cfg: Arc<Config>,
    driver: DriverKind,
    /// How many listening addresses the server has.
    listeners: usize,
}

/// One core thread's life inside its runtime: become the core, build its driver, run.
async fn serve(
    start: CoreStart,
    setup: Setup,
    service: &(dyn Fn(usize) -> Rc<dyn Service> + Send + Sync),
    ready: mpsc::Sender<io::Result<()>>,
) {
    let CoreStart {
        index,
        listeners,
        producers,
        consumers,
    } = start;
    let Setup {
        hub,
        cfg,
        driver,
        listeners: count,
    } = setup;
    let app = service(index);
    local::enter(hub.clone(), index as u32, producers);
    let tick = tick_period(&cfg);
    let buffers = cfg.uring;
    let wake_fd = hub.cores[index].inbox.wake_fd().as_raw_fd();
    let clock = Clock::Real {
        started: Instant::now(),
    };
    let parts = Parts {
        index: index as u32,
        hub: hub.clone(),
        cfg,
        app,
        consumers,
        clock,
    };
    // Each arm awaits its core's loop directly: no future of ours between the runtime and the
    // loop, which is polled twice every turn.
    match driver {
        DriverKind::Memory(net) => match MemoryDriver::threaded(&net, count, wake_fd, tick) {
            Ok(d) => build(parts, d, ready).run().await,
            Err(e) => drop(ready.send(Err(e))),
        },
        DriverKind::Uring => match UringDriver::new(index, listeners, wake_fd, tick, buffers) {
            Ok(d) => build(parts, d, ready).run().await,
            Err(e) => drop(ready.send(Err(e))),
        },
        _ => match EpollDriver::new(index, listeners, wake_fd, tick) {
            Ok(d) => build(parts, d, ready).run().await,
            Err(e) => drop(ready.send(Err(e))),
        },
    }
    local::leave();
}

/// What a core is made of besides its driver.
struct Parts {
    index: u32,
    hub: Arc<Hub>,
    cfg: Arc<Config>,
    app: Rc<dyn Service>,
    consumers: Vec<Consumer<Command>>,
    clock: Clock,
}

/// The core, once it exists: start-up is reported as done.
fn build<D: Driver>(
    parts: Parts,
    driver: (D, D::Io),
    ready: mpsc::Sender<io::Result<()>>,
) -> Core<D> {
    let Parts {
        index,
        hub,
        cfg,
        app,
        consumers,
        clock,
    } = parts;
    let core = Core::new(index, hub, cfg, app, driver, consumers, clock);
    let _ = ready.send(Ok(()));
    core
}

/// Shuts a [`Server`] down from any thread, e.g. a Ctrl-C handler while the main thread waits.
///
/// ```no_run
/// # fn demo(server: imphnen_engine::Server) {
/// let handle = server.handle();
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_secs(60));
///     handle.shutdown();
/// });
/// server.wait(); // returns once the shutdown has closed every connection
/// # }
/// ```
#[derive(Clone)]
pub struct ServerHandle {
    hub: Arc<Hub>,
    cfg: Arc<Config>,
}

impl ServerHandle {
    /// Starts the graceful shutdown without waiting; `Server::wait` returns when it completes.
    pub fn shutdown(&self) {
        self.hub
            .shutting_down
            .store(true, std::sync::atomic::Ordering::Release);
        let deadline = Instant::now() + self.cfg.shutdown_timeout;
        for core in 0..self.hub.cores.len() {
            // The shutdown must get through: a full plain-thread queue is retried.
            let mut cmd = Command::Shutdown { deadline };
            while let Err(back) = self.hub.cores[core].inbox.push_plain(cmd) {
                cmd = back;
                std::thread::yield_now();
            }
        }
    }
}

/// Publishes to topics from any thread: `Clone + Send + Sync`.
///
/// ```no_run
/// # fn demo(server: imphnen_engine::Server) {
/// let publisher = server.publisher();
/// std::thread::spawn(move || {
///     publisher.publish("news", "hello from a plain thread");
/// });
/// # }
/// ```
#[derive(Clone)]
pub struct Publisher(Arc<Hub>);

impl Publisher {
    /// The publisher of the server whose core runs the calling code (inside a handler);
    /// `None` on any other thread.
    pub fn current() -> Option<Publisher> {
        local::hub().map(Publisher)
    }

    /// Sends `msg` to every subscriber of `topic` (and through the broker, if there is one, to
    /// the other nodes); returns this node's subscriber count.
    ///
    /// Whether the other nodes get it is not in the return value: a publish the broker link
    /// cannot take (down, or its queue full) still reaches this node's subscribers, is never
    /// waited for, and is counted in [`BrokerStats::dropped`](crate::BrokerStats::dropped)
    /// ([`broker_stats`](Self::broker_stats)).
    pub fn publish(&self, topic: &str, msg: impl Into<Message>) -> usize {
        self.0.publish(topic, &msg.into(), None)
    }

    /// Connections subscribed to `topic`, across every core.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.0.subscriber_count(topic)
    }

    /// The broker link's counters; `None` without a [`Config::broker`].
    pub fn broker_stats(&self) -> Option<crate::BrokerStats> {
        self.0.broker.as_ref().map(|l| l.stats())
    }

    /// The server's counters now, summed over its cores (for a `/metrics` route).
    pub fn metrics(&self) -> Metrics {
        Metrics::sum(
            self.0.cores.iter().map(|c| &*c.counters),
            &self.0.foreign_sends,
            self.0.refused.load(Ordering::Relaxed),
            self.0.broker.as_ref().map(|l| l.stats()),
        )
    }

    /// The server's graceful shutdown has started (a health check then answers 503, so a
    /// load balancer stops sending work during the drain).
    pub fn is_shutting_down(&self) -> bool {
        self.0
            .shutting_down
            .load(std::sync::atomic::Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(port: u16) -> Listen {
        Listen::plain(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    #[test]
    fn a_server_needs_one_to_sixteen_addresses() {
        let cfg = Config::default();
        let none = check_listeners(&cfg, &[]).unwrap_err();
        assert_eq!(none.kind(), io::ErrorKind::InvalidInput);
        let sixteen: Vec<Listen> = (0..16).map(|i| plain(9000 + i)).collect();
        assert!(check_listeners(&cfg, &sixteen).is_ok());
        let seventeen: Vec<Listen> = (0..17).map(|i| plain(9000 + i)).collect();
        let many = check_listeners(&cfg, &seventeen).unwrap_err();
        assert_eq!(many.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_tls_address_needs_a_tls_configuration() {
        let tls = Listen::tls(SocketAddr::from(([127, 0, 0, 1], 9443)));
        let error = check_listeners(&Config::default(), &[plain(9080), tls]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
