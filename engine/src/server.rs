//! `Server`: starts one thread per core, each with its own monoio runtime, listening socket and
//! copy of the application; shuts them down gracefully.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use monoio::{FusionDriver, RuntimeBuilder};

use crate::Message;
use crate::config::Config;
use crate::core::Core;
use crate::listener::bind_per_core;
use crate::mailbox::{Command, CoreRemote};
use crate::pubsub::Hub;
use crate::service::Service;

/// A running server.
///
/// ```no_run
/// # fn demo(server: imphnen_engine::Server) {
/// println!("listening on {}", server.local_addr());
/// server.shutdown(); // close 1001 to every WebSocket, finish HTTP, join the cores
/// # }
/// ```
pub struct Server {
    local_addr: SocketAddr,
    remotes: Vec<Arc<CoreRemote>>,
    hub: Arc<Hub>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    cfg: Arc<Config>,
}

impl Server {
    /// Binds `addr` on every core and starts serving. `service` is called once on each core
    /// thread to build that core's application. Returns once every core is bound and running;
    /// a busy port is `EADDRINUSE`.
    pub fn start<F>(config: Config, addr: impl ToSocketAddrs, service: F) -> io::Result<Server>
    where
        F: Fn(usize) -> Rc<dyn Service> + Send + Sync + 'static,
    {
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))?;
        let workers = config.effective_workers();
        let (listeners, local_addr) = bind_per_core(addr, workers, 4096)?;
        let cfg = Arc::new(config);
        let service = Arc::new(service);
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        let mut remotes = Vec::with_capacity(workers);
        let mut receivers = Vec::with_capacity(workers);
        for index in 0..workers {
            let (remote, rx) = CoreRemote::new(index)?;
            remotes.push(Arc::new(remote));
            receivers.push(rx);
        }
        let hub = Arc::new(Hub::new(remotes.clone(), cfg.websocket.clone()));
        let mut threads = Vec::with_capacity(workers);
        let cores = listeners.into_iter().zip(receivers).enumerate();
        for (index, (listener, rx)) in cores {
            let remote = remotes[index].clone();
            let hub = hub.clone();
            let cfg = cfg.clone();
            let service = service.clone();
            let ready = ready_tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("imphnen-core-{index}"))
                .spawn(move || {
                    let mut rt = match RuntimeBuilder::<FusionDriver>::new().enable_timer().build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    rt.block_on(async move {
                        let app = service(index);
                        match Core::new(remote, hub, cfg, app, listener) {
                            Ok(core) => {
                                let _ = ready.send(Ok(()));
                                drop(ready);
                                core.run(rx).await;
                            }
                            Err(e) => {
                                let _ = ready.send(Err(e));
                            }
                        }
                    });
                })?;
            threads.push(thread);
        }
        drop(ready_tx);
        let server = Server {
            local_addr,
            remotes,
            hub,
            threads: Mutex::new(threads),
            cfg,
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

    /// The bound address (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Graceful shutdown: stop accepting; close every WebSocket with 1001 after its queued
    /// messages; let in-flight HTTP requests finish; then join the cores. Connections still open
    /// after `Config::shutdown_timeout` are closed. Must not be called from a handler (it waits
    /// for the handler's own core).
    pub fn shutdown(&self) {
        let deadline = Instant::now() + self.cfg.shutdown_timeout;
        for r in &self.remotes {
            r.push(Command::Shutdown { deadline });
        }
        self.wait();
    }

    /// Blocks until every core has stopped (after `shutdown`, possibly from another thread).
    pub fn wait(&self) {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }

    /// Sends `msg` to every connection subscribed to `topic`, on every core. Returns the number
    /// of subscribers when the publish started.
    pub fn publish(&self, topic: &str, msg: impl Into<Message>) -> usize {
        self.hub.publish(topic, &msg.into(), None)
    }

    /// Connections subscribed to `topic`, across every core.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.hub.subscriber_count(topic)
    }

    /// A cloneable, thread-safe handle for publishing (e.g. from a plain thread).
    pub fn publisher(&self) -> Publisher {
        Publisher(self.hub.clone())
    }

    /// A cloneable handle that can shut the server down from another thread (e.g. a Ctrl-C
    /// handler) while the main thread is in [`wait`](Self::wait).
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            remotes: self.remotes.clone(),
            cfg: self.cfg.clone(),
        }
    }
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
    remotes: Vec<Arc<CoreRemote>>,
    cfg: Arc<Config>,
}

impl ServerHandle {
    /// Starts the graceful shutdown without waiting; `Server::wait` returns when it completes.
    pub fn shutdown(&self) {
        let deadline = Instant::now() + self.cfg.shutdown_timeout;
        for r in &self.remotes {
            r.push(Command::Shutdown { deadline });
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
        crate::core::current().map(|core| Publisher(core.hub.clone()))
    }

    /// Sends `msg` to every subscriber of `topic`; returns the subscriber count.
    pub fn publish(&self, topic: &str, msg: impl Into<Message>) -> usize {
        self.0.publish(topic, &msg.into(), None)
    }

    /// Connections subscribed to `topic`, across every core.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.0.subscriber_count(topic)
    }
}
