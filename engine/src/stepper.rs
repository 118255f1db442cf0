//! [`Stepper`]: one core on the memory driver, run by hand on the calling thread.
//!
//! No threads, no sockets, no real time: the test or fuzz target writes into a
//! [`MemoryStream`], calls [`Stepper::run`] to let the core take turns until it has nothing left
//! to do, and reads what the core answered. The clock moves only with [`Stepper::advance`], so
//! the same input always gives the same output. Handler futures that wait on something outside
//! (a monoio timer) stay pending until a later step finds them finished.

use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use monoio::time::TimeDriver;
use monoio::{LegacyDriver, Runtime, RuntimeBuilder};

use crate::config::Config;
use crate::core::{Clock, Core};
use crate::driver::memory::{MemoryDriver, MemoryNet, MemoryStream};
use crate::service::Service;
use crate::shared::hub::Hub;
use crate::shared::local;

/// Turns one [`Stepper::run`] may take before it reports that the core does not settle.
const MAX_TURNS: usize = 100_000;

/// One core on the memory driver, stepped by hand.
///
/// ```
/// use std::io::{Read, Write};
/// use std::rc::Rc;
/// use imphnen_engine::memory::Stepper;
/// use imphnen_engine::{Call, Config, Request, Response, Service, Upgrade, WebSocket};
///
/// struct Hello;
/// impl Service for Hello {
///     fn call(&self, _: Request) -> Call<Response> {
///         Call::Ready(Response::text("hi"))
///     }
///     fn upgrade(&self, _: Request, _: &WebSocket) -> Call<Upgrade> {
///         Call::Ready(Upgrade::Reject(Response::new(404)))
///     }
/// }
///
/// # fn main() -> std::io::Result<()> {
/// let mut core = Stepper::new(Config::default(), Rc::new(Hello))?;
/// let mut client = core.connect()?;
/// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
/// core.run();
/// let mut answer = Vec::new();
/// client.read_to_end(&mut answer)?;
/// assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
/// assert!(answer.ends_with(b"\r\n\r\nhi"));
/// # Ok(())
/// # }
/// ```
pub struct Stepper {
    runtime: Runtime<TimeDriver<LegacyDriver>>,
    core: Core<MemoryDriver>,
    hub: Arc<Hub>,
    net: MemoryNet,
}

impl Stepper {
    /// A core serving `service` with `config` (its `driver` is ignored: the memory driver is
    /// the point; a `DriverKind::Memory` network in it is used, else a new one).
    pub fn new(config: Config, service: Rc<dyn Service>) -> io::Result<Stepper> {
        let net = match &config.driver {
            crate::DriverKind::Memory(net) => net.clone(),
            _ => MemoryNet::new(),
        };
        let runtime = RuntimeBuilder::<LegacyDriver>::new()
            .enable_timer()
            .build()?;
        // One listening address, as `MemoryNet::connect` reaches: TLS when the config has it.
        #[cfg(feature = "tls")]
        let tls = config.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        let listen = crate::Listen {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            tls,
        };
        let hub = Arc::new(Hub::new(1, &config, &[listen])?);
        let driver = MemoryDriver::stepped(&net);
        let core = Core::new(
            0,
            hub.clone(),
            Arc::new(config),
            service,
            driver,
            Vec::new(),
            Clock::Manual,
        );
        Ok(Stepper {
            runtime,
            core,
            hub,
            net,
        })
    }

    /// A new client connection (accepted at the next step).
    pub fn connect(&self) -> io::Result<MemoryStream> {
        self.net.connect()
    }

    /// The network the core serves, for clients made elsewhere.
    pub fn net(&self) -> &MemoryNet {
        &self.net
    }

    /// Lets the core take turns until it has nothing left to do; returns the turns taken.
    ///
    /// # Panics
    /// When the core still has work after 100,000 turns (it does not settle: a bug).
    pub fn run(&mut self) -> usize {
        let Stepper {
            runtime, core, hub, ..
        } = self;
        local::enter(hub.clone(), 0, vec![None]);
        let turns = runtime.block_on(async {
            for turn in 1..=MAX_TURNS {
                std::future::poll_fn(|cx| {
                    core.poll_tasks(cx);
                    std::task::Poll::Ready(())
                })
                .await;
                core.driver_mut().woken = true;
                core.turn(true);
                if !core.has_work() && !core.driver_mut().has_news() {
                    return turn;
                }
            }
            panic!("the core did not settle within {MAX_TURNS} turns");
        });
        local::leave();
        turns
    }

    /// Moves the core's clock forward by `by`, then runs its tick (timeouts) and the turns that
    /// follow.
    pub fn advance(&mut self, by: Duration) -> usize {
        self.core
            .advance_clock(by.as_millis().min(u128::from(u32::MAX)) as u32);
        self.core.driver_mut().tick_due = true;
        self.run()
    }
}
