//! The direct paths of a `WebSocket` handle used on its connection's own core: a send, close,
//! subscribe or flush then touches the connection at once instead of going through the mailbox
//! (`mailbox.rs`), which stays the path from every other thread.

use std::sync::Arc;

use crate::Message;
use crate::core::{CURRENT, Core, encode_message};
use crate::handle::{SendStatus, Shared, status_after};
use crate::mailbox::{Command, CoreRemote};
use std::sync::atomic::Ordering;

impl Core {
    /// `ws.send` on the connection's own core: straight into its output.
    fn send_here(&self, shared: &Shared, msg: &Message) -> Option<SendStatus> {
        let t = shared.token();
        let Ok(mut conns) = self.conns.try_borrow_mut() else {
            return None; // re-entered from inside the core: take the mailbox path
        };
        let Some(c) = conns.get_mut(t) else {
            return Some(SendStatus::Closed);
        };
        match c.ws() {
            Some(ws) if ws.close_sent.is_none() => {}
            _ => return Some(SendStatus::Closed),
        }
        c.write_out(&mut self.pool.borrow_mut(), |out| encode_message(out, msg));
        let limit = self.cfg.websocket.backpressure_limit;
        if c.out.len() > limit {
            // Past the limit within one turn: try the socket now rather than grow further.
            c.send_now(&mut self.pool.borrow_mut());
        }
        self.mark_dirty(c, t);
        let status = status_after(shared.buffered(), limit, msg.len());
        if status == SendStatus::Backpressure {
            shared.wants_drain.store(true, Ordering::Release);
        }
        Some(status)
    }
}

pub(crate) fn with_core<R>(
    remote: &Arc<CoreRemote>,
    f: impl FnOnce(&Core) -> Option<R>,
) -> Option<R> {
    CURRENT.with(|c| {
        let c = c.try_borrow().ok()?;
        let core = c.as_ref()?;
        if Arc::ptr_eq(&core.remote, remote) {
            f(core)
        } else {
            None
        }
    })
}

/// `ws.send` fast path: `Some` when called on the connection's own core.
pub(crate) fn send_local(shared: &Shared, msg: &Message) -> Option<SendStatus> {
    with_core(shared.remote(), |core| core.send_here(shared, msg))
}

/// `ws.subscribe` on the connection's own core: `true` when done here.
pub(crate) fn subscribe_local(shared: &Shared, topic: std::sync::Arc<str>) -> bool {
    with_core(shared.remote(), |core| {
        core.subscribe_here(shared.token(), topic);
        Some(())
    })
    .is_some()
}

/// `ws.unsubscribe` on the connection's own core: `true` when done here.
pub(crate) fn unsubscribe_local(shared: &Shared, topic: &str) -> bool {
    with_core(shared.remote(), |core| {
        core.unsubscribe_here(shared.token(), topic);
        Some(())
    })
    .is_some()
}

/// Has the owning core look at the connection soon (flush, close a shed connection, run
/// `on_drain`): at the end of this turn when called on that core, else through its mailbox.
pub(crate) fn poke(shared: &Shared) {
    let t = shared.token();
    let marked = with_core(shared.remote(), |core| {
        let mut conns = core.conns.try_borrow_mut().ok()?;
        let c = conns.get_mut(t)?;
        core.mark_dirty(c, t);
        Some(())
    });
    if marked.is_none() {
        shared.remote().push(Command::Poke {
            slot: shared.slot,
            generation: shared.generation,
        });
    }
}

/// After `ws.cork`: flush the connection now when on its core and outside a turn.
pub(crate) fn flush_local(shared: &Shared) {
    with_core(shared.remote(), |core| {
        if !core.in_turn.get() && core.conns.try_borrow_mut().is_ok() {
            core.after_io(shared.token());
        }
        Some(())
    });
}

/// `ws.close` fast path: `true` when called on the connection's own core.
pub(crate) fn close_local(shared: &Shared, code: u16, reason: &str) -> bool {
    with_core(shared.remote(), |core| {
        if core.conns.try_borrow_mut().is_err() {
            return None;
        }
        core.close_ws(shared.token(), code, reason);
        Some(())
    })
    .is_some()
}
