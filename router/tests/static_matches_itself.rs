//! Property: a registered static path always matches itself, whatever else is registered.

use imphnen_router::{InsertError, Router};
use proptest::prelude::*;

fn static_segment() -> impl Strategy<Value = String> {
    "[a-z0-9._~-]{1,8}"
}

fn segment_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => static_segment(),
        2 => "[a-z]{1,4}".prop_map(|n| format!(":{n}")),
    ]
}

/// A random pattern: static and param segments, maybe an optional param or a wildcard last,
/// maybe a trailing slash.
fn any_pattern() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(segment_pattern(), 0..5),
        prop_oneof![Just(""), Just("/:opt?"), Just("/*"), Just("/")],
    )
        .prop_map(|(segments, tail)| format!("/{}{}", segments.join("/"), tail))
        .prop_map(|p| p.replace("//", "/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn registered_static_path_always_matches_itself(
        segments in prop::collection::vec(static_segment(), 0..6),
        trailing in any::<bool>(),
        before in prop::collection::vec(any_pattern(), 0..30),
        after in prop::collection::vec(any_pattern(), 0..30),
    ) {
        let mut path = format!("/{}", segments.join("/"));
        if trailing && !segments.is_empty() {
            path.push('/');
        }
        let mut router = Router::new();
        // Other routes may be refused (conflicts, malformed); that is fine for this property.
        for p in &before {
            let _ = router.insert(p, p.clone());
        }
        // The static path may already be registered (same value), or conflict with an optional
        // param registered before (`/a/:opt?` claims `/a`): then there is nothing to check.
        let registered = match router.insert(&path, path.clone()) {
            Ok(()) | Err(InsertError::Duplicate { .. }) => true,
            Err(_) => false,
        };
        if registered {
            for p in &after {
                let _ = router.insert(p, p.clone());
            }
            let m = router.at(&path).expect("a registered static path must match");
            prop_assert_eq!(m.value, &path);
            prop_assert!(m.params.is_empty());
        }
    }

    #[test]
    fn matching_never_panics_on_arbitrary_paths(
        patterns in prop::collection::vec(any_pattern(), 0..30),
        path in "/[a-z0-9/%:*?+.]{0,30}",
    ) {
        let mut router = Router::new();
        for p in &patterns {
            let _ = router.insert(p, ());
        }
        if let Some(m) = router.at(&path) {
            for (name, _) in m.params.iter() {
                let _ = m.params.try_get(name);
            }
        }
    }
}
