//! The Producer against the simulated cluster, in virtual time: every
//! behaviour of the producer issue that needs exact timing or exact counts
//! (retries, backoff bounds, deadlines, throttling, splitting) is checked
//! here deterministically; the real-broker tests check the same paths for
//! truth.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_producer_proto::partitioner::partition_for_key;
use kafka_producer_proto::sim::{Latency, SimCluster, SimNet};
use kafka_producer_proto::wire::ApiKey;
use kafka_producer_proto::{
    Acks, Config, ConfigBuilder, Event, Instant, KafkaCode, ProduceError, Producer, Record,
    RecordId, SendErrorKind,
};

const START: Instant = Instant::from_millis(1_700_000_000_000);

fn builder(cluster: &SimCluster) -> ConfigBuilder {
    let mut b = Config::builder();
    b.bootstrap_servers(&cluster.bootstrap_servers());
    b
}

fn net(cluster: SimCluster, config: &mut ConfigBuilder) -> SimNet<u64> {
    let producer = Producer::new(config.build().expect("valid config"), START);
    SimNet::new(producer, cluster, START)
}

fn cluster(topic: &str, partitions: usize) -> SimCluster {
    let mut c = SimCluster::new(3);
    c.create_topic(topic, partitions);
    c
}

fn send(n: &mut SimNet<u64>, r: Record<u64>) -> RecordId {
    let now = n.now;
    n.producer
        .send(r, now)
        .unwrap_or_else(|e| panic!("send refused: {e}"))
}

/// Every terminal event, by user value.
fn outcomes(n: &SimNet<u64>) -> BTreeMap<u64, &Event<u64>> {
    let mut out = BTreeMap::new();
    for e in &n.events {
        let user = match e {
            Event::Delivered { user, .. } => *user,
            Event::Failed { record, .. } => record.user,
            _ => continue,
        };
        assert!(
            out.insert(user, e).is_none(),
            "two terminal events for record {user}"
        );
    }
    out
}

fn terminal(n: &SimNet<u64>) -> usize {
    n.events
        .iter()
        .filter(|e| matches!(e, Event::Delivered { .. } | Event::Failed { .. }))
        .count()
}

fn produce_requests(n: &SimNet<u64>) -> Vec<Instant> {
    n.requests
        .iter()
        .filter(|(_, _, api)| *api == ApiKey::Produce)
        .map(|(t, _, _)| *t)
        .collect()
}

#[test]
fn mixed_records_land_once_in_order_on_the_right_partitions() {
    let mut n = net(cluster("t", 4), &mut builder(&cluster("t", 4)));
    let count = 5_000u64;
    let mut sent: Vec<Record<u64>> = Vec::new();
    for i in 0..count {
        let mut r = Record::new("t").value(format!("v{i}")).user(i);
        if i % 3 != 0 {
            r = r.key(format!("key-{}", i % 50));
        }
        if i % 5 == 0 {
            r = r
                .header("h", Some(Bytes::from(format!("{i}"))))
                .header("null", None::<Bytes>);
        }
        sent.push(r.clone());
        send(&mut n, r);
    }
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == count as usize));
    let out = outcomes(&n);
    let mut per_partition: BTreeMap<i32, Vec<(i64, u64)>> = BTreeMap::new();
    for (user, e) in &out {
        let Event::Delivered {
            partition, offset, ..
        } = e
        else {
            panic!("record {user} failed: {e:?}")
        };
        let r = &sent[*user as usize];
        if let Some(key) = &r.key {
            assert_eq!(
                *partition as u32,
                partition_for_key(key, 4),
                "murmur2 placement of record {user}"
            );
        }
        let offset = offset.expect("acks=all gives offsets");
        let log = n.cluster.log("t", *partition as usize);
        let stored = &log[offset as usize];
        assert_eq!(
            (&stored.key, &stored.value),
            (&r.key, &r.value),
            "record {user}"
        );
        assert_eq!(stored.headers.len(), r.headers.len());
        per_partition
            .entry(*partition)
            .or_default()
            .push((offset, *user));
    }
    for (p, mut placed) in per_partition {
        let log = n.cluster.log("t", p as usize);
        assert_eq!(log.len(), placed.len(), "partition {p}: nothing duplicated");
        // In offset order, the records are in send order.
        placed.sort();
        assert!(
            placed.windows(2).all(|w| w[0].1 < w[1].1),
            "partition {p}: send order"
        );
    }
    let m = n.producer.metrics();
    assert_eq!(m.record_send_total, count);
    assert_eq!(m.record_error_total, 0);
    // Many partitions share requests.
    let requests = produce_requests(&n).len() as f64;
    assert!(m.records_per_request_avg > 1.0 && requests > 0.0);
}

#[test]
fn null_keys_stick_to_one_partition_per_batch() {
    let mut c = cluster("t", 4);
    c.create_topic("t", 4);
    let mut b = builder(&c);
    b.batch_size(1024).linger(Duration::from_millis(50));
    let mut n = net(c, &mut b);
    for i in 0..200u64 {
        send(&mut n, Record::new("t").value(vec![b'x'; 100]).user(i));
    }
    assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 200));
    let mut runs = 0;
    let mut last = -1;
    let mut used = std::collections::BTreeSet::new();
    for i in 0..200u64 {
        let Event::Delivered { partition, .. } = outcomes(&n)[&i] else {
            panic!()
        };
        if *partition != last {
            runs += 1;
            last = *partition;
        }
        used.insert(*partition);
    }
    // ~9 records per 1 KiB batch: runs of a partition, switching per batch.
    assert!((15..=40).contains(&runs), "{runs} runs");
    assert!(used.len() > 1);
}

#[test]
fn retriable_errors_are_retried_and_counted() {
    for (code, times) in [
        (KafkaCode::NotLeaderOrFollower, 3),
        (KafkaCode::NotEnoughReplicas, 10),
        (KafkaCode::RequestTimedOut, 1),
    ] {
        let mut c = cluster("t", 1);
        c.inject(ApiKey::Produce, &vec![code; times]);
        let mut n = net(c, &mut builder(&cluster("t", 1)));
        for i in 0..10u64 {
            send(&mut n, Record::new("t").value("v").user(i));
        }
        n.producer.flush(n.now);
        assert!(
            n.run_until(Duration::from_secs(60), |n| terminal(n) == 10),
            "{code}"
        );
        assert!(
            outcomes(&n)
                .values()
                .all(|e| matches!(e, Event::Delivered { .. })),
            "{code}"
        );
        let m = n.producer.metrics();
        // One batch of ten records, retried once per injected error.
        assert_eq!(m.batch_retry_total, times as u64, "{code}");
        assert_eq!(m.record_retry_total, 10 * times as u64, "{code}");
        assert_eq!(m.error_count(code), times as u64, "{code}");
        assert_eq!(n.cluster.log("t", 0).len(), 10, "{code}: exactly once");
    }
}

#[test]
fn retries_cap_the_attempts() {
    let mut c = cluster("t", 1);
    c.inject(ApiKey::Produce, &[KafkaCode::NotEnoughReplicas; 5]);
    let mut b = builder(&c);
    b.retries(2);
    let mut n = net(c, &mut b);
    send(&mut n, Record::new("t").value("v").user(1));
    assert!(n.run_until(Duration::from_secs(60), |n| terminal(n) == 1));
    let Event::Failed { error, record, .. } = outcomes(&n)[&1] else {
        panic!("must fail")
    };
    assert_eq!(
        *error,
        ProduceError::Broker {
            code: KafkaCode::NotEnoughReplicas,
            message: None
        }
    );
    assert_eq!(
        record.value.as_deref(),
        Some(&b"v"[..]),
        "the record comes back"
    );
    assert_eq!(produce_requests(&n).len(), 3, "first attempt + 2 retries");
}

#[test]
fn backoff_doubles_within_jitter_bounds() {
    let mut c = cluster("t", 1);
    c.inject(ApiKey::Produce, &[KafkaCode::NotEnoughReplicas; 6]);
    let mut b = builder(&c);
    b.retry_backoff(Duration::from_millis(100))
        .retry_backoff_max(Duration::from_millis(1000));
    let mut n = net(c, &mut b);
    n.faults.latency = Latency::fixed(Duration::ZERO);
    send(&mut n, Record::new("t").value("v").user(1));
    n.producer.flush(n.now);
    assert!(n.run_until(Duration::from_secs(60), |n| terminal(n) == 1));
    let times = produce_requests(&n);
    assert_eq!(times.len(), 7);
    for (i, w) in times.windows(2).enumerate() {
        let gap = w[1] - w[0];
        let base = (100u64 << i).min(1000);
        let (lo, hi) = (
            Duration::from_millis(base * 8 / 10),
            Duration::from_millis((base * 12 / 10).min(1000)),
        );
        assert!(
            gap >= lo && gap <= hi,
            "retry {i}: {gap:?} not in [{lo:?}, {hi:?}]"
        );
    }
}

#[test]
fn non_retriable_errors_fail_only_their_records_with_the_code() {
    for code in [
        KafkaCode::InvalidRecord,
        KafkaCode::TopicAuthorizationFailed,
        KafkaCode::InvalidTopicException,
    ] {
        let mut c = cluster("t", 1);
        c.create_topic("other", 1);
        c.inject(ApiKey::Produce, &[code]);
        let mut b = builder(&c);
        b.max_in_flight_requests_per_connection(1);
        let mut n = net(c, &mut b);
        send(&mut n, Record::new("t").value("bad").user(1));
        n.producer.flush(n.now);
        assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 1));
        send(&mut n, Record::new("other").value("good").user(2));
        assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 2));
        let out = outcomes(&n);
        match out[&1] {
            Event::Failed { error, record, .. } => {
                assert_eq!(error.code(), Some(code));
                assert_eq!(record.value.as_deref(), Some(&b"bad"[..]));
            }
            e => panic!("{code}: {e:?}"),
        }
        assert!(matches!(out[&2], Event::Delivered { .. }), "{code}");
        assert_eq!(
            n.producer.metrics().record_retry_total,
            0,
            "{code} is not retried"
        );
    }
}

#[test]
fn message_too_large_splits_the_batch() {
    let mut c = cluster("t", 1);
    c.inject(
        ApiKey::Produce,
        &[KafkaCode::MessageTooLarge, KafkaCode::MessageTooLarge],
    );
    // Without idempotence only one request in flight keeps a partition in
    // order through retries (as in Kafka).
    let mut b = builder(&c);
    b.max_in_flight_requests_per_connection(1);
    let mut n = net(c, &mut b);
    for i in 0..8u64 {
        send(&mut n, Record::new("t").value(format!("v{i}")).user(i));
    }
    n.producer.flush(n.now);
    assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 8));
    assert!(
        outcomes(&n)
            .values()
            .all(|e| matches!(e, Event::Delivered { .. }))
    );
    let values: Vec<_> = n
        .cluster
        .log("t", 0)
        .iter()
        .map(|r| r.value.clone().unwrap())
        .collect();
    let want: Vec<Bytes> = (0..8).map(|i| Bytes::from(format!("v{i}"))).collect();
    assert_eq!(values, want, "split halves keep the order");
    assert_eq!(n.producer.metrics().batch_split_total, 2);
}

#[test]
fn a_single_record_too_large_fails() {
    let mut c = cluster("t", 1);
    c.inject(ApiKey::Produce, &[KafkaCode::MessageTooLarge]);
    let mut n = net(c, &mut builder(&cluster("t", 1)));
    send(&mut n, Record::new("t").value("v").user(1));
    assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 1));
    assert!(matches!(
        outcomes(&n)[&1],
        Event::Failed {
            error: ProduceError::Broker {
                code: KafkaCode::MessageTooLarge,
                ..
            },
            ..
        }
    ));
}

#[test]
fn records_expire_at_the_delivery_timeout_when_brokers_stay_down() {
    let c = cluster("t", 2);
    let mut b = builder(&c);
    b.delivery_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(2))
        .linger(Duration::from_millis(5));
    let mut n = net(c, &mut b);
    send(&mut n, Record::new("t").value("warmup").user(0));
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 1));
    for node in 0..3 {
        n.broker_down(node);
    }
    let sent_at = n.now;
    for i in 1..=20u64 {
        send(&mut n, Record::new("t").value("v").user(i));
    }
    assert!(n.run_until(Duration::from_secs(60), |n| terminal(n) == 21));
    let failed_at = n.now;
    for i in 1..=20u64 {
        assert!(
            matches!(
                outcomes(&n)[&i],
                Event::Failed {
                    error: ProduceError::DeliveryTimeout { .. },
                    ..
                }
            ),
            "record {i}"
        );
    }
    assert!(
        failed_at - sent_at <= Duration::from_secs(5 + 2),
        "failed after {:?}",
        failed_at - sent_at
    );
    // Reconnects backed off rather than spinning.
    let attempts = n.connects.iter().filter(|(t, _)| *t > sent_at).count();
    assert!(attempts < 60, "{attempts} connection attempts in 5 s");
}

#[test]
fn a_broker_back_within_the_timeout_delivers_everything() {
    let c = cluster("t", 3);
    let mut n = net(c.clone(), &mut builder(&c));
    send(
        &mut n,
        Record::new("t").value("warmup").partition(1).user(0),
    );
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 1));
    n.broker_down(1);
    for i in 1..=30u64 {
        send(
            &mut n,
            Record::new("t")
                .value("v")
                .partition((i % 3) as i32)
                .user(i),
        );
    }
    n.run_for(Duration::from_secs(3));
    n.broker_up(1);
    assert!(n.run_until(Duration::from_secs(60), |n| terminal(n) == 31));
    assert!(
        outcomes(&n)
            .values()
            .all(|e| matches!(e, Event::Delivered { .. }))
    );
    assert_eq!(n.cluster.log("t", 1).len(), 11);
}

#[test]
fn a_hung_request_times_out_closes_the_connection_and_is_retried() {
    let c = cluster("t", 1);
    let mut b = builder(&c);
    b.request_timeout(Duration::from_secs(1))
        .delivery_timeout(Duration::from_secs(30));
    let mut n = net(c, &mut b);
    send(&mut n, Record::new("t").value("warmup").user(0));
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 1));
    n.mute.insert(0);
    let t0 = n.now;
    send(&mut n, Record::new("t").value("v").user(1));
    n.run_for(Duration::from_millis(1500));
    assert_eq!(terminal(&n), 1, "no answer yet");
    n.mute.clear();
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 2));
    assert!(matches!(outcomes(&n)[&1], Event::Delivered { .. }));
    let m = n.producer.metrics();
    assert!(
        m.connection_close_total >= 1,
        "the timed-out connection was closed"
    );
    assert!(m.error_count(KafkaCode::RequestTimedOut) >= 1);
    // The mute broker held the first attempt; the retry went out after the
    // request timeout, not before.
    let attempts: Vec<_> = produce_requests(&n)
        .into_iter()
        .filter(|t| *t >= t0)
        .collect();
    assert!(
        attempts.len() >= 2 && attempts[1] - attempts[0] >= Duration::from_secs(1),
        "{attempts:?}"
    );
}

#[test]
fn the_leader_moving_mid_stream_loses_nothing() {
    let c = cluster("t", 1);
    let mut n = net(c.clone(), &mut builder(&c));
    for i in 0..50u64 {
        send(&mut n, Record::new("t").value(format!("{i}")).user(i));
    }
    n.run_for(Duration::from_millis(3));
    n.cluster.set_leader("t", 0, 2);
    for i in 50..100u64 {
        send(&mut n, Record::new("t").value(format!("{i}")).user(i));
    }
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 100));
    assert!(
        outcomes(&n)
            .values()
            .all(|e| matches!(e, Event::Delivered { .. }))
    );
    let values: Vec<String> = n
        .cluster
        .log("t", 0)
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(values, want);
}

#[test]
fn leader_hints_spare_a_metadata_round_trip() {
    let metadata_requests = |hints: bool| {
        let mut c = cluster("t", 1);
        c.leader_hints = hints;
        let mut n = net(c.clone(), &mut builder(&c));
        send(&mut n, Record::new("t").value("a").user(0));
        assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 1));
        n.cluster.set_leader("t", 0, 2);
        send(&mut n, Record::new("t").value("b").user(1));
        assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 2));
        assert!(matches!(outcomes(&n)[&1], Event::Delivered { .. }));
        n.producer.metrics().metadata_request_total
    };
    assert!(metadata_requests(true) <= metadata_requests(false));
}

#[test]
fn throttling_holds_back_the_next_request() {
    let mut c = cluster("t", 1);
    c.throttle_ms = 500;
    let mut b = builder(&c);
    b.linger(Duration::ZERO);
    let mut n = net(c, &mut b);
    n.faults.latency = Latency::fixed(Duration::ZERO);
    send(&mut n, Record::new("t").value("a").user(0));
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 1));
    let t0 = n.now;
    send(&mut n, Record::new("t").value("b").user(1));
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 2));
    let produce = produce_requests(&n);
    assert!(
        produce[1] - produce[0] >= Duration::from_millis(500),
        "{produce:?} (second send at {t0:?})"
    );
    assert!(n.producer.metrics().produce_throttle_time_max_ms >= 500.0);
}

#[test]
fn acks_zero_completes_on_hand_out_with_or_without_answers() {
    for answer in [false, true] {
        let mut c = cluster("t", 2);
        c.answer_acks0 = answer;
        let mut b = builder(&c);
        b.acks(Acks::None);
        let mut n = net(c, &mut b);
        for i in 0..500u64 {
            send(&mut n, Record::new("t").value("v").user(i));
        }
        assert!(
            n.run_until(Duration::from_secs(10), |n| terminal(n) == 500),
            "answer={answer}"
        );
        for e in outcomes(&n).values() {
            assert!(matches!(e, Event::Delivered { offset: None, .. }), "{e:?}");
        }
        // Handed out is not yet arrived: the requests are still on the wire.
        n.run_for(Duration::from_millis(100));
        let stored: usize = (0..2).map(|p| n.cluster.log("t", p).len()).sum();
        assert_eq!(stored, 500);
        // Nothing waits on an answer that may never come.
        assert_eq!(n.producer.metrics().requests_in_flight, 0);
        assert_eq!(
            n.producer.metrics().connection_close_total,
            0,
            "answers to acks=0 are no protocol error"
        );
    }
}

#[test]
fn acks_one_and_all_give_offsets() {
    for acks in [Acks::Leader, Acks::All] {
        let c = cluster("t", 2);
        let mut b = builder(&c);
        b.acks(acks);
        let mut n = net(c, &mut b);
        for i in 0..100u64 {
            send(&mut n, Record::new("t").value("v").user(i));
        }
        assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 100));
        for e in outcomes(&n).values() {
            let Event::Delivered {
                partition,
                offset: Some(offset),
                ..
            } = e
            else {
                panic!("{acks:?}: {e:?}")
            };
            assert!((*offset as usize) < n.cluster.log("t", *partition as usize).len());
        }
    }
}

#[test]
fn close_drains_then_reports_closed_last() {
    let c = cluster("t", 3);
    let mut b = builder(&c);
    b.linger(Duration::from_secs(10));
    let mut n = net(c, &mut b);
    for i in 0..100u64 {
        send(&mut n, Record::new("t").value("v").user(i));
    }
    n.producer.close(n.now);
    let refused = n
        .producer
        .send(Record::new("t").value("late").user(999), n.now)
        .unwrap_err();
    assert_eq!(refused.kind, SendErrorKind::Closed);
    assert_eq!(refused.record.user, 999, "the refused record comes back");
    assert!(n.run_until(Duration::from_secs(5), |n| {
        n.events.iter().any(|e| matches!(e, Event::Closed))
    }));
    assert!(matches!(n.events.last(), Some(Event::Closed)));
    assert_eq!(terminal(&n), 100, "close did not wait for linger.ms");
    assert!(
        outcomes(&n)
            .values()
            .all(|e| matches!(e, Event::Delivered { .. }))
    );
    assert_eq!(n.producer.pending_records(), 0);
}

#[test]
fn close_fails_what_cannot_be_delivered_by_its_deadline() {
    let c = cluster("t", 1);
    let mut b = builder(&c);
    b.delivery_timeout(Duration::from_secs(3))
        .request_timeout(Duration::from_secs(1))
        .linger(Duration::ZERO);
    let mut n = net(c, &mut b);
    send(&mut n, Record::new("t").value("warmup").user(0));
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 1));
    n.broker_down(0);
    for i in 1..=10u64 {
        send(&mut n, Record::new("t").value("v").user(i));
    }
    n.producer.close(n.now);
    assert!(n.run_until(Duration::from_secs(30), |n| {
        n.events.iter().any(|e| matches!(e, Event::Closed))
    }));
    assert!(matches!(n.events.last(), Some(Event::Closed)));
    for i in 1..=10u64 {
        let Event::Failed { record, .. } = outcomes(&n)[&i] else {
            panic!("record {i}")
        };
        assert_eq!(record.user, i);
    }
}

#[test]
fn a_topic_that_never_appears_fails_after_max_block() {
    let c = cluster("t", 1);
    let mut b = builder(&c);
    b.max_block(Duration::from_secs(2))
        .allow_auto_create_topics(false);
    let mut n = net(c, &mut b);
    let t0 = n.now;
    send(&mut n, Record::new("missing").value("v").user(1));
    assert!(n.run_until(Duration::from_secs(60), |n| terminal(n) == 1));
    let Event::Failed {
        error: ProduceError::TopicNotFound { topic, .. },
        record,
        ..
    } = outcomes(&n)[&1]
    else {
        panic!("{:?}", n.events)
    };
    assert_eq!(topic, "missing");
    assert_eq!(record.value.as_deref(), Some(&b"v"[..]));
    let waited = n.now - t0;
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // It kept asking, with backoff, not in a loop.
    let metadata = n
        .requests
        .iter()
        .filter(|(_, _, api)| *api == ApiKey::Metadata)
        .count();
    assert!((2..=40).contains(&metadata), "{metadata} metadata requests");
}

#[test]
fn refusals_hand_the_record_back() {
    let c = cluster("t", 1);
    let mut b = builder(&c);
    b.buffer_memory(64 * 1024)
        .max_request_size(32 * 1024)
        .batch_size(16 * 1024);
    let mut n = net(c, &mut b);
    let big = n
        .producer
        .send(Record::new("t").value(vec![0u8; 40 * 1024]).user(1), n.now)
        .unwrap_err();
    assert!(
        matches!(big.kind, SendErrorKind::RecordTooLarge { max: 32768, .. }),
        "{:?}",
        big.kind
    );
    assert_eq!(big.record.user, 1);
    let bad = n
        .producer
        .send(Record::new("bad topic!").user(2), n.now)
        .unwrap_err();
    assert!(matches!(bad.kind, SendErrorKind::InvalidTopic { .. }));
    // Fill the buffer without letting anything drain.
    let mut accepted = 0;
    let full = loop {
        match n
            .producer
            .send(Record::new("t").value(vec![0u8; 1000]).user(3), n.now)
        {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 1000, "buffer.memory never pushed back");
    };
    assert!(matches!(full.kind, SendErrorKind::BufferFull { .. }));
    assert!(
        (50..=64).contains(&accepted),
        "{accepted} records of 1000 bytes in 64 KiB"
    );
    // Deliveries free memory; then sends are accepted again.
    assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == accepted));
    assert!(n.producer.send(full.record, n.now).is_ok());
    assert_eq!(
        n.producer.metrics().buffer_available_bytes,
        64 * 1024
            - (n.producer.metrics().buffer_total_bytes
                - n.producer.metrics().buffer_available_bytes)
    );
}

#[test]
fn an_explicit_partition_out_of_range_is_refused() {
    let c = cluster("t", 2);
    let mut n = net(c.clone(), &mut builder(&c));
    send(&mut n, Record::new("t").value("a").user(0));
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 1));
    let e = n
        .producer
        .send(Record::new("t").partition(7).user(1), n.now)
        .unwrap_err();
    assert_eq!(
        e.kind,
        SendErrorKind::InvalidPartition {
            partition: 7,
            partitions: 2
        }
    );
}

#[test]
fn metadata_is_refreshed_by_age() {
    let c = cluster("t", 1);
    let mut b = builder(&c);
    b.metadata_max_age(Duration::from_secs(10));
    let mut n = net(c, &mut b);
    send(&mut n, Record::new("t").value("a").user(0));
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 1));
    let before = n.producer.metrics().metadata_request_total;
    n.run_for(Duration::from_secs(25));
    let after = n.producer.metrics().metadata_request_total;
    assert!(after >= before + 2, "{before} -> {after}");
}

#[test]
fn the_same_inputs_give_the_same_outputs() {
    let run = |seed: u64| {
        let mut c = cluster("t", 4);
        c.inject(
            ApiKey::Produce,
            &[
                KafkaCode::NotLeaderOrFollower,
                KafkaCode::NetworkException,
                KafkaCode::NotEnoughReplicas,
            ],
        );
        let mut b = builder(&c);
        b.random_seed(seed);
        let mut n = net(c, &mut b);
        for i in 0..300u64 {
            let r = if i % 2 == 0 {
                Record::new("t").value("v").user(i)
            } else {
                Record::new("t").key(format!("{i}")).value("v").user(i)
            };
            send(&mut n, r);
        }
        assert!(n.run_until(Duration::from_secs(60), |n| terminal(n) == 300));
        (format!("{:?}", n.events), n.requests.clone(), n.now)
    };
    assert_eq!(run(7), run(7));
    assert_ne!(
        run(7).0,
        run(8).0,
        "the seed drives sticky choices and jitter"
    );
}
