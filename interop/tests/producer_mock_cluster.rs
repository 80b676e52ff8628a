//! The Producer, driven by the tokio driver, against librdkafka's mock
//! cluster (3 brokers, 4 partitions), with the rdkafka consumer reading
//! back what landed. Every test checks that each record had exactly one
//! terminal event, and that what was delivered is in the log, field for
//! field, in send order per partition.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_producer_interop::roundtrip;
use kafka_producer_interop::roundtrip::Sent;
use kafka_producer_proto::partitioner::partition_for_key;
use kafka_producer_proto::{Acks, Config, ConfigBuilder, Event, KafkaCode, ProduceError, Record};
use kafka_producer_tokio::TokioDriver;
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const PARTITIONS: i32 = 4;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn mock(topic: &str) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(3).expect("librdkafka mock cluster");
    cluster
        .create_topic(topic, PARTITIONS, 1)
        .expect("create topic");
    cluster
}

fn config(
    cluster: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
) -> ConfigBuilder {
    let mut b = Config::builder();
    b.bootstrap_servers(&cluster.bootstrap_servers());
    // Keep retries quick; the backoff's own behaviour is tested in the
    // simulator.
    b.retry_backoff(Duration::from_millis(10))
        .retry_backoff_max(Duration::from_millis(50));
    b
}

fn to_record(topic: &str, i: u64, s: &Sent) -> Record<u64> {
    let mut r = Record::new(topic).timestamp(s.timestamp).user(i);
    r.key = s.key.clone().map(Bytes::from);
    r.value = s.value.clone().map(Bytes::from);
    for (k, v) in &s.headers {
        r = r.header(k.clone(), v.clone().map(Bytes::from));
    }
    r
}

/// What a run produced: the records sent, by user value, and every
/// terminal event.
struct Run {
    sent: Vec<Sent>,
    events: Vec<Event<u64>>,
    metrics: kafka_producer_proto::Metrics,
}

impl Run {
    /// Exactly one terminal event per record, by user value.
    fn outcomes(&self) -> BTreeMap<u64, &Event<u64>> {
        let mut out = BTreeMap::new();
        for e in &self.events {
            let user = match e {
                Event::Delivered { user, .. } => *user,
                Event::Failed { record, .. } => record.user,
                _ => continue,
            };
            assert!(
                out.insert(user, e).is_none(),
                "record {user} has two terminal events"
            );
        }
        assert_eq!(
            out.len(),
            self.sent.len(),
            "every record has a terminal event"
        );
        out
    }

    /// Reads the topic back and checks every delivered record is there once,
    /// identical, in send order per partition, and nothing else is.
    fn verify_log(&self, bootstrap: &str, topic: &str) {
        let outcomes = self.outcomes();
        let mut expected: BTreeMap<i32, Vec<(i64, u64)>> = BTreeMap::new();
        for (user, e) in &outcomes {
            if let Event::Delivered {
                partition, offset, ..
            } = e
            {
                expected
                    .entry(*partition)
                    .or_default()
                    .push((offset.unwrap_or(-1), *user));
            }
        }
        let total: usize = expected.values().map(Vec::len).sum();
        let got = roundtrip::read_back(bootstrap, topic, PARTITIONS, total);
        for (p, mut want) in expected {
            want.sort();
            let log = got.get(&p).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(log.len(), want.len(), "partition {p}: record count");
            for ((offset, record), (want_offset, user)) in log.iter().zip(&want) {
                if *want_offset >= 0 {
                    assert_eq!(
                        offset, want_offset,
                        "partition {p}: offset of record {user}"
                    );
                }
                assert_eq!(
                    record, &self.sent[*user as usize],
                    "partition {p}: record {user}"
                );
            }
            let users: Vec<u64> = want.iter().map(|(_, u)| *u).collect();
            assert!(
                users.windows(2).all(|w| w[0] < w[1]),
                "partition {p}: send order"
            );
        }
    }
}

#[test]
fn a_hundred_thousand_mixed_records() {
    let topic = "mixed";
    let cluster = mock(topic);
    let mut b = config(&cluster);
    b.linger(Duration::from_millis(5));
    let run = runtime().block_on(produce_to(
        b.build().unwrap(),
        topic,
        100_000,
        None,
        async |_| {},
    ));
    let outcomes = run.outcomes();
    for (user, e) in &outcomes {
        let Event::Delivered { partition, .. } = e else {
            panic!("record {user}: {e:?}")
        };
        if let Some(key) = &run.sent[*user as usize].key {
            assert_eq!(
                *partition as u32,
                partition_for_key(key, PARTITIONS as u32),
                "record {user}"
            );
        }
    }
    run.verify_log(&cluster.bootstrap_servers(), topic);
    assert_eq!(run.metrics.record_send_total, 100_000);
    assert_eq!(run.metrics.record_error_total, 0);
}

#[test]
fn every_retriable_produce_error_injected_1_3_and_10_times() {
    let errors = [
        (
            "NOT_LEADER_OR_FOLLOWER",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            KafkaCode::NotLeaderOrFollower,
        ),
        (
            "LEADER_NOT_AVAILABLE",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            KafkaCode::LeaderNotAvailable,
        ),
        (
            "REQUEST_TIMED_OUT",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            KafkaCode::RequestTimedOut,
        ),
        (
            "NOT_ENOUGH_REPLICAS",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            KafkaCode::NotEnoughReplicas,
        ),
        (
            "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            KafkaCode::NotEnoughReplicasAfterAppend,
        ),
        (
            "NETWORK_EXCEPTION",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
            KafkaCode::NetworkException,
        ),
        (
            "KAFKA_STORAGE_ERROR",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
            KafkaCode::KafkaStorageError,
        ),
    ];
    for (name, rd, code) in errors {
        for times in [1usize, 3, 10] {
            let topic = format!("retry-{}-{times}", name.to_lowercase().replace('_', "-"));
            let cluster = mock(&topic);
            cluster.request_errors(RDKafkaApiKey::Produce, &vec![rd; times]);
            // One partition and one batch (linger holds it until the flush):
            // each injected error costs exactly one retry of that batch.
            let mut b = config(&cluster);
            b.linger(Duration::from_secs(5));
            let run = runtime().block_on(produce_to(
                b.build().unwrap(),
                &topic,
                50,
                Some(0),
                async |_| {},
            ));
            let outcomes = run.outcomes();
            assert!(
                outcomes
                    .values()
                    .all(|e| matches!(e, Event::Delivered { .. })),
                "{name} x{times}"
            );
            assert_eq!(
                run.metrics.batch_retry_total, times as u64,
                "{name} x{times}: batch retries"
            );
            assert_eq!(
                run.metrics.record_retry_total,
                50 * times as u64,
                "{name} x{times}: record retries"
            );
            assert_eq!(
                run.metrics.error_count(code),
                times as u64,
                "{name} x{times}: error count"
            );
            run.verify_log(&cluster.bootstrap_servers(), &topic);
        }
    }
}

#[test]
fn non_retriable_errors_fail_only_their_records() {
    let errors = [
        (
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_RECORD,
            KafkaCode::InvalidRecord,
        ),
        (
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
            KafkaCode::TopicAuthorizationFailed,
        ),
        (
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION,
            KafkaCode::InvalidTopicException,
        ),
    ];
    for (rd, code) in errors {
        let topic = format!("fatal-{}", code.code());
        let cluster = mock(&topic);
        cluster.request_errors(RDKafkaApiKey::Produce, &[rd]);
        let mut b = config(&cluster);
        b.linger(Duration::from_secs(5))
            .max_in_flight_requests_per_connection(1);
        // The first half goes out in the request that fails, the second
        // half after it.
        let run = runtime().block_on(produce_to(
            b.build().unwrap(),
            &topic,
            40,
            Some(0),
            async |d| d.flush().await,
        ));
        let outcomes = run.outcomes();
        for (user, e) in &outcomes {
            if *user < 20 {
                let Event::Failed { error, record, .. } = e else {
                    panic!("{code}: record {user} {e:?}")
                };
                assert_eq!(error.code(), Some(code));
                assert_eq!(
                    record.value.as_deref(),
                    run.sent[*user as usize].value.as_deref(),
                    "handed back"
                );
            } else {
                assert!(
                    matches!(e, Event::Delivered { .. }),
                    "{code}: record {user} {e:?}"
                );
            }
        }
        assert_eq!(run.metrics.record_retry_total, 0, "{code} is not retried");
        run.verify_log(&cluster.bootstrap_servers(), &topic);
    }
}

#[test]
fn message_too_large_splits_and_delivers() {
    let topic = "too-large";
    let cluster = mock(topic);
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    let mut b = config(&cluster);
    b.linger(Duration::from_secs(5))
        .max_in_flight_requests_per_connection(1);
    let run = runtime().block_on(produce_to(
        b.build().unwrap(),
        topic,
        40,
        Some(0),
        async |_| {},
    ));
    assert!(
        run.outcomes()
            .values()
            .all(|e| matches!(e, Event::Delivered { .. }))
    );
    assert!(run.metrics.batch_split_total >= 1);
    run.verify_log(&cluster.bootstrap_servers(), topic);
}

#[test]
fn a_broker_down_and_back_within_the_delivery_timeout() {
    let topic = "down-up";
    let cluster = mock(topic);
    cluster.partition_leader(topic, 0, Some(1)).unwrap();
    let mut b = config(&cluster);
    b.delivery_timeout(Duration::from_secs(30))
        .request_timeout(Duration::from_secs(5));
    let run = runtime().block_on(produce_to(
        b.build().unwrap(),
        topic,
        200,
        Some(0),
        async |d| {
            cluster.broker_down(1).unwrap();
            d.drive_for(Duration::from_secs(2)).await;
            cluster.broker_up(1).unwrap();
        },
    ));
    assert!(
        run.outcomes()
            .values()
            .all(|e| matches!(e, Event::Delivered { .. }))
    );
    run.verify_log(&cluster.bootstrap_servers(), topic);
}

#[test]
fn a_broker_down_past_the_delivery_timeout_fails_in_time() {
    let topic = "down";
    let cluster = mock(topic);
    cluster.partition_leader(topic, 0, Some(1)).unwrap();
    let delivery = Duration::from_secs(3);
    let request = Duration::from_secs(1);
    let mut b = config(&cluster);
    b.delivery_timeout(delivery)
        .request_timeout(request)
        .linger(Duration::ZERO);
    let sent: Vec<Sent> = (0..20).map(roundtrip::record).collect();
    runtime().block_on(async {
        let mut d: TokioDriver<u64> = TokioDriver::from_config(b.build().unwrap());
        // Learn the leader first, then lose it.
        warm_up(&mut d, topic, &sent[0]).await;
        cluster.broker_down(1).unwrap();
        let started = std::time::Instant::now();
        for (i, s) in sent.iter().enumerate() {
            let mut r = to_record(topic, i as u64, s);
            r.partition = Some(0);
            d.send(r).await.unwrap();
        }
        d.flush().await;
        for (at, e) in d.take_events_timed() {
            let Event::Failed { error, record, .. } = e else {
                panic!("{e:?}")
            };
            assert!(
                matches!(error, ProduceError::DeliveryTimeout { .. }),
                "{error}"
            );
            let waited = at.duration_since(started);
            assert!(
                waited <= delivery + request + Duration::from_millis(500),
                "record {} after {waited:?}",
                record.user
            );
        }
    });
}

#[test]
fn the_leader_moving_mid_stream() {
    let topic = "leader-move";
    let cluster = mock(topic);
    let mut b = config(&cluster);
    // Without idempotence, one request in flight is what keeps a partition
    // in order through the NOT_LEADER_OR_FOLLOWER retries.
    b.max_in_flight_requests_per_connection(1);
    let run = runtime().block_on(produce_to(
        b.build().unwrap(),
        topic,
        4000,
        None,
        async |d| {
            d.flush().await;
            for p in 0..PARTITIONS {
                cluster
                    .partition_leader(topic, p, Some((p + 1) % 3 + 1))
                    .unwrap();
            }
        },
    ));
    assert!(
        run.outcomes()
            .values()
            .all(|e| matches!(e, Event::Delivered { .. }))
    );
    run.verify_log(&cluster.bootstrap_servers(), topic);
}

#[test]
fn round_trips_longer_than_the_request_timeout() {
    let topic = "slow";
    let cluster = mock(topic);
    let mut b = config(&cluster);
    b.request_timeout(Duration::from_millis(200))
        .delivery_timeout(Duration::from_secs(2))
        .linger(Duration::ZERO);
    let sent: Vec<Sent> = (0..10).map(roundtrip::record).collect();
    runtime().block_on(async {
        let mut d: TokioDriver<u64> = TokioDriver::from_config(b.build().unwrap());
        let warm_events = warm_up(&mut d, topic, &sent[0]).await;
        assert!(
            matches!(warm_events.as_slice(), [Event::Delivered { .. }]),
            "{warm_events:?}"
        );
        for node in 1..=3 {
            cluster
                .broker_round_trip_time(node, Duration::from_millis(500))
                .unwrap();
        }
        let started = std::time::Instant::now();
        // Partition 0's leader is connected already, so the first thing to
        // time out is a Produce request; every reconnection's ApiVersions
        // then times out too, so records fail at their delivery deadline,
        // some after attempts, some never sent.
        for (i, s) in sent.iter().enumerate() {
            let mut r = to_record(topic, i as u64, s);
            r.partition = Some(0);
            d.send(r).await.unwrap();
        }
        d.flush().await;
        let events = d.take_events_timed();
        assert_eq!(events.len(), 10);
        for (at, e) in events {
            let Event::Failed { error, .. } = e else {
                panic!("a 500 ms round trip cannot beat a 200 ms timeout: {e:?}")
            };
            assert!(
                matches!(error, ProduceError::DeliveryTimeout { .. }),
                "{error}"
            );
            assert!(at.duration_since(started) <= Duration::from_millis(2200 + 500));
        }
        let m = d.producer().metrics();
        assert!(
            m.error_count(KafkaCode::RequestTimedOut) >= 2,
            "timed-out requests were retried"
        );
        assert!(
            m.connection_close_total >= 2,
            "a timed-out request closes its connection"
        );
    });
}

#[test]
fn acks_zero_against_a_broker_that_answers_anyway() {
    let topic = "acks0";
    let cluster = mock(topic);
    let mut b = config(&cluster);
    b.acks(Acks::None);
    let run = runtime().block_on(produce_to(
        b.build().unwrap(),
        topic,
        2000,
        None,
        async |_| {},
    ));
    for e in run.outcomes().values() {
        assert!(matches!(e, Event::Delivered { offset: None, .. }), "{e:?}");
    }
    assert_eq!(
        run.metrics.connection_close_total, 0,
        "the mock's answers are no protocol error"
    );
    run.verify_log(&cluster.bootstrap_servers(), topic);
}

#[test]
fn close_with_records_pending() {
    let topic = "close";
    let cluster = mock(topic);
    let mut b = config(&cluster);
    b.linger(Duration::from_secs(30));
    let sent: Vec<Sent> = (0..500).map(roundtrip::record).collect();
    let run = runtime().block_on(async {
        let mut d: TokioDriver<u64> = TokioDriver::from_config(b.build().unwrap());
        for (i, s) in sent.iter().enumerate() {
            d.send(to_record(topic, i as u64, s)).await.unwrap();
        }
        assert!(d.producer().pending_records() > 0);
        d.close().await;
        let events = d.take_events();
        assert!(
            matches!(events.last(), Some(Event::Closed)),
            "Closed comes last"
        );
        Run {
            sent: sent.clone(),
            events,
            metrics: d.producer().metrics(),
        }
    });
    assert!(
        run.outcomes()
            .values()
            .all(|e| matches!(e, Event::Delivered { .. }))
    );
    run.verify_log(&cluster.bootstrap_servers(), topic);
}

#[test]
fn metadata_for_a_topic_that_does_not_exist() {
    let cluster = mock("exists");
    let mut b = config(&cluster);
    b.allow_auto_create_topics(false)
        .max_block(Duration::from_secs(2));
    runtime().block_on(async {
        let mut d: TokioDriver<u64> = TokioDriver::from_config(b.build().unwrap());
        d.send(Record::new("does-not-exist").value("v").user(1))
            .await
            .unwrap();
        d.flush().await;
        let events = d.take_events();
        let [
            Event::Failed {
                error: ProduceError::TopicNotFound { topic, .. },
                record,
                ..
            },
        ] = events.as_slice()
        else {
            panic!("{events:?}")
        };
        assert_eq!(topic, "does-not-exist");
        assert_eq!(record.value.as_deref(), Some(&b"v"[..]));
    });
}

/// Sends one record to partition 0 and waits for it, so that the producer
/// knows the leader (and has its producer id) before a fault begins.
async fn warm_up(d: &mut TokioDriver<u64>, topic: &str, record: &Sent) -> Vec<Event<u64>> {
    let mut warm = to_record(topic, 999, record);
    warm.partition = Some(0);
    d.send(warm).await.unwrap();
    d.flush().await;
    d.take_events()
}

/// Sends `count` records (from `roundtrip::record`, to `partition` or to
/// the partitioner's choice) through the tokio driver, runs `during` half
/// way, flushes, and collects every terminal event.
async fn produce_to(
    config: Config,
    topic: &str,
    count: usize,
    partition: Option<i32>,
    during: impl AsyncFnOnce(&mut TokioDriver<u64>),
) -> Run {
    let sent: Vec<Sent> = (0..count).map(roundtrip::record).collect();
    let mut d: TokioDriver<u64> = TokioDriver::from_config(config);
    let mut during = Some(during);
    for (i, s) in sent.iter().enumerate() {
        if i == count / 2
            && let Some(f) = during.take()
        {
            f(&mut d).await;
        }
        let mut r = to_record(topic, i as u64, s);
        r.partition = partition;
        d.send(r).await.unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    d.flush().await;
    Run {
        sent,
        metrics: d.producer().metrics(),
        events: d.take_events(),
    }
}

/// The idempotent producer's rules against the mock: DUPLICATE_SEQUENCE_NUMBER
/// is delivered with the offset unknown; OUT_OF_ORDER_SEQUENCE_NUMBER at the
/// head of the line changes the producer id or epoch (the mock will not bump
/// an idempotent producer's epoch, so the producer takes a new id);
/// UNKNOWN_PRODUCER_ID without a log start offset is retried.
#[test]
fn idempotence_error_rules_against_the_mock() {
    let cases = [
        (
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_DUPLICATE_SEQUENCE_NUMBER,
            KafkaCode::DuplicateSequenceNumber,
        ),
        (
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
            KafkaCode::OutOfOrderSequenceNumber,
        ),
        (
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID,
            KafkaCode::UnknownProducerId,
        ),
    ];
    for (rd, code) in cases {
        let topic = format!("idem-{}", code.code());
        let cluster = mock(&topic);
        let mut b = config(&cluster);
        b.enable_idempotence(true).linger(Duration::from_secs(5));
        let sent: Vec<Sent> = (0..20).map(roundtrip::record).collect();
        let (events, before, after) = runtime().block_on(async {
            let mut d: TokioDriver<u64> = TokioDriver::from_config(b.build().unwrap());
            warm_up(&mut d, &topic, &sent[0]).await;
            let before = d
                .producer()
                .producer_id()
                .expect("an idempotent producer has an id");
            cluster.request_errors(RDKafkaApiKey::Produce, &[rd]);
            for (i, s) in sent.iter().enumerate() {
                let mut r = to_record(&topic, i as u64, s);
                r.partition = Some(0);
                d.send(r).await.unwrap();
            }
            d.flush().await;
            (d.take_events(), before, d.producer().producer_id().unwrap())
        });
        assert_eq!(events.len(), 20, "{code}");
        match code {
            KafkaCode::DuplicateSequenceNumber => {
                assert!(
                    events
                        .iter()
                        .all(|e| matches!(e, Event::Delivered { offset: None, .. })),
                    "{code}: {events:?}"
                );
                assert_eq!(before, after, "{code}: no bump");
            }
            KafkaCode::OutOfOrderSequenceNumber => {
                assert!(
                    events.iter().all(|e| matches!(
                        e,
                        Event::Delivered {
                            offset: Some(_),
                            ..
                        }
                    )),
                    "{code}"
                );
                assert_ne!(
                    before, after,
                    "{code}: the gap is closed by a new epoch or id"
                );
            }
            _ => {
                assert!(
                    events.iter().all(|e| matches!(
                        e,
                        Event::Delivered {
                            offset: Some(_),
                            ..
                        }
                    )),
                    "{code}"
                );
            }
        }
    }
}
