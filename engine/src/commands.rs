//! Commands from other threads, drained from the core's mailbox once per wake-up, and the
//! graceful shutdown they can start.

use std::os::fd::AsRawFd;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use crate::Message;
use crate::conn::{Phase, Token, token};
use crate::core::{Core, encode_message};
use crate::mailbox::Command;

impl Core {
    pub(crate) fn drain_mailbox(&self, rx: &Receiver<Command>) {
        self.remote.begin_drain();
        while let Ok(cmd) = rx.try_recv() {
            match cmd {
                Command::Send {
                    slot,
                    generation,
                    msg,
                } => self.send_queued(token(slot, generation), msg),
                Command::Close {
                    slot,
                    generation,
                    code,
                    reason,
                } => self.close_ws(token(slot, generation), code, &reason),
                Command::Subscribe {
                    slot,
                    generation,
                    topic,
                } => self.subscribe_here(token(slot, generation), topic),
                Command::Unsubscribe {
                    slot,
                    generation,
                    topic,
                } => self.unsubscribe_here(token(slot, generation), &topic),
                Command::Publish {
                    topic,
                    frame,
                    exclude,
                } => {
                    // The mailbox is drained with no borrow held: delivery cannot be refused.
                    let delivered = self.publish_here(&topic, &frame, exclude);
                    debug_assert!(delivered);
                }
                Command::Poke { slot, generation } => self.after_io(token(slot, generation)),
                Command::Shutdown { deadline } => self.begin_shutdown(deadline),
            }
        }
    }

    fn begin_shutdown(&self, deadline: Instant) {
        let ms = self.now_ms()
            + deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64;
        self.shutdown_deadline.set(Some(ms));
        if let Some(l) = self.listener.borrow_mut().take() {
            let _ = self.poller.delete(l.as_raw_fd());
        }
        self.each_connection(|t| {
            enum Next {
                Nothing,
                /// Between requests with nothing left to send: no response can be cut off, so
                /// close at once rather than linger for the client's FIN.
                Close,
                Flush,
                CloseWs,
            }
            let next = {
                let mut conns = self.conns.borrow_mut();
                match conns.get_mut(t) {
                    Some(c) => match &c.phase {
                        Phase::Http(h) => {
                            c.close_after_flush = true;
                            let idle =
                                h.request_started_ms.is_none() && !c.busy && c.inbuf.is_empty();
                            match (idle, c.out.is_empty()) {
                                (true, true) => Next::Close,
                                (true, false) => Next::Flush,
                                (false, _) => Next::Nothing,
                            }
                        }
                        Phase::Ws(_) => Next::CloseWs,
                        Phase::Draining { .. } => Next::Nothing,
                    },
                    None => Next::Nothing,
                }
            };
            match next {
                Next::Nothing => {}
                Next::Close => self.free(t),
                Next::Flush => self.after_io(t),
                Next::CloseWs => self.close_ws(t, 1001, "Server shutting down"),
            }
        });
    }

    /// A message from another thread reaches its connection.
    fn send_queued(&self, t: Token, msg: Message) {
        let frame_len = msg.len() + imphnen_protocol::ws::header_len(msg.len() as u64, false);
        let mut conns = self.conns.borrow_mut();
        let Some(c) = conns.get_mut(t) else { return };
        let Some(ws) = c.ws() else { return };
        let handle = ws.handle.clone();
        // The sender counted the frame when it queued it; writing it into the output moves it
        // without counting it again. A frame that is not written leaves the count.
        if ws.close_sent.is_none() {
            encode_message(c.out.own_mut(&mut self.pool.borrow_mut()), &msg);
            self.mark_dirty(c, t);
        } else {
            handle
                .0
                .buffered
                .fetch_sub(frame_len, std::sync::atomic::Ordering::AcqRel);
        }
    }
}
