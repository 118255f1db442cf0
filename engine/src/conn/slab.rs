//! The connections of one core, addressed by generation-checked tokens.
//!
//! A slot is reused after its connection is released, under the next generation, so a completion,
//! a timer or a `WebSocket` handle that outlives its connection never reaches the next occupant.
//! The slab owns the generations: it writes each new one into its own list (read on every
//! lookup, with no atomics) and into the slot's shared cell (`shared/slots.rs`), where handles on
//! other threads read it.

use std::sync::Arc;

use super::Conn;
use crate::driver::{Token, slot_of, token};
use crate::shared::command::MAX_SLOTS;
use crate::shared::hub::Hub;
use crate::shared::slots::{SlotCell, SlotTable};

/// Slots reserved up front: the slab then starts as an allocation large enough for the
/// allocator to map it on its own and to grow it in place (`mremap`), instead of leaving the
/// smaller buffers of each doubling behind as holes in the heap (some 30 bytes per connection at
/// 10,000, measured). Untouched, the reservation costs address space, not memory.
pub(crate) const RESERVED_SLOTS: usize = 4096;

/// The connection slots of one core.
pub(crate) struct Slab {
    /// Keeps `cells` alive.
    _hub: Arc<Hub>,
    /// This core's cells in the hub (looked up once).
    cells: *const SlotTable,
    slots: Vec<Option<Conn>>,
    /// The generation of each slot's connection (the same as in its cell).
    generations: Vec<u32>,
    free: Vec<u32>,
    len: usize,
}

impl Slab {
    /// The slab of core `core` of `hub`'s server.
    pub(crate) fn new(hub: Arc<Hub>, core: u32) -> Slab {
        Slab {
            cells: &hub.cores[core as usize].slots,
            _hub: hub,
            slots: Vec::with_capacity(RESERVED_SLOTS),
            generations: Vec::with_capacity(RESERVED_SLOTS),
            free: Vec::new(),
            len: 0,
        }
    }

    fn cells(&self) -> &SlotTable {
        // SAFETY: `cells` points into `hub`, which this slab keeps alive.
        unsafe { &*self.cells }
    }

    /// Puts `conn` in a free slot under the slot's next generation; `None` when every one of
    /// the [`MAX_SLOTS`] slots is taken.
    pub(crate) fn insert(&mut self, conn: Conn) -> Option<Token> {
        let slot = match self.free.pop() {
            Some(s) => s,
            None if self.slots.len() < MAX_SLOTS as usize => {
                self.slots.push(None);
                self.generations.push(0);
                (self.slots.len() - 1) as u32
            }
            None => return None,
        };
        let generation = self.cells().ensure(slot).next_generation();
        self.generations[slot as usize] = generation;
        self.slots[slot as usize] = Some(conn);
        self.len += 1;
        Some(token(slot, generation))
    }

    /// The connection of `t` and its cell, if it is still there.
    #[inline]
    pub(crate) fn get(&mut self, t: Token) -> Option<(&mut Conn, &SlotCell)> {
        let (slot, generation) = slot_of(t);
        if *self.generations.get(slot as usize)? != generation {
            return None;
        }
        let conn = self.slots[slot as usize].as_mut()?;
        // SAFETY: `cells` points into the hub, which this slab keeps alive.
        let cell = unsafe { &*self.cells }.get(slot)?;
        Some((conn, cell))
    }

    /// The connection of `t`, if it is still there (without its cell).
    #[inline]
    pub(crate) fn conn(&mut self, t: Token) -> Option<&mut Conn> {
        let (slot, generation) = slot_of(t);
        if *self.generations.get(slot as usize)? != generation {
            return None;
        }
        self.slots[slot as usize].as_mut()
    }

    /// Takes the connection of `t` out; its slot is free for the next generation.
    pub(crate) fn remove(&mut self, t: Token) -> Option<Conn> {
        let (slot, generation) = slot_of(t);
        if *self.generations.get(slot as usize)? != generation {
            return None;
        }
        let conn = self.slots.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        self.len -= 1;
        Some(conn)
    }

    /// Connections in the slab (closed ones waiting for their release included).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Slots ever used (occupied or free): the bound for [`token_at`](Self::token_at).
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The token of the connection in `slot`, if it is occupied.
    pub(crate) fn token_at(&self, slot: usize) -> Option<Token> {
        self.slots.get(slot)?.as_ref()?;
        Some(token(
            slot as u32,
            self.cells().get(slot as u32)?.generation(),
        ))
    }
}
