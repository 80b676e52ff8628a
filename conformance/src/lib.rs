//! The driver conformance suite: what every driver of the sans-IO producer
//! must do, checked against the simulated cluster served on loopback TCP
//! ([`SimServer`]). It is written once, against [`Driver`] (a blocking
//! view of a driver's API), and instantiated per driver by [`suite!`]:
//!
//! ```text
//! // tests/tokio.rs
//! kafka_producer_conformance::suite!(Tokio);
//! ```
//!
//! Each case starts a server of its own and checks what the cluster
//! stored, not only what the driver reported: delivery, per-partition
//! order, retries through cut connections and error codes, request and
//! delivery timeouts, backpressure (`max.block.ms`), flush, and
//! `close(timeout)` handing back the records still pending; and the
//! transaction API (commit, abort, offsets, misuse, fencing, retries),
//! judged by the cluster's `read_committed` view.

#![deny(missing_docs)]
// SendError hands the record back, as the producer's does.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use kafka_producer_driver::{CloseError, Delivery, DeliveryError, DeliveryResult};
use kafka_producer_proto::SendErrorKind;
use kafka_producer_proto::sim::{Chance, ClusterFault, Latency, NetFaults, SimServer};
use kafka_producer_proto::wire::ApiKey;
pub use kafka_producer_proto::{
    Config, ConfigBuilder, ConsumerGroupMetadata, KafkaCode, OffsetCommit, ProduceError, Record,
    SendError, TransactionError, TransactionState,
};

mod transactions;
pub use transactions::*;

/// A driver's API, seen from a thread: async drivers block on their
/// runtime in their implementation.
pub trait Driver {
    /// The driver's handle.
    type Producer: Clone + Send + Sync + 'static;
    /// What a send returns: the way to the record's result.
    type Pending: Send + 'static;

    /// Starts a producer.
    fn connect(config: Config) -> Self::Producer;
    /// Sends, waiting up to `max.block.ms` while the buffer is full.
    #[allow(clippy::result_large_err)]
    fn send(p: &Self::Producer, record: Record) -> Result<Self::Pending, SendError<()>>;
    /// Waits up to `timeout` for the result.
    fn wait(pending: Self::Pending, timeout: Duration) -> Option<DeliveryResult>;
    /// The result if it is there, without waiting.
    fn try_result(pending: &mut Self::Pending) -> Option<DeliveryResult>;
    /// Flushes.
    fn flush(p: &Self::Producer);
    /// Closes within `timeout`.
    fn close(p: &Self::Producer, timeout: Duration) -> Result<(), CloseError>;

    /// `init_transactions`, waiting for its outcome.
    fn init_transactions(p: &Self::Producer) -> Result<(), TransactionError>;
    /// `begin_transaction`.
    fn begin_transaction(p: &Self::Producer) -> Result<(), TransactionError>;
    /// `send_offsets_to_transaction`, waiting for its outcome.
    fn send_offsets_to_transaction(
        p: &Self::Producer,
        offsets: Vec<OffsetCommit>,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TransactionError>;
    /// `commit_transaction`, waiting for its outcome.
    fn commit_transaction(p: &Self::Producer) -> Result<(), TransactionError>;
    /// `abort_transaction`, waiting for its outcome.
    fn abort_transaction(p: &Self::Producer) -> Result<(), TransactionError>;
    /// The transaction state (`None` without `transactional.id`).
    fn transaction_state(p: &Self::Producer) -> Option<TransactionState>;
}

/// Instantiates every case of the suite for a [`Driver`]: one `#[test]`
/// each.
#[macro_export]
macro_rules! suite {
    ($driver:ty) => {
        $crate::suite!(@cases $driver;
            delivers_every_record_once,
            keeps_send_order_within_a_partition,
            retries_through_cut_connections,
            retries_error_codes_and_follows_leader_moves,
            times_out_requests_then_deliveries,
            backpressure_waits_max_block_then_hands_the_record_back,
            a_blocked_send_goes_through_when_memory_frees,
            flush_waits_for_every_record_sent_before,
            close_hands_back_pending_records_when_its_timeout_runs_out,
            close_drains_within_its_timeout,
            acks_zero_records_reach_the_log_before_close,
            transactions_commit_records_and_offsets_and_hide_aborted_ones,
            transaction_calls_out_of_order_are_refused,
            a_newer_producer_with_the_same_transactional_id_fences_the_older,
            transaction_calls_retry_coordinator_errors
        );
    };
    (@cases $driver:ty; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                $crate::$case::<$driver>();
            }
        )*
    };
}

const TOPIC: &str = "conformance";
const WAIT: Duration = Duration::from_secs(30);

fn server(partitions: usize) -> SimServer {
    let server = SimServer::bind().expect("bind the sim server on loopback");
    server.create_topic(TOPIC, partitions);
    server
}

fn config(server: &SimServer) -> ConfigBuilder {
    let mut b = Config::builder();
    b.bootstrap_servers(&server.bootstrap_servers());
    b
}

fn record(key: &str, value: String) -> Record {
    Record::new(TOPIC).key(key.to_string()).value(value)
}

fn delivered<D: Driver>(pending: D::Pending) -> Delivery {
    match D::wait(pending, WAIT) {
        Some(Ok(d)) => d,
        Some(Err(e)) => panic!("not delivered: {e}"),
        None => panic!("no result within {WAIT:?}"),
    }
}

/// Sends `n` records with keys `k0..k{keys}` and values `v{i}`; returns
/// each delivery in send order.
fn send_keyed<D: Driver>(p: &D::Producer, n: usize, keys: usize) -> Vec<D::Pending> {
    (0..n)
        .map(|i| {
            D::send(p, record(&format!("k{}", i % keys), format!("v{i}")))
                .unwrap_or_else(|e| panic!("send {i} refused: {e}"))
        })
        .collect()
}

/// The values the cluster stored, per partition, in log order.
fn stored(server: &SimServer, partitions: usize) -> BTreeMap<usize, Vec<String>> {
    (0..partitions)
        .map(|p| {
            let values = server
                .log(TOPIC, p)
                .iter()
                .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"")).into_owned())
                .collect();
            (p, values)
        })
        .collect()
}

/// Every value `v0..v{n}` stored exactly once, and within each partition
/// in send order.
fn assert_once_in_order(server: &SimServer, partitions: usize, n: usize) {
    let mut seen = vec![0u32; n];
    for (p, values) in stored(server, partitions) {
        let mut last = None;
        for v in values {
            let i: usize = v[1..].parse().expect("a value the suite sent");
            seen[i] += 1;
            assert!(
                last.is_none_or(|l| l < i),
                "partition {p}: v{i} stored after v{}",
                last.unwrap_or(0)
            );
            last = Some(i);
        }
    }
    let missing: Vec<usize> = (0..n).filter(|i| seen[*i] == 0).collect();
    let twice: Vec<usize> = (0..n).filter(|i| seen[*i] > 1).collect();
    assert!(missing.is_empty(), "never stored: {missing:?}");
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
}

/// Every record is delivered once: the cluster has each, and the offsets
/// the driver reported are the ones it stored them at.
pub fn delivers_every_record_once<D: Driver>() {
    let server = server(4);
    let p = D::connect(config(&server).build().unwrap());
    let n = 2_000;
    let pending = send_keyed::<D>(&p, n, 37);
    let deliveries: Vec<Delivery> = pending.into_iter().map(delivered::<D>).collect();
    assert_once_in_order(&server, 4, n);
    let logs = stored(&server, 4);
    for (i, d) in deliveries.iter().enumerate() {
        let offset = d.offset.expect("acks=all reports offsets");
        let at = &logs[&(d.partition as usize)][offset as usize];
        assert_eq!(
            at,
            &format!("v{i}"),
            "record {i}'s reported offset holds another"
        );
    }
    D::close(&p, WAIT).expect("close");
}

/// Records of one key land in one partition in send order, and their
/// offsets increase in that order.
pub fn keeps_send_order_within_a_partition<D: Driver>() {
    let server = server(3);
    let mut b = config(&server);
    b.linger(Duration::from_millis(1)).batch_size(512);
    let p = D::connect(b.build().unwrap());
    let n = 3_000;
    let pending = send_keyed::<D>(&p, n, 5);
    let deliveries: Vec<Delivery> = pending.into_iter().map(delivered::<D>).collect();
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for d in &deliveries {
        let offset = d.offset.unwrap();
        let prev = last.insert(d.partition, offset);
        assert!(
            prev.is_none_or(|o| o < offset),
            "offsets went backwards in {}",
            d.partition
        );
    }
    assert_once_in_order(&server, 3, n);
    D::close(&p, WAIT).expect("close");
}

/// Connections cut before and after the broker applied a request, and
/// all at once mid-run: with idempotence every record is stored once, in
/// order.
pub fn retries_through_cut_connections<D: Driver>() {
    let server = server(4);
    server.set_faults(NetFaults {
        latency: Latency::fixed(Duration::ZERO),
        drop_before_apply: Chance::percent(3),
        drop_after_apply: Chance::percent(3),
        ..NetFaults::default()
    });
    let mut b = config(&server);
    b.retry_backoff(Duration::from_millis(5))
        .reconnect_backoff(Duration::from_millis(5))
        .reconnect_backoff_max(Duration::from_millis(50))
        .batch_size(2048);
    let p = D::connect(b.build().unwrap());
    let n = 3_000;
    let mut pending = send_keyed::<D>(&p, n / 2, 11);
    let cut = server.cut_connections();
    pending.extend(
        (n / 2..n)
            .map(|i| D::send(&p, record(&format!("k{}", i % 11), format!("v{i}"))).expect("send")),
    );
    for d in pending {
        delivered::<D>(d);
    }
    let tally = server.tally();
    assert!(
        tally.dropped_before_apply + tally.dropped_after_apply + cut as u64 > 0,
        "the run cut no connection: it tested nothing"
    );
    assert_once_in_order(&server, 4, n);
    D::close(&p, WAIT).expect("close");
}

/// Retriable error codes are retried; a leader that moves is followed.
pub fn retries_error_codes_and_follows_leader_moves<D: Driver>() {
    let server = server(2);
    server.inject(
        ApiKey::Produce,
        &[
            KafkaCode::NotLeaderOrFollower,
            KafkaCode::NotEnoughReplicas,
            KafkaCode::RequestTimedOut,
        ],
    );
    let mut b = config(&server);
    b.retry_backoff(Duration::from_millis(5));
    let p = D::connect(b.build().unwrap());
    let first = send_keyed::<D>(&p, 500, 7);
    for d in first {
        delivered::<D>(d);
    }
    server.strike(
        TOPIC,
        ClusterFault::MoveLeader {
            partition: 0,
            to: 1,
        },
    );
    server.strike(
        TOPIC,
        ClusterFault::MoveLeader {
            partition: 1,
            to: 2,
        },
    );
    let second: Vec<_> = (500..1000)
        .map(|i| D::send(&p, record(&format!("k{}", i % 7), format!("v{i}"))).unwrap())
        .collect();
    for d in second {
        delivered::<D>(d);
    }
    assert_once_in_order(&server, 2, 1000);
    let m = server.with_cluster(|c| c.injected_left(ApiKey::Produce));
    assert_eq!(m, 0, "the injected errors were never met");
    D::close(&p, WAIT).expect("close");
}

/// A broker that stops answering: requests time out after
/// `request.timeout.ms` and are retried, and each record fails at its
/// `delivery.timeout.ms`, handed back whole.
pub fn times_out_requests_then_deliveries<D: Driver>() {
    let server = server(1);
    let mut b = config(&server);
    b.request_timeout(Duration::from_millis(200))
        .delivery_timeout(Duration::from_millis(800))
        .linger(Duration::from_millis(5))
        .retry_backoff(Duration::from_millis(10));
    let p = D::connect(b.build().unwrap());
    delivered::<D>(D::send(&p, record("k", "warm-up".into())).unwrap());
    server.mute(0);
    let sent = Instant::now();
    let pending = (0..20)
        .map(|i| D::send(&p, record("k", format!("v{i}"))).unwrap())
        .collect::<Vec<_>>();
    for (i, d) in pending.into_iter().enumerate() {
        match D::wait(d, WAIT) {
            Some(Err(DeliveryError { error, record })) => {
                assert!(
                    matches!(error, ProduceError::DeliveryTimeout { .. }),
                    "record {i}: {error}"
                );
                assert_eq!(record.value.as_deref(), Some(format!("v{i}").as_bytes()));
            }
            other => panic!("record {i}: expected a delivery timeout, got {other:?}"),
        }
    }
    let took = sent.elapsed();
    // Deadlines hold: at most delivery.timeout.ms plus one request timeout
    // (a request in flight), plus scheduling slack.
    assert!(
        took >= Duration::from_millis(800),
        "failed early, after {took:?}"
    );
    assert!(
        took < Duration::from_millis(800 + 200 + 2_000),
        "failed late, after {took:?}"
    );
    let (requests, _) = server.requests();
    assert!(
        requests > 3,
        "requests were not retried after their timeout"
    );
    server.unmute(0);
    D::close(&p, WAIT).expect("close");
}

fn stalled_producer<D: Driver>(server: &SimServer, max_block: Duration) -> D::Producer {
    let mut b = config(server);
    b.buffer_memory(16 * 1024)
        .batch_size(4 * 1024)
        .max_block(max_block)
        .request_timeout(Duration::from_secs(20))
        .delivery_timeout(Duration::from_secs(60));
    let p = D::connect(b.build().unwrap());
    delivered::<D>(D::send(&p, record("k", "warm-up".into())).unwrap());
    server.mute(0);
    p
}

/// Fills `buffer.memory` while the broker is mute; returns what was
/// accepted and the first record refused.
fn fill<D: Driver>(p: &D::Producer) -> (Vec<D::Pending>, SendError<()>, Duration) {
    let mut accepted = Vec::new();
    for i in 0..10_000 {
        let started = Instant::now();
        match D::send(p, record("k", format!("{i:0>200}"))) {
            Ok(d) => accepted.push(d),
            Err(e) => return (accepted, e, started.elapsed()),
        }
    }
    panic!("16 KiB of buffer.memory took 10,000 records of 200 bytes");
}

/// A full buffer makes `send` wait `max.block.ms`, then refuse with
/// BufferTimeout and hand the record back.
pub fn backpressure_waits_max_block_then_hands_the_record_back<D: Driver>() {
    let server = server(1);
    let max_block = Duration::from_millis(300);
    let p = stalled_producer::<D>(&server, max_block);
    let (accepted, refused, waited) = fill::<D>(&p);
    assert!(!accepted.is_empty());
    assert!(
        matches!(refused.kind, SendErrorKind::BufferTimeout { .. }),
        "{}",
        refused.kind
    );
    assert_eq!(refused.record.topic, TOPIC);
    assert_eq!(refused.record.value.as_deref().map(<[u8]>::len), Some(200));
    assert!(
        waited >= max_block,
        "gave up after {waited:?}, before max.block.ms"
    );
    assert!(
        waited < max_block + Duration::from_secs(2),
        "waited {waited:?}"
    );
    server.unmute(0);
    D::close(&p, Duration::from_millis(100)).ok();
}

/// A send waiting for memory is accepted as soon as deliveries free it.
pub fn a_blocked_send_goes_through_when_memory_frees<D: Driver>() {
    let server = server(1);
    let p = stalled_producer::<D>(&server, Duration::from_secs(20));
    let mut accepted = Vec::new();
    // Fill without waiting: a send that blocks would block this test.
    let blocked = loop {
        let p2 = p.clone();
        let i = accepted.len();
        let handle = std::thread::spawn(move || D::send(&p2, record("k", format!("{i:0>200}"))));
        std::thread::sleep(Duration::from_millis(30));
        if handle.is_finished() {
            accepted.push(handle.join().unwrap().expect("accepted"));
        } else {
            break handle;
        }
        assert!(accepted.len() < 10_000);
    };
    let started = Instant::now();
    server.unmute(0);
    // The mute broker's requests time out (20 s) unless answered: cut the
    // connection so that they are sent again at once.
    server.cut_connections();
    let d = blocked
        .join()
        .unwrap()
        .expect("accepted once memory came back");
    assert!(started.elapsed() < Duration::from_secs(15));
    delivered::<D>(d);
    for d in accepted {
        delivered::<D>(d);
    }
    D::close(&p, WAIT).expect("close");
}

/// `flush` returns only when every record sent before it has its result,
/// even with a linger that would hold them for a minute.
pub fn flush_waits_for_every_record_sent_before<D: Driver>() {
    let server = server(2);
    let mut b = config(&server);
    b.linger(Duration::from_secs(60))
        .delivery_timeout(Duration::from_secs(120));
    let p = D::connect(b.build().unwrap());
    let mut pending = send_keyed::<D>(&p, 300, 3);
    let started = Instant::now();
    D::flush(&p);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "flush waited for linger.ms"
    );
    for (i, d) in pending.iter_mut().enumerate() {
        match D::try_result(d) {
            Some(Ok(_)) => {}
            other => panic!("record {i} after flush: {other:?}"),
        }
    }
    assert_once_in_order(&server, 2, 300);
    D::close(&p, WAIT).expect("close");
}

/// `close(timeout)` against a mute broker returns after about `timeout`
/// and fails every pending record with `Aborted`, handed back whole;
/// `send` refuses afterwards.
pub fn close_hands_back_pending_records_when_its_timeout_runs_out<D: Driver>() {
    let server = server(1);
    let p = stalled_producer::<D>(&server, Duration::from_secs(5));
    let pending: Vec<_> = (0..10)
        .map(|i| D::send(&p, record("k", format!("v{i}"))).unwrap())
        .collect();
    let started = Instant::now();
    let timeout = Duration::from_millis(300);
    match D::close(&p, timeout) {
        Err(CloseError::TimedOut { aborted, .. }) => assert_eq!(aborted, 10),
        other => panic!("close against a mute broker: {other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(2),
        "close took {took:?}"
    );
    for (i, d) in pending.into_iter().enumerate() {
        match D::wait(d, Duration::from_secs(1)) {
            Some(Err(DeliveryError {
                error: ProduceError::Aborted { possibly_written },
                record,
            })) => {
                assert_eq!(record.value.as_deref(), Some(format!("v{i}").as_bytes()));
                // The broker read the request and never answered: it may
                // have written it, as far as the producer can know.
                let _ = possibly_written;
            }
            other => panic!("record {i} after close: {other:?}"),
        }
    }
    let refused = D::send(&p, record("k", "late".into()))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(refused.kind, SendErrorKind::Closed);
    assert_eq!(refused.record.value.as_deref(), Some(&b"late"[..]));
    server.unmute(0);
}

/// `close` with time to spare delivers everything first.
pub fn close_drains_within_its_timeout<D: Driver>() {
    let server = server(3);
    let mut b = config(&server);
    b.linger(Duration::from_millis(50));
    let p = D::connect(b.build().unwrap());
    let pending = send_keyed::<D>(&p, 1_000, 13);
    D::close(&p, WAIT).expect("close with time to spare");
    for d in pending {
        delivered::<D>(d);
    }
    assert_once_in_order(&server, 3, 1_000);
}

/// With acks=0 a record counts as delivered once handed to the socket: a
/// close right after must still write every byte before it disconnects.
pub fn acks_zero_records_reach_the_log_before_close<D: Driver>() {
    let server = server(2);
    let mut b = config(&server);
    b.acks(kafka_producer_proto::Acks::None)
        .enable_idempotence(false)
        .linger(Duration::from_millis(0));
    let p = D::connect(b.build().unwrap());
    let n = 20_000;
    let pending = send_keyed::<D>(&p, n, 2);
    for d in pending {
        assert_eq!(delivered::<D>(d).offset, None, "acks=0 reports no offset");
    }
    D::close(&p, WAIT).expect("close");
    // The broker applies what it read; give its threads a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.records(TOPIC) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_once_in_order(&server, 2, n);
}
