//! Micro-benchmarks of the RFC 6455 codec: decoding a small masked text frame, a 64 KiB masked
//! binary frame (whole, and arriving in 16 KiB reads), and `apply_mask` beside a plain
//! `copy_from_slice` of the same sizes (the floor any pass over the bytes pays).
//!
//! Decoding unmasks in place, and masking is its own inverse: decoding the same buffer again
//! re-masks it, so each iteration does the same work without restoring the input. The text
//! key keeps the high bit of every byte clear, so both states of the text payload are ASCII.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use imphnen_protocol::ws::mask::unmask_into;
use imphnen_protocol::ws::{Decoder, DecoderConfig, apply_mask, encode_binary, encode_text};

const TEXT_KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws_decode");

    let mut text = Vec::new();
    encode_text(&mut text, Some(TEXT_KEY), "twenty bytes of text");
    group.throughput(Throughput::Bytes(20));
    group.bench_function("masked_text_20B", |b| {
        let mut decoder = Decoder::new(DecoderConfig::default());
        b.iter(|| {
            let decoded = decoder.decode(black_box(&mut text)).unwrap();
            black_box(decoded.event);
        })
    });

    let payload: Vec<u8> = (0..65536u32).map(|i| i as u8).collect();
    let mut binary = Vec::new();
    encode_binary(&mut binary, Some(KEY), &payload);
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.bench_function("masked_binary_64KiB", |b| {
        let mut decoder = Decoder::new(DecoderConfig::default());
        b.iter(|| {
            let decoded = decoder.decode(black_box(&mut binary)).unwrap();
            black_box(decoded.event);
        })
    });

    group.bench_function("masked_binary_64KiB_in_16KiB_reads", |b| {
        let mut decoder = Decoder::new(DecoderConfig::default());
        b.iter(|| {
            for chunk in binary.chunks_mut(16 << 10) {
                let decoded = decoder.decode(black_box(chunk)).unwrap();
                black_box(decoded.event);
            }
        })
    });
    group.finish();
}

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws_mask");
    for size in [64usize, 1 << 10, 16 << 10, 64 << 10] {
        group.throughput(Throughput::Bytes(size as u64));
        let source = vec![0x5au8; size];
        let mut buf = vec![0u8; size];
        // Unmasking received bytes into a kept message buffer (one read, one write).
        let mut kept = Vec::with_capacity(size);
        group.bench_with_input(BenchmarkId::new("unmask_into", size), &size, |b, _| {
            b.iter(|| {
                kept.clear();
                unmask_into(black_box(&mut kept), black_box(&source), black_box(KEY), 0)
            })
        });
        group.bench_with_input(BenchmarkId::new("apply_mask", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), black_box(KEY), 0))
        });
        group.bench_with_input(BenchmarkId::new("copy_from_slice", size), &size, |b, _| {
            b.iter(|| black_box(&mut buf).copy_from_slice(black_box(&source)))
        });
    }
    group.finish();
}

criterion_group!(benches, decode, mask);
criterion_main!(benches);
