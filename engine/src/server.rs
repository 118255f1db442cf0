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

use crate::config::Config;
use crate::core::Core;
use crate::listener::bind_per_core;
use crate::mailbox::{Command, CoreRemote};
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
        let mut threads = Vec::with_capacity(workers);
        for (index, listener) in listeners.into_iter().enumerate() {
            let (remote, rx) = CoreRemote::new(index)?;
            let remote = Arc::new(remote);
            remotes.push(remote.clone());
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
                        match Core::new(remote, cfg, app, listener) {
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

    /// A cloneable handle that can shut the server down from another thread (e.g. a Ctrl-C
    /// handler) while the main thread is in [`wait`](Self::wait).
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            remotes: self.remotes.clone(),
            cfg: self.cfg.clone(),
        }
    }
}

/// Shuts a [`Server`] down from any thread.
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
