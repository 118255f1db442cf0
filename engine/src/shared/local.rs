//! What a core thread knows about itself: which core of which server it runs, the commands its
//! own handlers queued for it, and the producer ends of its rings to every other core.
//!
//! A handle decides its path by identity alone. On a thread that is core `c` of the handle's
//! server, a command for core `c` is carried out at once while the core runs one of its
//! handlers (the core lends itself to the handler for the call, [`lend`]: a handler's `send`
//! reaches the socket's output, and the kernel when the output passes its limit, before `send`
//! returns, as in uWebSockets), and otherwise joins the core's own queue, carried out at the
//! start of its next turn. A command for core `d` goes into the `c → d` ring, published with the
//! rest of the turn (or at once, outside a turn). On any other thread it goes into the
//! receiving core's queue for plain threads (`inbox.rs`).
//!
//! The hot parts of this state (the identity, the lent core, two flags) are plain `Cell`s; the
//! rest sits in a `RefCell` borrowed only for a push or a pop, never while core or user code runs.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::Waker;

use super::command::{Command, Slot};
use super::hub::Hub;
use super::ring::Producer;
use crate::Message;

/// What a core lends to the handler it runs: the commands for itself, carried out at once.
pub(crate) trait Direct {
    /// Carries out `cmd`. Runs no user code (a command that would is queued instead).
    fn execute(&mut self, cmd: Command);

    /// Carries out `Command::Send { to, msg }` (the hot one, without building the command).
    fn send(&mut self, to: Slot, msg: Message);
}

/// The parts of a core thread's state that are not touched on every send.
struct Local {
    hub: Arc<Hub>,
    /// Commands for this core from its own thread, outside its handlers.
    own: VecDeque<Command>,
    /// Producer ends of the rings to other cores, by receiving core (`None` for this core).
    rings: Vec<Option<Producer<Command>>>,
    /// The core's task, woken when a command arrives from outside its turn.
    waker: Option<Waker>,
}

thread_local! {
    /// The server (by address of its hub) and core this thread is.
    static IDENTITY: Cell<Option<(*const Hub, u32)>> = const { Cell::new(None) };
    /// The core, while it runs a handler (`lend`).
    static LENT: Cell<Option<NonNull<dyn Direct>>> = const { Cell::new(None) };
    /// The core is in a turn (commands queued now need no wake-up).
    static IN_TURN: Cell<bool> = const { Cell::new(false) };
    /// `Local::own` is not empty.
    static OWN_QUEUED: Cell<bool> = const { Cell::new(false) };
    /// Some ring was pushed into since the last publish.
    static RINGS_PUSHED: Cell<bool> = const { Cell::new(false) };
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Makes this thread core `core` of `hub`'s server, with its ring producers.
pub(crate) fn enter(hub: Arc<Hub>, core: u32, rings: Vec<Option<Producer<Command>>>) {
    IDENTITY.set(Some((Arc::as_ptr(&hub), core)));
    LOCAL.with(|l| {
        *l.borrow_mut() = Some(Local {
            hub,
            own: VecDeque::new(),
            rings,
            waker: None,
        })
    });
}

/// This thread is no longer a core. Commands still queued for it are dropped (after the borrow).
pub(crate) fn leave() {
    IDENTITY.set(None);
    OWN_QUEUED.set(false);
    RINGS_PUSHED.set(false);
    let local = LOCAL.with(|l| l.borrow_mut().take());
    drop(local);
}

/// The core of `hub`'s server this thread is, if it is one.
#[inline]
pub(crate) fn core_of(hub: &Hub) -> Option<u32> {
    IDENTITY
        .get()
        .filter(|(me, _)| std::ptr::eq(*me, hub))
        .map(|(_, index)| index)
}

/// Routes `cmd` to core `core` of `hub`'s server; `Err(cmd)` when its ring or queue is full.
pub(crate) fn route(hub: &Arc<Hub>, core: u32, cmd: Command) -> Result<(), Command> {
    let Some(index) = core_of(hub) else {
        // Not a core of this server: the plain-thread queue.
        return hub.cores[core as usize].inbox.push_plain(cmd);
    };
    if core == index {
        if let Some(lent) = LENT.take() {
            // SAFETY: `lent` was lent by `lend`, whose caller holds the `&mut` it came from
            // and does not use it until `f` returns; the pointer was taken out of the
            // thread-local, so no other `&mut` to the core exists during this call (a nested
            // handle call finds nothing lent and queues). It is put back right after, still
            // inside `lend`'s `f`.
            unsafe { (*lent.as_ptr()).execute(cmd) };
            LENT.set(Some(lent));
            return Ok(());
        }
        push_own(cmd);
        if !IN_TURN.get() {
            LOCAL.with(|l| {
                if let Some(w) = l.borrow().as_ref().and_then(|local| local.waker.as_ref()) {
                    w.wake_by_ref();
                }
            });
        }
        return Ok(());
    }
    // The refused command is dropped by the caller, after the borrow: its payload may run code.
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let Some(local) = l.as_mut() else {
            return Err(cmd);
        };
        let Some(ring) = local.rings.get_mut(core as usize).and_then(Option::as_mut) else {
            return Err(cmd);
        };
        ring.push(cmd)?;
        if IN_TURN.get() {
            RINGS_PUSHED.set(true);
        } else if ring.publish() {
            // Outside a turn (a handler future polled while the core waits, a task of its
            // own) no turn's end is coming to publish it: published now, as a plain thread's.
            local.hub.cores[core as usize].inbox.wake();
        }
        Ok(())
    })
}

/// Routes a send to connection `to` of core `core` (as `route` does a `Command::Send`).
#[inline]
pub(crate) fn send(hub: &Arc<Hub>, core: u32, to: Slot, msg: Message) -> Result<(), Command> {
    if core_of(hub) == Some(core)
        && let Some(lent) = LENT.take()
    {
        // SAFETY: as in `route`.
        unsafe { (*lent.as_ptr()).send(to, msg) };
        LENT.set(Some(lent));
        return Ok(());
    }
    route(hub, core, Command::Send { to, msg })
}

/// Runs `f` (a handler) with `core` lent to it: commands for this core from `f` are carried out
/// at once instead of queued.
pub(crate) fn lend<R>(core: &mut (dyn Direct + 'static), f: impl FnOnce() -> R) -> R {
    struct Return(Option<NonNull<dyn Direct>>);
    impl Drop for Return {
        fn drop(&mut self) {
            LENT.set(self.0);
        }
    }
    // Taken back when `f` returns or unwinds, before the caller uses its `&mut` again; a lend
    // inside a lend (none happens today) restores the outer one.
    let _back = Return(LENT.replace(Some(NonNull::from(core))));
    f()
}

/// Queues `cmd` for this core (a command it must not carry out while lent).
pub(crate) fn push_own(cmd: Command) {
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().as_mut() {
            local.own.push_back(cmd);
            OWN_QUEUED.set(true);
        }
    });
}

/// The server whose core runs on this thread.
pub(crate) fn hub() -> Option<Arc<Hub>> {
    LOCAL.with(|l| l.borrow().as_ref().map(|local| local.hub.clone()))
}

/// The next command this core's own thread queued for it.
pub(crate) fn pop_own() -> Option<Command> {
    if !OWN_QUEUED.get() {
        return None;
    }
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let own = &mut l.as_mut()?.own;
        let cmd = own.pop_front();
        OWN_QUEUED.set(!own.is_empty());
        cmd
    })
}

/// `true` when commands from this thread wait for its core.
#[inline]
pub(crate) fn has_own() -> bool {
    OWN_QUEUED.get()
}

/// Marks the start or end of the core's turn.
#[inline]
pub(crate) fn set_in_turn(in_turn: bool) {
    IN_TURN.set(in_turn);
}

/// Keeps `waker` (the core's task) for commands queued outside its turns.
pub(crate) fn set_waker(waker: &Waker) {
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().as_mut()
            && !local.waker.as_ref().is_some_and(|old| old.will_wake(waker))
        {
            local.waker = Some(waker.clone());
        }
    });
}

/// Publishes every ring this turn pushed into and wakes each receiving core once.
#[inline]
pub(crate) fn publish_rings() {
    if RINGS_PUSHED.replace(false) {
        publish_pushed_rings();
    }
}

#[inline(never)]
fn publish_pushed_rings() {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let Some(local) = l.as_mut() else { return };
        for (core, ring) in local.rings.iter_mut().enumerate() {
            if let Some(ring) = ring
                && ring.publish()
            {
                local.hub.cores[core].inbox.wake();
            }
        }
    });
}
