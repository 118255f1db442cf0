//! Cross-core command paths: the engine's bounded SPSC ring (one per pair of cores, published
//! once per batch) against `std::sync::mpsc` (the unbounded channel the engine used before)
//! and crossbeam's `ArrayQueue` (the bounded queue plain threads use), same run.
//!
//! - `throughput/*`: one producer thread moves 100,000 command-sized (64-byte) values to one
//!   consumer thread, in batches of 64 (a turn's worth), the consumer draining as fast as it
//!   can. Reported per value.
//! - `round_trip/*`: one value to the other thread and one back, one at a time, both sides
//!   spinning on their queue (the latency of a path, without any wake-up).
//!
//! ```sh
//! cargo bench -p imphnen-engine --bench rings -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use imphnen_engine::bench::ring;

/// As large as the engine's `Command`.
type Value = [u64; 8];

const N: u64 = 100_000;
const BATCH: u64 = 64;

fn value(i: u64) -> Value {
    [i; 8]
}

/// Keeps the calling thread on one CPU, as the engine keeps each core's thread: the producer
/// (the bench's own thread) on CPU 0, the consumer on CPU 1. Without it the scheduler may put
/// both spinning threads on one CPU for a whole sample.
fn pin(cpu: usize) {
    // SAFETY: `set` is a plain bit mask on the stack, passed with its own size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % num_cpus(), &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPUs online (not `available_parallelism`, which shrinks to 1 once this thread is pinned).
fn num_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// Moves `N` values through `send`/`recv` pairs on two threads; returns the time taken.
fn spsc_ring(iters: u64) -> Duration {
    pin(0);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (mut p, mut c) = ring::<Value>(8192);
        let consumer = std::thread::spawn(move || {
            pin(1);
            let mut seen = 0;
            while seen < N {
                while let Some(v) = c.pop() {
                    assert_eq!(v[0], seen);
                    seen += 1;
                }
                c.release();
                std::hint::spin_loop();
            }
        });
        let started = Instant::now();
        let mut i = 0;
        while i < N {
            let end = (i + BATCH).min(N);
            while i < end {
                match p.push(value(i)) {
                    Ok(()) => i += 1,
                    Err(_) => {
                        p.publish();
                        std::hint::spin_loop();
                    }
                }
            }
            p.publish();
        }
        consumer.join().unwrap();
        total += started.elapsed();
    }
    total
}

fn std_mpsc(iters: u64) -> Duration {
    pin(0);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (tx, rx) = mpsc::channel::<Value>();
        let consumer = std::thread::spawn(move || {
            pin(1);
            let mut seen = 0;
            while seen < N {
                while let Ok(v) = rx.try_recv() {
                    assert_eq!(v[0], seen);
                    seen += 1;
                }
                std::hint::spin_loop();
            }
        });
        let started = Instant::now();
        for i in 0..N {
            tx.send(value(i)).unwrap();
        }
        consumer.join().unwrap();
        total += started.elapsed();
    }
    total
}

fn array_queue(iters: u64) -> Duration {
    pin(0);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let q = Arc::new(ArrayQueue::<Value>::new(8192));
        let cq = q.clone();
        let consumer = std::thread::spawn(move || {
            pin(1);
            let mut seen = 0;
            while seen < N {
                while let Some(v) = cq.pop() {
                    assert_eq!(v[0], seen);
                    seen += 1;
                }
                std::hint::spin_loop();
            }
        });
        let started = Instant::now();
        for i in 0..N {
            let mut v = value(i);
            while let Err(back) = q.push(v) {
                v = back;
                std::hint::spin_loop();
            }
        }
        consumer.join().unwrap();
        total += started.elapsed();
    }
    total
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("throughput");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    g.bench_function("spsc_ring", |b| b.iter_custom(spsc_ring));
    g.bench_function("std_mpsc", |b| b.iter_custom(std_mpsc));
    g.bench_function("array_queue", |b| b.iter_custom(array_queue));
    g.finish();
}

/// One value there and back, `ROUND_TRIPS` times, through a pair of paths.
const ROUND_TRIPS: u64 = 10_000;

fn round_trip_ring(iters: u64) -> Duration {
    pin(0);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (mut to, mut at_echo) = ring::<Value>(64);
        let (mut back, mut at_main) = ring::<Value>(64);
        let echo = std::thread::spawn(move || {
            pin(1);
            for _ in 0..ROUND_TRIPS {
                let v = loop {
                    if let Some(v) = at_echo.pop() {
                        break v;
                    }
                    std::hint::spin_loop();
                };
                at_echo.release();
                back.push(v).unwrap();
                back.publish();
            }
        });
        let started = Instant::now();
        for i in 0..ROUND_TRIPS {
            to.push(value(i)).unwrap();
            to.publish();
            let v = loop {
                if let Some(v) = at_main.pop() {
                    break v;
                }
                std::hint::spin_loop();
            };
            at_main.release();
            black_box(v);
        }
        total += started.elapsed();
        echo.join().unwrap();
    }
    total
}

fn round_trip_mpsc(iters: u64) -> Duration {
    pin(0);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (to, at_echo) = mpsc::channel::<Value>();
        let (back, at_main) = mpsc::channel::<Value>();
        let echo = std::thread::spawn(move || {
            pin(1);
            for _ in 0..ROUND_TRIPS {
                let v = loop {
                    if let Ok(v) = at_echo.try_recv() {
                        break v;
                    }
                    std::hint::spin_loop();
                };
                back.send(v).unwrap();
            }
        });
        let started = Instant::now();
        for i in 0..ROUND_TRIPS {
            to.send(value(i)).unwrap();
            let v = loop {
                if let Ok(v) = at_main.try_recv() {
                    break v;
                }
                std::hint::spin_loop();
            };
            black_box(v);
        }
        total += started.elapsed();
        echo.join().unwrap();
    }
    total
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip");
    g.throughput(Throughput::Elements(ROUND_TRIPS));
    g.sample_size(20);
    g.bench_function("spsc_ring", |b| b.iter_custom(round_trip_ring));
    g.bench_function("std_mpsc", |b| b.iter_custom(round_trip_mpsc));
    g.finish();
}

criterion_group!(benches, throughput, round_trip);
criterion_main!(benches);
