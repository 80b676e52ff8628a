//! The transaction cases of the suite: `init_transactions`,
//! `begin_transaction`, `send_offsets_to_transaction`,
//! `commit_transaction` and `abort_transaction` through each driver's
//! handle, judged by the simulated cluster's transaction and group
//! coordinators (its `read_committed` view of each log, and the group's
//! committed offsets), not by what the driver reported.

use std::time::{Duration, Instant};

use kafka_producer_proto::sim::SimServer;
use kafka_producer_proto::wire::ApiKey;
use kafka_producer_proto::{
    ConsumerGroupMetadata, ErrorClass, KafkaCode, OffsetCommit, SendErrorKind, TransactionCall,
    TransactionError, TransactionState,
};

use crate::{Driver, WAIT, config, delivered, record, server};

const GROUP: &str = "conformance-group";
const INPUT: &str = "conformance-input";

fn transactional<D: Driver>(server: &SimServer, id: &str) -> D::Producer {
    let mut b = crate::config(server);
    b.transactional_id(id).linger(Duration::from_millis(5));
    D::connect(b.build().expect("transactional config"))
}

/// The values of the `read_committed` view of the topic's `partitions`.
fn read_committed(server: &SimServer, partitions: usize) -> Vec<String> {
    server.with_cluster(|c| {
        (0..partitions)
            .flat_map(|p| c.read_committed(crate::TOPIC, p))
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"")).into_owned())
            .collect()
    })
}

/// Waits (markers are written after EndTxn is answered) until `check`
/// holds on the `read_committed` view, or panics with `what`.
fn eventually(
    server: &SimServer,
    partitions: usize,
    what: &str,
    check: impl Fn(&[String]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        let view = read_committed(server, partitions);
        if check(&view) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: read_committed view {view:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn count(view: &[String], value: &str) -> usize {
    view.iter().filter(|v| *v == value).count()
}

/// One transaction commits its records and the consumed offsets, the next
/// is aborted: the committed records are in the `read_committed` view once
/// each, the aborted ones never (though they are in the log), and the
/// group's offset is the committed transaction's, not the aborted one's.
pub fn transactions_commit_records_and_offsets_and_hide_aborted_ones<D: Driver>() {
    let server = server(3);
    let p = transactional::<D>(&server, "conformance-commit");
    D::init_transactions(&p).expect("init_transactions");
    assert_eq!(D::transaction_state(&p), Some(TransactionState::Ready));

    D::begin_transaction(&p).expect("begin");
    let pending: Vec<_> = (0..20)
        .map(|i| D::send(&p, record(&format!("k{i}"), format!("c{i}"))).expect("send"))
        .collect();
    let group = ConsumerGroupMetadata::new(GROUP);
    D::send_offsets_to_transaction(&p, vec![OffsetCommit::new(INPUT, 0, 20)], &group)
        .expect("send_offsets_to_transaction");
    D::commit_transaction(&p).expect("commit");
    for d in pending {
        delivered::<D>(d);
    }

    D::begin_transaction(&p).expect("begin the second");
    let pending: Vec<_> = (0..20)
        .map(|i| D::send(&p, record(&format!("k{i}"), format!("a{i}"))).expect("send"))
        .collect();
    D::send_offsets_to_transaction(&p, vec![OffsetCommit::new(INPUT, 0, 40)], &group)
        .expect("send_offsets_to_transaction");
    D::flush(&p);
    D::abort_transaction(&p).expect("abort");
    let mut written = 0;
    for d in pending {
        // Flushed before the abort: each was written, in a transaction
        // that then aborted.
        if D::wait(d, WAIT).expect("a result").is_ok() {
            written += 1;
        }
    }
    assert_eq!(
        written, 20,
        "the flushed records were written before the abort"
    );
    assert_eq!(D::transaction_state(&p), Some(TransactionState::Ready));

    eventually(&server, 3, "committed once, aborted never", |view| {
        (0..20).all(|i| count(view, &format!("c{i}")) == 1)
            && (0..20).all(|i| count(view, &format!("a{i}")) == 0)
    });
    let in_log: usize = (0..3)
        .map(|part| {
            server
                .log(crate::TOPIC, part)
                .iter()
                .filter(|r| r.value.as_deref().is_some_and(|v| v.starts_with(b"a")))
                .count()
        })
        .sum();
    assert_eq!(in_log, 20, "the aborted records are in the log, hidden");
    let offsets = server.with_cluster(|c| c.committed_offsets(GROUP));
    assert_eq!(
        offsets.get(&(INPUT.to_string(), 0)),
        Some(&20),
        "the committed transaction's offset, not the aborted one's"
    );
    D::close(&p, WAIT).expect("close");
}

/// Calls out of order are refused at once with a typed error, and change
/// nothing: a record outside a transaction is handed back.
pub fn transaction_calls_out_of_order_are_refused<D: Driver>() {
    let server = server(1);
    let p = transactional::<D>(&server, "conformance-misuse");
    let Err(refused) = D::send(&p, record("k", "early".into())) else {
        panic!("send before init_transactions was accepted");
    };
    assert!(
        matches!(refused.kind, SendErrorKind::Transaction(_)),
        "{:?}",
        refused.kind
    );
    assert_eq!(refused.record.value.as_deref(), Some(&b"early"[..]));
    match D::begin_transaction(&p) {
        Err(TransactionError::InvalidState { call, .. }) => {
            assert_eq!(call, TransactionCall::BeginTransaction)
        }
        other => panic!("begin before init: {other:?}"),
    }
    D::init_transactions(&p).expect("init_transactions");
    match D::commit_transaction(&p) {
        Err(TransactionError::InvalidState { call, state }) => {
            assert_eq!(call, TransactionCall::CommitTransaction);
            assert_eq!(state, TransactionState::Ready);
        }
        other => panic!("commit without begin: {other:?}"),
    }
    assert!(
        D::send(&p, record("k", "outside".into())).is_err(),
        "send outside a transaction"
    );
    D::begin_transaction(&p).expect("begin");
    assert!(
        matches!(
            D::begin_transaction(&p),
            Err(TransactionError::InvalidState { .. })
        ),
        "begin twice"
    );
    assert_eq!(
        D::transaction_state(&p),
        Some(TransactionState::InTransaction)
    );
    D::commit_transaction(&p).expect("an empty transaction commits");
    assert_eq!(
        server.records(crate::TOPIC),
        0,
        "nothing refused reached the log"
    );

    // A producer without transactional.id has no transaction calls.
    let plain = D::connect(config(&server).build().expect("config"));
    assert_eq!(
        D::init_transactions(&plain),
        Err(TransactionError::NotTransactional)
    );
    assert_eq!(D::transaction_state(&plain), None);
    D::close(&plain, WAIT).expect("close");
    D::close(&p, WAIT).expect("close");
}

/// A second producer with the same `transactional.id` fences the first:
/// the first's commit fails with a fatal error, and nothing it wrote
/// becomes visible; the second's transaction commits.
pub fn a_newer_producer_with_the_same_transactional_id_fences_the_older<D: Driver>() {
    let server = server(2);
    let old = transactional::<D>(&server, "conformance-zombie");
    D::init_transactions(&old).expect("init the old");
    D::begin_transaction(&old).expect("begin");
    let pending: Vec<_> = (0..10)
        .map(|i| D::send(&old, record(&format!("k{i}"), format!("zombie{i}"))).expect("send"))
        .collect();
    D::flush(&old);

    let new = transactional::<D>(&server, "conformance-zombie");
    D::init_transactions(&new).expect("init the new: aborts what the old left open");
    D::begin_transaction(&new).expect("begin");
    let fresh: Vec<_> = (0..10)
        .map(|i| D::send(&new, record(&format!("k{i}"), format!("new{i}"))).expect("send"))
        .collect();
    D::commit_transaction(&new).expect("the new producer commits");
    for d in fresh {
        delivered::<D>(d);
    }

    let error = D::commit_transaction(&old).expect_err("the old producer is fenced");
    assert_eq!(error.class(), ErrorClass::Fatal, "{error}");
    assert_eq!(
        D::transaction_state(&old),
        Some(TransactionState::FatalError)
    );
    for d in pending {
        let _ = D::wait(d, WAIT).expect("every record of the fenced producer has a result");
    }
    assert!(
        D::begin_transaction(&old).is_err(),
        "no way out of the fatal state"
    );

    eventually(
        &server,
        2,
        "the new producer's records once, the zombie's never",
        |view| {
            (0..10).all(|i| count(view, &format!("new{i}")) == 1)
                && view.iter().all(|v| !v.starts_with("zombie"))
        },
    );
    let _ = D::close(&old, Duration::from_secs(1));
    D::close(&new, WAIT).expect("close");
}

/// Retriable coordinator answers (loading, not the coordinator,
/// concurrent transactions) are retried: every call still succeeds, and
/// the transaction commits once.
pub fn transaction_calls_retry_coordinator_errors<D: Driver>() {
    let server = server(2);
    let p = transactional::<D>(&server, "conformance-retry");
    server.inject(
        ApiKey::InitProducerId,
        &[
            KafkaCode::CoordinatorLoadInProgress,
            KafkaCode::ConcurrentTransactions,
        ],
    );
    D::init_transactions(&p).expect("init_transactions through retriable codes");
    D::begin_transaction(&p).expect("begin");
    server.inject(
        ApiKey::AddPartitionsToTxn,
        &[KafkaCode::ConcurrentTransactions],
    );
    server.inject(
        ApiKey::TxnOffsetCommit,
        &[KafkaCode::CoordinatorLoadInProgress],
    );
    server.inject(
        ApiKey::EndTxn,
        &[KafkaCode::NotCoordinator, KafkaCode::ConcurrentTransactions],
    );
    let pending: Vec<_> = (0..10)
        .map(|i| D::send(&p, record(&format!("k{i}"), format!("r{i}"))).expect("send"))
        .collect();
    D::send_offsets_to_transaction(
        &p,
        vec![OffsetCommit::new(INPUT, 1, 10)],
        &ConsumerGroupMetadata::new(GROUP),
    )
    .expect("send_offsets_to_transaction through a retriable code");
    D::commit_transaction(&p).expect("commit through retriable codes");
    for d in pending {
        delivered::<D>(d);
    }
    eventually(&server, 2, "committed once", |view| {
        (0..10).all(|i| count(view, &format!("r{i}")) == 1)
    });
    assert_eq!(
        server
            .with_cluster(|c| c.committed_offsets(GROUP))
            .get(&(INPUT.to_string(), 1)),
        Some(&10)
    );
    D::close(&p, WAIT).expect("close");
}
