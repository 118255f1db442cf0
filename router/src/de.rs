//! A small serde `Deserializer` over string pairs, for `params.parse()` and `query.parse()`.
//!
//! This file owns turning `(name, raw values)` pairs into a user's `Deserialize` type: the pairs
//! form a map (a struct's fields), and each value deserializes by *parsing its text*: integers,
//! floats, `bool`, `char`, unit enums, `Option` and sequences (repeated query keys). Values are
//! percent-decoded only when a field asks for them, so an undecodable value in a field the type
//! ignores is not an error. It does not split queries or match paths.
//!
//! Known limit: `#[serde(flatten)]` and untagged enums buffer values as plain strings, so numeric
//! fields inside them fail; use a flat struct. The limit is serde's (a flattened struct's values
//! go through `deserialize_any`, where a form value can only be a string: serde issue 1183), and
//! `serde_urlencoded` and `serde_html_form` share it, which `benches/query.rs` asserts.
//!
//! Why not one of those crates: neither closes that gap, and each would lose what this file
//! does for us. Path params decode `%XX` only (a `+` in a path is a plus, RFC 3986), where a form
//! decoder makes it a space; a value is decoded only when its field is read, so an undecodable
//! value in a key the type ignores is no error; an error names its field (the 400 a handler
//! answers says which one); `bool` takes `1`/`0`/`on`/`off` as HTML forms send them. It is also
//! faster: `Query::parse` of a six-field struct took 0.50–0.93 µs against `serde_html_form`'s
//! 1.16–1.62 µs on the same queries (`benches/query.rs`, criterion medians, 2 busy cores). None of
//! this is on the matching path, which never deserializes and allocates nothing either way.

use std::borrow::Cow;

use serde::de::value::{CowStrDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use smallvec::SmallVec;

use crate::decode::{form_decode, percent_decode};
use crate::error::{ParseError, ParseErrorKind};

/// How raw values are decoded.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Path params: `%XX` only.
    Path,
    /// Query values: `+` is a space, then `%XX`.
    Form,
}

/// The raw values given for one name (several for a repeated query key).
pub(crate) type RawValues<'a> = SmallVec<[&'a str; 1]>;

/// Deserializes a list of `(name, values)` fields as a map or struct.
pub(crate) struct PairsDeserializer<'a> {
    fields: std::vec::IntoIter<(Cow<'a, str>, RawValues<'a>)>,
    /// The values of the key just handed out, waiting for `next_value_seed`.
    pending: Option<(Cow<'a, str>, RawValues<'a>)>,
    mode: Mode,
}

impl<'a> PairsDeserializer<'a> {
    pub(crate) fn new(fields: Vec<(Cow<'a, str>, RawValues<'a>)>, mode: Mode) -> Self {
        PairsDeserializer {
            fields: fields.into_iter(),
            pending: None,
            mode,
        }
    }
}

impl<'de> de::Deserializer<'de> for PairsDeserializer<'_> {
    type Error = ParseError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParseError> {
        visitor.visit_map(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParseError> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for PairsDeserializer<'_> {
    type Error = ParseError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ParseError> {
        let Some((name, values)) = self.fields.next() else {
            return Ok(None);
        };
        let key = seed.deserialize(StrDeserializer::<ParseError>::new(&name))?;
        self.pending = Some((name, values));
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ParseError> {
        let Some((name, values)) = self.pending.take() else {
            return Err(de::Error::custom("value asked for before its key"));
        };
        seed.deserialize(ValueDeserializer {
            values: &values,
            mode: self.mode,
        })
        .map_err(|e| e.in_field(&name))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len())
    }
}

/// Deserializes one field from its raw values (the first one, or all of them for a sequence).
struct ValueDeserializer<'v, 'a> {
    values: &'v [&'a str],
    mode: Mode,
}

impl<'a> ValueDeserializer<'_, 'a> {
    fn text(&self) -> Result<Cow<'a, str>, ParseError> {
        let raw = self.values.first().copied().unwrap_or("");
        match self.mode {
            Mode::Path => percent_decode(raw),
            Mode::Form => form_decode(raw),
        }
        .map_err(|e| ParseError::new(ParseErrorKind::Decode(e)))
    }

    fn parse<N>(&self) -> Result<N, ParseError>
    where
        N: std::str::FromStr,
        N::Err: std::fmt::Display,
    {
        let text = self.text()?;
        text.parse().map_err(|e: N::Err| invalid(&text, e))
    }
}

fn invalid(value: &str, reason: impl std::fmt::Display) -> ParseError {
    ParseError::new(ParseErrorKind::Invalid {
        value: value.to_owned(),
        reason: reason.to_string(),
    })
}

macro_rules! parse_with {
    ($($method:ident => $visit:ident,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParseError> {
            visitor.$visit(self.parse()?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'_, '_> {
    type Error = ParseError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParseError> {
        match self.text()? {
            Cow::Borrowed(s) => visitor.visit_str(s),
            Cow::Owned(s) => visitor.visit_string(s),
        }
    }

    parse_with! {
        deserialize_i8 => visit_i8,
        deserialize_i16 => visit_i16,
        deserialize_i32 => visit_i32,
        deserialize_i64 => visit_i64,
        deserialize_i128 => visit_i128,
        deserialize_u8 => visit_u8,
        deserialize_u16 => visit_u16,
        deserialize_u32 => visit_u32,
        deserialize_u64 => visit_u64,
        deserialize_u128 => visit_u128,
        deserialize_f32 => visit_f32,
        deserialize_f64 => visit_f64,
        deserialize_char => visit_char,
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParseError> {
        let text = self.text()?;
        match &*text {
            "true" | "1" | "on" => visitor.visit_bool(true),
            "false" | "0" | "off" => visitor.visit_bool(false),
            _ => Err(invalid(
                &text,
                "expected `true`, `false`, `1`, `0`, `on` or `off`",
            )),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParseError> {
        match self.values.first() {
            None | Some(&"") => visitor.visit_none(),
            Some(_) => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParseError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParseError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParseError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParseError> {
        visitor.visit_seq(ValuesSeq {
            values: self.values.iter(),
            mode: self.mode,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParseError> {
        let variant: CowStrDeserializer<'_, ParseError> = self.text()?.into_deserializer();
        visitor.visit_enum(variant)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParseError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf identifier tuple tuple_struct map struct
    }
}

/// The values of a repeated key, as a sequence.
struct ValuesSeq<'v, 'a> {
    values: std::slice::Iter<'v, &'a str>,
    mode: Mode,
}

impl<'de> SeqAccess<'de> for ValuesSeq<'_, '_> {
    type Error = ParseError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ParseError> {
        match self.values.next() {
            None => Ok(None),
            Some(value) => seed
                .deserialize(ValueDeserializer {
                    values: std::slice::from_ref(value),
                    mode: self.mode,
                })
                .map(Some),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.values.len())
    }
}
