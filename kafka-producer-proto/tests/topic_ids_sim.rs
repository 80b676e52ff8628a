//! Produce v13 against the simulated cluster: topics named by the ids
//! metadata gave, answers matched by them, v12 whenever an id is missing,
//! and a topic deleted and created again (a new id) mid-run.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_producer_proto::sim::{SimCluster, SimNet};
use kafka_producer_proto::wire::{ApiKey, Uuid};
use kafka_producer_proto::{Config, ConfigBuilder, Event, Instant, KafkaCode, Producer, Record};

const START: Instant = Instant::from_millis(1_700_000_000_000);

fn net(cluster: SimCluster, tweak: impl FnOnce(&mut ConfigBuilder)) -> SimNet<u64> {
    let mut b = Config::builder();
    b.bootstrap_servers(&cluster.bootstrap_servers());
    tweak(&mut b);
    let producer = Producer::new(b.build().expect("valid config"), START);
    SimNet::new(producer, cluster, START)
}

fn cluster(partitions: usize) -> SimCluster {
    let mut c = SimCluster::new(3);
    c.create_topic("t", partitions);
    c
}

fn send(n: &mut SimNet<u64>, from: u64, count: u64) {
    for i in from..from + count {
        let now = n.now;
        n.producer
            .send(
                Record::new("t")
                    .value(format!("{i}"))
                    .partition((i % 2) as i32)
                    .user(i),
                now,
            )
            .unwrap_or_else(|e| panic!("send refused: {e}"));
    }
}

fn terminal(n: &SimNet<u64>) -> usize {
    n.events
        .iter()
        .filter(|e| matches!(e, Event::Delivered { .. } | Event::Failed { .. }))
        .count()
}

/// Every record delivered, each exactly once in the logs.
fn all_delivered_once(n: &SimNet<u64>, partitions: usize, count: u64) {
    let mut failed = Vec::new();
    for e in &n.events {
        if let Event::Failed { record, error, .. } = e {
            failed.push((record.user, error.clone()));
        }
    }
    assert!(failed.is_empty(), "failed: {failed:?}");
    let mut seen = BTreeMap::new();
    for p in 0..partitions {
        for r in n.cluster.log("t", p) {
            let v: u64 = std::str::from_utf8(r.value.as_deref().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            *seen.entry(v).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len() as u64, count);
    assert!(seen.values().all(|n| *n == 1), "a record written twice");
}

#[test]
fn produce_v13_names_topics_by_id_and_nothing_else() {
    let c = cluster(4);
    let id = c.topic_id("t").unwrap();
    assert!(!id.is_nil());
    let mut n = net(c, |_| {});
    send(&mut n, 0, 2000);
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 2000));
    all_delivered_once(&n, 4, 2000);
    assert!(!n.attempts.batches.is_empty());
    for a in &n.attempts.batches {
        assert_eq!(a.version, 13);
        // The request carried the id and no name: the answers were
        // matched by id (the cluster echoes no name either).
        assert_eq!((a.topic.as_str(), a.topic_id), ("", id));
    }
}

#[test]
fn without_a_topic_id_the_producer_speaks_v12_by_name() {
    let mut c = cluster(2);
    // A cluster that does not give topic ids in Metadata.
    c.topic_ids_in_metadata = false;
    let mut n = net(c, |_| {});
    send(&mut n, 0, 500);
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 500));
    all_delivered_once(&n, 2, 500);
    for a in &n.attempts.batches {
        assert_eq!(
            (a.version, a.topic.as_str(), a.topic_id),
            (12, "t", Uuid::NIL)
        );
    }
}

#[test]
fn a_broker_without_v13_gets_names() {
    let mut c = cluster(2);
    c.max_produce_version = 11;
    let mut n = net(c, |_| {});
    send(&mut n, 0, 500);
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 500));
    all_delivered_once(&n, 2, 500);
    for a in &n.attempts.batches {
        assert_eq!((a.version, a.topic.as_str()), (11, "t"));
    }
}

#[test]
fn unknown_topic_id_is_retried_after_a_metadata_refresh() {
    let mut c = cluster(2);
    c.inject(ApiKey::Produce, &[KafkaCode::UnknownTopicId; 2]);
    let mut n = net(c, |_| {});
    send(&mut n, 0, 10);
    n.producer.flush(n.now);
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 10));
    all_delivered_once(&n, 2, 10);
    let m = n.producer.metrics();
    assert_eq!(m.error_count(KafkaCode::UnknownTopicId), 2);
    // Each UNKNOWN_TOPIC_ID asked for fresh metadata.
    let metadata = n
        .requests
        .iter()
        .filter(|(_, _, api)| *api == ApiKey::Metadata)
        .count();
    assert!(metadata >= 2, "{metadata} Metadata requests");
}

/// The topic is deleted and created again while the producer runs: the
/// new topic has a new id, and leader epochs that start again at 0.
#[test]
fn a_topic_recreated_mid_run_is_found_under_its_new_id() {
    for idempotent in [false, true] {
        let mut c = cluster(2);
        // Leader epochs well above what the new topic starts with.
        for node in [1, 2, 0, 1] {
            c.set_leader("t", 0, node);
        }
        let old = c.topic_id("t").unwrap();
        let mut n = net(c, |b| {
            b.enable_idempotence(idempotent);
            if !idempotent {
                b.acks(kafka_producer_proto::Acks::Leader);
            }
        });
        send(&mut n, 0, 200);
        assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 200));
        all_delivered_once(&n, 2, 200);

        n.cluster.delete_topic("t");
        n.cluster.create_topic("t", 2);
        let new = n.cluster.topic_id("t").unwrap();
        assert_ne!(new, old);
        send(&mut n, 200, 200);
        assert!(
            n.run_until(Duration::from_secs(60), |n| terminal(n) == 400),
            "idempotent {idempotent}: {} of 400 terminal",
            terminal(&n)
        );
        // Everything sent after the recreation is in the new topic, once.
        let failed: Vec<_> = n
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Failed { record, error, .. } => Some((record.user, error.clone())),
                _ => None,
            })
            .collect();
        assert!(failed.is_empty(), "idempotent {idempotent}: {failed:?}");
        let stored: usize = (0..2).map(|p| n.cluster.log("t", p).len()).sum();
        assert_eq!(stored, 200, "idempotent {idempotent}");
        let last = n.attempts.batches.last().unwrap();
        assert_eq!((last.version, last.topic_id), (13, new));
        // Partition 0's leader of the new topic (node 0, epoch 0) was
        // believed although the old topic's epoch was 4.
        let to_new_leader = n
            .attempts
            .batches
            .iter()
            .filter(|a| a.topic_id == new && a.partition == 0)
            .count();
        assert!(to_new_leader > 0);
    }
}
