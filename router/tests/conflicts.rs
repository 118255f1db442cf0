//! Conflicting and malformed patterns are refused at registration, naming the patterns.

use imphnen_router::{InsertError, MalformedReason, Router};

fn conflict(first: &str, second: &str) -> InsertError {
    let mut router = Router::new();
    router.insert(first, ()).unwrap();
    let err = router.insert(second, ()).unwrap_err();
    // The failed insert leaves the router usable and unchanged.
    assert_eq!(router.len(), 1);
    err
}

#[test]
fn conflicting_param_names_error_names_both_patterns() {
    let err = conflict("/a/:id", "/a/:name");
    assert_eq!(
        err,
        InsertError::Conflict {
            pattern: "/a/:name".into(),
            existing: "/a/:id".into(),
            example: "/a/x".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        "route `/a/:name` conflicts with already registered route `/a/:id`: \
         both would match `/a/x` with the same priority"
    );
}

#[test]
fn wildcards_with_different_names_conflict() {
    let err = conflict("/files/*", "/files/*path");
    assert!(matches!(err, InsertError::Conflict { ref existing, .. } if existing == "/files/*"));
}

#[test]
fn optional_param_conflicts_with_the_shorter_static_route() {
    let err = conflict("/chat", "/chat/:userId?");
    let msg = err.to_string();
    assert!(
        msg.contains("`/chat/:userId?`") && msg.contains("`/chat`"),
        "{msg}"
    );
    assert!(msg.contains("match `/chat`"), "{msg}");
    // And the other way round.
    assert!(matches!(
        conflict("/chat/:userId?", "/chat"),
        InsertError::Conflict { .. }
    ));
}

#[test]
fn optional_and_required_param_at_the_same_place_conflict() {
    assert!(matches!(
        conflict("/chat/:userId?", "/chat/:userId"),
        InsertError::Conflict { .. }
    ));
}

#[test]
fn same_pattern_twice_is_a_duplicate_not_a_conflict() {
    for pattern in ["/echo", "/room/:roomId", "/chat/:userId?", "/files/*", "/"] {
        assert_eq!(
            conflict(pattern, pattern),
            InsertError::Duplicate {
                pattern: pattern.into()
            }
        );
    }
}

#[test]
fn duplicate_can_be_merged_with_get_or_insert_with() {
    let mut router: Router<Vec<&str>> = Router::new();
    router
        .get_or_insert_with("/a/:id", Vec::new)
        .unwrap()
        .push("GET");
    router
        .get_or_insert_with("/a/:id", Vec::new)
        .unwrap()
        .push("PUT");
    assert_eq!(router.len(), 1);
    assert_eq!(router.get("/a/:id").unwrap(), &["GET", "PUT"]);
    // Merging does not bypass conflict detection.
    assert!(router.get_or_insert_with("/a/:other", Vec::new).is_err());
}

#[test]
fn static_param_and_wildcard_at_the_same_position_do_not_conflict() {
    let mut router = Router::new();
    for p in ["/a/b", "/a/:x", "/a/*", "/a", "/a/", "/a/:x/", "/a/b/"] {
        router.insert(p, ()).unwrap();
    }
    assert_eq!(router.len(), 7);
}

fn malformed(pattern: &str) -> MalformedReason {
    match Router::new().insert(pattern, ()) {
        Err(InsertError::Malformed { pattern: p, reason }) => {
            assert_eq!(p, pattern);
            reason
        }
        other => panic!("`{pattern}` should be malformed, got {other:?}"),
    }
}

#[test]
fn wildcard_before_the_last_segment_is_refused() {
    assert_eq!(malformed("/files/*/raw"), MalformedReason::WildcardNotLast);
}

#[test]
fn optional_param_before_the_last_segment_is_refused() {
    assert_eq!(
        malformed("/chat/:userId?/x"),
        MalformedReason::OptionalNotLast
    );
}

#[test]
fn empty_param_name_is_refused() {
    assert_eq!(malformed("/room/:"), MalformedReason::EmptyParamName);
}

#[test]
fn duplicate_param_names_in_one_pattern_are_refused() {
    assert_eq!(
        malformed("/a/:id/b/:id"),
        MalformedReason::DuplicateParamName { name: "id".into() }
    );
    assert_eq!(
        malformed("/a/:rest/*rest"),
        MalformedReason::DuplicateParamName {
            name: "rest".into()
        }
    );
}

#[test]
fn malformed_error_says_what_is_wrong() {
    let err = Router::new().insert("chat", ()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed route `chat`: a route must start with `/`"
    );
    let err = Router::new().insert("/a/:id.json", ()).unwrap_err();
    assert!(err.to_string().contains("`id.json`"), "{err}");
}

/// Found by the `router` fuzz target: at the root, `/:id?/` without its param is the path `/`,
/// the root route (which has no trailing-slash twin), so it conflicts with `/` in either order.
#[test]
fn optional_param_at_the_root_with_a_trailing_slash_conflicts_with_the_root() {
    for (first, second) in [("/", "/:id?/"), ("/:id?/", "/")] {
        let err = conflict(first, second);
        assert!(
            matches!(err, InsertError::Conflict { ref example, .. } if example == "/"),
            "{first} then {second}: {err:?}"
        );
    }
    let mut router = Router::new();
    router.insert("/:id?/", "root").unwrap();
    assert_eq!(router.at("/").unwrap().params.get("id"), None);
    assert_eq!(
        router.at("/7/").unwrap().params.get("id").as_deref(),
        Some("7")
    );
}
