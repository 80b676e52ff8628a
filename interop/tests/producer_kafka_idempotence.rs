//! The idempotent producer (tokio driver; idempotence is the default)
//! against Apache Kafka through the fault proxy, which makes the case that
//! decides whether a retry duplicates a record: a request the broker
//! applied whose answer never reaches the producer.
//!
//! The producer retries what it never heard about with the same producer
//! id, epoch and sequences; Kafka recognises a batch it already has (it
//! keeps the last five per producer and partition) and answers with the
//! original offsets. Each test reads the topic back directly from the
//! broker (not through the proxy) with the rdkafka consumer: every record
//! once, field by field, at the offset the producer reported, in send
//! order per partition.
//!
//! The tests share the binary's single-broker cluster, each with a topic
//! and a proxy of its own.

mod kafka_support;

use std::time::Duration;

use kafka_producer_interop::kafka::KafkaCluster;
use kafka_producer_tokio::KafkaCode;
use kafka_support::{
    LogsOnFailure, Sending, broker_times, config, numbered_at, recording_proxy, runtime,
};

const PARTITIONS: i32 = 4;

/// 200,000 records through a proxy that, after every 2,000th response,
/// cuts the connection once the next request reached Kafka and Kafka
/// answered it (so it is applied), before the answer gets back.
#[test]
fn two_hundred_thousand_records_through_connection_cuts() {
    let cluster = KafkaCluster::shared();
    let _logs = LogsOnFailure(cluster);
    let topic = "idempotent-cuts";
    let count = 200_000;
    cluster.create_topic(topic, PARTITIONS, 1, &[]);
    let proxy = recording_proxy(cluster);

    let mut b = config(&proxy.bootstrap());
    // A batch.size below one record's size: every batch holds one record
    // and a request one batch per partition, so about 50,000 requests and
    // 25 cuts.
    b.linger(Duration::from_millis(1))
        .batch_size(64)
        .reconnect_backoff(Duration::from_millis(10))
        .reconnect_backoff_max(Duration::from_millis(100));
    let config = b.build().unwrap();
    assert!(config.enable_idempotence(), "idempotence is the default");
    proxy.cut_every_n_responses(2_000);

    let run = runtime().block_on(async {
        let mut s = Sending::start(config).await;
        for i in 0..count {
            s.send(numbered_at(topic, i)).await;
        }
        s.finish().await
    });
    proxy.cut_every_n_responses(0);
    let stats = proxy.stats();
    run.report("cuts");
    println!("cuts: proxy {stats:?}");
    run.assert_all_delivered();

    let times = broker_times(&proxy.traffic());
    let checked = run.check_log_with(cluster, topic, PARTITIONS, Some(&times));
    assert_eq!(checked.in_log, count, "every record once");
    assert_eq!(
        checked.offsets_checked, count,
        "Kafka answered every retried batch it already had with its offsets"
    );
    assert!(
        stats.cuts >= 20,
        "the proxy cut at least 20 connections under the producer: {stats:?}"
    );
    assert!(
        run.metrics.batch_retry_total >= stats.cuts,
        "every cut request was retried: {:?}",
        run.metrics
    );
}

/// Responses held longer than `request.timeout.ms`, in two windows (1.5 s
/// and 2 s against a 1 s timeout) while records keep coming: the producer
/// times the Produce requests out, closes the connection and retries on a
/// new one (whose answers are held in turn until the window ends), while
/// Kafka has already applied the requests whose answers were held. Once
/// released, everything is delivered once.
#[test]
fn responses_held_past_the_request_timeout() {
    let cluster = KafkaCluster::shared();
    let _logs = LogsOnFailure(cluster);
    let topic = "idempotent-held";
    let count = 40_000;
    cluster.create_topic(topic, PARTITIONS, 1, &[]);
    let proxy = recording_proxy(cluster);
    let holds = [Duration::from_millis(1500), Duration::from_millis(2000)];

    let mut b = config(&proxy.bootstrap());
    b.request_timeout(Duration::from_millis(1000))
        // Long enough for every hold to pass: records must not expire.
        .delivery_timeout(Duration::from_secs(60))
        .linger(Duration::from_millis(5))
        // Several requests per window, so that up to five are in flight
        // when their answers stop coming.
        .batch_size(1024)
        .reconnect_backoff(Duration::from_millis(10))
        .reconnect_backoff_max(Duration::from_millis(100));
    let config = b.build().unwrap();
    assert!(config.enable_idempotence(), "idempotence is the default");

    let (run, timed_out) = runtime().block_on(async {
        let mut s = Sending::start(config).await;
        let part = count / 4;
        // The producer has its id and the topic's metadata, and Produce
        // requests flow, before the first window opens.
        for i in 0..part {
            s.send(numbered_at(topic, i)).await;
        }
        s.producer().flush().await;
        let mut timed_out = Vec::new();
        for (window, hold) in holds.into_iter().enumerate() {
            let before = s
                .producer()
                .metrics()
                .error_count(KafkaCode::RequestTimedOut);
            proxy.hold_responses(hold);
            for i in part * (1 + window)..part * (2 + window) {
                s.send(numbered_at(topic, i)).await;
            }
            tokio::time::sleep(hold * 2).await;
            proxy.release();
            timed_out.push(
                s.producer()
                    .metrics()
                    .error_count(KafkaCode::RequestTimedOut)
                    - before,
            );
            s.producer().flush().await;
        }
        for i in part * 3..count {
            s.send(numbered_at(topic, i)).await;
        }
        (s.finish().await, timed_out)
    });
    proxy.release();
    let stats = proxy.stats();
    run.report("held");
    println!("held: proxy {stats:?}; batches timed out per window: {timed_out:?}");
    run.assert_all_delivered();

    let times = broker_times(&proxy.traffic());
    let checked = run.check_log_with(cluster, topic, PARTITIONS, Some(&times));
    assert_eq!(checked.in_log, count, "every record once");
    assert!(stats.held > 0, "responses were held: {stats:?}");
    for (window, n) in timed_out.iter().enumerate() {
        assert!(
            *n > 0,
            "window {window}: the producer timed out Produce requests \
             (batches timed out per window: {timed_out:?})"
        );
    }
    assert!(
        run.metrics.connection_close_total >= 2,
        "the producer closed connections on request timeouts: {:?}",
        run.metrics
    );
    assert!(
        run.metrics.batch_retry_total > 0,
        "timed-out requests were retried: {:?}",
        run.metrics
    );
}
