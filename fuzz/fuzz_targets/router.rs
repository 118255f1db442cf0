//! Arbitrary route patterns and a request target → route table → match, params, query.
//!
//! The input's lines are up to 16 patterns, then the request target (the last line).
//! Invariants: no panic; a match names a pattern that was accepted, and every param is a slice
//! of the path (params borrow, never copy); every accepted pattern without params matches
//! itself; every accepted pattern with its params and wildcard filled in matches some route;
//! decoding params and query values is checked (an error, never a panic or invalid UTF-8).
#![no_main]

use imphnen_router::{Router, split_target};

/// `true` when `part` lies inside `whole` (a borrowed slice, not a copy).
fn within(part: &str, whole: &str) -> bool {
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    part.is_empty() || (p >= w && p + part.len() <= w + whole.len())
}

/// A path the pattern matches by its own syntax: params and the wildcard filled with `v`.
fn instance(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| {
            if seg.starts_with(':') || seg.starts_with('*') {
                "v"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines: Vec<&str> = text.split('\n').collect();
    let target = lines.pop().unwrap_or("");
    let mut router = Router::new();
    let mut accepted = Vec::new();
    for (i, pattern) in lines.iter().take(16).enumerate() {
        if router.insert(pattern, i).is_ok() {
            accepted.push((i, *pattern));
        }
    }

    let (path, query) = split_target(target);
    if let Some(m) = router.at(path) {
        assert!(
            accepted.iter().any(|(i, _)| i == m.value),
            "matched a pattern that was refused"
        );
        for (_, raw) in m.params.iter() {
            assert!(within(raw, path), "param {raw:?} is not a slice of {path:?}");
        }
        for (name, _) in m.params.iter() {
            let _ = m.params.try_get(name);
        }
    }
    for (name, value) in query.raw_pairs() {
        assert!(within(name, target) && within(value, target));
        let _ = query.try_get(name);
    }
    for pair in query.try_iter() {
        let _ = pair;
    }

    for (i, pattern) in &accepted {
        if !pattern.contains([':', '*']) {
            let m = router
                .at(pattern)
                .unwrap_or_else(|| panic!("static pattern {pattern:?} does not match itself"));
            assert_eq!(m.value, i, "static pattern {pattern:?} matched another route");
        } else {
            let path = instance(pattern);
            assert!(
                router.at(&path).is_some(),
                "{path:?}, an instance of {pattern:?}, matches no route"
            );
        }
    }
});
