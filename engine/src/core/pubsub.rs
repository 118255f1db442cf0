//! Delivering published frames to this core's subscribers.
//!
//! The core's delivery index (topic → tokens of this core's subscribers) follows the topic
//! registry (`shared/topics.rs`, the authority) through the subscribe and unsubscribe commands
//! handles send; only this core reads it. A publish arrives as one command per core with the
//! frame encoded once; each subscriber gets it queued (a frame of at least `SHARE_MIN_LEN` bytes
//! by reference, written with the rest by one vectored send; a smaller one copied, which costs
//! less than the reference), except one over its backpressure limit, which misses that message
//! alone. Messages of one publisher keep their order for every subscriber: per core they travel
//! one FIFO path.
//!
//! With permessage-deflate, the frame is compressed once per core (and per window size, almost
//! always the one of 15 bits) for every subscriber in the shared mode, when the first of them
//! needs it, and shared by reference like the plain frame. A subscriber whose compressor keeps
//! its context (the dedicated mode) compresses with its own stream, after the backpressure
//! check: a message that subscriber misses is never compressed for it.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::State;
use crate::ReadyState;
use crate::buf::SHARE_MIN_LEN;
use crate::conn::{Flags, Phase};
use crate::driver::{Io, Token, slot_of};
use crate::proto::deflate::{WINDOW_SIZES, window_index};
use crate::shared::command::{ConnId, Slot};
use crate::shared::slots::{SHED, WANTS_DRAIN};

/// This core's subscribers by topic.
#[derive(Default)]
pub(super) struct Delivery {
    subscribers: HashMap<Arc<str>, Vec<Token>>,
}

impl Delivery {
    pub(super) fn subscribe(&mut self, topic: Arc<str>, t: Token) {
        let subs = self.subscribers.entry(topic).or_default();
        if !subs.contains(&t) {
            subs.push(t);
        }
    }

    pub(super) fn unsubscribe(&mut self, topic: &str, t: Token) {
        if let Some(subs) = self.subscribers.get_mut(topic) {
            // Order of delivery does not depend on the list's order: swap_remove is fine.
            if let Some(i) = subs.iter().position(|s| *s == t) {
                subs.swap_remove(i);
            }
            if subs.is_empty() {
                self.subscribers.remove(topic);
            }
        }
    }
}

impl<I: Io> State<I> {
    /// Queues a published frame on this core's subscribers of `topic`, except `exclude`;
    /// compressed for those that negotiated permessage-deflate when `compressible`.
    pub(super) fn deliver_published(
        &mut self,
        topic: &str,
        frame: &Bytes,
        exclude: Option<ConnId>,
        compressible: bool,
    ) {
        let Some(subs) = self.delivery.subscribers.get(topic) else {
            return;
        };
        let limit = self.hub.ws.backpressure_limit;
        let close_on_limit = self.hub.ws.close_on_backpressure_limit;
        // The frame compressed by a shared stream, once per window size, when first needed.
        let mut compressed: [Option<Bytes>; WINDOW_SIZES] = Default::default();
        let mut urgent = smallvec::SmallVec::<[Token; 8]>::new();
        for &t in subs {
            let (index, generation) = slot_of(t);
            if exclude == Some(ConnId::new(self.index, Slot { index, generation })) {
                continue;
            }
            let Some((c, cell)) = self.conns.get(t) else {
                continue;
            };
            let Phase::Ws(ws) = &c.phase else { continue };
            if ws.close_sent().is_some() {
                continue;
            }
            let queued = cell.buffered() <= limit;
            if !queued {
                // Over its limit: this subscriber misses the message, the others do not wait.
                cell.raise(WANTS_DRAIN);
                if close_on_limit
                    && cell.transition(generation, ReadyState::Open, ReadyState::Closing)
                {
                    // Closed at the flush (its close code is counted).
                    cell.raise(SHED);
                } else {
                    self.counters.publish_missed.add(1);
                    continue;
                }
            } else {
                // The frame this subscriber gets, shared with the others of its kind.
                let shared = if !(compressible && c.flags.has(Flags::COMPRESS)) {
                    Some(frame)
                } else if let Some(bits) = self.deflate.shared_window(index, c.flags) {
                    let z = &mut compressed[window_index(bits)];
                    if z.is_none() {
                        *z = self.deflate.compress_shared(frame, bits);
                    }
                    z.as_ref()
                } else {
                    // The connection keeps its own context: its own stream compresses.
                    let deflate = &mut self.deflate;
                    let flags = c.flags;
                    c.output.write(&mut self.queues, Some(cell), |out| {
                        deflate.write_published(index, flags, frame, out)
                    });
                    None
                };
                match shared {
                    Some(f) if f.len() >= SHARE_MIN_LEN => {
                        c.output
                            .push_shared(&mut self.queues, Some(cell), f.clone())
                    }
                    Some(f) => c
                        .output
                        .write(&mut self.queues, Some(cell), |out| out.extend_from_slice(f)),
                    None => {}
                }
            }
            let over = c.output.len() > limit;
            if queued {
                self.counters.messages_out.add(1);
            }
            super::list_dirty(t, c, &mut self.dirty);
            if over {
                // A burst within one turn: hand the kernel what it takes now, so a subscriber
                // that reads keeps up instead of being judged on output the turn has not sent.
                urgent.push(t);
            }
        }
        for t in urgent {
            let _ = self.start_send(t);
        }
    }
}
