//! The transaction manager alone, driven by hand-made answers: no producer,
//! no network.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::manager::{CoordinatorType, Dest, Effect, TransactionManager, Work};
use super::{
    ConsumerGroupMetadata, OffsetCommit, TransactionCall, TransactionError, TransactionState,
};
use crate::kafka_code::KafkaCode;
use crate::time::Instant;
use crate::wire::messages::add_partitions_to_txn::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use crate::wire::messages::txn_offset_commit::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use crate::wire::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, EndTxnResponse, FindCoordinatorResponse,
    InitProducerIdResponse, TxnOffsetCommitResponse,
};

const T0: Instant = Instant::from_millis(1_000);

fn name(_: u32) -> String {
    String::from("out")
}

fn effects(m: &mut TransactionManager) -> Vec<Effect> {
    core::iter::from_fn(|| m.take_effect()).collect()
}

fn outcomes(m: &mut TransactionManager) -> Vec<(TransactionCall, Result<(), TransactionError>)> {
    effects(m)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Outcome { call, result } => Some((call, result)),
            _ => None,
        })
        .collect()
}

fn found(m: &mut TransactionManager, kind: CoordinatorType, node: i32) {
    m.find_coordinator_request(kind, 3).unwrap();
    let r = FindCoordinatorResponse::default()
        .with_node_id(node)
        .with_host(String::from("b"))
        .with_port(9092);
    m.on_find_coordinator(kind, &r, 3, T0);
}

/// Initialized with producer id 7, epoch 0, coordinator on node 1.
fn ready() -> TransactionManager {
    let mut m = TransactionManager::new("app", Duration::from_secs(60), Duration::from_millis(100));
    m.call(TransactionCall::InitTransactions, T0).unwrap();
    assert_eq!(
        m.next_work(T0, false),
        Some((
            Work::FindCoordinator(CoordinatorType::Transaction),
            Dest::Any
        ))
    );
    found(&mut m, CoordinatorType::Transaction, 1);
    assert_eq!(
        m.next_work(T0, false),
        Some((Work::InitProducerId, Dest::Node(1)))
    );
    let request = m.init_producer_id_request(4).unwrap();
    assert_eq!(request.transactional_id.as_deref(), Some("app"));
    assert_eq!((request.producer_id, request.producer_epoch), (-1, -1));
    m.on_init_producer_id(
        &InitProducerIdResponse::default()
            .with_producer_id(7)
            .with_producer_epoch(0),
        T0,
    );
    let e = effects(&mut m);
    assert!(
        e.contains(&Effect::Identity {
            producer_id: 7,
            epoch: 0
        }),
        "{e:?}"
    );
    assert!(e.contains(&Effect::Outcome {
        call: TransactionCall::InitTransactions,
        result: Ok(())
    }));
    assert_eq!(m.state(), TransactionState::Ready);
    m
}

fn add_ok(m: &mut TransactionManager, partitions: &[i32]) {
    let request = m.add_partitions_request(name);
    assert_eq!(request.v3_and_below_topics[0].partitions, partitions);
    let results = partitions
        .iter()
        .map(|p| AddPartitionsToTxnPartitionResult::default().with_partition_index(*p))
        .collect();
    let response = AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(vec![
        AddPartitionsToTxnTopicResult::default()
            .with_name(String::from("out"))
            .with_results_by_partition(results),
    ]);
    m.on_add_partitions(&response, name, T0);
}

#[test]
fn a_transaction_adds_its_partitions_in_one_request_then_ends() {
    let mut m = ready();
    m.call(TransactionCall::BeginTransaction, T0).unwrap();
    m.add_partition((0, 2), T0);
    m.add_partition((0, 0), T0);
    m.add_partition((0, 2), T0);
    assert!(!m.may_drain((0, 0)), "not before it is added");
    assert_eq!(
        m.next_work(T0, true),
        Some((Work::AddPartitions, Dest::Node(1)))
    );
    add_ok(&mut m, &[0, 2]);
    assert!(m.may_drain((0, 0)) && m.may_drain((0, 2)));
    m.call(TransactionCall::CommitTransaction, T0).unwrap();
    assert_eq!(m.next_work(T0, true), None, "EndTxn waits for the records");
    assert_eq!(m.next_work(T0, false), Some((Work::EndTxn, Dest::Node(1))));
    let end = m.end_txn_request();
    assert!(end.committed);
    m.on_end_txn(&EndTxnResponse::default(), 4, T0);
    assert_eq!(
        outcomes(&mut m),
        [(TransactionCall::CommitTransaction, Ok(()))]
    );
    assert_eq!(m.state(), TransactionState::Ready);
}

#[test]
fn a_transaction_the_coordinator_never_heard_of_ends_without_a_request() {
    let mut m = ready();
    m.call(TransactionCall::BeginTransaction, T0).unwrap();
    m.call(TransactionCall::AbortTransaction, T0).unwrap();
    assert_eq!(m.next_work(T0, false), None);
    m.settle(false);
    assert_eq!(
        outcomes(&mut m),
        [(TransactionCall::AbortTransaction, Ok(()))]
    );
    assert_eq!(m.state(), TransactionState::Ready);
}

#[test]
fn concurrent_transactions_on_the_first_add_retries_after_20_ms() {
    let mut m = ready();
    m.call(TransactionCall::BeginTransaction, T0).unwrap();
    m.add_partition((0, 0), T0);
    m.add_partitions_request(name);
    let busy = AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(vec![
        AddPartitionsToTxnTopicResult::default()
            .with_name(String::from("out"))
            .with_results_by_partition(vec![
                AddPartitionsToTxnPartitionResult::default()
                    .with_partition_index(0)
                    .with_partition_error_code(KafkaCode::ConcurrentTransactions.code()),
            ]),
    ]);
    m.on_add_partitions(&busy, name, T0);
    assert_eq!(m.next_work(T0 + Duration::from_millis(19), true), None);
    assert_eq!(
        m.next_work(T0 + Duration::from_millis(20), true),
        Some((Work::AddPartitions, Dest::Node(1))),
        "the partition is pending again"
    );
    assert_eq!(m.state(), TransactionState::InTransaction);
}

#[test]
fn not_coordinator_sends_the_producer_to_find_it_again() {
    let mut m = ready();
    m.call(TransactionCall::BeginTransaction, T0).unwrap();
    m.add_partition((0, 0), T0);
    m.call(TransactionCall::CommitTransaction, T0).unwrap();
    add_ok(&mut m, &[0]);
    m.end_txn_request();
    m.on_end_txn(
        &EndTxnResponse::default().with_error_code(KafkaCode::NotCoordinator.code()),
        4,
        T0,
    );
    let later = T0 + Duration::from_millis(100);
    assert_eq!(
        m.next_work(later, false),
        Some((
            Work::FindCoordinator(CoordinatorType::Transaction),
            Dest::Any
        ))
    );
    found(&mut m, CoordinatorType::Transaction, 2);
    assert_eq!(
        m.next_work(later, false),
        Some((Work::EndTxn, Dest::Node(2)))
    );
    // A lost answer (connection gone) is asked again too.
    m.end_txn_request();
    m.lost(Work::EndTxn, later);
    assert_eq!(
        m.next_work(later + Duration::from_millis(100), false),
        Some((
            Work::FindCoordinator(CoordinatorType::Transaction),
            Dest::Any
        ))
    );
}

/// Found by the transactional schedules: offsets whose request was in
/// flight when the transaction turned abortable never got their outcome,
/// and the application waited for it forever.
#[test]
fn offsets_in_flight_when_the_transaction_turns_abortable_still_get_an_outcome() {
    let mut m = ready();
    m.call(TransactionCall::BeginTransaction, T0).unwrap();
    let group = ConsumerGroupMetadata::new("g");
    m.send_offsets(vec![OffsetCommit::new("in", 0, 5)], group, T0)
        .unwrap();
    assert_eq!(
        m.next_work(T0, false),
        Some((Work::AddOffsets, Dest::Node(1)))
    );
    m.add_offsets_request();
    m.record_failed(Some(KafkaCode::InvalidRecord), T0);
    assert_eq!(m.state(), TransactionState::AbortableError);
    assert!(
        outcomes(&mut m).is_empty(),
        "its request is still in flight"
    );
    m.on_add_offsets(&AddOffsetsToTxnResponse::default(), T0);
    m.settle(false);
    let got = outcomes(&mut m);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, TransactionCall::SendOffsets);
    assert_eq!(
        got[0].1.as_ref().map_err(|e| e.code()),
        Err(Some(KafkaCode::InvalidRecord))
    );
}

#[test]
fn offsets_go_to_the_group_coordinator_and_retry_what_failed() {
    let mut m = ready();
    m.call(TransactionCall::BeginTransaction, T0).unwrap();
    let group = ConsumerGroupMetadata::new("g").with_member(3, "m-1");
    m.send_offsets(
        vec![OffsetCommit::new("in", 0, 5), OffsetCommit::new("in", 1, 9)],
        group,
        T0,
    )
    .unwrap();
    m.add_offsets_request();
    m.on_add_offsets(&AddOffsetsToTxnResponse::default(), T0);
    assert_eq!(
        m.next_work(T0, false),
        Some((Work::FindCoordinator(CoordinatorType::Group), Dest::Any))
    );
    found(&mut m, CoordinatorType::Group, 2);
    assert_eq!(
        m.next_work(T0, false),
        Some((Work::TxnOffsetCommit, Dest::Node(2)))
    );
    assert!(
        matches!(
            m.txn_offset_commit_request(2),
            Err(TransactionError::UnsupportedVersion { .. })
        ),
        "KIP-447 metadata needs v3"
    );
    let request = m.txn_offset_commit_request(3).unwrap();
    assert_eq!(
        (request.generation_id, request.member_id.as_str()),
        (3, "m-1")
    );
    let partition = |p: i32, code: KafkaCode| {
        TxnOffsetCommitResponsePartition::default()
            .with_partition_index(p)
            .with_error_code(code.code())
    };
    let half = TxnOffsetCommitResponse::default().with_topics(vec![
        TxnOffsetCommitResponseTopic::default()
            .with_name(String::from("in"))
            .with_partitions(vec![
                partition(0, KafkaCode::None),
                partition(1, KafkaCode::CoordinatorLoadInProgress),
            ]),
    ]);
    m.on_txn_offset_commit(&half, T0);
    assert!(outcomes(&mut m).is_empty());
    let later = T0 + Duration::from_millis(100);
    let request = m.txn_offset_commit_request(3).unwrap();
    assert_eq!(request.topics[0].partitions.len(), 1, "only what is left");
    assert_eq!(request.topics[0].partitions[0].partition_index, 1);
    let rest = TxnOffsetCommitResponse::default().with_topics(vec![
        TxnOffsetCommitResponseTopic::default()
            .with_name(String::from("in"))
            .with_partitions(vec![partition(1, KafkaCode::IllegalGeneration)]),
    ]);
    m.on_txn_offset_commit(&rest, later);
    let got = outcomes(&mut m);
    assert!(
        matches!(
            got[..],
            [(
                TransactionCall::SendOffsets,
                Err(TransactionError::GroupMetadataMismatch {
                    code: KafkaCode::IllegalGeneration
                })
            )]
        ),
        "{got:?}"
    );
    assert_eq!(m.state(), TransactionState::AbortableError);
}

#[test]
fn an_abort_after_a_failed_record_bumps_the_epoch_before_its_outcome() {
    let mut m = ready();
    m.call(TransactionCall::BeginTransaction, T0).unwrap();
    m.add_partition((0, 0), T0);
    add_ok(&mut m, &[0]);
    m.record_failed(None, T0);
    assert_eq!(m.state(), TransactionState::AbortableError);
    m.call(TransactionCall::AbortTransaction, T0).unwrap();
    assert_eq!(m.next_work(T0, false), Some((Work::EndTxn, Dest::Node(1))));
    assert!(!m.end_txn_request().committed);
    m.on_end_txn(&EndTxnResponse::default(), 4, T0);
    assert!(outcomes(&mut m).is_empty(), "the bump comes first");
    assert_eq!(m.state(), TransactionState::Initializing);
    assert!(
        matches!(
            m.init_producer_id_request(2),
            Err(TransactionError::UnsupportedVersion { .. })
        ),
        "a bump needs InitProducerId v3"
    );
    let bump = m.init_producer_id_request(3).unwrap();
    assert_eq!((bump.producer_id, bump.producer_epoch), (7, 0));
    m.on_init_producer_id(
        &InitProducerIdResponse::default()
            .with_producer_id(7)
            .with_producer_epoch(1),
        T0,
    );
    let e = effects(&mut m);
    assert!(e.contains(&Effect::Identity {
        producer_id: 7,
        epoch: 1
    }));
    assert!(e.contains(&Effect::Outcome {
        call: TransactionCall::AbortTransaction,
        result: Ok(())
    }));
}

#[test]
fn a_fenced_commit_is_fatal_and_says_the_transaction_timed_out_when_it_had() {
    let mut m = ready();
    m.call(TransactionCall::BeginTransaction, T0).unwrap();
    m.add_partition((0, 0), T0);
    add_ok(&mut m, &[0]);
    m.call(TransactionCall::CommitTransaction, T0).unwrap();
    m.end_txn_request();
    let late = T0 + Duration::from_secs(61);
    m.on_end_txn(
        &EndTxnResponse::default().with_error_code(KafkaCode::ProducerFenced.code()),
        4,
        late,
    );
    let e = effects(&mut m);
    assert!(
        e.iter().any(|e| matches!(
            e,
            Effect::Outcome {
                call: TransactionCall::CommitTransaction,
                result: Err(TransactionError::TransactionTimedOut { .. })
            }
        )),
        "{e:?}"
    );
    assert!(e.iter().any(|e| matches!(e, Effect::Fatal(_))));
    assert_eq!(m.state(), TransactionState::FatalError);
    assert!(matches!(
        m.call(TransactionCall::BeginTransaction, late),
        Err(TransactionError::TransactionTimedOut { .. })
    ));
}

#[test]
fn transactions_v2_adds_partitions_by_produce_and_adopts_the_bumped_epoch() {
    let mut m = TransactionManager::new("app", Duration::from_secs(60), Duration::from_millis(100));
    m.features(3, Some(2));
    m.call(TransactionCall::InitTransactions, T0).unwrap();
    found(&mut m, CoordinatorType::Transaction, 1);
    m.init_producer_id_request(5).unwrap();
    m.on_init_producer_id(
        &InitProducerIdResponse::default()
            .with_producer_id(7)
            .with_producer_epoch(0),
        T0,
    );
    effects(&mut m);
    m.call(TransactionCall::BeginTransaction, T0).unwrap();
    m.add_partition((0, 0), T0);
    assert!(m.may_drain((0, 0)), "no AddPartitionsToTxn under v2");
    assert_eq!(m.cap_version(crate::wire::ApiKey::EndTxn, 5), 5);
    m.send_offsets(
        vec![OffsetCommit::new("in", 0, 1)],
        ConsumerGroupMetadata::new("g"),
        T0,
    )
    .unwrap();
    assert_eq!(
        m.next_work(T0, false),
        Some((Work::FindCoordinator(CoordinatorType::Group), Dest::Any)),
        "no AddOffsetsToTxn under v2"
    );
    m.call(TransactionCall::AbortTransaction, T0).unwrap();
    assert_eq!(m.next_work(T0, false), Some((Work::EndTxn, Dest::Node(1))));
    m.end_txn_request();
    m.on_end_txn(
        &EndTxnResponse::default()
            .with_producer_id(7)
            .with_producer_epoch(1),
        5,
        T0,
    );
    let e = effects(&mut m);
    assert!(
        e.contains(&Effect::Identity {
            producer_id: 7,
            epoch: 1
        }),
        "{e:?}"
    );
    assert_eq!(m.state(), TransactionState::Ready);
}
