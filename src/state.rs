//! Application state: values that handlers reach with `ctx.state::<S>()`, registered on the
//! [`App`](crate::App) before it listens.
//!
//! Two kinds, one lookup by type:
//! - **shared** ([`App::with_state`](crate::App::with_state)): one value for the whole server,
//!   `Send + Sync`, behind an `Arc` (a database pool, a configuration, an atomic counter);
//! - **per core** ([`App::per_core`](crate::App::per_core)): a factory that every core calls once
//!   on its own thread, so each core has a value of its own that no other thread touches. It
//!   need not be `Send` or `Sync`: a `RefCell<HashMap<..>>` or an `Rc` is fine, and no lock is
//!   ever taken. This is the thread-per-core way; use it for caches, buffers and counters that
//!   are summed when read.
//!
//! Owns: the registered values and factories ([`StateSpec`], in the `App`) and each core's
//! values ([`States`], built when the core starts). Does not own: how a handler reaches them
//! (`Ctx::state`, `WsCtx::state`).

use std::any::{Any, TypeId, type_name};
use std::sync::Arc;

type Factory = Arc<dyn Fn() -> Box<dyn Any> + Send + Sync>;

/// What the app registered: shared values and per-core factories, at most one of each type.
#[derive(Clone, Default)]
pub(crate) struct StateSpec {
    entries: Vec<(TypeId, &'static str, Registered)>,
}

#[derive(Clone)]
enum Registered {
    Shared(Arc<dyn Any + Send + Sync>),
    PerCore(Factory),
}

impl StateSpec {
    /// Registers the server's one `S`.
    pub(crate) fn add_shared<S: Send + Sync + 'static>(&mut self, value: S) {
        self.add::<S>(Registered::Shared(Arc::new(value)));
    }

    /// Registers a factory each core calls once for its own `S`.
    pub(crate) fn add_per_core<S: 'static>(
        &mut self,
        make: impl Fn() -> S + Send + Sync + 'static,
    ) {
        self.add::<S>(Registered::PerCore(Arc::new(move || Box::new(make()))));
    }

    fn add<S: 'static>(&mut self, registered: Registered) {
        self.insert(TypeId::of::<S>(), type_name::<S>(), registered);
    }

    fn insert(&mut self, id: TypeId, name: &'static str, registered: Registered) {
        if self.entries.iter().any(|(t, _, _)| *t == id) {
            panic!("imphnen: state of type {name} is registered twice");
        }
        self.entries.push((id, name, registered));
    }

    /// Takes in the state of an app nested or merged into this one.
    ///
    /// # Panics
    /// When both registered a value of the same type.
    pub(crate) fn merge(&mut self, other: StateSpec) {
        for (id, name, registered) in other.entries {
            self.insert(id, name, registered);
        }
    }

    /// The values of one core: shared ones by reference, per-core ones made now, on the
    /// core's thread.
    pub(crate) fn for_core(&self) -> States {
        States {
            entries: self
                .entries
                .iter()
                .map(|(id, _, registered)| {
                    let value = match registered {
                        Registered::Shared(v) => Value::Shared(v.clone()),
                        Registered::PerCore(make) => Value::Own(make()),
                    };
                    (*id, value)
                })
                .collect(),
        }
    }
}

/// One core's state values.
#[derive(Default)]
pub(crate) struct States {
    entries: Vec<(TypeId, Value)>,
}

enum Value {
    Shared(Arc<dyn Any + Send + Sync>),
    Own(Box<dyn Any>),
}

impl States {
    /// The value of type `S`, if one was registered.
    pub(crate) fn get<S: 'static>(&self) -> Option<&S> {
        let id = TypeId::of::<S>();
        let (_, value) = self.entries.iter().find(|(t, _)| *t == id)?;
        match value {
            Value::Shared(v) => v.downcast_ref(),
            Value::Own(v) => v.downcast_ref(),
        }
    }

    /// The value of type `S`.
    ///
    /// # Panics
    /// When none was registered: a handler asking for state the app never registered is a
    /// bug of the program (it answers 500 for HTTP, closes with 1011 for a WebSocket).
    pub(crate) fn expect<S: 'static>(&self) -> &S {
        self.get().unwrap_or_else(|| {
            panic!(
                "imphnen: no state of type {}: register it with App::with_state or App::per_core",
                type_name::<S>()
            )
        })
    }
}
