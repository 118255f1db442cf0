//! Micro-benchmarks of the HTTP/1.1 message layer: the head of a typical Chromium GET
//! (≈ 500 bytes, 12 fields), 16 small pipelined GETs, a chunked body, and serializing a small
//! `200` with `Date` and a 13-byte body into a reused buffer.
//!
//! Before the benchmarks run, a counting allocator checks that parsing and serialization
//! allocate nothing (the response buffer is reused, so its growth happens once, outside the
//! counted loop) and prints the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group};
use imphnen_protocol::http::{
    ChunkedDecoder, DateCache, HeaderSlots, Limits, Parsed, ResponseWriter, StatusCode,
    parse_request,
};

/// Counts every allocation, to show the hot paths make none.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CHROMIUM_GET: &[u8] = b"GET /api/messages/general?limit=50 HTTP/1.1\r\n\
Host: localhost:3000\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"126\", \"Not.A/Brand\";v=\"24\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n\
Accept: application/json, text/plain, */*\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: cors\r\n\
Sec-Fetch-Dest: empty\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\r\n";

const SMALL_GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";

fn parse_one(buf: &[u8], limits: &Limits) -> usize {
    let mut slots = HeaderSlots::<64>::new();
    match parse_request(buf, &mut slots, limits) {
        Ok(Parsed::Complete(head, len)) => {
            black_box(head.keep_alive());
            len
        }
        other => panic!("{other:?}"),
    }
}

fn chunked_body() -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..64 {
        let data = vec![b'a' + (i % 26) as u8; 256];
        body.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

fn write_small_200(out: &mut Vec<u8>, date: &DateCache) {
    let mut response = ResponseWriter::new(out, StatusCode::OK, date);
    response.header("Content-Type", b"text/plain").unwrap();
    response.body(b"Hello, World!");
}

fn benches(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("http");

    group.throughput(Throughput::Bytes(CHROMIUM_GET.len() as u64));
    group.bench_function("parse_chromium_get", |b| {
        b.iter(|| parse_one(black_box(CHROMIUM_GET), &limits))
    });

    let pipelined: Vec<u8> = SMALL_GET.repeat(16);
    group.throughput(Throughput::Elements(16));
    group.bench_function("parse_16_pipelined_gets", |b| {
        b.iter(|| {
            let mut at = 0;
            while at < pipelined.len() {
                at += parse_one(black_box(&pipelined[at..]), &limits);
            }
            at
        })
    });

    let body = chunked_body();
    let mut out = Vec::with_capacity(64 * 256);
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("chunked_decode_64x256B", |b| {
        b.iter(|| {
            out.clear();
            let progress = ChunkedDecoder::new(&limits)
                .decode(black_box(&body), &mut out)
                .unwrap();
            assert!(progress.done);
        })
    });

    let date = DateCache::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let mut out = Vec::with_capacity(256);
    group.throughput(Throughput::Elements(1));
    group.bench_function("write_200_date_13B_body", |b| {
        b.iter(|| {
            out.clear();
            write_small_200(&mut out, black_box(&date));
            black_box(out.len())
        })
    });
    group.finish();
}

/// Run each hot path many times and count allocations.
fn check_allocations() {
    let limits = Limits::default();
    let date = DateCache::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let body = chunked_body();
    let mut response = Vec::with_capacity(256);
    let mut decoded = Vec::with_capacity(64 * 256);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..10_000 {
        parse_one(CHROMIUM_GET, &limits);
        response.clear();
        write_small_200(&mut response, &date);
        decoded.clear();
        ChunkedDecoder::new(&limits)
            .decode(&body, &mut decoded)
            .unwrap();
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    println!(
        "allocations in 10,000 × (parse head + write 200 + decode chunked body), buffers reused: {allocations}"
    );
    assert_eq!(allocations, 0);
}

criterion_group!(http, benches);

fn main() {
    check_allocations();
    http();
    Criterion::default().configure_from_args().final_summary();
}
