//! Route pattern syntax: parsing and validation.
//!
//! This file owns turning a pattern string such as `/room/:roomId` or `/chat/:userId?` into a
//! list of typed segments, and refusing malformed patterns with a [`MalformedReason`]. It also
//! expands a pattern into the tree *slots* it occupies (an optional parameter occupies two). It
//! does not know about other routes: conflicts between patterns are the tree's business.

use crate::error::{InsertError, MalformedReason};

/// One segment of a pattern, borrowing from the pattern string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// Matches exactly this text (compared with the raw request path).
    Static(&'a str),
    /// `:name`: matches any one non-empty segment.
    Param(&'a str),
    /// `:name?`: last segment only; the segment may be absent.
    Optional(&'a str),
    /// `*` (named `*`) or `*name`: last segment only; matches the rest of the path.
    Wildcard(&'a str),
}

/// A parsed, valid pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern<'a> {
    pub(crate) segments: Vec<Segment<'a>>,
    /// The pattern ends with `/` (and is not the root `/`).
    pub(crate) trailing_slash: bool,
}

/// One step down the tree: a static child or the param child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    Static(&'a str),
    Param,
}

/// Where, at the end of its steps, a route is stored in a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotKind {
    /// The path ends here without a trailing slash.
    End,
    /// The path ends here with a trailing slash.
    EndSlash,
    /// The rest of the path, whatever it is.
    Wildcard,
}

/// A place in the tree a route occupies. Two routes may never share a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot<'a> {
    pub(crate) steps: Vec<Step<'a>>,
    pub(crate) kind: SlotKind,
}

impl Slot<'_> {
    /// A request path this slot matches, to make a conflict message concrete.
    pub(crate) fn example_path(&self) -> String {
        let mut path = String::from("/");
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                path.push('/');
            }
            match step {
                Step::Static(s) => path.push_str(s),
                Step::Param => path.push('x'),
            }
        }
        match self.kind {
            SlotKind::End => {}
            SlotKind::EndSlash => {
                if !self.steps.is_empty() {
                    path.push('/');
                }
            }
            SlotKind::Wildcard => {
                if !self.steps.is_empty() {
                    path.push('/');
                }
                path.push('x');
            }
        }
        path
    }
}

impl<'a> Pattern<'a> {
    /// Parses and validates `pattern`.
    pub(crate) fn parse(pattern: &'a str) -> Result<Self, InsertError> {
        let malformed = |reason| InsertError::Malformed {
            pattern: pattern.to_owned(),
            reason,
        };
        let Some(body) = pattern.strip_prefix('/') else {
            return Err(malformed(MalformedReason::MissingLeadingSlash));
        };
        if body.is_empty() {
            return Ok(Pattern {
                segments: Vec::new(),
                trailing_slash: false,
            });
        }
        let (body, trailing_slash) = match body.strip_suffix('/') {
            Some(b) => (b, true),
            None => (body, false),
        };
        let pieces: Vec<&str> = body.split('/').collect();
        let last = pieces.len() - 1;
        let mut segments = Vec::with_capacity(pieces.len());
        for (i, piece) in pieces.into_iter().enumerate() {
            let segment = parse_segment(piece).map_err(malformed)?;
            match segment {
                Segment::Wildcard(_) if i != last || trailing_slash => {
                    return Err(malformed(MalformedReason::WildcardNotLast));
                }
                Segment::Optional(_) if i != last => {
                    return Err(malformed(MalformedReason::OptionalNotLast));
                }
                _ => {}
            }
            if let Some(name) = param_name(segment)
                && segments.iter().any(|s| param_name(*s) == Some(name))
            {
                return Err(malformed(MalformedReason::DuplicateParamName {
                    name: name.to_owned(),
                }));
            }
            segments.push(segment);
        }
        Ok(Pattern {
            segments,
            trailing_slash,
        })
    }

    /// Parameter names in path order (the wildcard's name included).
    pub(crate) fn param_names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.segments.iter().filter_map(|s| param_name(*s))
    }

    /// The slots this pattern occupies: one, or two for an optional parameter (absent, present).
    pub(crate) fn slots(&self) -> Vec<Slot<'a>> {
        let end = if self.trailing_slash {
            SlotKind::EndSlash
        } else {
            SlotKind::End
        };
        let mut steps = Vec::with_capacity(self.segments.len());
        for segment in &self.segments {
            match *segment {
                Segment::Static(s) => steps.push(Step::Static(s)),
                Segment::Param(_) => steps.push(Step::Param),
                Segment::Optional(_) => {
                    // Without its param, `/:id?/` is the root, which is one route: `/`.
                    let absent_kind = if steps.is_empty() { SlotKind::End } else { end };
                    let absent = Slot {
                        steps: steps.clone(),
                        kind: absent_kind,
                    };
                    steps.push(Step::Param);
                    return vec![absent, Slot { steps, kind: end }];
                }
                Segment::Wildcard(_) => {
                    return vec![Slot {
                        steps,
                        kind: SlotKind::Wildcard,
                    }];
                }
            }
        }
        vec![Slot { steps, kind: end }]
    }
}

fn param_name(segment: Segment<'_>) -> Option<&str> {
    match segment {
        Segment::Static(_) => None,
        Segment::Param(n) | Segment::Optional(n) | Segment::Wildcard(n) => Some(n),
    }
}

fn parse_segment(piece: &str) -> Result<Segment<'_>, MalformedReason> {
    if piece.is_empty() {
        return Err(MalformedReason::EmptySegment);
    }
    if let Some(rest) = piece.strip_prefix(':') {
        let (name, optional) = match rest.strip_suffix('?') {
            Some(name) => (name, true),
            None => (rest, false),
        };
        check_name(name)?;
        return Ok(if optional {
            Segment::Optional(name)
        } else {
            Segment::Param(name)
        });
    }
    if let Some(name) = piece.strip_prefix('*') {
        if name.is_empty() {
            return Ok(Segment::Wildcard("*"));
        }
        check_name(name)?;
        return Ok(Segment::Wildcard(name));
    }
    if let Some(character) = piece.chars().find(|c| matches!(c, '*' | '?')) {
        return Err(MalformedReason::ReservedCharacter {
            character,
            segment: piece.to_owned(),
        });
    }
    Ok(Segment::Static(piece))
}

fn check_name(name: &str) -> Result<(), MalformedReason> {
    if name.is_empty() {
        return Err(MalformedReason::EmptyParamName);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(MalformedReason::InvalidParamName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(pattern: &str) -> MalformedReason {
        match Pattern::parse(pattern) {
            Err(InsertError::Malformed { reason, .. }) => reason,
            other => panic!("`{pattern}` should be malformed, got {other:?}"),
        }
    }

    #[test]
    fn root_has_no_segments() {
        let p = Pattern::parse("/").unwrap();
        assert!(p.segments.is_empty());
        assert!(!p.trailing_slash);
    }

    #[test]
    fn segments_are_typed() {
        let p = Pattern::parse("/a/:id/*rest").unwrap();
        assert_eq!(
            p.segments,
            [
                Segment::Static("a"),
                Segment::Param("id"),
                Segment::Wildcard("rest")
            ]
        );
        assert_eq!(p.param_names().collect::<Vec<_>>(), ["id", "rest"]);
    }

    #[test]
    fn unnamed_wildcard_is_named_star() {
        let p = Pattern::parse("/files/*").unwrap();
        assert_eq!(p.param_names().collect::<Vec<_>>(), ["*"]);
    }

    #[test]
    fn trailing_slash_is_remembered() {
        assert!(Pattern::parse("/a/").unwrap().trailing_slash);
        assert!(!Pattern::parse("/a").unwrap().trailing_slash);
    }

    #[test]
    fn colon_inside_a_static_segment_is_literal() {
        let p = Pattern::parse("/v1/projects:batchGet").unwrap();
        assert_eq!(p.segments[1], Segment::Static("projects:batchGet"));
    }

    #[test]
    fn malformed_patterns_say_what_is_wrong() {
        assert_eq!(reason(""), MalformedReason::MissingLeadingSlash);
        assert_eq!(reason("a/b"), MalformedReason::MissingLeadingSlash);
        assert_eq!(reason("/a//b"), MalformedReason::EmptySegment);
        assert_eq!(reason("//"), MalformedReason::EmptySegment);
        assert_eq!(reason("/a/:"), MalformedReason::EmptyParamName);
        assert_eq!(reason("/a/:?"), MalformedReason::EmptyParamName);
        assert!(matches!(
            reason("/a/:id.json"),
            MalformedReason::InvalidParamName { .. }
        ));
        assert_eq!(
            reason("/a/:id/b/:id"),
            MalformedReason::DuplicateParamName { name: "id".into() }
        );
        assert_eq!(reason("/a/*/b"), MalformedReason::WildcardNotLast);
        assert_eq!(reason("/a/*/"), MalformedReason::WildcardNotLast);
        assert_eq!(reason("/a/:id?/b"), MalformedReason::OptionalNotLast);
        assert!(matches!(
            reason("/a*b"),
            MalformedReason::ReservedCharacter { character: '*', .. }
        ));
    }

    #[test]
    fn optional_param_occupies_two_slots() {
        let slots = Pattern::parse("/chat/:userId?").unwrap().slots();
        assert_eq!(slots.len(), 2);
        assert_eq!(slots[0].steps, [Step::Static("chat")]);
        assert_eq!(slots[1].steps, [Step::Static("chat"), Step::Param]);
    }

    #[test]
    fn example_paths_are_concrete() {
        let slots = Pattern::parse("/a/:id/").unwrap().slots();
        assert_eq!(slots[0].example_path(), "/a/x/");
        let slots = Pattern::parse("/files/*").unwrap().slots();
        assert_eq!(slots[0].example_path(), "/files/x");
        let slots = Pattern::parse("/").unwrap().slots();
        assert_eq!(slots[0].example_path(), "/");
    }
}
