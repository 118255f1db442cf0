//! Query strings: lazy pairs, `+` and percent-decoding, checked.

use imphnen_router::{DecodeError, Query, split_target};

#[test]
fn query_pairs_are_form_decoded() {
    let q = Query::new("name=J%C3%BCrgen+M&msg=a%2Bb%26c");
    assert_eq!(q.get("name").as_deref(), Some("Jürgen M"));
    assert_eq!(q.get("msg").as_deref(), Some("a+b&c"));
}

#[test]
fn encoded_names_are_matched_after_decoding() {
    let q = Query::new("user+name=alice&caf%C3%A9=1");
    assert_eq!(q.get("user name").as_deref(), Some("alice"));
    assert_eq!(q.get("café").as_deref(), Some("1"));
}

#[test]
fn first_value_wins_and_get_all_returns_every_value() {
    let q = Query::new("tag=a&tag=b&x=1&tag=c");
    assert_eq!(q.get("tag").as_deref(), Some("a"));
    assert_eq!(q.get_all("tag").collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(q.get_all("none").count(), 0);
}

#[test]
fn flags_and_empty_pieces_are_handled() {
    let q = Query::new("&flag&&empty=&=nameless&a=b=c");
    let pairs: Vec<_> = q.iter().collect();
    assert_eq!(
        pairs,
        [
            ("flag".into(), "".into()),
            ("empty".into(), "".into()),
            ("".into(), "nameless".into()),
            ("a".into(), "b=c".into()),
        ]
    );
}

#[test]
fn undecodable_query_value_is_absent_for_get_and_an_error_for_try_get() {
    let q = Query::new("a=%FF&b=%zz&c=ok");
    assert_eq!(q.get("a"), None);
    assert_eq!(q.try_get("a"), Err(DecodeError::InvalidUtf8));
    assert_eq!(
        q.try_get("b"),
        Err(DecodeError::InvalidEscape { offset: 0 })
    );
    assert_eq!(q.get("c").as_deref(), Some("ok"));
    assert_eq!(q.iter().count(), 1);
    assert_eq!(q.try_iter().filter(Result::is_err).count(), 2);
}

#[test]
fn undecodable_name_is_ignored() {
    let q = Query::new("%FF=1&ok=2");
    assert_eq!(q.iter().count(), 1);
    assert_eq!(q.try_iter().count(), 1);
}

#[test]
fn get_skips_an_undecodable_first_value() {
    let q = Query::new("a=%FF&a=2");
    assert_eq!(q.get("a").as_deref(), Some("2"));
    assert_eq!(q.try_get("a"), Err(DecodeError::InvalidUtf8));
}

#[test]
fn split_target_separates_path_and_query() {
    let (path, q) = split_target("/connect?token=abc123&username=alice");
    assert_eq!(path, "/connect");
    assert_eq!(q.as_str(), "token=abc123&username=alice");
    let (path, q) = split_target("/a?");
    assert_eq!(path, "/a");
    assert!(q.is_empty());
    let (path, q) = split_target("/a?b=?c");
    assert_eq!(path, "/a");
    assert_eq!(q.get("b").as_deref(), Some("?c"));
}

#[test]
fn a_query_of_many_names_parses_in_time_linear_in_its_length() {
    // 40,000 distinct names (a 1 MiB form body, or many 8 KiB queries): comparing each name
    // with every one before it took tens of seconds here; a linear parse takes milliseconds.
    let query: String = (0..40_000).map(|i| format!("k{i}=v&")).collect();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let parsed: std::collections::HashMap<String, String> = Query::new(&query).parse().unwrap();
        let _ = done.send(parsed.len());
    });
    let count = finished
        .recv_timeout(std::time::Duration::from_secs(3))
        .expect("40,000 names parse within 3 s");
    assert_eq!(count, 40_000);

    // A name repeated after many others still collects every value, in order.
    let query: String = (0..40).map(|i| format!("k{i}={i}&")).collect::<String>() + "k3=again";
    let parsed: std::collections::HashMap<String, Vec<String>> =
        Query::new(&query).parse().unwrap();
    assert_eq!(parsed.len(), 40);
    assert_eq!(parsed["k3"], ["3", "again"]);
}
