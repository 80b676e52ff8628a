//! Record batch encoding and decoding throughput.
//!
//! Two shapes, each record with a 16-byte key and no headers: 150 records
//! with 100-byte values (18,983 bytes, a little over the default
//! `batch.size` of 16 KiB) and 100 records with 10 KiB values (1,026,833
//! bytes, just under the default `max.request.size` of 1 MiB). Encoding
//! reuses one buffer from batch to batch, as a producer does once a batch's
//! bytes are no longer needed. Each benchmark reports records/s and bytes/s.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kafka_producer_proto::wire::Reader;
use kafka_producer_proto::wire::record_batch::{BatchBuilder, ProducerState, RecordBatch};

struct Shape {
    name: &'static str,
    records: usize,
    value_len: usize,
}

const SHAPES: [Shape; 2] = [
    Shape {
        name: "100B_values_x150",
        records: 150,
        value_len: 100,
    },
    Shape {
        name: "10KiB_values_x100",
        records: 100,
        value_len: 10 * 1024,
    },
];

const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

fn key(i: usize) -> [u8; 16] {
    (i as u128).to_be_bytes()
}

fn encode(buf: BytesMut, records: usize, value: &[u8]) -> Bytes {
    let mut builder = BatchBuilder::new(buf, ProducerState::new(1000, 0, 0), false);
    for i in 0..records {
        let key = key(i);
        builder
            .append(BASE_TIMESTAMP + i as i64, Some(&key), Some(value), [])
            .expect("bench records are small");
    }
    builder.finish()
}

fn throughput(shape: &Shape, batch: &Bytes) -> Throughput {
    Throughput::ElementsAndBytes {
        elements: shape.records as u64,
        bytes: batch.len() as u64,
    }
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_batch_encode");
    for shape in &SHAPES {
        let value = vec![0x5a; shape.value_len];
        let sample = encode(BytesMut::new(), shape.records, &value);
        group.throughput(throughput(shape, &sample));
        group.bench_function(BenchmarkId::from_parameter(shape.name), |b| {
            let mut spare = Some(BytesMut::with_capacity(sample.len()));
            b.iter(|| {
                let buf = spare
                    .take()
                    .unwrap_or_else(|| BytesMut::with_capacity(sample.len()));
                let batch = encode(buf, shape.records, black_box(&value));
                black_box(&batch);
                spare = batch.try_into_mut().ok();
            });
        });
    }
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_batch_decode");
    for shape in &SHAPES {
        let value = vec![0x5a; shape.value_len];
        let batch = encode(BytesMut::new(), shape.records, &value);
        group.throughput(throughput(shape, &batch));
        group.bench_function(BenchmarkId::from_parameter(shape.name), |b| {
            b.iter(|| {
                let mut r = Reader::new(black_box(batch.clone()));
                black_box(RecordBatch::decode(&mut r).expect("the batch is valid"))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_encode, bench_decode);
criterion_main!(benches);
