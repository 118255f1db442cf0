//! Match time: the compiled tree vs a linear scan over the same 100 patterns, in one run.
//!
//! The linear scan is the classic "try each route in order" router, with every pattern split
//! into segments up front (so it is not penalised for parsing) and params collected into the
//! same inline `SmallVec`. It returns the first match in registration order; the table lists
//! statics before params before wildcards so that first match equals the tree's priority for
//! every lookup path used here.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use imphnen_router::Router;
use smallvec::SmallVec;

const RESOURCES: [&str; 20] = [
    "users", "rooms", "messages", "files", "teams", "projects", "issues", "comments", "tags",
    "orders", "invoices", "products", "carts", "reviews", "events", "tickets", "alerts", "logs",
    "metrics", "sessions",
];

/// 100 routes: per resource a static, a param, a nested static after a param, an optional
/// param and a wildcard.
fn patterns() -> Vec<String> {
    let mut out = Vec::new();
    for r in RESOURCES {
        out.push(format!("/api/v1/{r}"));
    }
    for r in RESOURCES {
        out.push(format!("/api/v1/{r}/:id/edit"));
    }
    for r in RESOURCES {
        out.push(format!("/api/v1/{r}/:id"));
    }
    for r in RESOURCES {
        out.push(format!("/api/v1/{r}/:id/comments/:cid?"));
    }
    for r in RESOURCES {
        out.push(format!("/static/{r}/*path"));
    }
    out
}

const LOOKUPS: [(&str, &str); 6] = [
    ("static_last", "/api/v1/sessions"),
    ("param", "/api/v1/metrics/12345"),
    ("param_static", "/api/v1/tickets/987/edit"),
    ("optional_present", "/api/v1/logs/1/comments/2"),
    ("wildcard_deep", "/static/sessions/css/vendor/site.min.css"),
    ("miss", "/api/v2/unknown/path"),
];

enum Seg {
    Static(String),
    Param(String),
    Optional(String),
    Wildcard(String),
}

struct Linear {
    routes: Vec<(Vec<Seg>, usize)>,
}

type Found<'r, 'p> = SmallVec<[(&'r str, &'p str); 4]>;

impl Linear {
    fn new(patterns: &[String]) -> Self {
        let routes = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let segs = p
                    .trim_start_matches('/')
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        if let Some(n) = s.strip_prefix(':') {
                            match n.strip_suffix('?') {
                                Some(n) => Seg::Optional(n.to_owned()),
                                None => Seg::Param(n.to_owned()),
                            }
                        } else if let Some(n) = s.strip_prefix('*') {
                            Seg::Wildcard(n.to_owned())
                        } else {
                            Seg::Static(s.to_owned())
                        }
                    })
                    .collect();
                (segs, i)
            })
            .collect();
        Linear { routes }
    }

    fn at<'r, 'p>(&'r self, path: &'p str) -> Option<(usize, Found<'r, 'p>)> {
        let path = path.strip_prefix('/')?;
        let path = path.strip_suffix('/').unwrap_or(path);
        'routes: for (segs, value) in &self.routes {
            let mut found = Found::new();
            let mut rest = Some(path).filter(|p| !p.is_empty());
            for seg in segs {
                if let Seg::Wildcard(name) = seg {
                    found.push((name, rest.unwrap_or("")));
                    return Some((*value, found));
                }
                let Some(r) = rest else {
                    if let Seg::Optional(_) = seg {
                        break;
                    }
                    continue 'routes;
                };
                let (head, tail) = match r.split_once('/') {
                    Some((h, t)) => (h, Some(t)),
                    None => (r, None),
                };
                match seg {
                    Seg::Static(s) if s == head => {}
                    Seg::Param(n) | Seg::Optional(n) if !head.is_empty() => found.push((n, head)),
                    _ => continue 'routes,
                }
                rest = tail;
            }
            if rest.is_none() {
                return Some((*value, found));
            }
        }
        None
    }
}

fn bench_match(c: &mut Criterion) {
    let patterns = patterns();
    assert_eq!(patterns.len(), 100);
    let mut tree = Router::new();
    for (i, p) in patterns.iter().enumerate() {
        tree.insert(p, i).unwrap();
    }
    let linear = Linear::new(&patterns);

    // Both matchers must agree before their times mean anything.
    for (label, path) in LOOKUPS {
        let t = tree
            .at(path)
            .map(|m| (*m.value, m.params.iter().collect::<Vec<_>>()));
        let l = linear
            .at(path)
            .map(|(v, f)| (v, f.into_iter().collect::<Vec<_>>()));
        assert_eq!(t, l, "{label}: {path}");
    }

    let mut group = c.benchmark_group("match_100_routes");
    for (label, path) in LOOKUPS {
        group.bench_with_input(BenchmarkId::new("tree", label), path, |b, path| {
            b.iter(|| tree.at(black_box(path)).map(|m| *m.value + m.params.len()))
        });
        group.bench_with_input(BenchmarkId::new("linear", label), path, |b, path| {
            b.iter(|| linear.at(black_box(path)).map(|(v, f)| v + f.len()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_match);
criterion_main!(benches);
