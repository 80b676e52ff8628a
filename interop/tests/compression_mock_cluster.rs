//! Compressed batches against librdkafka's mock cluster, read back by the
//! rdkafka consumer, whose own decoders (zlib, its bundled snappy and LZ4,
//! libzstd) must decompress every batch: each codec, at several levels,
//! delivers every record, and each comes back field by field (key, value,
//! headers, timestamp) at the offset its `Delivered` event gave, in send
//! order per partition. A frame librdkafka could not decompress would be a
//! consumer error, which fails the test.
//!
//! The mock stores batches as they come without decompressing them; that
//! the broker accepts every codec at every level is checked against Apache
//! Kafka itself.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_producer_interop::roundtrip::{self, Sent};
use kafka_producer_proto::wire::compression::Compression;
use kafka_producer_proto::{Config, Event, Record};
use kafka_producer_tokio::TokioDriver;
use rdkafka::mocking::MockCluster;

const PARTITIONS: i32 = 3;
const RECORDS: usize = 3_000;

/// Every codec with the levels tried: Kafka's range ends and defaults.
const CASES: &[(Compression, &str, &[i32])] = &[
    (Compression::Gzip, "compression.gzip.level", &[-1, 1, 9]),
    (Compression::Snappy, "compression.gzip.level", &[-1]),
    (Compression::Lz4, "compression.lz4.level", &[1, 9, 17]),
    (
        Compression::Zstd,
        "compression.zstd.level",
        &[-131_072, -5, 1, 3, 22],
    ),
];

fn to_record(topic: &str, i: u64, s: &Sent) -> Record<u64> {
    let mut r = Record::new(topic).timestamp(s.timestamp).user(i);
    r.key = s.key.clone().map(Bytes::from);
    r.value = s.value.clone().map(Bytes::from);
    for (k, v) in &s.headers {
        r = r.header(k.clone(), v.clone().map(Bytes::from));
    }
    r
}

/// Produces `sent` to `topic` with `config`; the delivered records'
/// (partition, offset) by index, and the compression rate seen.
async fn produce(config: Config, topic: &str, sent: &[Sent]) -> (BTreeMap<u64, (i32, i64)>, f64) {
    let mut d: TokioDriver<u64> = TokioDriver::from_config(config);
    for (i, s) in sent.iter().enumerate() {
        d.send(to_record(topic, i as u64, s))
            .await
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    d.flush().await;
    let mut delivered = BTreeMap::new();
    for e in d.take_events() {
        match e {
            Event::Delivered {
                user,
                partition,
                offset,
                ..
            } => {
                let offset = offset.expect("acks=all gives offsets");
                assert!(delivered.insert(user, (partition, offset)).is_none());
            }
            Event::Failed { record, error, .. } => {
                panic!("{topic}: record {} failed: {error}", record.user)
            }
            _ => {}
        }
    }
    let rate = d.producer().metrics().compression_rate_avg;
    d.close().await;
    (delivered, rate)
}

#[test]
fn every_codec_at_several_levels_is_read_back_by_the_rdkafka_consumer() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cluster: MockCluster<'static, rdkafka::producer::DefaultProducerContext> =
        MockCluster::new(3).expect("librdkafka mock cluster");
    let sent: Vec<Sent> = (0..RECORDS).map(roundtrip::record).collect();
    for (compression, level_key, levels) in CASES {
        for level in *levels {
            let topic = format!("compressed-{compression}-{level}");
            cluster
                .create_topic(&topic, PARTITIONS, 1)
                .expect("create topic");
            let config = Config::from_properties(&format!(
                "bootstrap.servers={}\ncompression.type={compression}\n{level_key}={level}\n\
                 linger.ms=5\nretry.backoff.ms=10",
                cluster.bootstrap_servers()
            ))
            .expect("valid config");
            let (delivered, rate) = runtime.block_on(produce(config, &topic, &sent));
            assert_eq!(delivered.len(), RECORDS, "{topic}");
            // zstd's fastest level barely compresses these records.
            let most = if *level < -100 { 1.01 } else { 0.9 };
            assert!(
                rate > 0.0 && rate < most,
                "{topic}: compression rate {rate}"
            );

            let got =
                roundtrip::read_back(&cluster.bootstrap_servers(), &topic, PARTITIONS, RECORDS);
            let mut at: BTreeMap<(i32, i64), &Sent> = BTreeMap::new();
            for (p, records) in &got {
                for (offset, record) in records {
                    assert!(
                        at.insert((*p, *offset), record).is_none(),
                        "{topic}: read twice"
                    );
                }
            }
            assert_eq!(at.len(), RECORDS, "{topic}: records read back");
            for (user, (partition, offset)) in &delivered {
                let read = at.get(&(*partition, *offset)).unwrap_or_else(|| {
                    panic!("{topic}: record {user} not at {partition}/{offset}")
                });
                assert_eq!(*read, &sent[*user as usize], "{topic}: record {user}");
            }
            // Send order within each partition: offsets grow with the index.
            let mut last: BTreeMap<i32, (u64, i64)> = BTreeMap::new();
            for (user, (partition, offset)) in &delivered {
                if let Some((u, o)) = last.insert(*partition, (*user, *offset)) {
                    assert!(o < *offset, "{topic}: record {user} before record {u}");
                }
            }
        }
    }
}
