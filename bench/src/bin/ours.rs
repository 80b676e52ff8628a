//! Our producer (kafka-producer-tokio) speaking the side-by-side client
//! contract of `peers/README.md`.
//!
//! ```text
//! ours --bootstrap HOST:PORT --topic T --records N --value-size BYTES [contract options]
//!      [--api handle|driver] [--runtime current|multi] [--set KEY=VALUE]...
//! ```
//!
//! - `--api driver` (default): the lower layer, [`TokioDriver`], driven by
//!   the sending task itself; `Delivered` and `Failed` events are counted
//!   every 1,024 sends and after the flush. The fastest way the public API
//!   allows: measured on the mock cluster at 100 B, 0.42-0.45 µs of CPU per
//!   record against 0.49-0.59 for the handle.
//! - `--api handle`: the application API, the cloneable [`Producer`]
//!   handle. Each `send` gives a [`DeliveryFuture`]; they wait in a queue
//!   in send order and are checked without waiting (`try_result`) every
//!   1,024 sends and after the flush, which is where deliveries and
//!   failures are counted.
//!   `--results metrics` drops the futures instead (fire and forget) and
//!   counts failures from the producer's `record-error-total` after the
//!   flush.
//! - `--runtime current` (default): a current-thread tokio runtime, so the
//!   whole client is one thread. `multi`: tokio's multi-thread runtime
//!   with its default worker count (the driver task on a worker, the
//!   sending loop on the main thread).
//!
//! Values are slices of one shared `Bytes` pool: no copy per record, as an
//! application holding `Bytes` would send them. Everything not on the
//! command line is at the producer's defaults.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use kafka_producer_bench::contract::{self, ContractArgs, Measured, Tally};
use kafka_producer_bench::{measure, values};
use kafka_producer_proto::Event;
use kafka_producer_tokio::{Config, DeliveryFuture, Producer, Record, TokioDriver};

const CLIENT: &str = "ours";
/// Sends between two looks at the results.
const CHECK_EVERY: u64 = 1024;
/// How long `close` may take before the records left are aborted.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Parser, Debug)]
#[command(
    name = "ours",
    about = "kafka-producer-tokio speaking the side-by-side client contract"
)]
struct Args {
    #[command(flatten)]
    contract: ContractArgs,
    /// Which API sends the records.
    #[arg(long, value_enum, default_value_t = Api::Driver)]
    api: Api,
    /// Which tokio runtime runs them.
    #[arg(long, value_enum, default_value_t = Runtime::Current)]
    runtime: Runtime,
    /// How the handle's results are counted: each record's
    /// DeliveryFuture, or (fire and forget) the futures dropped and the
    /// producer's record-error-total read after the flush.
    #[arg(long, value_enum, default_value_t = Results::Futures)]
    results: Results,
    /// Another producer property, KEY=VALUE (repeatable), for experiments
    /// such as `--set batch.size=1000000`; the side-by-side command passes
    /// none.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    properties: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Api {
    Handle,
    Driver,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Results {
    Futures,
    Metrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Runtime {
    Current,
    Multi,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = args.contract.validate() {
        return contract::bad_argument(CLIENT, &e);
    }
    if args.contract.transactional_id.is_some() {
        return contract::bad_argument(
            CLIENT,
            "transactions are not in kafka-producer-tokio yet (no begin/commit API)",
        );
    }
    let config = match config(&args.contract, &args.properties) {
        Ok(c) => c,
        Err(e) => return contract::bad_argument(CLIENT, &e),
    };
    let runtime = match args.runtime {
        Runtime::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Runtime::Multi => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{CLIENT}: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let library = format!(
        "kafka-producer-tokio {} ({} API, {} runtime)",
        env!("CARGO_PKG_VERSION"),
        match args.api {
            Api::Handle => "Producer handle",
            Api::Driver => "TokioDriver",
        },
        match args.runtime {
            Runtime::Current => "current-thread",
            Runtime::Multi => "multi-thread",
        }
    );
    let pool = Bytes::from(values::pool());
    let a = &args.contract;
    let measured = runtime.block_on(async {
        match args.api {
            Api::Handle => with_handle(config, a, &pool, args.results).await,
            Api::Driver => with_driver(config, a, &pool).await,
        }
    });
    drop(runtime);
    match measured {
        Ok(m) => contract::report(CLIENT, &library, a.records, &m),
        Err(e) => {
            eprintln!("{CLIENT}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config(a: &ContractArgs, properties: &[String]) -> Result<Config, String> {
    let mut b = Config::builder();
    b.bootstrap_servers(&a.bootstrap);
    let linger = a.linger_ms.to_string();
    for (k, v) in [
        ("acks", a.acks_property()),
        (
            "enable.idempotence",
            if a.idempotence { "true" } else { "false" },
        ),
        ("linger.ms", linger.as_str()),
        ("compression.type", a.compression.name()),
    ] {
        b.set(k, v).map_err(|e| format!("{k}={v}: {e}"))?;
    }
    for p in properties {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("--set {p:?}: expected KEY=VALUE"))?;
        b.set(k, v).map_err(|e| format!("{k}={v}: {e}"))?;
    }
    b.build().map_err(|e| e.to_string())
}

fn record(a: &ContractArgs, pool: &Bytes, i: u64) -> Record {
    let off = values::offset(i, a.value_size);
    Record::new(a.topic.as_str()).value(pool.slice(off..off + a.value_size))
}

/// Runs a phase and measures it.
async fn measured<F: Future<Output = Tally>>(phase: F) -> Measured {
    let cpu = measure::process_cpu();
    let start = Instant::now();
    let tally = phase.await;
    Measured {
        elapsed: start.elapsed(),
        cpu: measure::process_cpu().saturating_sub(cpu),
        tally,
        transactions: 0,
    }
}

// ---- The Producer handle ---------------------------------------------------

async fn with_handle(
    config: Config,
    a: &ContractArgs,
    pool: &Bytes,
    results: Results,
) -> Result<Measured, String> {
    let producer = Producer::connect(config)
        .await
        .map_err(|e| format!("cannot start the producer: {e}"))?;
    eprintln!("{CLIENT}: warm-up of {} records", a.warmup());
    let warm = handle_phase(&producer, a, pool, a.warmup(), results).await;
    if warm.failed > 0 {
        return Err(format!(
            "warm-up failed: {}",
            warm.first_error.unwrap_or_default()
        ));
    }
    eprintln!(
        "{CLIENT}: measuring {} records of {} B",
        a.records, a.value_size
    );
    let m = measured(handle_phase(&producer, a, pool, a.records, results)).await;
    if let Err(e) = producer.close(CLOSE_TIMEOUT).await {
        eprintln!("{CLIENT}: close: {e}");
    }
    Ok(m)
}

async fn handle_phase(
    producer: &Producer,
    a: &ContractArgs,
    pool: &Bytes,
    count: u64,
    results: Results,
) -> Tally {
    if results == Results::Metrics {
        return fire_and_forget(producer, a, pool, count).await;
    }
    let mut tally = Tally::default();
    // In send order: each partition's records complete in order, so the
    // front is among the oldest still waiting.
    let mut waiting: VecDeque<DeliveryFuture> = VecDeque::new();
    for i in 0..count {
        match producer.send(record(a, pool, i)).await {
            Ok(delivery) => waiting.push_back(delivery),
            Err(refused) => tally.fail(1, || format!("send refused: {}", refused.kind)),
        }
        if i % CHECK_EVERY == CHECK_EVERY - 1 {
            take_results(&mut waiting, &mut tally, false);
        }
    }
    producer.flush().await;
    take_results(&mut waiting, &mut tally, true);
    tally
}

/// Sends without looking at any future; the producer counts the failures
/// (a dropped future's failure still reaches `record-error-total`), and
/// every accepted record has its result once the flush returns.
async fn fire_and_forget(producer: &Producer, a: &ContractArgs, pool: &Bytes, count: u64) -> Tally {
    let mut tally = Tally::default();
    let errors_before = producer.metrics().record_error_total;
    let mut accepted = 0;
    for i in 0..count {
        match producer.send(record(a, pool, i)).await {
            Ok(delivery) => {
                accepted += 1;
                drop(delivery);
            }
            Err(refused) => tally.fail(1, || format!("send refused: {}", refused.kind)),
        }
    }
    producer.flush().await;
    let failed = producer.metrics().record_error_total - errors_before;
    let pending = producer.pending() as u64;
    if failed > 0 {
        tally.fail(failed, || "failed (see record-error-total)".into());
    }
    if pending > 0 {
        tally.fail(pending, || "no result after flush".into());
    }
    tally.delivered = accepted - failed.min(accepted) - pending.min(accepted);
    tally
}

/// Counts the results at the front of the queue; after a flush every one
/// (a future without a result then is a record lost).
fn take_results(waiting: &mut VecDeque<DeliveryFuture>, tally: &mut Tally, flushed: bool) {
    while let Some(front) = waiting.front_mut() {
        match front.try_result() {
            Some(Ok(_)) => tally.delivered += 1,
            Some(Err(e)) => tally.fail(1, || e.to_string()),
            None if flushed => tally.fail(1, || "no result after flush".into()),
            None => break,
        }
        waiting.pop_front();
    }
}

// ---- TokioDriver -----------------------------------------------------------

async fn with_driver(config: Config, a: &ContractArgs, pool: &Bytes) -> Result<Measured, String> {
    let mut driver = TokioDriver::<()>::from_config(config);
    eprintln!("{CLIENT}: warm-up of {} records", a.warmup());
    let warm = driver_phase(&mut driver, a, pool, a.warmup()).await;
    if warm.failed > 0 {
        return Err(format!(
            "warm-up failed: {}",
            warm.first_error.unwrap_or_default()
        ));
    }
    eprintln!(
        "{CLIENT}: measuring {} records of {} B",
        a.records, a.value_size
    );
    let m = measured(driver_phase(&mut driver, a, pool, a.records)).await;
    if tokio::time::timeout(CLOSE_TIMEOUT, driver.close())
        .await
        .is_err()
    {
        eprintln!("{CLIENT}: close: not closed after {CLOSE_TIMEOUT:?}");
    }
    Ok(m)
}

async fn driver_phase(
    driver: &mut TokioDriver<()>,
    a: &ContractArgs,
    pool: &Bytes,
    count: u64,
) -> Tally {
    let mut tally = Tally::default();
    for i in 0..count {
        if let Err(refused) = driver.send(record(a, pool, i)).await {
            tally.fail(1, || format!("send refused: {}", refused.kind));
        }
        if i % CHECK_EVERY == CHECK_EVERY - 1 {
            count_events(driver.take_events(), &mut tally);
        }
    }
    driver.flush().await;
    count_events(driver.take_events(), &mut tally);
    let left = driver.producer().pending_records() as u64;
    if left > 0 {
        tally.fail(left, || "no result after flush".into());
    }
    tally
}

fn count_events(events: Vec<Event<()>>, tally: &mut Tally) {
    for e in events {
        match e {
            Event::Delivered { .. } => tally.delivered += 1,
            Event::Failed { error, .. } => tally.fail(1, || error.to_string()),
            _ => {}
        }
    }
}
