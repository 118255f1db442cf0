//! Typed access: params and queries deserialized into user structs with serde.

use std::collections::HashMap;

use imphnen_router::{DecodeError, ParseErrorKind, Query, Router};
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct RoomParams {
    room_id: u32,
}

fn at_room(path: &str) -> Result<RoomParams, imphnen_router::ParseError> {
    let mut router = Router::new();
    router.insert("/room/:roomId", ()).unwrap();
    router.at(path).unwrap().params.parse()
}

#[test]
fn params_parse_into_typed_struct() {
    assert_eq!(at_room("/room/42").unwrap(), RoomParams { room_id: 42 });
}

#[test]
fn malformed_number_error_names_the_field_and_the_reason() {
    let err = at_room("/room/4x2").unwrap_err();
    assert_eq!(err.field(), Some("roomId"));
    assert!(matches!(err.kind(), ParseErrorKind::Invalid { value, .. } if value == "4x2"));
    assert_eq!(
        err.to_string(),
        "field `roomId`: invalid value `4x2`: invalid digit found in string"
    );
    let err = at_room("/room/99999999999").unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
}

#[test]
fn missing_field_error_names_the_field() {
    let mut router = Router::new();
    router.insert("/chat/:userId?", ()).unwrap();
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Needs {
        #[serde(rename = "userId")]
        user_id: String,
    }
    let err = router
        .at("/chat")
        .unwrap()
        .params
        .parse::<Needs>()
        .unwrap_err();
    assert_eq!(err.field(), Some("userId"));
    assert_eq!(*err.kind(), ParseErrorKind::Missing);
    assert_eq!(err.to_string(), "missing field `userId`");
}

#[test]
fn undecodable_param_is_a_parse_error_naming_the_field() {
    let mut router = Router::new();
    router.insert("/user/:userId", ()).unwrap();
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct User {
        #[serde(rename = "userId")]
        user_id: String,
    }
    let err = router
        .at("/user/%FF")
        .unwrap()
        .params
        .parse::<User>()
        .unwrap_err();
    assert_eq!(err.field(), Some("userId"));
    assert_eq!(
        *err.kind(),
        ParseErrorKind::Decode(DecodeError::InvalidUtf8)
    );
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Search {
    q: String,
    page: Option<u32>,
    limit: Option<u8>,
    exact: bool,
    score: f64,
    order: Order,
    initial: char,
    #[serde(default)]
    tag: Vec<String>,
    id: Vec<u64>,
}

#[test]
fn query_parses_every_supported_field_type() {
    let q = Query::new(
        "q=web+sockets&page=3&limit=&exact=on&score=-1.5e2&order=desc&initial=%C3%A9&id=1&id=2",
    );
    assert_eq!(
        q.parse::<Search>().unwrap(),
        Search {
            q: "web sockets".into(),
            page: Some(3),
            limit: None,
            exact: true,
            score: -150.0,
            order: Order::Desc,
            initial: 'é',
            tag: vec![],
            id: vec![1, 2],
        }
    );
}

#[test]
fn unknown_enum_variant_is_a_clear_error() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Sort {
        order: Order,
    }
    let err = Query::new("order=sideways").parse::<Sort>().unwrap_err();
    assert_eq!(err.field(), Some("order"));
    assert!(
        err.to_string().contains("unknown variant `sideways`"),
        "{err}"
    );
}

#[test]
fn invalid_bool_says_what_is_accepted() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Flag {
        on: bool,
    }
    let err = Query::new("on=maybe").parse::<Flag>().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("field `on`: invalid value `maybe`: expected `true`")
    );
}

#[test]
fn repeated_key_into_scalar_takes_the_first_value() {
    #[derive(Debug, Deserialize)]
    struct One {
        a: u8,
    }
    assert_eq!(Query::new("a=1&a=2").parse::<One>().unwrap().a, 1);
}

#[test]
fn bad_element_in_a_sequence_names_the_field() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Ids {
        id: Vec<u64>,
    }
    let err = Query::new("id=1&id=x").parse::<Ids>().unwrap_err();
    assert_eq!(err.field(), Some("id"));
}

#[test]
fn undecodable_value_of_an_ignored_key_is_not_an_error() {
    #[derive(Debug, Deserialize)]
    struct Only {
        a: u8,
    }
    assert_eq!(Query::new("junk=%FF&a=7").parse::<Only>().unwrap().a, 7);
}

#[test]
fn query_parses_into_a_map() {
    let map: HashMap<String, String> = Query::new("a=1&b=x+y").parse().unwrap();
    assert_eq!(map["a"], "1");
    assert_eq!(map["b"], "x y");
}

#[test]
fn newtype_fields_parse_through() {
    #[derive(Debug, Deserialize, PartialEq)]
    struct UserId(u64);
    #[derive(Debug, Deserialize, PartialEq)]
    struct P {
        id: UserId,
    }
    assert_eq!(
        Query::new("id=5").parse::<P>().unwrap(),
        P { id: UserId(5) }
    );
}

#[test]
fn wildcard_param_parses_under_its_name() {
    let mut router = Router::new();
    router.insert("/files/*path", ()).unwrap();
    #[derive(Debug, Deserialize)]
    struct File {
        path: String,
    }
    let f: File = router.at("/files/a/b%20c").unwrap().params.parse().unwrap();
    assert_eq!(f.path, "a/b c");
}
