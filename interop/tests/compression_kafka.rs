//! Compressed batches against Apache Kafka 4.1.1 (`scripts/kafka`), which
//! decompresses every batch to validate it, then (with the topic's default
//! `compression.type=producer`) stores the producer's bytes as they are:
//!
//! - every codec at every level Kafka has for it (zstd at a spread of its
//!   range; lz4 compresses alike at every level here) is accepted, and the
//!   rdkafka consumer reads every record back field by field;
//! - a wrong frame (records that are not what the codec bits say) is
//!   refused, not stored, and its records come back to the application.
//!
//! Needs Kafka installed (`scripts/kafka install`); without it the test
//! fails saying so.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_producer_interop::kafka::KafkaCluster;
use kafka_producer_interop::roundtrip::{self, Sent};
use kafka_producer_proto::wire::compression::{
    Codec, CodecFactory, Compression, CompressionError, builtin,
};
use kafka_producer_proto::{Config, ConfigBuilder, Event, KafkaCode, Record};
use kafka_producer_tokio::TokioDriver;

const RECORDS: usize = 300;

/// Every codec and level tried, each on a partition of its own.
fn cases() -> Vec<(Compression, i32)> {
    let mut cases = Vec::new();
    for level in [-1, 1, 2, 3, 4, 5, 6, 7, 8, 9] {
        cases.push((Compression::Gzip, level));
    }
    cases.push((Compression::Snappy, 0));
    for level in [1, 9, 17] {
        cases.push((Compression::Lz4, level));
    }
    for level in [-131_072, -1_000, -22, -5, -1, 0, 1, 3, 6, 9, 12, 16, 19, 22] {
        cases.push((Compression::Zstd, level));
    }
    cases
}

fn config(kafka: &KafkaCluster, compression: Compression, level: i32) -> ConfigBuilder {
    let mut b = Config::builder();
    b.bootstrap_servers(kafka.bootstrap())
        .compression_type(compression);
    match compression {
        Compression::Gzip => b.compression_gzip_level(level),
        Compression::Lz4 => b.compression_lz4_level(level),
        Compression::Zstd => b.compression_zstd_level(level),
        _ => &mut b,
    };
    b
}

fn to_record(topic: &str, partition: i32, i: u64, s: &Sent) -> Record<u64> {
    let mut r = Record::new(topic)
        .timestamp(s.timestamp)
        .partition(partition)
        .user(i);
    r.key = s.key.clone().map(Bytes::from);
    r.value = s.value.clone().map(Bytes::from);
    for (k, v) in &s.headers {
        r = r.header(k.clone(), v.clone().map(Bytes::from));
    }
    r
}

/// Sends `sent` to one partition and returns every terminal event.
async fn produce(config: Config, topic: &str, partition: i32, sent: &[Sent]) -> Vec<Event<u64>> {
    let mut d: TokioDriver<u64> = TokioDriver::from_config(config);
    for (i, s) in sent.iter().enumerate() {
        d.send(to_record(topic, partition, i as u64, s))
            .await
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    d.flush().await;
    let events = d.take_events();
    d.close().await;
    events
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn kafka_accepts_every_codec_at_every_level_and_the_consumer_reads_it_back() {
    let kafka = KafkaCluster::shared();
    let topic = "kpp-compression-levels";
    let cases = cases();
    kafka.create_topic(topic, cases.len() as i32, 1, &[]);
    let sent: Vec<Sent> = (0..RECORDS).map(roundtrip::record).collect();
    let runtime = runtime();
    let mut offsets: BTreeMap<(i32, i64), u64> = BTreeMap::new();
    for (partition, (compression, level)) in cases.iter().enumerate() {
        let partition = partition as i32;
        let config = config(kafka, *compression, *level).build().unwrap();
        let events = runtime.block_on(produce(config, topic, partition, &sent));
        let mut delivered = 0;
        for e in events {
            match e {
                Event::Delivered {
                    user,
                    partition: p,
                    offset,
                    ..
                } => {
                    assert_eq!(p, partition);
                    let offset = offset.expect("acks=all gives offsets");
                    assert!(offsets.insert((p, offset), user).is_none());
                    delivered += 1;
                }
                Event::Failed { error, .. } => {
                    panic!("{compression} level {level}: Kafka refused a record: {error}")
                }
                _ => {}
            }
        }
        assert_eq!(delivered, RECORDS, "{compression} level {level}");
    }
    let got = roundtrip::read_back(
        kafka.bootstrap(),
        topic,
        cases.len() as i32,
        RECORDS * cases.len(),
    );
    for (partition, (compression, level)) in cases.iter().enumerate() {
        let records = &got[&(partition as i32)];
        assert_eq!(records.len(), RECORDS, "{compression} level {level}");
        for (offset, record) in records {
            let user = offsets[&(partition as i32, *offset)];
            assert_eq!(
                record, &sent[user as usize],
                "{compression} level {level}: record {user} at offset {offset}"
            );
        }
        // In send order.
        let users: Vec<u64> = records
            .iter()
            .map(|(o, _)| offsets[&(partition as i32, *o)])
            .collect();
        assert_eq!(users, (0..RECORDS as u64).collect::<Vec<_>>());
    }
}

/// Marks its batches with one codec and writes another's frame.
struct Mislabelled {
    says: Compression,
    writes: Box<dyn Codec>,
}

impl Codec for Mislabelled {
    fn compression(&self) -> Compression {
        self.says
    }
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        self.writes.compress(input, out)
    }
    fn decompress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), CompressionError> {
        self.writes.decompress(input, out, limit)
    }
}

#[test]
fn kafka_refuses_a_wrong_frame_and_the_records_come_back() {
    let kafka = KafkaCluster::shared();
    let topic = "kpp-compression-wrong-frame";
    // gzip bits over a zstd frame, lz4 bits over a snappy block.
    let cases = [
        (Compression::Gzip, Compression::Zstd),
        (Compression::Lz4, Compression::Snappy),
    ];
    kafka.create_topic(topic, cases.len() as i32, 1, &[]);
    let sent: Vec<Sent> = (0..50).map(roundtrip::record).collect();
    let runtime = runtime();
    for (partition, (says, writes)) in cases.into_iter().enumerate() {
        let factory = CodecFactory::new(move || {
            Box::new(Mislabelled {
                says,
                writes: builtin(writes, 1).unwrap(),
            })
        });
        let config = config(kafka, says, 1)
            .compression_codec(factory)
            .build()
            .unwrap();
        let events = runtime.block_on(produce(config, topic, partition as i32, &sent));
        let mut failed = 0;
        for e in events {
            match e {
                Event::Failed { record, error, .. } => {
                    failed += 1;
                    // Kafka's decompression throws a plain KafkaException,
                    // which it answers as UNKNOWN_SERVER_ERROR (an
                    // idempotent producer, as here by default, cannot tell
                    // that answer from a write, and says so).
                    assert_eq!(
                        error.code(),
                        Some(KafkaCode::UnknownServerError),
                        "{says} over {writes}: {error}"
                    );
                    let s = &sent[record.user as usize];
                    assert_eq!(record.value.as_deref(), s.value.as_deref());
                    assert_eq!(record.key.as_deref(), s.key.as_deref());
                }
                Event::Delivered { user, .. } => {
                    panic!("{says} over {writes}: record {user} was stored")
                }
                _ => {}
            }
        }
        assert_eq!(failed, sent.len(), "{says} over {writes}");
    }
    // Nothing was stored: an uncompressed marker written after the refused
    // batches is the first record of each partition.
    let marker = Sent {
        timestamp: 1,
        key: None,
        value: Some(b"marker".to_vec()),
        headers: Vec::new(),
    };
    for partition in 0..cases.len() as i32 {
        let config = Config::builder()
            .bootstrap_servers(kafka.bootstrap())
            .build()
            .unwrap();
        let events = runtime.block_on(produce(
            config,
            topic,
            partition,
            std::slice::from_ref(&marker),
        ));
        assert!(events.iter().any(|e| matches!(e, Event::Delivered { .. })));
    }
    let got = roundtrip::read_back(kafka.bootstrap(), topic, cases.len() as i32, cases.len());
    for records in got.values() {
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].0, 0, "the marker is at offset 0");
        assert_eq!(records[0].1, marker);
    }
}
