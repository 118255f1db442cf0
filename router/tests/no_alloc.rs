//! Matching allocates nothing on the hot path (counted with a global allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use imphnen_router::Router;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn matching_allocates_nothing() {
    let mut router = Router::new();
    for p in [
        "/chat",
        "/chat/:userId/*",
        "/room/:roomId",
        "/user/:userId",
        "/api/messages/:roomId",
        "/files/*path",
        "/a/b/d",
        "/a/:x/c",
        "/opt/:maybe?",
        "/:a/:b/:c/:d",
    ] {
        router.insert(p, ()).unwrap();
    }
    let paths = [
        "/chat",
        "/chat/",
        "/chat/bob/x/y",
        "/room/lobby",
        "/api/messages/42",
        "/files/a/b/c.txt",
        "/a/b/c",
        "/opt",
        "/opt/1",
        "/w/x/y/z",
        "/nope/nope/nope/nope/nope",
    ];
    // The test harness may allocate on other threads; take the minimum over several rounds.
    let mut fewest = usize::MAX;
    for _ in 0..5 {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let mut matched = 0;
        for path in paths {
            if let Some(m) = router.at(path) {
                matched += m.params.len() + 1;
                // Reading a param that needs no decoding borrows too.
                for (name, _) in m.params.iter() {
                    matched += m.params.get(name).map_or(0, |v| v.len());
                }
            }
        }
        std::hint::black_box(matched);
        fewest = fewest.min(ALLOCATIONS.load(Ordering::Relaxed) - before);
    }
    assert_eq!(fewest, 0);
}
