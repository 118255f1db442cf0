//! The connections of one core, addressed by generation-checked tokens.
//!
//! A slot is reused after its connection ends, with its generation bumped, so an epoll event, a
//! timer or a `WebSocket` handle that outlives its connection never reaches the next occupant.

use crate::conn::{Conn, Token, slot_of, token};

struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// The connection slots of one core.
#[derive(Default)]
pub(crate) struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    pub(crate) len: usize,
}

impl Slab {
    pub(crate) fn insert(&mut self, make: impl FnOnce(Token) -> Conn) -> Token {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        let t = token(slot, s.generation);
        s.conn = Some(make(t));
        self.len += 1;
        t
    }

    pub(crate) fn get_mut(&mut self, t: Token) -> Option<&mut Conn> {
        let (slot, generation) = slot_of(t);
        match self.slots.get_mut(slot as usize) {
            Some(s) if s.generation == generation => s.conn.as_mut(),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, t: Token) -> Option<Conn> {
        let (slot, generation) = slot_of(t);
        let s = self.slots.get_mut(slot as usize)?;
        if s.generation != generation {
            return None;
        }
        let conn = s.conn.take()?;
        s.generation = s.generation.wrapping_add(1);
        self.free.push(slot);
        self.len -= 1;
        Some(conn)
    }

    /// Slots ever used (occupied or free): the bound for [`token_at`](Self::token_at).
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The token of the connection in `slot`, if it is occupied.
    pub(crate) fn token_at(&self, slot: usize) -> Option<Token> {
        let s = self.slots.get(slot)?;
        s.conn.as_ref().map(|_| token(slot as u32, s.generation))
    }
}
