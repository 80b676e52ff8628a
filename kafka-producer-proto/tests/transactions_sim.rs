//! The transactional producer against the simulated cluster's transaction
//! and group coordinators: one test per rule, each reading the outcome back
//! through the `read_committed` view (markers, last stable offset, aborted
//! index) and the group's committed offsets.

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_producer_proto::sim::{CoordinatorKind, Marker, SimCluster, SimNet};
use kafka_producer_proto::wire::ApiKey;
use kafka_producer_proto::{
    Config, ConfigBuilder, ConsumerGroupMetadata, ErrorClass, Event, Instant, KafkaCode,
    OffsetCommit, ProduceError, Producer, Record, SendErrorKind, TransactionCall, TransactionError,
    TransactionState,
};

const START: Instant = Instant::from_millis(1_700_000_000_000);
const TOPIC: &str = "out";

fn cluster() -> SimCluster {
    let mut c = SimCluster::new(3);
    c.create_topic(TOPIC, 3);
    c
}

fn config(cluster: &SimCluster, id: &str) -> ConfigBuilder {
    let mut b = Config::builder();
    b.bootstrap_servers(&cluster.bootstrap_servers())
        .transactional_id(id)
        .linger(Duration::from_millis(2));
    b
}

fn net(cluster: SimCluster, b: &ConfigBuilder) -> SimNet<u64> {
    SimNet::new(
        Producer::new(b.build().expect("valid config"), START),
        cluster,
        START,
    )
}

/// Runs until `call`'s outcome event and returns it.
fn outcome(n: &mut SimNet<u64>, call: TransactionCall) -> Result<(), TransactionError> {
    let seen = n.events.len();
    let found = |n: &SimNet<u64>| {
        n.events[seen..].iter().find_map(|e| match e {
            Event::Transaction { call: c, result } if *c == call => Some(result.clone()),
            _ => None,
        })
    };
    assert!(
        n.run_until(Duration::from_secs(120), |n| found(n).is_some()),
        "no outcome for {call} (state {:?})",
        n.producer.transaction_state()
    );
    found(n).unwrap()
}

fn send(n: &mut SimNet<u64>, i: u64) {
    let r = Record::new(TOPIC)
        .key(format!("k{i}"))
        .value(format!("{i}"))
        .user(i);
    let now = n.now;
    n.producer
        .send(r, now)
        .unwrap_or_else(|e| panic!("send {i}: {e}"));
}

/// The record values a read_committed consumer sees, over all partitions.
fn committed(c: &SimCluster) -> Vec<u64> {
    let mut out: Vec<u64> = (0..c.partitions(TOPIC))
        .flat_map(|p| c.read_committed(TOPIC, p))
        .map(|r| {
            std::str::from_utf8(r.value.as_deref().unwrap())
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    out.sort();
    out
}

/// The record values in the logs (read_uncommitted), control records left out.
fn written(c: &SimCluster) -> Vec<u64> {
    let mut out: Vec<u64> = (0..c.partitions(TOPIC))
        .flat_map(|p| c.log(TOPIC, p).to_vec())
        .filter(|r| r.control.is_none())
        .map(|r| {
            std::str::from_utf8(r.value.as_deref().unwrap())
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    out.sort();
    out
}

fn markers(c: &SimCluster, which: Marker) -> usize {
    (0..c.partitions(TOPIC))
        .flat_map(|p| c.log(TOPIC, p).to_vec())
        .filter(|r| r.control == Some(which))
        .count()
}

fn init(n: &mut SimNet<u64>) {
    let now = n.now;
    n.producer.init_transactions(now).unwrap();
    outcome(n, TransactionCall::InitTransactions).expect("init_transactions");
    assert_eq!(
        n.producer.transaction_state(),
        Some(TransactionState::Ready)
    );
}

fn group() -> ConsumerGroupMetadata {
    ConsumerGroupMetadata::new("g")
}

/// One transaction of `records` with offsets `next` for input partition 0.
fn transaction(
    n: &mut SimNet<u64>,
    records: std::ops::Range<u64>,
    commit: bool,
) -> Result<(), TransactionError> {
    n.producer.begin_transaction().unwrap();
    let next = records.end as i64;
    for i in records {
        send(n, i);
    }
    let now = n.now;
    n.producer
        .send_offsets_to_transaction([OffsetCommit::new("in", 0, next)], &group(), now)
        .unwrap();
    outcome(n, TransactionCall::SendOffsets)?;
    let now = n.now;
    let result = if commit {
        n.producer.commit_transaction(now).unwrap();
        outcome(n, TransactionCall::CommitTransaction)
    } else {
        n.producer.abort_transaction(now).unwrap();
        outcome(n, TransactionCall::AbortTransaction)
    };
    // The coordinator answers EndTxn once it decided; the markers that
    // make the outcome visible follow.
    n.run_for(Duration::from_millis(100));
    result
}

#[test]
fn a_committed_transaction_is_read_once_with_its_offsets() {
    let c = cluster();
    let mut n = net(c, &config(&cluster(), "app"));
    init(&mut n);
    transaction(&mut n, 0..20, true).expect("commit");
    assert_eq!(committed(&n.cluster), (0..20).collect::<Vec<_>>());
    assert_eq!(
        n.cluster.committed_offsets("g").get(&("in".to_string(), 0)),
        Some(&20)
    );
    assert!(markers(&n.cluster, Marker::Commit) >= 1);
    let delivered = n
        .events
        .iter()
        .filter(|e| matches!(e, Event::Delivered { .. }))
        .count();
    assert_eq!(delivered, 20, "each record still gets its own event");
    // A second transaction under the same epoch.
    transaction(&mut n, 20..30, true).expect("second commit");
    assert_eq!(committed(&n.cluster), (0..30).collect::<Vec<_>>());
    assert_eq!(
        n.producer.producer_id().map(|p| p.1),
        Some(0),
        "no bump needed"
    );
}

#[test]
fn an_aborted_transaction_is_written_but_never_read_committed() {
    let mut n = net(cluster(), &config(&cluster(), "app"));
    init(&mut n);
    transaction(&mut n, 0..10, false).expect("abort");
    assert_eq!(
        written(&n.cluster),
        (0..10).collect::<Vec<_>>(),
        "read_uncommitted sees them"
    );
    assert!(committed(&n.cluster).is_empty(), "read_committed does not");
    assert!(
        n.cluster.committed_offsets("g").is_empty(),
        "its offsets are dropped"
    );
    assert!(markers(&n.cluster, Marker::Abort) >= 1);
    let aborted: usize = (0..3)
        .map(|p| n.cluster.aborted_transactions(TOPIC, p).len())
        .sum();
    assert!(aborted >= 1);
    transaction(&mut n, 10..15, true).expect("commit after abort");
    assert_eq!(committed(&n.cluster), (10..15).collect::<Vec<_>>());
    for p in 0..3 {
        let end = n.cluster.log(TOPIC, p).last().map_or(0, |r| r.offset + 1);
        assert_eq!(
            n.cluster.last_stable_offset(TOPIC, p),
            end,
            "nothing left open"
        );
    }
}

#[test]
fn calls_out_of_order_are_refused_and_change_nothing() {
    let mut n = net(cluster(), &config(&cluster(), "app"));
    let now = n.now;
    let illegal = |e: TransactionError, call, state| {
        assert_eq!(e, TransactionError::InvalidState { call, state });
        assert_eq!(e.class(), ErrorClass::Misuse);
    };
    illegal(
        n.producer.begin_transaction().unwrap_err(),
        TransactionCall::BeginTransaction,
        TransactionState::Uninitialized,
    );
    let refused = n
        .producer
        .send(Record::new(TOPIC).value("x").user(0), now)
        .unwrap_err();
    assert!(matches!(
        refused.kind,
        SendErrorKind::Transaction(TransactionError::InvalidState {
            call: TransactionCall::Send,
            state: TransactionState::Uninitialized
        })
    ));
    assert_eq!(
        refused.record.value.as_deref(),
        Some(&b"x"[..]),
        "handed back"
    );
    init(&mut n);
    let now = n.now;
    illegal(
        n.producer.commit_transaction(now).unwrap_err(),
        TransactionCall::CommitTransaction,
        TransactionState::Ready,
    );
    illegal(
        n.producer.abort_transaction(now).unwrap_err(),
        TransactionCall::AbortTransaction,
        TransactionState::Ready,
    );
    illegal(
        n.producer.init_transactions(now).unwrap_err(),
        TransactionCall::InitTransactions,
        TransactionState::Ready,
    );
    assert!(
        n.producer
            .send(Record::new(TOPIC).value("x").user(0), now)
            .is_err()
    );
    n.producer.begin_transaction().unwrap();
    send(&mut n, 0);
    illegal(
        n.producer.begin_transaction().unwrap_err(),
        TransactionCall::BeginTransaction,
        TransactionState::InTransaction,
    );
    let bad = ConsumerGroupMetadata::new("g").with_member(3, "");
    assert!(matches!(
        n.producer
            .send_offsets_to_transaction([OffsetCommit::new("in", 0, 1)], &bad, now),
        Err(TransactionError::InvalidGroupMetadata { .. })
    ));
    assert!(matches!(
        n.producer
            .send_offsets_to_transaction([OffsetCommit::new("in", 0, -1)], &group(), now),
        Err(TransactionError::InvalidGroupMetadata { .. })
    ));
    n.producer.commit_transaction(now).unwrap();
    n.producer
        .commit_transaction(now)
        .expect("the same call again while under way");
    illegal(
        n.producer.abort_transaction(now).unwrap_err(),
        TransactionCall::AbortTransaction,
        TransactionState::CommittingTransaction,
    );
    assert_eq!(outcome(&mut n, TransactionCall::CommitTransaction), Ok(()));
    let commits = n
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Transaction {
                    call: TransactionCall::CommitTransaction,
                    ..
                }
            )
        })
        .count();
    assert_eq!(commits, 1, "one outcome for the call made twice");
    let plain = Config::builder()
        .bootstrap_servers(&n.cluster.bootstrap_servers())
        .build()
        .unwrap();
    let mut p: Producer<()> = Producer::new(plain, START);
    assert_eq!(
        p.init_transactions(START),
        Err(TransactionError::NotTransactional)
    );
    assert_eq!(p.transaction_state(), None);
}

#[test]
fn a_second_producer_with_the_same_id_fences_the_first() {
    let c = cluster();
    let b = config(&c, "app");
    let mut first = net(c, &b);
    init(&mut first);
    first.producer.begin_transaction().unwrap();
    for i in 0..5 {
        send(&mut first, i);
    }
    first.run_for(Duration::from_millis(50));
    // A second instance starts against the same cluster state.
    let cluster = std::mem::replace(&mut first.cluster, SimCluster::new(0));
    let mut second = SimNet::new(
        Producer::new(b.build().unwrap(), first.now),
        cluster,
        first.now,
    );
    init(&mut second);
    let first_epoch = first.producer.producer_id().unwrap();
    let second_epoch = second.producer.producer_id().unwrap();
    assert_eq!(first_epoch.0, second_epoch.0, "same producer id");
    assert!(
        second_epoch.1 >= first_epoch.1 + 2,
        "fenced once, then bumped: {first_epoch:?} {second_epoch:?}"
    );
    transaction(&mut second, 100..103, true).expect("the new producer commits");
    // The first one tries to go on.
    first.cluster = std::mem::replace(&mut second.cluster, SimCluster::new(0));
    for i in 5..8 {
        send(&mut first, i);
    }
    let now = first.now;
    first.producer.commit_transaction(now).unwrap();
    let mut err = outcome(&mut first, TransactionCall::CommitTransaction).unwrap_err();
    if err.class() == ErrorClass::Abortable {
        // Its records met the new epoch's markers (INVALID_PRODUCER_EPOCH,
        // abortable since KIP-588); the abort meets the coordinator.
        assert_eq!(err.code(), Some(KafkaCode::InvalidProducerEpoch), "{err}");
        let now = first.now;
        first.producer.abort_transaction(now).unwrap();
        err = outcome(&mut first, TransactionCall::AbortTransaction).unwrap_err();
    }
    assert_eq!(err.class(), ErrorClass::Fatal, "{err}");
    assert!(matches!(err, TransactionError::Fenced { .. }), "{err}");
    assert_eq!(
        first.producer.transaction_state(),
        Some(TransactionState::FatalError)
    );
    assert_eq!(
        committed(&first.cluster),
        vec![100, 101, 102],
        "none of the zombie's writes"
    );
    let now = first.now;
    assert!(first.producer.begin_transaction().is_err());
    assert!(matches!(
        first
            .producer
            .send(Record::new(TOPIC).value("9").user(9), now)
            .unwrap_err()
            .kind,
        SendErrorKind::Fatal(_)
    ));
}

#[test]
fn coordinator_moves_loading_and_concurrent_transactions_are_retried() {
    let mut c = cluster();
    c.set_marker_delay(Duration::from_millis(30));
    let mut n = net(c, &config(&cluster(), "app"));
    n.cluster.inject(
        ApiKey::FindCoordinator,
        &[KafkaCode::CoordinatorNotAvailable],
    );
    n.cluster.inject(
        ApiKey::InitProducerId,
        &[
            KafkaCode::CoordinatorLoadInProgress,
            KafkaCode::NotCoordinator,
        ],
    );
    init(&mut n);
    n.cluster
        .move_coordinator(CoordinatorKind::Transaction, 2, Duration::from_millis(100));
    n.cluster
        .move_coordinator(CoordinatorKind::Group, 1, Duration::from_millis(100));
    n.cluster.inject(
        ApiKey::AddPartitionsToTxn,
        &[KafkaCode::ConcurrentTransactions],
    );
    n.cluster.inject(
        ApiKey::EndTxn,
        &[
            KafkaCode::ConcurrentTransactions,
            KafkaCode::CoordinatorNotAvailable,
        ],
    );
    n.cluster.inject(
        ApiKey::TxnOffsetCommit,
        &[
            KafkaCode::NotCoordinator,
            KafkaCode::UnknownTopicOrPartition,
        ],
    );
    n.cluster.inject(
        ApiKey::AddOffsetsToTxn,
        &[KafkaCode::ConcurrentTransactions],
    );
    transaction(&mut n, 0..10, true).expect("commit through it all");
    // Right after a commit the markers are still being written: the next
    // transaction's first add meets CONCURRENT_TRANSACTIONS and waits.
    transaction(&mut n, 10..20, true).expect("second commit");
    assert_eq!(committed(&n.cluster), (0..20).collect::<Vec<_>>());
    for api in [
        ApiKey::FindCoordinator,
        ApiKey::InitProducerId,
        ApiKey::AddPartitionsToTxn,
        ApiKey::EndTxn,
        ApiKey::TxnOffsetCommit,
        ApiKey::AddOffsetsToTxn,
    ] {
        assert_eq!(n.cluster.injected_left(api), 0, "{api:?}");
    }
    let to = |node: i32, api: ApiKey| {
        n.requests
            .iter()
            .filter(|(_, nd, a)| *nd == node && *a == api)
            .count()
    };
    assert!(
        to(2, ApiKey::EndTxn) >= 1,
        "EndTxn followed the coordinator"
    );
    assert!(
        to(1, ApiKey::TxnOffsetCommit) >= 1,
        "offsets followed the group coordinator"
    );
}

#[test]
fn a_failed_record_makes_the_transaction_abortable_and_the_abort_bumps_the_epoch() {
    let mut n = net(cluster(), &config(&cluster(), "app"));
    init(&mut n);
    let before = n.producer.producer_id().unwrap();
    n.producer.begin_transaction().unwrap();
    n.cluster
        .inject(ApiKey::Produce, &[KafkaCode::InvalidRecord]);
    for i in 0..5 {
        send(&mut n, i);
    }
    let now = n.now;
    n.producer.commit_transaction(now).unwrap();
    let err = outcome(&mut n, TransactionCall::CommitTransaction).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Abortable, "{err}");
    assert_eq!(
        n.producer.transaction_state(),
        Some(TransactionState::AbortableError)
    );
    let now = n.now;
    assert_eq!(
        n.producer.commit_transaction(now),
        Err(err.clone()),
        "commit fails with the error"
    );
    assert!(matches!(
        n.producer
            .send(Record::new(TOPIC).value("9").user(9), now)
            .unwrap_err()
            .kind,
        SendErrorKind::Transaction(_)
    ));
    n.producer.abort_transaction(now).unwrap();
    outcome(&mut n, TransactionCall::AbortTransaction).expect("abort");
    let after = n.producer.producer_id().unwrap();
    assert_eq!(
        after,
        (before.0, before.1 + 1),
        "KIP-360: the epoch was bumped"
    );
    transaction(&mut n, 10..15, true).expect("goes on");
    assert_eq!(committed(&n.cluster), (10..15).collect::<Vec<_>>());
    let failed: BTreeSet<u64> = n
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Failed { record, .. } => Some(record.user),
            _ => None,
        })
        .collect();
    assert!(!failed.is_empty());
}

#[test]
fn a_transaction_left_open_too_long_is_aborted_by_the_broker_and_reported() {
    let c = cluster();
    let mut b = config(&c, "app");
    b.transaction_timeout(Duration::from_millis(500));
    let mut n = net(c, &b);
    init(&mut n);
    n.producer.begin_transaction().unwrap();
    for i in 0..3 {
        send(&mut n, i);
    }
    n.run_for(Duration::from_secs(2));
    assert!(
        n.cluster
            .transaction_decisions()
            .iter()
            .any(|d| d.timed_out && d.marker == Marker::Abort),
        "the coordinator aborted it"
    );
    let now = n.now;
    n.producer.commit_transaction(now).unwrap();
    let err = outcome(&mut n, TransactionCall::CommitTransaction).unwrap_err();
    assert!(
        matches!(err, TransactionError::TransactionTimedOut { .. }),
        "{err}"
    );
    assert_eq!(
        err.class(),
        ErrorClass::Fatal,
        "transactions v1: the epoch moved on"
    );
    assert!(committed(&n.cluster).is_empty());
}

#[test]
fn close_aborts_an_open_transaction() {
    let mut n = net(cluster(), &config(&cluster(), "app"));
    init(&mut n);
    n.producer.begin_transaction().unwrap();
    for i in 0..5 {
        send(&mut n, i);
    }
    n.run_for(Duration::from_millis(20));
    let now = n.now;
    n.producer.close(now);
    assert!(n.run_until(Duration::from_secs(60), |n| n.events.last()
        == Some(&Event::Closed)));
    n.run_for(Duration::from_millis(100));
    assert!(committed(&n.cluster).is_empty());
    assert!(
        markers(&n.cluster, Marker::Abort) >= 1,
        "an abort marker, not an open transaction"
    );
    for p in 0..3 {
        let end = n.cluster.log(TOPIC, p).last().map_or(0, |r| r.offset + 1);
        assert_eq!(n.cluster.last_stable_offset(TOPIC, p), end);
    }
    let _ = ProduceError::Transaction(TransactionError::Aborted);
}
