//! The idempotent producer against the simulated cluster, which keeps
//! producer state as Kafka does (epoch, last five batches per partition)
//! and answers 45, 46, 47 and 59 where Kafka would. Each error rule has its
//! own test, named after the rule, and every test checks the logs: each
//! delivered record once, in send order, sequences contiguous.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_producer_proto::sim::{SimCluster, SimNet, StoredRecord};
use kafka_producer_proto::wire::ApiKey;
use kafka_producer_proto::{
    Config, ConfigBuilder, Event, FatalError, Instant, KafkaCode, ProduceError, Producer, Record,
    SendErrorKind,
};

const START: Instant = Instant::from_millis(1_700_000_000_000);

fn idempotent(cluster: &SimCluster) -> ConfigBuilder {
    let mut b = Config::builder();
    b.bootstrap_servers(&cluster.bootstrap_servers())
        .enable_idempotence(true)
        .linger(Duration::ZERO);
    b
}

fn net(cluster: SimCluster, b: &mut ConfigBuilder) -> SimNet<u64> {
    SimNet::new(
        Producer::new(b.build().expect("valid config"), START),
        cluster,
        START,
    )
}

fn cluster(partitions: usize) -> SimCluster {
    let mut c = SimCluster::new(3);
    c.create_topic("t", partitions);
    c
}

fn send(n: &mut SimNet<u64>, i: u64, partition: Option<i32>) {
    let mut r = Record::new("t").value(format!("{i}")).user(i);
    r.partition = partition;
    let now = n.now;
    n.producer
        .send(r, now)
        .unwrap_or_else(|e| panic!("send {i}: {e}"));
}

fn terminal(n: &SimNet<u64>) -> usize {
    n.events
        .iter()
        .filter(|e| matches!(e, Event::Delivered { .. } | Event::Failed { .. }))
        .count()
}

fn delivered(n: &SimNet<u64>) -> BTreeMap<u64, (i32, Option<i64>)> {
    n.events
        .iter()
        .filter_map(|e| match e {
            Event::Delivered {
                user,
                partition,
                offset,
                ..
            } => Some((*user, (*partition, *offset))),
            _ => None,
        })
        .collect()
}

fn value(r: &StoredRecord) -> u64 {
    std::str::from_utf8(r.value.as_deref().unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

/// Every partition's log holds each delivered record exactly once, in send
/// order, and within one epoch its sequences count up from 0 without gaps.
fn check_logs(n: &SimNet<u64>, partitions: usize) {
    let delivered = delivered(n);
    let mut seen = BTreeMap::new();
    for p in 0..partitions {
        let log = n.cluster.log("t", p);
        let values: Vec<u64> = log.iter().map(value).collect();
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: duplicates or reordering: {values:?}"
        );
        for r in log {
            assert!(r.producer_id >= 0, "idempotent batches carry a producer id");
            seen.insert(value(r), p as i32);
        }
        let mut by_epoch: BTreeMap<(i64, i16), Vec<i32>> = BTreeMap::new();
        for r in log {
            by_epoch
                .entry((r.producer_id, r.producer_epoch))
                .or_default()
                .push(r.sequence);
        }
        for ((id, epoch), seqs) in by_epoch {
            let want: Vec<i32> = (0..seqs.len() as i32).collect();
            assert_eq!(
                seqs, want,
                "partition {p}, producer {id} epoch {epoch}: sequences"
            );
        }
    }
    for (user, (partition, _)) in &delivered {
        assert_eq!(
            seen.get(user),
            Some(partition),
            "delivered record {user} is in its partition's log"
        );
    }
}

#[test]
fn thousands_of_records_get_contiguous_sequences() {
    let c = cluster(4);
    let mut b = idempotent(&c);
    b.linger(Duration::from_millis(5));
    let mut n = net(c, &mut b);
    for i in 0..5000 {
        send(&mut n, i, None);
    }
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 5000));
    assert_eq!(delivered(&n).len(), 5000);
    check_logs(&n, 4);
    let inits = n
        .requests
        .iter()
        .filter(|(_, _, api)| *api == ApiKey::InitProducerId)
        .count();
    assert_eq!(inits, 1, "one producer id for the whole run");
}

/// The seeds' scenario: batch A fails and is retried while batch B, sent
/// after it, reaches the broker first. B must not land before A.
#[test]
fn a_fails_and_is_retried_while_b_succeeds_and_the_log_keeps_send_order() {
    let mut c = cluster(1);
    c.inject(ApiKey::Produce, &[KafkaCode::NotLeaderOrFollower]);
    let mut n = net(c, &mut idempotent(&cluster(1)));
    send(&mut n, 0, Some(0));
    assert!(
        n.run_until(Duration::from_secs(5), |n| terminal(n) == 1),
        "warm up"
    );
    n.cluster
        .inject(ApiKey::Produce, &[KafkaCode::NotLeaderOrFollower]);
    for i in 1..=5 {
        send(&mut n, i, Some(0));
    }
    n.step(); // A goes out
    for i in 6..=10 {
        send(&mut n, i, Some(0));
    }
    n.step(); // B goes out while A is in flight
    let produce_in_flight = n
        .requests
        .iter()
        .filter(|(_, _, api)| *api == ApiKey::Produce)
        .count();
    assert!(
        produce_in_flight >= 3,
        "A and B were both sent before A's answer"
    );
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 11));
    assert_eq!(delivered(&n).len(), 11);
    let values: Vec<u64> = n.cluster.log("t", 0).iter().map(value).collect();
    assert_eq!(values, (0..=10).collect::<Vec<_>>());
    check_logs(&n, 1);
}

#[test]
fn duplicate_sequence_number_means_delivered_offset_unknown() {
    let mut c = cluster(1);
    c.inject(ApiKey::Produce, &[KafkaCode::DuplicateSequenceNumber]);
    let mut n = net(c, &mut idempotent(&cluster(1)));
    for i in 0..3 {
        send(&mut n, i, Some(0));
    }
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 3));
    assert!(
        n.events
            .iter()
            .all(|e| matches!(e, Event::Delivered { offset: None, .. })),
        "{:?}",
        n.events
    );
}

#[test]
fn a_retry_after_a_lost_answer_is_deduplicated_by_the_broker() {
    let c = cluster(1);
    let mut b = idempotent(&c);
    b.request_timeout(Duration::from_secs(1));
    let mut n = net(c, &mut b);
    send(&mut n, 0, Some(0));
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 1));
    n.lose_answers = 1;
    for i in 1..=5 {
        send(&mut n, i, Some(0));
    }
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 6));
    assert_eq!(delivered(&n).len(), 6);
    assert_eq!(
        n.cluster.log("t", 0).len(),
        6,
        "the retry was not written twice"
    );
    check_logs(&n, 1);
}

#[test]
fn out_of_order_sequence_behind_a_failed_batch_is_a_plain_retry() {
    // Covered by the A/B test: B's OUT_OF_ORDER_SEQUENCE_NUMBER (A failed
    // first) must not bump the epoch.
    let mut c = cluster(1);
    c.inject(ApiKey::Produce, &[KafkaCode::NotLeaderOrFollower]);
    let mut n = net(c, &mut idempotent(&cluster(1)));
    send(&mut n, 0, Some(0));
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 1));
    n.cluster
        .inject(ApiKey::Produce, &[KafkaCode::NotLeaderOrFollower]);
    for i in 1..=5 {
        send(&mut n, i, Some(0));
    }
    n.step();
    for i in 6..=10 {
        send(&mut n, i, Some(0));
    }
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 11));
    let epochs: Vec<i16> = n
        .cluster
        .log("t", 0)
        .iter()
        .map(|r| r.producer_epoch)
        .collect();
    assert!(
        epochs.iter().all(|e| *e == epochs[0]),
        "no bump: {epochs:?}"
    );
}

#[test]
fn out_of_order_sequence_at_the_head_bumps_the_epoch() {
    let mut c = cluster(1);
    c.inject(ApiKey::Produce, &[KafkaCode::OutOfOrderSequenceNumber]);
    let mut n = net(c, &mut idempotent(&cluster(1)));
    for i in 0..5 {
        send(&mut n, i, Some(0));
    }
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 5));
    assert_eq!(delivered(&n).len(), 5);
    let log = n.cluster.log("t", 0);
    assert_eq!(log.len(), 5);
    assert!(
        log.iter().all(|r| r.producer_epoch == 1),
        "renumbered under epoch 1"
    );
    check_logs(&n, 1);
    let inits = n
        .requests
        .iter()
        .filter(|(_, _, api)| *api == ApiKey::InitProducerId)
        .count();
    assert_eq!(inits, 2, "the first id and the bump");
}

#[test]
fn unknown_producer_id_after_the_broker_lost_state_bumps_the_epoch() {
    let c = cluster(1);
    let mut n = net(c.clone(), &mut idempotent(&c));
    for i in 0..5 {
        send(&mut n, i, Some(0));
    }
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 5));
    n.cluster.forget_producers();
    for i in 5..10 {
        send(&mut n, i, Some(0));
    }
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 10));
    assert_eq!(delivered(&n).len(), 10);
    let epochs: Vec<i16> = n
        .cluster
        .log("t", 0)
        .iter()
        .map(|r| r.producer_epoch)
        .collect();
    assert_eq!(epochs, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    check_logs(&n, 1);
}

#[test]
fn unknown_producer_id_after_retention_removed_our_records_bumps_and_restarts_sequences() {
    let c = cluster(1);
    let mut n = net(c.clone(), &mut idempotent(&c));
    for i in 0..5 {
        send(&mut n, i, Some(0));
    }
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 5));
    // Retention removes everything we wrote, and the producer's state
    // with it.
    n.cluster.truncate_log("t", 0, 5);
    n.cluster.forget_producers();
    for i in 5..10 {
        send(&mut n, i, Some(0));
    }
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 10));
    let log = n.cluster.log("t", 0);
    assert_eq!(
        log.iter().map(value).collect::<Vec<_>>(),
        (5..10).collect::<Vec<_>>()
    );
    assert!(log.iter().all(|r| r.producer_epoch == 1));
    let offsets: Vec<i64> = log.iter().map(|r| r.offset).collect();
    assert_eq!(
        offsets,
        (5..10).collect::<Vec<i64>>(),
        "offsets continue after the removed ones"
    );
}

#[test]
fn invalid_producer_epoch_and_producer_fenced_are_fatal() {
    for code in [KafkaCode::InvalidProducerEpoch, KafkaCode::ProducerFenced] {
        let mut c = cluster(2);
        c.inject(ApiKey::Produce, &[code]);
        let mut n = net(c.clone(), &mut idempotent(&c));
        for i in 0..10 {
            send(&mut n, i, Some((i % 2) as i32));
        }
        assert!(
            n.run_until(Duration::from_secs(10), |n| terminal(n) == 10),
            "{code}"
        );
        for e in &n.events {
            let Event::Failed { error, record, .. } = e else {
                continue;
            };
            assert_eq!(
                *error,
                ProduceError::Fatal(FatalError::Fenced { code }),
                "record {}",
                record.user
            );
        }
        let refused = n
            .producer
            .send(Record::new("t").value("late").user(99), n.now)
            .unwrap_err();
        assert_eq!(
            refused.kind,
            SendErrorKind::Fatal(FatalError::Fenced { code })
        );
        assert_eq!(refused.record.user, 99, "handed back");
    }
}

#[test]
fn a_batch_that_times_out_in_flight_is_unresolved_until_the_epoch_is_bumped() {
    let c = cluster(1);
    let mut b = idempotent(&c);
    b.request_timeout(Duration::from_secs(1))
        .delivery_timeout(Duration::from_secs(3));
    let mut n = net(c, &mut b);
    send(&mut n, 0, Some(0));
    assert!(n.run_until(Duration::from_secs(5), |n| terminal(n) == 1));
    // Every answer for a while is lost after the broker applied the
    // request: batch 1 is in the log, but the producer cannot know.
    n.lose_answers = 1_000;
    send(&mut n, 1, Some(0));
    n.run_for(Duration::from_millis(3500));
    n.lose_answers = 0;
    send(&mut n, 2, Some(0));
    assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 3));
    let events = delivered(&n);
    assert!(
        !events.contains_key(&1),
        "record 1 failed: its outcome was unknown at its deadline"
    );
    assert!(events.contains_key(&2));
    let log = n.cluster.log("t", 0);
    let values: Vec<u64> = log.iter().map(value).collect();
    assert_eq!(
        values,
        [0, 1, 2],
        "record 1 was written once, record 2 after it"
    );
    assert_eq!(
        log[2].producer_epoch, 1,
        "record 2 went out under a new epoch"
    );
    assert_eq!(log[2].sequence, 0);
}

#[test]
fn epoch_exhaustion_gets_a_new_producer_id() {
    let mut c = cluster(1);
    c.next_grant_epoch = Some(i16::MAX);
    c.inject(ApiKey::Produce, &[KafkaCode::OutOfOrderSequenceNumber]);
    let mut n = net(c.clone(), &mut idempotent(&c));
    for i in 0..3 {
        send(&mut n, i, Some(0));
    }
    assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 3));
    assert_eq!(delivered(&n).len(), 3);
    let log = n.cluster.log("t", 0);
    assert!(
        log.iter().all(|r| r.producer_epoch == 0),
        "a new id starts at epoch 0"
    );
    assert!(
        log.iter().all(|r| r.producer_id == 1002),
        "the second id handed out"
    );
}

#[test]
fn retries_under_random_faults_keep_every_partition_exact() {
    for seed in 0..20u64 {
        let mut c = cluster(3);
        let faults = [
            KafkaCode::NotLeaderOrFollower,
            KafkaCode::RequestTimedOut,
            KafkaCode::NotEnoughReplicas,
            KafkaCode::NetworkException,
            KafkaCode::OutOfOrderSequenceNumber,
        ];
        let mut rng = kafka_producer_proto::rng::Rng::new(seed);
        let injected: Vec<KafkaCode> = (0..8)
            .map(|_| faults[rng.below(faults.len() as u64) as usize])
            .collect();
        c.inject(ApiKey::Produce, &injected);
        let mut b = idempotent(&c);
        b.random_seed(seed)
            .linger(Duration::from_millis(1))
            .request_timeout(Duration::from_secs(1));
        let mut n = net(c, &mut b);
        for i in 0..600 {
            send(&mut n, i, None);
            if i % 50 == 0 {
                n.step();
            }
            if i == 300 {
                n.lose_answers = 2;
            }
        }
        assert!(
            n.run_until(Duration::from_secs(120), |n| terminal(n) == 600),
            "seed {seed}"
        );
        // A batch whose earlier send may be in the log when its partition
        // must take new numbers is handed back rather than risk a
        // duplicate; every other record is delivered.
        let failed = n.events.iter().find(|e| {
            matches!(e, Event::Failed { error, .. }
                if !matches!(error, ProduceError::PossiblyWritten { .. }))
        });
        assert!(failed.is_none(), "seed {seed}: {failed:?}");
        let handed_back = n
            .events
            .iter()
            .filter(|e| matches!(e, Event::Failed { .. }))
            .count();
        assert_eq!(
            delivered(&n).len() + handed_back,
            600,
            "seed {seed}: every record delivered or handed back as possibly written"
        );
        check_logs(&n, 3);
    }
}
