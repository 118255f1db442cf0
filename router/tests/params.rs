//! Param values: decoded on access, checked, optional, wildcard, trailing slash.

use std::borrow::Cow;

use imphnen_router::{DecodeError, Router};

fn one(pattern: &str) -> Router<()> {
    let mut router = Router::new();
    router.insert(pattern, ()).unwrap();
    router
}

#[test]
fn percent_encoded_param_is_decoded_on_access() {
    let router = one("/room/:roomId");
    let m = router.at("/room/caf%C3%A9%20bar%2Fbaz").unwrap();
    assert_eq!(m.params.raw("roomId"), Some("caf%C3%A9%20bar%2Fbaz"));
    assert_eq!(m.params.get("roomId").as_deref(), Some("café bar/baz"));
}

#[test]
fn param_without_escapes_is_borrowed_from_the_path() {
    let router = one("/room/:roomId");
    let m = router.at("/room/lobby").unwrap();
    assert!(matches!(
        m.params.get("roomId"),
        Some(Cow::Borrowed("lobby"))
    ));
}

#[test]
fn plus_in_a_path_param_stays_a_plus() {
    let router = one("/room/:roomId");
    let m = router.at("/room/a+b").unwrap();
    assert_eq!(m.params.get("roomId").as_deref(), Some("a+b"));
}

#[test]
fn invalid_utf8_after_decoding_is_an_error() {
    let router = one("/user/:userId");
    let m = router.at("/user/%FF%FE").unwrap();
    assert_eq!(m.params.try_get("userId"), Err(DecodeError::InvalidUtf8));
    assert_eq!(
        m.params.get("userId"),
        None,
        "get treats undecodable as absent"
    );
    assert_eq!(m.params.raw("userId"), Some("%FF%FE"));
}

#[test]
fn malformed_percent_escape_is_an_error_not_a_panic() {
    let router = one("/user/:userId");
    for (path, offset) in [("/user/%", 0), ("/user/ab%4", 2), ("/user/%G0", 0)] {
        let m = router.at(path).unwrap();
        assert_eq!(
            m.params.try_get("userId"),
            Err(DecodeError::InvalidEscape { offset }),
            "{path}"
        );
    }
}

#[test]
fn optional_param_matches_with_and_without() {
    let router = one("/chat/:userId?");
    let without = router.at("/chat").unwrap();
    assert_eq!(without.params.len(), 0);
    assert_eq!(without.params.try_get("userId"), Ok(None));
    let with = router.at("/chat/42").unwrap();
    assert_eq!(with.params.get("userId").as_deref(), Some("42"));
    assert_eq!(with.params.len(), 1);
}

#[test]
fn optional_param_with_trailing_slash() {
    let router = one("/chat/:userId?");
    assert_eq!(router.at("/chat/").unwrap().params.len(), 0);
    assert_eq!(
        router.at("/chat/42/").unwrap().params.raw("userId"),
        Some("42")
    );
}

#[test]
fn trailing_slash_matches_same_route() {
    let router = one("/a");
    assert!(router.at("/a").is_some());
    assert!(router.at("/a/").is_some());
    let router = one("/a/");
    assert!(router.at("/a").is_some());
    assert!(router.at("/a/").is_some());
    let router = one("/room/:roomId");
    assert_eq!(
        router.at("/room/1/").unwrap().params.raw("roomId"),
        Some("1")
    );
    assert!(router.at("/a//").is_none());
}

#[test]
fn trailing_slash_routes_stay_apart_when_both_registered() {
    let mut router = Router::new();
    router.insert("/a/", "slash").unwrap();
    router.insert("/a", "bare").unwrap();
    assert_eq!(*router.at("/a").unwrap().value, "bare");
    assert_eq!(*router.at("/a/").unwrap().value, "slash");
}

#[test]
fn root_matches_slash_and_empty_path() {
    let router = one("/");
    assert!(router.at("/").is_some());
    assert!(router.at("").is_some());
    assert!(router.at("/x").is_none());
}

#[test]
fn wildcard_exposes_the_rest_of_the_path_as_star() {
    let router = one("/files/*");
    let cases = [
        ("/files/a", "a"),
        ("/files/a/b/c.txt", "a/b/c.txt"),
        ("/files/a/", "a/"),
        ("/files/", ""),
        ("/files", ""),
    ];
    for (path, rest) in cases {
        let m = router.at(path).unwrap();
        assert_eq!(m.params.raw("*"), Some(rest), "{path}");
    }
}

#[test]
fn named_wildcard_is_exposed_under_its_name() {
    let router = one("/static/*path");
    let m = router.at("/static/css/site%20main.css").unwrap();
    assert_eq!(m.params.get("path").as_deref(), Some("css/site main.css"));
    assert_eq!(m.params.raw("*"), None);
}

#[test]
fn params_iterate_in_path_order() {
    let router = one("/:a/x/:b/*c");
    let m = router.at("/1/x/2/3/4").unwrap();
    assert_eq!(
        m.params.iter().collect::<Vec<_>>(),
        [("a", "1"), ("b", "2"), ("c", "3/4")]
    );
    assert_eq!(
        format!("{:?}", m.params),
        r#"{"a": "1", "b": "2", "c": "3/4"}"#
    );
}

#[test]
fn many_params_still_match() {
    let router = one("/:a/:b/:c/:d/:e/:f");
    let m = router.at("/1/2/3/4/5/6").unwrap();
    assert_eq!(m.params.len(), 6);
    assert_eq!(m.params.raw("f"), Some("6"));
}

#[test]
fn match_reports_the_registered_pattern() {
    let router = one("/room/:roomId");
    assert_eq!(router.at("/room/1").unwrap().pattern, "/room/:roomId");
}

#[test]
fn cloned_router_matches_like_the_original() {
    let mut router = Router::new();
    router.insert("/room/:roomId", 1).unwrap();
    router.insert("/echo", 2).unwrap();
    let per_core = router.clone();
    drop(router);
    assert_eq!(*per_core.at("/echo").unwrap().value, 2);
    assert_eq!(
        per_core.at("/room/9").unwrap().params.raw("roomId"),
        Some("9")
    );
}
