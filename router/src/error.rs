//! Every error type of the crate, in one place.
//!
//! This file owns what can go wrong and how it reads: [`InsertError`] at registration (start-up),
//! [`DecodeError`] when a param or query value is percent-decoded, and [`ParseError`] when params
//! or a query are deserialized into a user type. It does not decide *when* these errors happen:
//! the pattern parser, the tree, the decoder and the deserializer do.

use std::fmt;

/// Why a route could not be registered. Raised by [`Router::insert`](crate::Router::insert).
///
/// Registration happens once at start-up, so these errors carry owned strings and are meant to be
/// shown to the developer as they are.
///
/// ```
/// use imphnen_router::{InsertError, Router};
///
/// let mut router = Router::new();
/// router.insert("/a/:id", 1).unwrap();
/// let err = router.insert("/a/:name", 2).unwrap_err();
/// assert!(matches!(err, InsertError::Conflict { .. }));
/// assert!(err.to_string().contains("/a/:id") && err.to_string().contains("/a/:name"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertError {
    /// The very same pattern string is already registered. The facade can treat this as
    /// "add to the existing route" (see [`Router::get_mut`](crate::Router::get_mut)).
    Duplicate {
        /// The pattern, registered twice.
        pattern: String,
    },
    /// The new pattern would answer some path exactly like an already registered one, with no
    /// priority rule to tell them apart (e.g. `/a/:id` and `/a/:name`, or `/chat` and
    /// `/chat/:userId?` which both match `/chat`).
    Conflict {
        /// The pattern being registered.
        pattern: String,
        /// The already registered pattern it collides with.
        existing: String,
        /// A request path both patterns would match, to make the collision concrete.
        example: String,
    },
    /// The pattern itself is not valid; nothing was registered.
    Malformed {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: MalformedReason,
    },
}

/// What is wrong with a malformed pattern (see [`InsertError::Malformed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedReason {
    /// A pattern must start with `/`.
    MissingLeadingSlash,
    /// Two slashes in a row (`/a//b`): an empty segment can never match.
    EmptySegment,
    /// A `:` with no name after it (`/a/:` or `/a/:?`).
    EmptyParamName,
    /// A parameter name holds a character other than ASCII letters, digits, `_` or `-`.
    InvalidParamName {
        /// The offending name as written.
        name: String,
    },
    /// The same parameter name appears twice in one pattern.
    DuplicateParamName {
        /// The repeated name.
        name: String,
    },
    /// A wildcard (`*` or `*name`) is only allowed as the last segment.
    WildcardNotLast,
    /// An optional parameter (`:name?`) is only allowed as the last segment.
    OptionalNotLast,
    /// `*` or `?` inside a static segment (`/a*b`, `/a?b`): almost certainly a typo for a
    /// wildcard or an optional parameter.
    ReservedCharacter {
        /// The character found.
        character: char,
        /// The segment it was found in.
        segment: String,
    },
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::Duplicate { pattern } => {
                write!(f, "route `{pattern}` is already registered")
            }
            InsertError::Conflict {
                pattern,
                existing,
                example,
            } => write!(
                f,
                "route `{pattern}` conflicts with already registered route `{existing}`: \
                 both would match `{example}` with the same priority"
            ),
            InsertError::Malformed { pattern, reason } => {
                write!(f, "malformed route `{pattern}`: {reason}")
            }
        }
    }
}

impl fmt::Display for MalformedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedReason::MissingLeadingSlash => f.write_str("a route must start with `/`"),
            MalformedReason::EmptySegment => {
                f.write_str("empty segment (`//`): it could never match")
            }
            MalformedReason::EmptyParamName => f.write_str("a parameter needs a name after `:`"),
            MalformedReason::InvalidParamName { name } => write!(
                f,
                "parameter name `{name}` may only hold ASCII letters, digits, `_` and `-` \
                 (a parameter is a whole segment)"
            ),
            MalformedReason::DuplicateParamName { name } => {
                write!(f, "parameter `{name}` appears twice")
            }
            MalformedReason::WildcardNotLast => {
                f.write_str("a wildcard (`*`) must be the last segment")
            }
            MalformedReason::OptionalNotLast => {
                f.write_str("an optional parameter (`:name?`) must be the last segment")
            }
            MalformedReason::ReservedCharacter { character, segment } => write!(
                f,
                "`{character}` inside static segment `{segment}`: wildcards and optional \
                 parameters are whole segments (`*`, `:name?`)"
            ),
        }
    }
}

impl std::error::Error for InsertError {}

/// A param or query value could not be percent-decoded.
///
/// ```
/// use imphnen_router::{percent_decode, DecodeError};
///
/// assert_eq!(percent_decode("100%"), Err(DecodeError::InvalidEscape { offset: 3 }));
/// assert_eq!(percent_decode("%FF"), Err(DecodeError::InvalidUtf8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A `%` not followed by two hex digits; `offset` is the byte offset of the `%` in the raw
    /// (still encoded) text.
    InvalidEscape {
        /// Byte offset of the bad `%` in the raw text.
        offset: usize,
    },
    /// The decoded bytes are not valid UTF-8.
    InvalidUtf8,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::InvalidEscape { offset } => write!(
                f,
                "invalid percent-encoding at byte {offset}: `%` must be followed by two hex digits"
            ),
            DecodeError::InvalidUtf8 => f.write_str("percent-decoded value is not valid UTF-8"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Params or a query could not be deserialized into the requested type.
///
/// [`field`](ParseError::field) names the field at fault when there is one; the `Display` output
/// reads like `field `age`: invalid value `abc`: invalid digit found in string`.
///
/// ```
/// use imphnen_router::Query;
///
/// #[derive(serde::Deserialize, Debug)]
/// struct Page { page: u32 }
///
/// let err = Query::new("page=two").parse::<Page>().unwrap_err();
/// assert_eq!(err.field(), Some("page"));
/// assert_eq!(err.to_string(), "field `page`: invalid value `two`: invalid digit found in string");
///
/// let err = Query::new("").parse::<Page>().unwrap_err();
/// assert_eq!(err.to_string(), "missing field `page`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub(crate) field: Option<String>,
    pub(crate) kind: ParseErrorKind,
}

/// What went wrong in a [`ParseError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A required field is absent.
    Missing,
    /// The value is present but does not parse as the field's type.
    Invalid {
        /// The (decoded) value that was given.
        value: String,
        /// Why it was refused, e.g. `invalid digit found in string`.
        reason: String,
    },
    /// The value could not be percent-decoded.
    Decode(DecodeError),
    /// Any other error reported by the type's `Deserialize` implementation (unknown enum
    /// variant, custom validation...).
    Custom(String),
}

impl ParseError {
    /// The field at fault, when the error concerns one field.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }

    pub(crate) fn new(kind: ParseErrorKind) -> Self {
        ParseError { field: None, kind }
    }

    /// Attaches the field name unless a more precise one is already known.
    pub(crate) fn in_field(mut self, field: &str) -> Self {
        if self.field.is_none() {
            self.field = Some(field.to_owned());
        }
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ParseErrorKind::Missing = self.kind {
            return match &self.field {
                Some(field) => write!(f, "missing field `{field}`"),
                None => f.write_str("missing field"),
            };
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        match &self.kind {
            ParseErrorKind::Invalid { value, reason } => {
                write!(f, "invalid value `{value}`: {reason}")
            }
            ParseErrorKind::Decode(e) => write!(f, "{e}"),
            ParseErrorKind::Custom(msg) => f.write_str(msg),
            ParseErrorKind::Missing => Ok(()),
        }
    }
}

impl std::error::Error for ParseError {}

impl serde::de::Error for ParseError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        ParseError::new(ParseErrorKind::Custom(msg.to_string()))
    }

    fn missing_field(field: &'static str) -> Self {
        ParseError {
            field: Some(field.to_owned()),
            kind: ParseErrorKind::Missing,
        }
    }
}
