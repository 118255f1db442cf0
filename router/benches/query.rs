//! `Query::parse::<T>()` against `serde_html_form::from_str::<T>()` on the same query strings,
//! in one run: the figure behind keeping `src/de.rs` (see its module documentation).
//!
//! `serde_html_form` is the maintained fork of `serde_urlencoded` that, like `Query::parse`,
//! collects a repeated key into a `Vec` field; both are given the same struct and the same text,
//! and the bench asserts they produce the same value before timing either. It also asserts that
//! both refuse a numeric field under `#[serde(flatten)]`: serde buffers a flattened struct's
//! values through `deserialize_any`, where a form value can only be a string (serde issue
//! 1183), so replacing `de.rs` with the crate would not close that gap.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use imphnen_router::Query;
use serde::Deserialize;

/// What a WebSocket upgrade or a list endpoint typically reads from its query.
#[derive(Debug, PartialEq, Deserialize)]
struct Listing {
    token: String,
    username: Option<String>,
    page: u32,
    per_page: u16,
    #[serde(default)]
    tag: Vec<String>,
    sort: Option<String>,
}

const QUERIES: [(&str, &str); 3] = [
    (
        "plain",
        "token=abc123&username=alice&page=2&per_page=50&tag=rust&tag=web&sort=new",
    ),
    (
        "escaped",
        "token=a%2Fb%3Dc&username=J%C3%BCrgen+M%C3%BCller&page=2&per_page=50&tag=web+sockets&sort=new",
    ),
    (
        "extra_keys",
        "utm_source=x&utm_medium=y&token=abc123&page=2&per_page=50&ref=home&tag=rust&session=zz",
    ),
];

/// `Pagination` flattened into a larger query struct.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // only whether it deserializes is looked at
struct Flattened {
    token: String,
    #[serde(flatten)]
    pagination: Pagination,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Pagination {
    page: u32,
}

fn bench_query(c: &mut Criterion) {
    let flat = "token=abc&page=2";
    let ours = Query::new(flat)
        .parse::<Flattened>()
        .unwrap_err()
        .to_string();
    let theirs = serde_html_form::from_str::<Flattened>(flat)
        .unwrap_err()
        .to_string();
    assert!(ours.contains("expected u32"), "{ours}");
    assert!(theirs.contains("expected u32"), "{theirs}");

    for (label, raw) in QUERIES {
        let ours: Listing = Query::new(raw).parse().unwrap();
        let theirs: Listing = serde_html_form::from_str(raw).unwrap();
        assert_eq!(ours, theirs, "{label}: {raw}");
    }

    let mut group = c.benchmark_group("query_parse");
    for (label, raw) in QUERIES {
        group.bench_with_input(BenchmarkId::new("imphnen", label), raw, |b, raw| {
            b.iter(|| Query::new(black_box(raw)).parse::<Listing>().unwrap())
        });
        group.bench_with_input(BenchmarkId::new("serde_html_form", label), raw, |b, raw| {
            b.iter(|| serde_html_form::from_str::<Listing>(black_box(raw)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_query);
criterion_main!(benches);
