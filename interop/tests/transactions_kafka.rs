//! Transactions (tokio driver) against Apache Kafka 4.1.1, judged by the
//! rdkafka consumer: at `read_committed` a committed transaction's records
//! are there exactly once and an aborted one's never, while
//! `read_uncommitted` shows the aborted records really are in the log.
//!
//! - commit and abort, read back at both isolation levels;
//! - zombie fencing: a second producer with the same `transactional.id`
//!   fences the first, none of whose later writes becomes visible;
//! - a transaction left open past `transaction.timeout.ms` is aborted by
//!   the broker, and the producer reports it
//!   ([`TransactionError::TransactionTimedOut`]);
//! - consume-transform-produce: an rdkafka consumer in a group reads an
//!   input topic, our transactional producer writes each result and the
//!   consumed offsets, through the producer crashing (dropped with its
//!   runtime, mid-transaction) and coming back with the same
//!   `transactional.id`, and through the broker killed and restarted; the
//!   output holds each input's result exactly once.
//!
//! Kafka 4.1 finalizes `transaction.version=2` (KIP-890) on a new cluster:
//! the shared cluster runs transactions v2; the consume-transform-produce
//! cluster is downgraded to `transaction.version=1`, so both protocols meet
//! a real broker. Kafka must be installed (`scripts/kafka install`);
//! without it these tests fail and say so.

mod kafka_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kafka_producer_interop::group_metadata;
use kafka_producer_interop::kafka::{KafkaCluster, KafkaOptions};
use kafka_producer_interop::read_committed::{Isolation, Read, read_all};
use kafka_producer_tokio::{
    ErrorClass, OffsetCommit, Producer, Record, TransactionError, TransactionState,
};
use kafka_support::{LogsOnFailure, config, runtime, runtime_with_worker};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message as _;

const PARTITIONS: i32 = 3;
const READ_WAIT: Duration = Duration::from_secs(120);

fn transactional(bootstrap: &str, id: &str) -> kafka_producer_tokio::Config {
    let mut b = config(bootstrap);
    b.transactional_id(id).linger(Duration::from_millis(5));
    b.build().expect("transactional config")
}

/// How many times each value was read.
fn counts(read: &[Read]) -> BTreeMap<String, usize> {
    let mut c = BTreeMap::new();
    for r in read {
        *c.entry(r.text()).or_insert(0) += 1;
    }
    c
}

/// The cluster's finalized `transaction.version`, as Kafka's tool says.
fn transaction_version(cluster: &KafkaCluster) -> String {
    let out = cluster.admin("features", &["describe"]);
    out.lines()
        .find(|l| l.contains("transaction.version"))
        .and_then(|l| l.split("FinalizedVersionLevel:").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("?")
        .to_string()
}

#[test]
fn commit_and_abort_read_back_at_both_isolation_levels() {
    let cluster = KafkaCluster::shared();
    let _logs = LogsOnFailure(cluster);
    let topic = "txn-commit-abort";
    cluster.create_topic(topic, PARTITIONS, 1, &[]);
    eprintln!("transaction.version={}", transaction_version(cluster));
    let (committed, aborted) = runtime().block_on(async {
        let p = Producer::connect(transactional(cluster.bootstrap(), "kafka-commit-abort"))
            .await
            .expect("connect");
        p.init_transactions().await.expect("init_transactions");
        let (mut committed, mut aborted) = (Vec::new(), Vec::new());
        for t in 0..6 {
            p.begin_transaction().expect("begin");
            let mut deliveries = Vec::new();
            let mut values = Vec::new();
            for i in 0..200 {
                let value = format!("t{t}-{i}");
                let record = Record::new(topic).key(format!("k{i}")).value(value.clone());
                deliveries.push(p.send(record).await.expect("send"));
                values.push(value);
            }
            if t % 2 == 0 {
                p.commit_transaction().await.expect("commit");
                for d in deliveries {
                    d.await.expect("a committed record is delivered");
                }
                committed.extend(values);
            } else {
                // Written first, so that the abort has records to hide.
                p.flush().await;
                p.abort_transaction().await.expect("abort");
                for d in deliveries {
                    d.await.expect("flushed before the abort: written");
                }
                aborted.extend(values);
            }
            assert_eq!(p.transaction_state(), Some(TransactionState::Ready));
        }
        p.close(Duration::from_secs(30)).await.expect("close");
        (committed, aborted)
    });

    let rc = counts(&read_all(
        cluster.bootstrap(),
        topic,
        PARTITIONS,
        Isolation::ReadCommitted,
        READ_WAIT,
    ));
    let ru = counts(&read_all(
        cluster.bootstrap(),
        topic,
        PARTITIONS,
        Isolation::ReadUncommitted,
        READ_WAIT,
    ));
    for v in &committed {
        assert_eq!(rc.get(v), Some(&1), "read_committed: committed {v}");
        assert_eq!(ru.get(v), Some(&1), "read_uncommitted: committed {v}");
    }
    for v in &aborted {
        assert_eq!(rc.get(v), None, "read_committed shows aborted {v}");
        assert_eq!(
            ru.get(v),
            Some(&1),
            "read_uncommitted: aborted {v} is in the log"
        );
    }
    assert_eq!(
        rc.values().sum::<usize>(),
        committed.len(),
        "nothing else at read_committed"
    );
    assert_eq!(
        ru.values().sum::<usize>(),
        committed.len() + aborted.len(),
        "nothing else at read_uncommitted"
    );
}

#[test]
fn a_second_producer_with_the_same_id_fences_the_first() {
    let cluster = KafkaCluster::shared();
    let _logs = LogsOnFailure(cluster);
    let topic = "txn-zombie";
    cluster.create_topic(topic, PARTITIONS, 1, &[]);
    let id = "kafka-zombie";
    runtime().block_on(async {
        let zombie = Producer::connect(transactional(cluster.bootstrap(), id))
            .await
            .expect("connect");
        zombie.init_transactions().await.expect("init the first");
        zombie.begin_transaction().expect("begin");
        let mut early = Vec::new();
        for i in 0..50 {
            let r = Record::new(topic)
                .key(format!("k{i}"))
                .value(format!("zombie-early-{i}"));
            early.push(zombie.send(r).await.expect("send"));
        }
        zombie.flush().await;

        let new = Producer::connect(transactional(cluster.bootstrap(), id))
            .await
            .expect("connect");
        new.init_transactions()
            .await
            .expect("init the second: fences the first and aborts what it left open");

        // The zombie goes on writing, then tries to commit.
        let mut late = Vec::new();
        for i in 0..50 {
            let r = Record::new(topic)
                .key(format!("k{i}"))
                .value(format!("zombie-late-{i}"));
            match zombie.send(r).await {
                Ok(d) => late.push(d),
                Err(refused) => {
                    assert!(refused.record.value.is_some(), "handed back");
                    break;
                }
            }
        }
        let mut errors = vec![
            zombie
                .commit_transaction()
                .await
                .expect_err("the zombie commits"),
        ];
        if zombie.transaction_state() != Some(TransactionState::FatalError) {
            // An abortable error first (a record refused for its stale
            // epoch): the abort meets the fencing.
            assert_eq!(errors[0].class(), ErrorClass::Abortable, "{}", errors[0]);
            errors.push(
                zombie
                    .abort_transaction()
                    .await
                    .expect_err("the zombie aborts"),
            );
        }
        eprintln!("the zombie's errors: {errors:?}");
        let last = errors.last().expect("one at least");
        assert!(matches!(last, TransactionError::Fenced { .. }), "{last}");
        assert_eq!(last.class(), ErrorClass::Fatal);
        assert_eq!(
            zombie.transaction_state(),
            Some(TransactionState::FatalError)
        );
        assert!(
            zombie.begin_transaction().is_err(),
            "no way out of the fatal state"
        );
        for d in early.into_iter().chain(late) {
            let _ = d.await;
        }

        new.begin_transaction().expect("begin");
        let mut fresh = Vec::new();
        for i in 0..50 {
            let r = Record::new(topic)
                .key(format!("k{i}"))
                .value(format!("new-{i}"));
            fresh.push(new.send(r).await.expect("send"));
        }
        new.commit_transaction()
            .await
            .expect("the new producer commits");
        for d in fresh {
            d.await.expect("delivered");
        }
        new.close(Duration::from_secs(30)).await.expect("close");
        let _ = zombie.close(Duration::from_secs(5)).await;
    });
    let rc = counts(&read_all(
        cluster.bootstrap(),
        topic,
        PARTITIONS,
        Isolation::ReadCommitted,
        READ_WAIT,
    ));
    for i in 0..50 {
        assert_eq!(rc.get(&format!("new-{i}")), Some(&1), "new-{i}");
    }
    let visible: Vec<_> = rc.keys().filter(|v| v.starts_with("zombie")).collect();
    assert!(
        visible.is_empty(),
        "the zombie's writes are visible: {visible:?}"
    );
    let ru = counts(&read_all(
        cluster.bootstrap(),
        topic,
        PARTITIONS,
        Isolation::ReadUncommitted,
        READ_WAIT,
    ));
    assert_eq!(
        (0..50)
            .filter(|i| ru.contains_key(&format!("zombie-early-{i}")))
            .count(),
        50,
        "the zombie's first records are in the log, aborted"
    );
}

#[test]
fn a_transaction_open_past_its_timeout_is_aborted_and_reported() {
    let cluster = KafkaCluster::shared();
    let _logs = LogsOnFailure(cluster);
    let topic = "txn-timeout";
    cluster.create_topic(topic, PARTITIONS, 1, &[]);
    let timeout = Duration::from_secs(3);
    let error = runtime().block_on(async {
        let mut b = config(cluster.bootstrap());
        b.transactional_id("kafka-timeout")
            .transaction_timeout(timeout)
            .linger(Duration::from_millis(5));
        let p = Producer::connect(b.build().expect("config"))
            .await
            .expect("connect");
        p.init_transactions().await.expect("init");
        p.begin_transaction().expect("begin");
        let mut ds = Vec::new();
        for i in 0..20 {
            let r = Record::new(topic)
                .key(format!("k{i}"))
                .value(format!("late-{i}"));
            ds.push(p.send(r).await.expect("send"));
        }
        p.flush().await;
        for d in ds {
            d.await.expect("written inside the transaction");
        }
        // The broker's cleanup runs every second on these clusters.
        tokio::time::sleep(timeout + Duration::from_secs(4)).await;
        let error = p
            .commit_transaction()
            .await
            .expect_err("the broker aborted it");
        eprintln!("commit after the timeout: {error}");
        if error.class() == ErrorClass::Abortable {
            p.abort_transaction().await.expect("abort");
            p.begin_transaction().expect("begin again");
            let d = p
                .send(Record::new(topic).value("after-timeout"))
                .await
                .expect("send");
            p.commit_transaction()
                .await
                .expect("the next transaction commits");
            d.await.expect("delivered");
        }
        let _ = p.close(Duration::from_secs(10)).await;
        error
    });
    assert!(
        matches!(error, TransactionError::TransactionTimedOut { open_for, .. } if open_for >= timeout),
        "reported as a timed-out transaction: {error:?}"
    );
    let rc = counts(&read_all(
        cluster.bootstrap(),
        topic,
        PARTITIONS,
        Isolation::ReadCommitted,
        READ_WAIT,
    ));
    assert!(
        rc.keys().all(|v| !v.starts_with("late-")),
        "the timed-out transaction's records are visible: {rc:?}"
    );
}

// ---- consume-transform-produce ------------------------------------------

const INPUTS: usize = 1_200;
const GROUP: &str = "ctp-app";
const IN: &str = "ctp-in";
const OUT: &str = "ctp-out";
const APP_ID: &str = "ctp-app-1";

fn consumer(bootstrap: &str) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("rdkafka consumer");
    c.subscribe(&[IN]).expect("subscribe");
    c
}

/// What one instance of the application did before it stopped.
enum Stop {
    /// Every input's offset is committed.
    Done,
    /// It crashed on purpose, mid-transaction.
    Crashed,
    /// A transaction call failed; the instance gave up (a new one goes on).
    Failed(TransactionError),
}

/// One instance of the application: consume a batch, write its results
/// and offsets in one transaction, commit; until every input is
/// committed, or `crash_after` transactions, or an error.
fn app_instance(
    bootstrap: &str,
    committed: &AtomicUsize,
    crash_after: Option<usize>,
    deadline: Instant,
) -> Stop {
    let rt = runtime_with_worker();
    let producer = rt
        .block_on(Producer::connect(transactional(bootstrap, APP_ID)))
        .expect("connect");
    if let Err(e) = rt.block_on(producer.init_transactions()) {
        return Stop::Failed(e);
    }
    let consumer = consumer(bootstrap);
    let mut transactions = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "consume-transform-produce did not finish"
        );
        let mut batch = Vec::new();
        let until = Instant::now() + Duration::from_millis(300);
        while batch.len() < 50 && Instant::now() < until {
            match consumer.poll(Duration::from_millis(50)) {
                Some(Ok(m)) => batch.push((
                    m.partition(),
                    m.offset(),
                    m.key().map(<[u8]>::to_vec),
                    m.payload().map(<[u8]>::to_vec),
                )),
                Some(Err(e)) => eprintln!("consumer: {e}"),
                None => {}
            }
        }
        if batch.is_empty() {
            if committed_inputs(&consumer) == INPUTS {
                let _ = rt.block_on(producer.close(Duration::from_secs(10)));
                return Stop::Done;
            }
            continue;
        }
        let Some(group) = group_metadata::of(&consumer) else {
            continue;
        };
        let result = rt.block_on(async {
            producer.begin_transaction()?;
            let mut next: BTreeMap<i32, i64> = BTreeMap::new();
            for (partition, offset, key, value) in &batch {
                let mut out = b"out-".to_vec();
                out.extend_from_slice(value.as_deref().unwrap_or_default());
                let mut record = Record::new(OUT).value(out);
                if let Some(k) = key {
                    record = record.key(k.clone());
                }
                // A refusal here is the transaction's error, which the
                // commit reports.
                let _ = producer.send(record).await;
                next.insert(*partition, offset + 1);
            }
            if crash_after == Some(transactions) {
                // Crash with the records written and the transaction
                // open: its coordinator knows its partitions, the log has
                // its records, and nobody will end it but the next
                // instance's init_transactions.
                producer.flush().await;
                return Ok(false);
            }
            let offsets = next
                .iter()
                .map(|(p, o)| OffsetCommit::new(IN, *p, *o))
                .collect();
            producer
                .send_offsets_to_transaction(offsets, &group)
                .await?;
            producer.commit_transaction().await?;
            Ok::<_, TransactionError>(true)
        });
        match result {
            Ok(true) => {
                transactions += 1;
                committed.fetch_add(batch.len(), Ordering::SeqCst);
            }
            Ok(false) => {
                // A crash: the driver dies with its runtime, the records
                // of the open transaction may be in the log, nothing is
                // committed or aborted.
                rt.shutdown_background();
                drop(producer);
                drop(consumer);
                return Stop::Crashed;
            }
            Err(e) => {
                if e.class() == ErrorClass::Abortable {
                    let _ = rt.block_on(producer.abort_transaction());
                }
                let _ = rt.block_on(producer.close(Duration::from_secs(5)));
                return Stop::Failed(e);
            }
        }
    }
}

/// Inputs whose offsets the group committed.
fn committed_inputs(consumer: &BaseConsumer) -> usize {
    let Ok(list) = consumer.committed(Duration::from_secs(5)) else {
        return 0;
    };
    list.elements()
        .iter()
        .filter(|e| e.topic() == IN)
        .map(|e| e.offset().to_raw().filter(|o| *o > 0).unwrap_or(0) as usize)
        .sum()
}

#[test]
fn consume_transform_produce_through_crashes_and_a_broker_restart() {
    let cluster = KafkaCluster::start(KafkaOptions::default());
    let version = cluster.admin(
        "features",
        &["downgrade", "--feature", "transaction.version=1"],
    );
    eprintln!("{version}");
    assert_eq!(
        transaction_version(&cluster),
        "1",
        "downgraded to transactions v1"
    );
    cluster.create_topic(IN, PARTITIONS, 1, &[]);
    cluster.create_topic(OUT, PARTITIONS, 1, &[]);
    let bootstrap = cluster.bootstrap().to_string();

    // The input: written plainly, read back by the application.
    runtime().block_on(async {
        let p = Producer::connect(config(&bootstrap).build().expect("config"))
            .await
            .expect("connect");
        let mut ds = Vec::new();
        for i in 0..INPUTS {
            let r = Record::new(IN)
                .key(format!("k{i}"))
                .value(format!("in-{i}"));
            ds.push(p.send(r).await.expect("send"));
        }
        for d in ds {
            d.await.expect("input delivered");
        }
        p.close(Duration::from_secs(30)).await.expect("close");
    });

    let committed = AtomicUsize::new(0);
    let restarted = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut stops = Vec::new();
    std::thread::scope(|s| {
        // The broker is killed and restarted once a third is committed.
        s.spawn(|| {
            while committed.load(Ordering::SeqCst) < INPUTS / 3 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            cluster.kill(1);
            std::thread::sleep(Duration::from_secs(2));
            cluster.restart(1);
            restarted.store(true, Ordering::SeqCst);
        });
        // Two crashes mid-transaction, then instances until done.
        let plan = [Some(3), Some(5)];
        let mut instance = 0;
        loop {
            let crash = plan.get(instance).copied().flatten();
            let stop = app_instance(&bootstrap, &committed, crash, deadline);
            instance += 1;
            match &stop {
                Stop::Done => {
                    stops.push("done".to_string());
                    break;
                }
                Stop::Crashed => stops.push("crashed".into()),
                Stop::Failed(e) => stops.push(format!("failed: {e}")),
            }
        }
    });
    eprintln!("instances: {stops:?}");
    assert!(
        restarted.load(Ordering::SeqCst),
        "the broker was restarted during the run"
    );
    assert_eq!(stops.iter().filter(|s| *s == "crashed").count(), 2);

    let rc = counts(&read_all(
        &bootstrap,
        OUT,
        PARTITIONS,
        Isolation::ReadCommitted,
        READ_WAIT,
    ));
    let ru = read_all(
        &bootstrap,
        OUT,
        PARTITIONS,
        Isolation::ReadUncommitted,
        READ_WAIT,
    );
    for i in 0..INPUTS {
        assert_eq!(rc.get(&format!("out-in-{i}")), Some(&1), "out-in-{i}");
    }
    assert_eq!(
        rc.len(),
        INPUTS,
        "nothing but the results at read_committed"
    );
    eprintln!(
        "{} results committed exactly once; {} records in the log (aborted and crashed transactions included)",
        INPUTS,
        ru.len()
    );
    assert!(
        ru.len() > INPUTS,
        "the crashed transactions' records are in the log, hidden"
    );
}
