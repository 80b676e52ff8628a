//! Throughput of CRC-32C on the dispatching path (hardware where the CPU has
//! it) against the portable slicing-by-8, at record-batch-like sizes.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kafka_producer_proto::wire::crc32c::{crc32c, crc32c_portable};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("crc32c");
    for size in [1024usize, 16 * 1024, 64 * 1024] {
        // Non-constant bytes, so nothing about the input can be folded away.
        let data: Vec<u8> = (0..size)
            .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8)
            .collect();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("dispatch", size), &data, |b, d| {
            b.iter(|| crc32c(black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("portable", size), &data, |b, d| {
            b.iter(|| crc32c_portable(black_box(d)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
