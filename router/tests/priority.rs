//! Priority is static > param > wildcard, segment by segment, whatever the registration order.

use imphnen_router::Router;

/// Builds the router twice, in both registration orders, and checks `path` in each.
fn both_orders(patterns: &[&'static str], path: &str) -> [&'static str; 2] {
    let mut forward = Router::new();
    for p in patterns {
        forward.insert(p, *p).unwrap();
    }
    let mut backward = Router::new();
    for p in patterns.iter().rev() {
        backward.insert(p, *p).unwrap();
    }
    let f = forward.at(path).map(|m| *m.value).unwrap_or("<none>");
    let b = backward.at(path).map(|m| *m.value).unwrap_or("<none>");
    [f, b]
}

#[test]
fn static_segment_beats_param_regardless_of_order() {
    let routes = ["/users/:id", "/users/new"];
    assert_eq!(both_orders(&routes, "/users/new"), ["/users/new"; 2]);
    assert_eq!(both_orders(&routes, "/users/42"), ["/users/:id"; 2]);
}

#[test]
fn param_beats_wildcard_regardless_of_order() {
    let routes = ["/files/*", "/files/:name"];
    assert_eq!(both_orders(&routes, "/files/a"), ["/files/:name"; 2]);
    assert_eq!(both_orders(&routes, "/files/a/b"), ["/files/*"; 2]);
}

#[test]
fn wildcard_is_the_fallback_under_its_prefix() {
    let routes = ["/files/*", "/files/readme", "/files/:dir/index"];
    assert_eq!(both_orders(&routes, "/files/readme"), ["/files/readme"; 2]);
    assert_eq!(
        both_orders(&routes, "/files/docs/index"),
        ["/files/:dir/index"; 2]
    );
    assert_eq!(both_orders(&routes, "/files/docs/other"), ["/files/*"; 2]);
    assert_eq!(both_orders(&routes, "/files"), ["/files/*"; 2]);
    assert_eq!(both_orders(&routes, "/elsewhere"), ["<none>"; 2]);
}

#[test]
fn failed_static_branch_falls_back_to_param_branch() {
    let routes = ["/a/b/d", "/a/:x/c"];
    assert_eq!(both_orders(&routes, "/a/b/c"), ["/a/:x/c"; 2]);
    assert_eq!(both_orders(&routes, "/a/b/d"), ["/a/b/d"; 2]);
}

#[test]
fn failed_param_branch_falls_back_to_wildcard() {
    let routes = ["/a/:x/c", "/a/*"];
    let mut router = Router::new();
    for p in routes {
        router.insert(p, p).unwrap();
    }
    let m = router.at("/a/b/z").unwrap();
    assert_eq!(*m.value, "/a/*");
    // The param pushed while trying `/a/:x/c` is not left behind.
    assert_eq!(m.params.iter().collect::<Vec<_>>(), [("*", "b/z")]);
}

#[test]
fn leftmost_static_segment_decides() {
    let routes = ["/a/b/:y", "/a/:x/c"];
    assert_eq!(both_orders(&routes, "/a/b/c"), ["/a/b/:y"; 2]);
}

#[test]
fn static_end_beats_wildcard_at_the_same_node() {
    let routes = ["/files", "/files/*"];
    assert_eq!(both_orders(&routes, "/files"), ["/files"; 2]);
    assert_eq!(both_orders(&routes, "/files/"), ["/files"; 2]);
    assert_eq!(both_orders(&routes, "/files/x"), ["/files/*"; 2]);
}

#[test]
fn root_wildcard_catches_everything_unmatched() {
    let routes = ["/*", "/", "/api/:v"];
    assert_eq!(both_orders(&routes, "/"), ["/"; 2]);
    assert_eq!(both_orders(&routes, "/api/1"), ["/api/:v"; 2]);
    assert_eq!(both_orders(&routes, "/api/1/2"), ["/*"; 2]);
    assert_eq!(both_orders(&routes, "/nope"), ["/*"; 2]);
}

#[test]
fn optional_param_yields_to_static_sibling() {
    let routes = ["/chat/:userId?", "/chat/help"];
    assert_eq!(both_orders(&routes, "/chat/help"), ["/chat/help"; 2]);
    assert_eq!(both_orders(&routes, "/chat/bob"), ["/chat/:userId?"; 2]);
    assert_eq!(both_orders(&routes, "/chat"), ["/chat/:userId?"; 2]);
}

#[test]
fn params_with_different_names_share_a_position_in_different_shapes() {
    let mut router = Router::new();
    router.insert("/a/:id", 1).unwrap();
    router.insert("/a/:name/edit", 2).unwrap();
    let m = router.at("/a/7").unwrap();
    assert_eq!((*m.value, m.params.raw("id")), (1, Some("7")));
    let m = router.at("/a/bob/edit").unwrap();
    assert_eq!(
        (*m.value, m.params.raw("name"), m.params.raw("id")),
        (2, Some("bob"), None)
    );
}

#[test]
fn param_never_matches_an_empty_segment() {
    let mut router = Router::new();
    router.insert("/a/:x/b", ()).unwrap();
    assert!(router.at("/a//b").is_none());
}

#[test]
fn path_without_leading_slash_matches_nothing() {
    let mut router = Router::new();
    router.insert("/*", ()).unwrap();
    assert!(router.at("*").is_none());
    assert!(router.at("http://example.com/").is_none());
    assert!(router.at("").is_some(), "an empty path is the root");
}
