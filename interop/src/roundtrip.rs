//! Produce records through the wire codec to a real cluster and read them
//! back with the rdkafka consumer. Shared by the interop test, which
//! asserts on the result, and the `wire_roundtrip` example, which prints it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_producer_proto::KafkaCode;
use kafka_producer_proto::wire::Uuid;
use kafka_producer_proto::wire::messages::metadata::MetadataRequestTopic;
use kafka_producer_proto::wire::messages::produce::{PartitionProduceData, TopicProduceData};
use kafka_producer_proto::wire::messages::{ApiKey, MetadataRequest, ProduceRequest};
use kafka_producer_proto::wire::record_batch::{BatchBuilder, ProducerState};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use crate::wire_client::Connection;

/// One record as sent, and as it must be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Records covering what a producer must carry: null and empty keys, null,
/// empty and binary values, no headers, several headers, null header values,
/// timestamps that step backwards (negative deltas within a batch).
pub fn record(i: usize) -> Sent {
    let key = match i % 5 {
        0 => None,
        1 => Some(Vec::new()),
        _ => Some(format!("key-{i}").into_bytes()),
    };
    let value = match i % 7 {
        0 => None,
        1 => Some(Vec::new()),
        2 => Some((0..=255u8).collect()),
        _ => Some(format!("value-{i}-{}", "x".repeat(i % 97)).into_bytes()),
    };
    let headers = match i % 4 {
        0 => vec![],
        1 => vec![
            ("h".to_string(), Some(b"v".to_vec())),
            ("null-header".to_string(), None),
        ],
        2 => vec![("trace-id".to_string(), Some(i.to_be_bytes().to_vec()))],
        _ => vec![("empty".to_string(), Some(Vec::new()))],
    };
    let timestamp = 1_700_000_000_000 + (i as i64) * 3 - if i.is_multiple_of(11) { 50 } else { 0 };
    Sent {
        timestamp,
        key,
        value,
        headers,
    }
}

fn encode_batch(records: &[Sent]) -> bytes::Bytes {
    let mut b = BatchBuilder::new(
        BytesMut::with_capacity(16 * 1024),
        ProducerState::NONE,
        false,
    );
    for r in records {
        let headers: Vec<(&str, Option<&[u8]>)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        b.append(
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            headers.iter().copied(),
        )
        .unwrap();
    }
    b.finish()
}

/// What a produce run did.
pub struct Produced {
    /// Per partition, the records in the order they were sent.
    pub sent: BTreeMap<i32, Vec<Sent>>,
    /// The ApiVersions version the bootstrap broker accepted, and the
    /// errors seen on the way there.
    pub api_versions_version: i16,
    pub negotiation_errors: Vec<KafkaCode>,
    pub metadata_version: i16,
    pub produce_version: i16,
    pub brokers: usize,
    pub requests: usize,
    pub batches: usize,
    pub elapsed: Duration,
}

/// Produces `count` records round-robin over the topic's partitions, in
/// batches of uneven size, one Produce request per leader per round
/// carrying a batch for each of that leader's partitions. Panics on any
/// error or on a base offset that does not follow from what was sent.
pub fn produce(bootstrap: &str, topic: &str, count: usize) -> Produced {
    let started = Instant::now();
    let first = bootstrap.split(',').next().unwrap();
    let mut conn = Connection::connect(first);
    let metadata_version = conn.version_for(ApiKey::Metadata);
    let metadata = conn.call(&MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic.into())),
    ])));
    let brokers: BTreeMap<i32, String> = metadata
        .brokers
        .iter()
        .map(|b| (b.node_id, format!("{}:{}", b.host, b.port)))
        .collect();
    let t = metadata
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some(topic))
        .expect("topic in metadata");
    assert_eq!(
        KafkaCode::from_i16(t.error_code),
        KafkaCode::None,
        "topic error"
    );
    let leaders: BTreeMap<i32, i32> = t
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.leader_id))
        .collect();
    let partitions = leaders.len();

    let mut sent: BTreeMap<i32, Vec<Sent>> = BTreeMap::new();
    for i in 0..count {
        sent.entry((i % partitions) as i32)
            .or_default()
            .push(record(i));
    }
    let batch_sizes = [1usize, 50, 7, 100, 142];
    let mut cursors: BTreeMap<i32, usize> = sent.keys().map(|p| (*p, 0)).collect();
    let mut connections: BTreeMap<i32, Connection> = BTreeMap::new();
    let (mut round, mut requests, mut batches, mut produce_version) = (0, 0, 0, 0);
    while cursors.iter().any(|(p, c)| *c < sent[p].len()) {
        let mut per_leader: BTreeMap<i32, Vec<(i32, usize, usize)>> = BTreeMap::new();
        for (p, cursor) in cursors.iter_mut() {
            let total = sent[p].len();
            if *cursor == total {
                continue;
            }
            let n = batch_sizes[(round + *p as usize) % batch_sizes.len()].min(total - *cursor);
            per_leader
                .entry(leaders[p])
                .or_default()
                .push((*p, *cursor, n));
            *cursor += n;
        }
        round += 1;
        for (leader, work) in per_leader {
            let conn = connections
                .entry(leader)
                .or_insert_with(|| Connection::connect(&brokers[&leader]));
            let partition_data = work
                .iter()
                .map(|(p, start, n)| {
                    PartitionProduceData::default()
                        .with_index(*p)
                        .with_records(Some(encode_batch(&sent[p][*start..*start + *n])))
                })
                .collect();
            let request = ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(10_000)
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name(topic.into())
                        .with_topic_id(t.topic_id)
                        .with_partition_data(partition_data),
                ]);
            // v13 names the topic by id only: without one, v12 at most.
            produce_version = conn.version_for(ApiKey::Produce);
            if t.topic_id == Uuid::default() {
                produce_version = produce_version.min(12);
            }
            let response = conn.call_version(produce_version, &request);
            requests += 1;
            batches += work.len();
            assert_eq!(response.responses.len(), 1);
            let parts = &response.responses[0].partition_responses;
            assert_eq!(parts.len(), work.len());
            for (p, start, _) in &work {
                let r = parts
                    .iter()
                    .find(|r| r.index == *p)
                    .expect("a response for every partition sent");
                assert_eq!(
                    KafkaCode::from_i16(r.error_code),
                    KafkaCode::None,
                    "partition {p}"
                );
                // Offsets are contiguous from 0 per partition: the broker
                // counted exactly the records we encoded.
                assert_eq!(r.base_offset, *start as i64, "partition {p}: base offset");
            }
        }
    }
    Produced {
        sent,
        api_versions_version: conn.api_versions_version,
        negotiation_errors: conn.negotiation_errors.clone(),
        metadata_version,
        produce_version,
        brokers: brokers.len(),
        requests,
        batches,
        elapsed: started.elapsed(),
    }
}

/// Reads `count` records of `topic` from the beginning of each of its
/// `partitions` with the rdkafka consumer: per partition, (offset, record).
pub fn read_back(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: usize,
) -> BTreeMap<i32, Vec<(i64, Sent)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "kpp-read-back")
        .set("enable.auto.commit", "false")
        .create()
        .expect("rdkafka consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut got: BTreeMap<i32, Vec<(i64, Sent)>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut read = 0;
    while read < count {
        assert!(
            Instant::now() < deadline,
            "read back only {read} of {count} records"
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = message.expect("consumer error");
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        let record = Sent {
            timestamp: m.timestamp().to_millis().expect("create time"),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
        };
        got.entry(m.partition())
            .or_default()
            .push((m.offset(), record));
        read += 1;
    }
    got
}
