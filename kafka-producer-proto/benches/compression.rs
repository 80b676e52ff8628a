//! Compressed batch encoding: MB/s and ratio per codec, on realistic
//! records.
//!
//! A record is a JSON event like the ones most Kafka topics carry: a
//! 16-byte key, a user id, an event name from a small vocabulary, a path,
//! a UUID, a timestamp, a country, a device and (for the 1 KiB shape) a
//! free-text body drawn from a vocabulary; everything drawn from a seeded
//! generator, so runs compare. Two shapes: 100-byte and 1 KiB values, each
//! filling a 64 KiB records section (what a 16 KiB `batch.size` holds at a
//! ratio of 1:4).
//!
//! Each benchmark encodes the batch record by record and compresses it
//! with `BatchBuilder::finish_compressed` into a reused buffer, as the
//! producer does; throughput counts the uncompressed batch bytes. The
//! ratio (compressed batch / uncompressed batch) is printed before each
//! group, since criterion reports times only.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kafka_producer_proto::wire::compression::{Codec, Compression, builtin, decompress};
use kafka_producer_proto::wire::record_batch::{BatchBuilder, ProducerState};

const BASE_TIMESTAMP: i64 = 1_700_000_000_000;
const RECORDS_BYTES: usize = 64 * 1024;

/// xorshift64: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

const EVENTS: &[&str] = &[
    "page_view",
    "click",
    "add_to_cart",
    "checkout",
    "login",
    "logout",
    "search",
    "video_play",
];
const PATHS: &[&str] = &[
    "/",
    "/home",
    "/products/shoes",
    "/products/shirts",
    "/cart",
    "/account/settings",
    "/search?q=rust",
    "/blog/2024/kafka-producers",
];
const COUNTRIES: &[&str] = &["DE", "FR", "US", "BR", "JP", "IN", "GB", "NL"];
const DEVICES: &[&str] = &["ios", "android", "web-chrome", "web-firefox", "web-safari"];
const WORDS: &[&str] = &[
    "the",
    "order",
    "was",
    "shipped",
    "to",
    "customer",
    "after",
    "payment",
    "confirmed",
    "by",
    "bank",
    "delayed",
    "because",
    "of",
    "stock",
    "warehouse",
    "north",
    "returned",
    "item",
    "size",
    "color",
    "review",
    "stars",
    "great",
    "quality",
    "would",
    "buy",
    "again",
    "not",
];

fn event(rng: &mut Rng, i: usize, size: usize) -> Vec<u8> {
    let mut v = format!(
        "{{\"user_id\":{},\"event\":\"{}\",\"path\":\"{}\",\"session\":\"{:016x}{:016x}\",\
         \"ts\":{},\"country\":\"{}\",\"device\":\"{}\",\"seq\":{}",
        rng.next() % 1_000_000,
        rng.pick(EVENTS),
        rng.pick(PATHS),
        rng.next(),
        rng.next(),
        BASE_TIMESTAMP + i as i64 * 3,
        rng.pick(COUNTRIES),
        rng.pick(DEVICES),
        i,
    );
    if size > v.len() + 12 {
        v.push_str(",\"text\":\"");
        while v.len() < size - 2 {
            v.push_str(rng.pick(WORDS));
            v.push(' ');
        }
        v.truncate(size - 2);
        v.push_str("\"}");
    } else {
        v.push('}');
    }
    v.into_bytes()
}

struct Shape {
    name: &'static str,
    keys: Vec<[u8; 16]>,
    values: Vec<Vec<u8>>,
}

fn shape(name: &'static str, value_size: usize) -> Shape {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut keys, mut values, mut total) = (Vec::new(), Vec::new(), 0);
    while total < RECORDS_BYTES {
        let i = values.len();
        let value = event(&mut rng, i, value_size);
        total += value.len() + 16 + 8;
        keys.push(((rng.next() % 100_000) as u128).to_be_bytes());
        values.push(value);
    }
    Shape { name, keys, values }
}

fn builder(buf: BytesMut, shape: &Shape) -> BatchBuilder {
    let mut b = BatchBuilder::new(buf, ProducerState::new(1000, 0, 0), false);
    for (i, (k, v)) in shape.keys.iter().zip(&shape.values).enumerate() {
        b.append(BASE_TIMESTAMP + i as i64, Some(k), Some(v), [])
            .expect("bench records are small");
    }
    b
}

const CODECS: [(&str, Compression, i32); 7] = [
    ("gzip-1", Compression::Gzip, 1),
    ("gzip-default", Compression::Gzip, -1),
    ("snappy", Compression::Snappy, 0),
    ("lz4", Compression::Lz4, 9),
    ("zstd-1", Compression::Zstd, 1),
    ("zstd-default", Compression::Zstd, 3),
    ("zstd-9", Compression::Zstd, 9),
];

fn bench_encode(c: &mut Criterion) {
    for shape in [shape("100B_values", 100), shape("1KiB_values", 1024)] {
        let plain = builder(BytesMut::new(), &shape).finish();
        let mut group = c.benchmark_group(format!("compress/{}", shape.name));
        group.throughput(Throughput::Bytes(plain.len() as u64));
        println!(
            "{}: {} records, {} bytes uncompressed",
            shape.name,
            shape.values.len(),
            plain.len()
        );
        group.bench_function(BenchmarkId::from_parameter("none"), |b| {
            let mut buf = Some(BytesMut::with_capacity(plain.len()));
            b.iter(|| {
                let batch = builder(buf.take().unwrap(), &shape).finish_mut();
                black_box(&batch);
                buf = Some(batch);
            })
        });
        for (name, compression, level) in CODECS {
            let mut codec: Box<dyn Codec> = builtin(compression, level).unwrap();
            let mut out = Vec::new();
            let spare = builder(BytesMut::new(), &shape)
                .finish_compressed(codec.as_mut(), &mut out)
                .unwrap();
            let mut back = Vec::new();
            decompress(compression, &out[61..], &mut back, 1 << 24).unwrap();
            assert_eq!(back.len() + 61, plain.len());
            println!(
                "{}/{name}: {} -> {} bytes, ratio {:.3}",
                shape.name,
                plain.len(),
                out.len(),
                out.len() as f64 / plain.len() as f64
            );
            let mut buf = Some(spare);
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    let spare = builder(buf.take().unwrap(), &shape)
                        .finish_compressed(codec.as_mut(), &mut out)
                        .unwrap();
                    black_box(&out);
                    buf = Some(spare);
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_encode);
criterion_main!(benches);
