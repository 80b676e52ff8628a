//! Transactions against librdkafka's mock cluster, which has a transaction
//! and a group coordinator (transactions v1: AddPartitionsToTxn,
//! AddOffsetsToTxn and EndTxn v0-1, TxnOffsetCommit up to v3): the
//! error-injection matrix, each retriable, abortable and fatal code on each
//! transaction API and on Produce, with the rdkafka consumer reading back
//! what was committed.
//!
//! The mock checks transactions at the protocol level only: it writes no
//! commit or abort markers and keeps no last stable offset, so aborted
//! records stay readable there. What a case checks: the outcome the
//! application sees (success after retries, an abortable error that an
//! abort gets past, a fatal error after which a new producer with the same
//! `transactional.id` goes on), that the injected code was met (the
//! producer's error counts), and that the records of every committed
//! transaction are read back exactly once. Exactly-once against a real
//! broker, with markers, is `transactions_kafka.rs`.

use std::time::Duration;

use kafka_producer_interop::read_committed::{Isolation, read_all};
use kafka_producer_proto::{ErrorClass, KafkaCode, TransactionState};
use kafka_producer_tokio::{Config, ConsumerGroupMetadata, OffsetCommit, Producer, Record};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::RDKafkaApiKey;
use rdkafka::types::RDKafkaRespErr::{self, *};

const TOPIC: &str = "out";
const PARTITIONS: i32 = 4;
const GROUP: &str = "app-group";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Retriable,
    Abortable,
    Fatal,
}

/// When the error is injected: before `init_transactions`, or inside the
/// first transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    Init,
    InTransaction,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn mock() -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(3).expect("librdkafka mock cluster");
    cluster
        .create_topic(TOPIC, PARTITIONS, 1)
        .expect("create topic");
    cluster
}

fn config(bootstrap: &str, id: &str) -> Config {
    Config::builder()
        .bootstrap_servers(bootstrap)
        .transactional_id(id)
        .retry_backoff(Duration::from_millis(10))
        .retry_backoff_max(Duration::from_millis(50))
        .request_timeout(Duration::from_secs(5))
        .linger(Duration::from_millis(1))
        .build()
        .expect("config")
}

/// One transaction of `inputs`: records, offsets, commit. The first error.
async fn transaction(
    producer: &Producer,
    inputs: std::ops::Range<u64>,
    label: &str,
) -> Result<(), kafka_producer_proto::TransactionError> {
    producer.begin_transaction()?;
    let mut deliveries = Vec::new();
    for i in inputs.clone() {
        let record = Record::new(TOPIC)
            .key(format!("k{i}"))
            .value(format!("{label}-{i}"));
        deliveries.push(producer.send(record).await.expect("send accepted"));
    }
    let offsets = vec![OffsetCommit::new("in", 0, inputs.end as i64)];
    producer
        .send_offsets_to_transaction(offsets, &ConsumerGroupMetadata::new(GROUP))
        .await?;
    producer.commit_transaction().await?;
    for d in deliveries {
        d.await
            .expect("a committed transaction's records are delivered");
    }
    Ok(())
}

/// Runs one cell of the matrix: `err` injected once on `api`.
fn case(api: RDKafkaApiKey, err: RDKafkaRespErr, when: When, expect: Expect) {
    let code = KafkaCode::from_i16(err as i16);
    let label = format!("{api:?}-{code:?}");
    let started = std::time::Instant::now();
    let cluster = mock();
    let bootstrap = cluster.bootstrap_servers();
    let id = format!("txn-{label}");
    let committed = runtime().block_on(async {
        let producer = Producer::connect(config(&bootstrap, &id))
            .await
            .expect("connect");
        if when == When::Init {
            cluster.request_errors(api, &[err]);
        }
        let init = producer.init_transactions().await;
        let first = match (when, init) {
            (When::Init, Ok(())) => {
                assert_eq!(
                    expect,
                    Expect::Retriable,
                    "{label}: init_transactions succeeded"
                );
                transaction(&producer, 0..10, &label).await
            }
            (When::Init, Err(e)) => Err(e),
            (When::InTransaction, Ok(())) => {
                cluster.request_errors(api, &[err]);
                transaction(&producer, 0..10, &label).await
            }
            (When::InTransaction, Err(e)) => panic!("{label}: init_transactions failed: {e}"),
        };
        assert!(
            producer.metrics().error_count(code) >= 1,
            "{label}: the producer never met the injected code (errors: {:?})",
            producer.metrics().errors_by_code
        );
        match (expect, first) {
            (Expect::Retriable, Ok(())) => return 0..10,
            (Expect::Retriable, Err(e)) => panic!("{label}: a retriable code ended in {e}"),
            (_, Ok(())) => panic!("{label}: the transaction committed despite the code"),
            (Expect::Abortable, Err(e)) => {
                assert_eq!(e.class(), ErrorClass::Abortable, "{label}: {e}");
                assert_eq!(
                    producer.transaction_state(),
                    Some(TransactionState::AbortableError),
                    "{label}"
                );
                producer
                    .abort_transaction()
                    .await
                    .unwrap_or_else(|e| panic!("{label}: abort: {e}"));
                transaction(&producer, 10..20, &label)
                    .await
                    .unwrap_or_else(|e| panic!("{label}: after the abort: {e}"));
            }
            (Expect::Fatal, Err(e)) => {
                assert_eq!(e.class(), ErrorClass::Fatal, "{label}: {e}");
                assert_eq!(
                    producer.transaction_state(),
                    Some(TransactionState::FatalError),
                    "{label}"
                );
                // A new producer with the same id takes over.
                let next = Producer::connect(config(&bootstrap, &id))
                    .await
                    .expect("connect");
                next.init_transactions()
                    .await
                    .unwrap_or_else(|e| panic!("{label}: the next producer's init: {e}"));
                transaction(&next, 10..20, &label)
                    .await
                    .unwrap_or_else(|e| panic!("{label}: the next producer: {e}"));
                next.close(Duration::from_secs(10)).await.expect("close");
            }
        }
        let _ = producer.close(Duration::from_secs(5)).await;
        10..20
    });
    // The committed transaction's records, exactly once each.
    let read = read_all(
        &bootstrap,
        TOPIC,
        PARTITIONS,
        Isolation::ReadCommitted,
        Duration::from_secs(60),
    );
    for i in committed {
        let want = format!("{label}-{i}");
        let n = read.iter().filter(|r| r.text() == want).count();
        assert_eq!(n, 1, "{label}: record {i} read back {n} times");
    }
    eprintln!("{label}: {expect:?} as expected, {:?}", started.elapsed());
}

fn matrix(api: RDKafkaApiKey, when: When, cells: &[(RDKafkaRespErr, Expect)]) {
    for (err, expect) in cells {
        case(api, *err, when, *expect);
    }
}

use Expect::{Abortable as A, Fatal as F, Retriable as R};

#[test]
fn find_coordinator() {
    matrix(
        RDKafkaApiKey::FindCoordinator,
        When::Init,
        &[
            (RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, R),
            (RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, R),
            (RD_KAFKA_RESP_ERR_NOT_COORDINATOR, R),
            (RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, F),
            (RD_KAFKA_RESP_ERR_INVALID_REQUEST, F),
        ],
    );
    // Finding the group coordinator, for the offsets.
    matrix(
        RDKafkaApiKey::FindCoordinator,
        When::InTransaction,
        &[
            (RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, R),
            (RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, A),
        ],
    );
}

#[test]
fn init_producer_id() {
    matrix(
        RDKafkaApiKey::InitProducerId,
        When::Init,
        &[
            (RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, R),
            (RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, R),
            (RD_KAFKA_RESP_ERR_NOT_COORDINATOR, R),
            (RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS, R),
            (RD_KAFKA_RESP_ERR_PRODUCER_FENCED, F),
            (RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, F),
            (RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, F),
            (RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, F),
            (RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT, F),
        ],
    );
}

#[test]
fn add_partitions_to_txn() {
    matrix(
        RDKafkaApiKey::AddPartitionsToTxn,
        When::InTransaction,
        &[
            (RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS, R),
            (RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, R),
            (RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, R),
            (RD_KAFKA_RESP_ERR_NOT_COORDINATOR, R),
            (RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, A),
            (RD_KAFKA_RESP_ERR_OPERATION_NOT_ATTEMPTED, A),
            (RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, A),
            (RD_KAFKA_RESP_ERR_PRODUCER_FENCED, F),
            (RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, F),
            (RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, F),
            (RD_KAFKA_RESP_ERR_INVALID_TXN_STATE, F),
            (RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING, F),
        ],
    );
}

#[test]
fn add_offsets_to_txn() {
    matrix(
        RDKafkaApiKey::AddOffsetsToTxn,
        When::InTransaction,
        &[
            (RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS, R),
            (RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, R),
            (RD_KAFKA_RESP_ERR_NOT_COORDINATOR, R),
            (RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, A),
            (RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, A),
            (RD_KAFKA_RESP_ERR_PRODUCER_FENCED, F),
            (RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, F),
            (RD_KAFKA_RESP_ERR_INVALID_TXN_STATE, F),
        ],
    );
}

#[test]
fn txn_offset_commit() {
    matrix(
        RDKafkaApiKey::TxnOffsetCommit,
        When::InTransaction,
        &[
            (RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, R),
            (RD_KAFKA_RESP_ERR_NOT_COORDINATOR, R),
            (RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, R),
            (RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, R),
            (RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION, A),
            (RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, A),
            (RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, A),
            (RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, A),
            (RD_KAFKA_RESP_ERR_PRODUCER_FENCED, F),
            (RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, F),
            (RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, F),
        ],
    );
}

#[test]
fn end_txn() {
    matrix(
        RDKafkaApiKey::EndTxn,
        When::InTransaction,
        &[
            (RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS, R),
            (RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, R),
            (RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, R),
            (RD_KAFKA_RESP_ERR_NOT_COORDINATOR, R),
            (RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, A),
            (RD_KAFKA_RESP_ERR_PRODUCER_FENCED, F),
            (RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, F),
            (RD_KAFKA_RESP_ERR_INVALID_TXN_STATE, F),
            (RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, F),
            (RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING, F),
        ],
    );
}

#[test]
fn produce() {
    matrix(
        RDKafkaApiKey::Produce,
        When::InTransaction,
        &[
            (RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, R),
            (RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, R),
            (RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, R),
            (RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, A),
            (RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, A),
            (RD_KAFKA_RESP_ERR_INVALID_RECORD, A),
            (RD_KAFKA_RESP_ERR_PRODUCER_FENCED, F),
            (RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, F),
            (RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, F),
        ],
    );
}

/// The mock's coordinator moves between two transactions: NOT_COORDINATOR
/// from the old one sends the producer to find the new one.
#[test]
fn the_coordinator_moves_between_transactions() {
    let cluster = mock();
    let bootstrap = cluster.bootstrap_servers();
    runtime().block_on(async {
        let producer = Producer::connect(config(&bootstrap, "moving"))
            .await
            .expect("connect");
        producer.init_transactions().await.expect("init");
        transaction(&producer, 0..10, "moving")
            .await
            .expect("first");
        for broker in [2, 3, 1] {
            cluster
                .coordinator(
                    rdkafka::mocking::MockCoordinator::Transaction("moving".into()),
                    broker,
                )
                .expect("move the transaction coordinator");
            cluster
                .coordinator(
                    rdkafka::mocking::MockCoordinator::Group(GROUP.into()),
                    broker,
                )
                .expect("move the group coordinator");
            transaction(
                &producer,
                broker as u64 * 10..broker as u64 * 10 + 10,
                "moving",
            )
            .await
            .unwrap_or_else(|e| panic!("after the move to {broker}: {e}"));
        }
        assert!(producer.metrics().error_count(KafkaCode::NotCoordinator) >= 1);
        producer.close(Duration::from_secs(5)).await.expect("close");
    });
    let read = read_all(
        &bootstrap,
        TOPIC,
        PARTITIONS,
        Isolation::ReadCommitted,
        Duration::from_secs(60),
    );
    assert_eq!(read.len(), 40);
}
