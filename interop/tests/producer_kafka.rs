//! The producer (tokio driver) against Apache Kafka 4.1.1: every kind of
//! record a producer must carry, and acks 0, 1 and all.
//!
//! These tests share one single-broker cluster (`KafkaCluster::shared`),
//! each on topics of its own, and read everything they produced back with
//! the rdkafka consumer: field by field, at the offsets the producer
//! reported, in send order per partition, nothing missing and nothing
//! extra. Kafka must be installed (`scripts/kafka install`); without it
//! they fail and say so.

mod kafka_support;

use std::time::Duration;

use kafka_producer_interop::kafka::KafkaCluster;
use kafka_producer_tokio::{Acks, Record};
use kafka_support::{
    LogsOnFailure, base_timestamp, config, murmur2_partition, record, runtime, send_all,
};

const PARTITIONS: i32 = 4;
/// A value just under the broker's default `message.max.bytes`
/// (1,048,588 bytes for the whole batch).
const LARGE_VALUE: usize = 1_000_000;

/// Record `i` of the mixed set: null and empty keys and values, unicode
/// keys, values and header names, up to 40 headers (null, empty and
/// repeated ones among them), explicit partitions, timestamps given and
/// left to the producer, and one 1,000,000-byte value.
fn mixed(topic: &str, i: usize, large_at: usize) -> Record {
    let key = match i % 6 {
        0 => None,
        1 => Some(Vec::new()),
        2 => Some(format!("ключ-{i}-🔑").into_bytes()),
        _ => Some(format!("key-{}", i % 5000).into_bytes()),
    };
    let value = if i == large_at {
        Some((0..LARGE_VALUE).map(|b| (b % 251) as u8).collect())
    } else {
        match i % 7 {
            0 => None,
            1 => Some(Vec::new()),
            2 => Some((0..=255u8).collect()),
            3 => Some(format!("値-{i}-ü-🎉-{}", "ß".repeat(i % 50)).into_bytes()),
            _ => Some(format!("value-{i}-{}", "x".repeat(i % 97)).into_bytes()),
        }
    };
    let headers: Vec<(String, Option<Vec<u8>>)> = match i % 5 {
        0 => vec![],
        1 => (0..40)
            .map(|h| {
                let v = match h % 4 {
                    0 => None,
                    1 => Some(Vec::new()),
                    _ => Some(format!("{i}/{h}").into_bytes()),
                };
                (format!("h{h}-ü"), v)
            })
            .collect(),
        2 => vec![("trace-id".into(), Some(i.to_be_bytes().to_vec()))],
        3 => vec![
            ("dup".into(), Some(b"first".to_vec())),
            ("dup".into(), Some(b"second".to_vec())),
        ],
        _ => vec![("😀".into(), None)],
    };
    let mut r = record(topic, key, value, headers);
    if i % 10 == 9 {
        r = r.partition((i / 10 % PARTITIONS as usize) as i32);
    }
    if !i.is_multiple_of(3) {
        // Steps backwards now and then: negative deltas within a batch.
        let t = base_timestamp() + (i as i64) * 3 - if i.is_multiple_of(11) { 50 } else { 0 };
        r = r.timestamp(t);
    }
    r
}

#[test]
fn a_hundred_thousand_mixed_records() {
    let cluster = KafkaCluster::shared();
    let _logs = LogsOnFailure(cluster);
    let topic = "mixed";
    cluster.create_topic(topic, PARTITIONS, 1, &[]);
    let count = 100_000;
    let large_at = 54_321;
    let records: Vec<Record> = (0..count).map(|i| mixed(topic, i, large_at)).collect();
    let mut b = config(cluster.bootstrap());
    b.linger(Duration::from_millis(5));
    let run = runtime().block_on(send_all(b.build().unwrap(), records));
    run.report("mixed");
    run.assert_all_delivered();

    // Placement: explicit partitions are kept (checked with the log);
    // keyed records go where Java's murmur2 puts them.
    let mut keyed = 0;
    for (i, (r, result)) in run.sent.iter().zip(&run.results).enumerate() {
        let d = result.as_ref().expect("delivered");
        if r.partition.is_none()
            && let Some(key) = &r.key
        {
            keyed += 1;
            assert_eq!(
                d.partition,
                murmur2_partition(key, PARTITIONS),
                "record {i}: key {:?}",
                String::from_utf8_lossy(key)
            );
        }
    }
    assert!(keyed > 60_000, "{keyed} keyed records checked");
    // The producer stamped the records sent without a timestamp with the
    // time it took them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (r, result) in run.sent.iter().zip(&run.results) {
        if r.timestamp.is_none() {
            let t = result.as_ref().unwrap().timestamp;
            assert!(
                (now - 600_000..=now).contains(&t),
                "CreateTime {t} is not from this run"
            );
        }
    }

    let checked = run.check_log(cluster, topic, PARTITIONS);
    assert_eq!(checked.in_log, count);
    assert_eq!(
        checked.offsets_checked, count,
        "acks=all reports every offset"
    );
    assert_eq!(run.metrics.record_send_total, count as u64);
    assert_eq!(run.metrics.record_error_total, 0);
}

/// acks 0, 1 and all, each without idempotence (acks 0 and 1 cannot have
/// it) and all with it, each to a topic of its own: every record lands
/// once, in order; offsets are known for acks 1 and all.
#[test]
fn acks_0_1_and_all() {
    let cluster = KafkaCluster::shared();
    let _logs = LogsOnFailure(cluster);
    let count = 20_000;
    for (name, acks, idempotent) in [
        ("acks-0", Acks::None, false),
        ("acks-1", Acks::Leader, false),
        ("acks-all", Acks::All, false),
        ("acks-all-idempotent", Acks::All, true),
    ] {
        cluster.create_topic(name, PARTITIONS, 1, &[]);
        let records: Vec<Record> = (0..count).map(|i| mixed(name, i, usize::MAX)).collect();
        let mut b = config(cluster.bootstrap());
        b.acks(acks)
            .enable_idempotence(idempotent)
            .linger(Duration::from_millis(2));
        let run = runtime().block_on(send_all(b.build().unwrap(), records));
        run.report(name);
        run.assert_all_delivered();
        let checked = run.check_log(cluster, name, PARTITIONS);
        assert_eq!(checked.in_log, count, "{name}");
        let offsets_known = if acks == Acks::None { 0 } else { count };
        assert_eq!(
            checked.offsets_checked, offsets_known,
            "{name}: offsets reported"
        );
    }
}
