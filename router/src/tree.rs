//! The compiled segment tree and the matching walk.
//!
//! This file owns the data structure routes are compiled into and the hot-path walk over it.
//! Each node has sorted static children, at most one param child and a wildcard slot, plus two
//! end slots (path ends here, with or without a trailing slash). Routes live elsewhere (in
//! [`Router`](crate::Router)); a slot holds only the route's index, and param *names* are kept per
//! route, so `/a/:id` and `/a/:name/edit` share one param node.
//!
//! The walk tries, at every segment, the static child, then the param child, then the wildcard,
//! backtracking on failure: this is what makes priority independent of registration order.
//! It allocates nothing while the matched params fit in [`Values`]' inline capacity.

use smallvec::SmallVec;

use crate::pattern::{Slot, SlotKind, Step};

/// Inline capacity for param values: routes with more params than this still match, but spill
/// the values to the heap.
pub(crate) const INLINE_PARAMS: usize = 4;

/// Matched param values, in path order, as slices of the request path.
pub(crate) type Values<'p> = SmallVec<[&'p str; INLINE_PARAMS]>;

/// Up to this many static children are scanned linearly instead of binary-searched.
const LINEAR_SCAN_MAX: usize = 8;

/// A route's index in the router's route list.
pub(crate) type RouteId = u32;

#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// Static children, sorted by segment text for binary search.
    statics: Vec<(Box<str>, Node)>,
    param: Option<Box<Node>>,
    wildcard: Option<RouteId>,
    end: Option<RouteId>,
    end_slash: Option<RouteId>,
}

impl Node {
    /// The route occupying `slot`, if any.
    pub(crate) fn occupant(&self, slot: &Slot<'_>) -> Option<RouteId> {
        let mut node = self;
        for step in &slot.steps {
            node = match step {
                Step::Static(s) => node.static_child(s)?,
                Step::Param => node.param.as_deref()?,
            };
        }
        *node.slot_ref(slot.kind)
    }

    /// Stores `id` in `slot`, creating nodes on the way. The caller checked it was free.
    pub(crate) fn occupy(&mut self, slot: &Slot<'_>, id: RouteId) {
        let mut node = self;
        for step in &slot.steps {
            node = match step {
                Step::Static(s) => {
                    let i = match node.statics.binary_search_by(|(k, _)| (**k).cmp(s)) {
                        Ok(i) => i,
                        Err(i) => {
                            node.statics.insert(i, (Box::from(*s), Node::default()));
                            i
                        }
                    };
                    &mut node.statics[i].1
                }
                Step::Param => node.param.get_or_insert_with(Box::default),
            };
        }
        *node.slot_mut(slot.kind) = Some(id);
    }

    fn slot_ref(&self, kind: SlotKind) -> &Option<RouteId> {
        match kind {
            SlotKind::End => &self.end,
            SlotKind::EndSlash => &self.end_slash,
            SlotKind::Wildcard => &self.wildcard,
        }
    }

    fn slot_mut(&mut self, kind: SlotKind) -> &mut Option<RouteId> {
        match kind {
            SlotKind::End => &mut self.end,
            SlotKind::EndSlash => &mut self.end_slash,
            SlotKind::Wildcard => &mut self.wildcard,
        }
    }

    #[inline]
    fn static_child(&self, segment: &str) -> Option<&Node> {
        // A few children: a scan that rejects on length first beats the string comparisons of
        // a binary search.
        if self.statics.len() <= LINEAR_SCAN_MAX {
            return self
                .statics
                .iter()
                .find(|(k, _)| k.len() == segment.len() && **k == *segment)
                .map(|(_, child)| child);
        }
        self.statics
            .binary_search_by(|(k, _)| (**k).cmp(segment))
            .ok()
            .map(|i| &self.statics[i].1)
    }

    /// Matches a request path (starting with `/`) and pushes param values into `values`.
    ///
    /// On `None`, `values` is left as it was given.
    #[inline]
    pub(crate) fn find<'p>(&self, path: &'p str, values: &mut Values<'p>) -> Option<RouteId> {
        let rest = match path.strip_prefix('/') {
            Some(rest) => rest,
            None if path.is_empty() => "",
            None => return None,
        };
        self.walk(Some(rest), values)
    }

    /// `rest` is `None` when the path ended right at this node, and `Some(text)` when a `/`
    /// followed and `text` is what comes after it (empty for a trailing slash).
    fn walk<'p>(&self, rest: Option<&'p str>, values: &mut Values<'p>) -> Option<RouteId> {
        let Some(rest) = rest else {
            // Path ends here: exact end, then the trailing-slash twin, then the wildcard.
            if let Some(id) = self.end.or(self.end_slash) {
                return Some(id);
            }
            return self.wildcard.inspect(|_| values.push(""));
        };
        if rest.is_empty() {
            // Trailing slash (or the root `/`): its own slot first, then the slash-less twin.
            if let Some(id) = self.end_slash.or(self.end) {
                return Some(id);
            }
        } else {
            let (segment, next) = match rest.find('/') {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            if let Some(child) = self.static_child(segment)
                && let Some(id) = child.walk(next, values)
            {
                return Some(id);
            }
            if let Some(child) = &self.param
                && !segment.is_empty()
            {
                values.push(segment);
                if let Some(id) = child.walk(next, values) {
                    return Some(id);
                }
                values.pop();
            }
        }
        self.wildcard.inspect(|_| values.push(rest))
    }
}
