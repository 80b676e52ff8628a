//! librdkafka, through the rdkafka crate's `BaseProducer`, speaking the
//! side-by-side client contract of `peers/README.md`.
//!
//! ```text
//! rdkafka --bootstrap HOST:PORT --topic T --records N --value-size BYTES [contract options]
//!         [--set KEY=VALUE]...
//! ```
//!
//! The usual librdkafka loop: `produce` (which copies the value into
//! librdkafka's message), `poll(0)` every 1,024 records to serve delivery
//! reports in this thread, and on `QueueFull` a 1 ms `poll` that serves
//! reports to free the queue; then a flush that polls 1 ms at a time until
//! nothing is left. A `ProducerContext` counts the reports. Transactional
//! runs use `init_transactions` (in the warm-up), `begin_transaction`, and
//! that flush before `commit_transaction`. Everything not on the command
//! line is at librdkafka's defaults.

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use kafka_producer_bench::contract::{self, ContractArgs, Measured, Tally};
use kafka_producer_bench::{measure, values};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

const CLIENT: &str = "rdkafka";
/// Records between two `poll(0)`s.
const POLL_EVERY: u64 = 1024;
/// How long one `poll` waits while the queue is full or a flush waits.
/// rdkafka's `BaseProducer::poll(t)` serves events until `t` has passed,
/// not until the first one, so this is the granularity of every wait: its
/// own `flush` polls 100 ms at a time, which cost every flush up to 100 ms
/// and every transaction (`commit_transaction` flushes first) 100 ms.
const POLL_WAIT: Duration = Duration::from_millis(1);
/// Longest a flush, a commit or `init_transactions` may take.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Parser, Debug)]
#[command(
    name = "rdkafka",
    about = "librdkafka (rdkafka crate) speaking the side-by-side client contract"
)]
struct Args {
    #[command(flatten)]
    contract: ContractArgs,
    /// Another librdkafka property, KEY=VALUE (repeatable), for experiments
    /// such as `--set batch.size=16384`; the side-by-side command passes
    /// none.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    properties: Vec<String>,
}

/// Delivery reports, counted in the thread that polls.
#[derive(Default)]
struct Counting {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

impl Counting {
    /// The reports so far as a tally.
    fn tally(&self) -> Tally {
        Tally {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            first_error: self.first_error.lock().ok().and_then(|e| e.clone()),
        }
    }

    /// Starts a phase from zero.
    fn reset(&self) {
        self.delivered.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            *first = None;
        }
    }

    fn fail(&self, n: u64, error: impl FnOnce() -> String) {
        self.failed.fetch_add(n, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert_with(error);
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let a = &args.contract;
    if let Err(e) = a.validate() {
        return contract::bad_argument(CLIENT, &e);
    }
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &a.bootstrap)
        .set("acks", a.acks_property())
        .set("enable.idempotence", a.idempotence.to_string())
        .set("linger.ms", a.linger_ms.to_string())
        .set("compression.type", a.compression.name());
    if let Some(id) = &a.transactional_id {
        config.set("transactional.id", id);
    }
    for p in &args.properties {
        match p.split_once('=') {
            Some((k, v)) => {
                config.set(k, v);
            }
            None => {
                return contract::bad_argument(CLIENT, &format!("--set {p:?}: expected KEY=VALUE"));
            }
        }
    }
    let producer: BaseProducer<Counting> = match config.create_with_context(Counting::default()) {
        Ok(p) => p,
        Err(e) => {
            return contract::bad_argument(CLIENT, &format!("cannot create the producer: {e}"));
        }
    };
    let library = format!("librdkafka {}", rdkafka::util::get_rdkafka_version().1);
    let pool = values::pool();

    if a.transactional_id.is_some()
        && let Err(e) = producer.init_transactions(OPERATION_TIMEOUT)
    {
        eprintln!("{CLIENT}: init_transactions: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!("{CLIENT}: warm-up of {} records", a.warmup());
    phase(&producer, a, &pool, a.warmup());
    let warm = producer.context().tally();
    if warm.failed > 0 || warm.delivered != a.warmup() {
        eprintln!(
            "{CLIENT}: warm-up failed: {} of {} delivered; {}",
            warm.delivered,
            a.warmup(),
            warm.first_error.unwrap_or_default()
        );
        return ExitCode::FAILURE;
    }

    eprintln!(
        "{CLIENT}: measuring {} records of {} B",
        a.records, a.value_size
    );
    producer.context().reset();
    let cpu = measure::process_cpu();
    let start = Instant::now();
    let transactions = phase(&producer, a, &pool, a.records);
    let elapsed = start.elapsed();
    let cpu = measure::process_cpu().saturating_sub(cpu);
    let tally = producer.context().tally();
    // Destroyed before the peak RSS is read, as the other clients close
    // first; VmHWM keeps the peak anyway.
    drop(producer);
    let m = Measured {
        elapsed,
        cpu,
        tally,
        transactions,
    };
    contract::report(CLIENT, &library, a.records, &m)
}

/// Produces `count` records and waits for every report (flush, or the
/// commit of the last transaction). Returns the transactions committed.
fn phase(producer: &BaseProducer<Counting>, a: &ContractArgs, pool: &[u8], count: u64) -> u64 {
    let ctx = producer.context();
    let per_txn = a
        .transaction_records
        .filter(|_| a.transactional_id.is_some());
    let (mut commits, mut in_txn, mut delivered_at_begin) = (0, 0, 0);
    for i in 0..count {
        if per_txn.is_some() && in_txn == 0 {
            if let Err(e) = producer.begin_transaction() {
                // Fatal: every record left fails.
                ctx.fail(count - i, || format!("begin_transaction: {e}"));
                return commits;
            }
            delivered_at_begin = ctx.delivered.load(Ordering::Relaxed);
        }
        let off = values::offset(i, a.value_size);
        let mut record =
            BaseRecord::<(), [u8]>::to(&a.topic).payload(&pool[off..off + a.value_size]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(POLL_WAIT);
                }
                Err((e, _)) => {
                    ctx.fail(1, || format!("produce refused: {e}"));
                    break;
                }
            }
        }
        if i % POLL_EVERY == POLL_EVERY - 1 {
            producer.poll(Duration::ZERO);
        }
        if let Some(m) = per_txn {
            in_txn += 1;
            if in_txn == m {
                commits += commit(producer, delivered_at_begin);
                in_txn = 0;
            }
        }
    }
    if per_txn.is_some() {
        if in_txn > 0 {
            commits += commit(producer, delivered_at_begin);
        }
    } else {
        flush(producer);
    }
    commits
}

/// Waits until every message has its delivery report served, polling
/// [`POLL_WAIT`] at a time rather than the 100 ms of rdkafka's `flush`.
fn flush(producer: &BaseProducer<Counting>) {
    let deadline = Instant::now() + OPERATION_TIMEOUT;
    // Messages queued or in flight, plus delivery reports not yet served.
    while producer.in_flight_count() > 0 {
        if Instant::now() > deadline {
            eprintln!(
                "{CLIENT}: flush: {} messages left after {OPERATION_TIMEOUT:?}",
                producer.in_flight_count()
            );
            return;
        }
        producer.poll(POLL_WAIT);
    }
}

/// Commits the open transaction (librdkafka flushes first). When the commit
/// fails, the records reported delivered in it are aborted: they move to
/// failed.
fn commit(producer: &BaseProducer<Counting>, delivered_at_begin: u64) -> u64 {
    let ctx = producer.context();
    // Flushed here first, so that the flush inside commit_transaction finds
    // nothing left and never polls for 100 ms.
    flush(producer);
    match producer.commit_transaction(OPERATION_TIMEOUT) {
        Ok(()) => 1,
        Err(e) => {
            let aborted = ctx
                .delivered
                .load(Ordering::Relaxed)
                .saturating_sub(delivered_at_begin);
            ctx.delivered.fetch_sub(aborted, Ordering::Relaxed);
            ctx.fail(aborted, || format!("commit_transaction: {e}"));
            if let Err(e) = producer.abort_transaction(OPERATION_TIMEOUT) {
                eprintln!("{CLIENT}: abort failed: {e}");
            }
            0
        }
    }
}
