//! kpp: a kcat-like producer on the sans-IO producer and the tokio driver.
//!
//! ```text
//! cargo run --release -p kpp -- --count 100000
//! seq 10 | cargo run --release -p kpp -- --bootstrap localhost:9092 --topic t
//! cargo run --release -p kpp -- --count 20000 --inject NOT_LEADER_OR_FOLLOWER:3
//! ```
//!
//! Without `--bootstrap` it starts the embedded simulated cluster
//! (`SimServer`, served on loopback) and produces there; `--inject` then
//! makes it answer Produce requests
//! with errors. At the end it reports deliveries, failures by reason,
//! retries, throughput, latency percentiles, the producer's metrics, and
//! checks that every accepted record had exactly one terminal event.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_producer_proto::error::ProduceError;
use kafka_producer_proto::sim::SimServer;
use kafka_producer_proto::wire::ApiKey;
use kafka_producer_proto::{Config, ConfigBuilder, Event, KafkaCode, Metrics, Record};
use kafka_producer_tokio::TokioDriver;

mod cli;
mod progress;

use clap::Parser;
use cli::{Cli as Args, KeyMode};
use progress::Progress;

pub(crate) const INJECTABLE: &[&str] = &[
    "NOT_LEADER_OR_FOLLOWER",
    "LEADER_NOT_AVAILABLE",
    "REQUEST_TIMED_OUT",
    "NOT_ENOUGH_REPLICAS",
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    "NETWORK_EXCEPTION",
    "KAFKA_STORAGE_ERROR",
    "MESSAGE_TOO_LARGE",
    "INVALID_RECORD",
    "TOPIC_AUTHORIZATION_FAILED",
    "CORRUPT_MESSAGE",
    "UNKNOWN_TOPIC_OR_PARTITION",
    "UNKNOWN_SERVER_ERROR",
    "RECORD_LIST_TOO_LARGE",
    "INVALID_TIMESTAMP",
    "INVALID_REQUIRED_ACKS",
];

/// The Kafka error named `name` (Kafka's spelling), if it is one kpp
/// knows how to inject.
pub(crate) fn injectable(name: &str) -> Option<KafkaCode> {
    if !INJECTABLE.contains(&name) {
        return None;
    }
    // Kafka's codes run from -1 to a little over 100; the name is the one
    // the generated table gives.
    (-1..=200)
        .map(KafkaCode::from_i16)
        .find(|c| c.name() == name)
}

/// The application's value on each record: when it was handed to `send`
/// and how many payload bytes it carries.
#[derive(Debug, Clone, Copy)]
struct Sent {
    at: Instant,
    bytes: u32,
}

fn payload(key: &Option<Bytes>, value: &Option<Bytes>) -> usize {
    key.as_ref().map_or(0, Bytes::len) + value.as_ref().map_or(0, Bytes::len)
}

/// Everything learned from the producer's events.
#[derive(Default)]
struct Tally {
    accepted: u64,
    accepted_bytes: u64,
    refused: BTreeMap<String, u64>,
    delivered: u64,
    delivered_bytes: u64,
    failed: u64,
    failures: BTreeMap<String, u64>,
    unexpected_failures: u64,
    latencies_us: Vec<u64>,
    /// Terminal events per record id; ids are dense from 0.
    terminal: Vec<u8>,
    /// `(partition, offset)` of every delivery with an offset.
    offsets: Vec<(i32, i64)>,
    offset_unknown: u64,
    per_partition: BTreeMap<i32, u64>,
    /// Per partition: the highest record id delivered so far and its
    /// offset, to count records that landed before one sent earlier.
    last_in_partition: BTreeMap<i32, (u64, i64)>,
    reordered: u64,
    closed: bool,
    last_progress: Option<Instant>,
}

impl Tally {
    fn counts(&self) -> progress::Counts {
        progress::Counts {
            delivered: self.delivered,
            accepted: self.accepted,
            failed: self.failed,
        }
    }

    fn accept(&mut self, id: u64, bytes: usize) {
        self.accepted += 1;
        self.accepted_bytes += bytes as u64;
        let slot = usize::try_from(id).unwrap_or(usize::MAX);
        if self.terminal.len() <= slot {
            self.terminal.resize(slot + 1, 0);
        }
    }

    fn terminal_for(&mut self, id: u64) {
        let slot = usize::try_from(id).unwrap_or(usize::MAX);
        if self.terminal.len() <= slot {
            // An id `send` never returned: counted as a duplicate below.
            self.terminal.resize(slot + 1, 1);
        }
        self.terminal[slot] = self.terminal[slot].saturating_add(1);
        self.last_progress = Some(Instant::now());
    }

    fn absorb(&mut self, events: Vec<(Instant, Event<Sent>)>, expected: &[KafkaCode]) {
        for (seen, event) in events {
            match event {
                Event::Delivered {
                    id,
                    partition,
                    offset,
                    user,
                    ..
                } => {
                    self.terminal_for(id.0);
                    self.delivered += 1;
                    self.delivered_bytes += u64::from(user.bytes);
                    *self.per_partition.entry(partition).or_default() += 1;
                    let latency = seen.saturating_duration_since(user.at);
                    self.latencies_us
                        .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
                    match offset {
                        Some(o) => {
                            self.offsets.push((partition, o));
                            let last = self.last_in_partition.entry(partition).or_insert((0, -1));
                            if id.0 >= last.0 {
                                if o < last.1 {
                                    self.reordered += 1;
                                }
                                *last = (id.0, o);
                            }
                        }
                        None => self.offset_unknown += 1,
                    }
                }
                Event::Failed { id, error, .. } => {
                    self.terminal_for(id.0);
                    self.failed += 1;
                    if !error.code().is_some_and(|c| expected.contains(&c)) {
                        self.unexpected_failures += 1;
                    }
                    *self.failures.entry(reason(&error)).or_default() += 1;
                }
                Event::Closed => self.closed = true,
                _ => {}
            }
        }
    }
}

/// A failure's reason without the parts that differ per record, so that
/// failures group.
fn reason(error: &ProduceError) -> String {
    match error {
        ProduceError::Broker { code, .. } => format!("broker refused: {}", code.name()),
        ProduceError::DeliveryTimeout { last_error, .. } => format!(
            "delivery timeout (last error {})",
            last_error.map_or("none", KafkaCode::name)
        ),
        ProduceError::TopicNotFound { topic, .. } => format!("topic {topic:?} not found"),
        other => other.to_string(),
    }
}

pub(crate) fn human_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2}M rec/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1}k rec/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} rec/s")
    }
}

/// xorshift64*: random keys without a dependency, reproducible per seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = args.check() {
        eprintln!("kpp: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kpp: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

/// Set on SIGINT or SIGTERM: stop reading and generating records, flush
/// for at most [`SHUTDOWN_BOUND`], close, print the summary.
static STOP: AtomicBool = AtomicBool::new(false);
/// How long a signalled kpp keeps delivering before it hands back what is
/// still pending.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

/// Sets [`STOP`] on the first SIGINT or SIGTERM.
async fn watch_signals() {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    STOP.store(true, Ordering::SeqCst);
    eprintln!(
        "\nkpp: interrupted: delivering what is pending for at most {SHUTDOWN_BOUND:?}, then closing"
    );
}

async fn run(args: Args) -> ExitCode {
    tokio::spawn(watch_signals());
    // Lines come from --file or stdin (unless --count generates them).
    let input: Box<dyn BufRead + Send> = match &args.file {
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("kpp: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    // A typo in -X should not cost a cluster start to find out.
    if let Err(e) = build_config(args.bootstrap.as_deref().unwrap_or("localhost:9092"), &args) {
        eprintln!("kpp: configuration: {e}");
        return ExitCode::from(2);
    }
    // Kept alive until the end: dropping it stops the brokers.
    let mut cluster = None;
    let bootstrap = match &args.bootstrap {
        Some(b) => b.clone(),
        None => {
            let server = match SimServer::builder()
                .brokers(usize::try_from(args.brokers.max(1)).unwrap_or(1))
                .topic(
                    &args.topic,
                    usize::try_from(args.partitions.max(1)).unwrap_or(1),
                )
                .bind()
            {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("kpp: cannot start the embedded cluster: {e}");
                    return ExitCode::FAILURE;
                }
            };
            for inj in &args.inject {
                server.inject(ApiKey::Produce, &vec![inj.code; inj.count]);
            }
            let b = server.bootstrap_servers();
            println!(
                "embedded simulated cluster: {} brokers at {b}; topic {} with {} partitions",
                args.brokers, args.topic, args.partitions
            );
            cluster = Some(server);
            b
        }
    };

    let config = match build_config(&bootstrap, &args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kpp: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let expected: Vec<KafkaCode> = args.inject.iter().map(|i| i.code).collect();
    // Longer than any record may legitimately stay pending.
    let stall_limit =
        config.delivery_timeout() + config.request_timeout() + Duration::from_secs(10);
    let mut driver = TokioDriver::<Sent>::from_config(config);
    let mut tally = Tally::default();
    let start = Instant::now();
    let mut progress = Progress::new(start, args.count);

    match args.count {
        Some(n) => {
            produce_generated(&mut driver, &args, n, &mut tally, &mut progress, &expected).await
        }
        None => {
            produce_lines(
                input,
                &mut driver,
                &args,
                &mut tally,
                &mut progress,
                &expected,
            )
            .await
        }
    }

    // Drain: everything accepted must reach its end.
    driver.start_flush();
    let mut stalled = false;
    tally.last_progress = Some(Instant::now());
    let mut stopped_at: Option<Instant> = None;
    while driver.producer().pending_records() > 0 {
        if STOP.load(Ordering::Relaxed) {
            let at = *stopped_at.get_or_insert_with(Instant::now);
            if at.elapsed() > SHUTDOWN_BOUND {
                // Bounded shutdown: hand back what is still pending.
                let now = driver.now();
                driver.producer_mut().abort(now);
                driver.settle();
                break;
            }
        }
        let until = Instant::now() + Duration::from_millis(100);
        driver
            .drive_until(until, |p| p.pending_records() == 0)
            .await;
        tally.absorb(driver.take_events_timed(), &expected);
        progress.tick(tally.counts());
        if tally
            .last_progress
            .is_some_and(|t| t.elapsed() > stall_limit)
        {
            stalled = true;
            break;
        }
    }
    let elapsed = start.elapsed();
    tally.absorb(driver.take_events_timed(), &expected);
    let pending_at_end = driver.producer().pending_records();

    // Close, bounded: a producer that cannot close is a finding, not a hang.
    driver.start_close();
    let close_by = Instant::now() + Duration::from_secs(10);
    while !driver.is_closed() && Instant::now() < close_by {
        driver.drive_until(close_by, |_| false).await;
        if driver.is_closed() {
            break;
        }
    }
    if !driver.is_closed() {
        // Whatever is still pending is handed back, not left behind.
        let now = driver.now();
        driver.producer_mut().abort(now);
        driver.settle();
    }
    tally.absorb(driver.take_events_timed(), &expected);
    progress.finish();
    // After close, so that connection-close-total counts the closing too.
    let metrics = driver.producer().metrics();

    let ok = report(
        &args,
        &bootstrap,
        &tally,
        &metrics,
        &driver,
        elapsed,
        stalled,
        pending_at_end,
    );
    drop(cluster.take());
    if stalled {
        ExitCode::from(3)
    } else if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn build_config(bootstrap: &str, args: &Args) -> Result<Config, kafka_producer_proto::ConfigError> {
    let mut b: ConfigBuilder = Config::builder();
    b.bootstrap_servers(bootstrap).random_seed(args.seed);
    for (k, v) in &args.properties() {
        b.set(k, v)?;
    }
    b.build()
}

async fn send_one(driver: &mut TokioDriver<Sent>, record: Record<()>, tally: &mut Tally) {
    let bytes = payload(&record.key, &record.value);
    let sent = Sent {
        at: Instant::now(),
        bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
    };
    match driver.send(record.user(sent)).await {
        Ok(id) => tally.accept(id.0, bytes),
        Err(e) => *tally.refused.entry(e.kind.to_string()).or_default() += 1,
    }
}

async fn produce_generated(
    driver: &mut TokioDriver<Sent>,
    args: &Args,
    n: u64,
    tally: &mut Tally,
    progress: &mut Progress,
    expected: &[KafkaCode],
) {
    let value = Bytes::from(
        (0..args.value_size)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36])
            .collect::<Vec<u8>>(),
    );
    let mut rng = Rng(args.seed.max(1));
    tally.terminal.reserve(usize::try_from(n).unwrap_or(0));
    tally.latencies_us.reserve(usize::try_from(n).unwrap_or(0));
    for i in 0..n {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        let mut record = Record::new(args.topic.as_str()).value(value.clone());
        match args.key_mode {
            KeyMode::None | KeyMode::Tab => {}
            KeyMode::Seq => record = record.key(i.to_string()),
            KeyMode::Random => record = record.key(format!("{:016x}", rng.next())),
        }
        send_one(driver, record, tally).await;
        if i % 1024 == 0 {
            tally.absorb(driver.take_events_timed(), expected);
            progress.tick(tally.counts());
        }
    }
}

async fn produce_lines(
    input: Box<dyn BufRead + Send>,
    driver: &mut TokioDriver<Sent>,
    args: &Args,
    tally: &mut Tally,
    progress: &mut Progress,
    expected: &[KafkaCode],
) {
    // Reading blocks, and the producer must keep moving while a terminal
    // user thinks: a thread reads, the driver's task sends.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4096);
    std::thread::spawn(move || {
        for line in input.lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let mut rng = Rng(args.seed.max(1));
    let mut seq = 0u64;
    loop {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        let line = match rx.try_recv() {
            Ok(line) => Some(line),
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => break,
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                let got = tokio::select! {
                    line = rx.recv() => Some(line),
                    _ = driver.drive_for(Duration::from_millis(100)) => None,
                };
                match got {
                    Some(None) => break,
                    Some(Some(line)) => Some(line),
                    None => None,
                }
            }
        };
        if let Some(line) = line {
            let line = Bytes::from(line);
            let mut record = Record::new(args.topic.as_str());
            match args.key_mode {
                KeyMode::None => record = record.value(line),
                KeyMode::Seq => record = record.key(seq.to_string()).value(line),
                KeyMode::Random => record = record.key(format!("{:016x}", rng.next())).value(line),
                KeyMode::Tab => match line.iter().position(|b| *b == b'\t') {
                    Some(i) => record = record.key(line.slice(..i)).value(line.slice(i + 1..)),
                    None => record = record.value(line),
                },
            }
            seq += 1;
            send_one(driver, record, tally).await;
        }
        tally.absorb(driver.take_events_timed(), expected);
        progress.tick(tally.counts());
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    bootstrap: &str,
    t: &Tally,
    m: &Metrics,
    driver: &TokioDriver<Sent>,
    elapsed: Duration,
    stalled: bool,
    pending_at_end: usize,
) -> bool {
    let refused: u64 = t.refused.values().sum();
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!();
    println!("topic {} at {bootstrap}", args.topic);
    println!(
        "records     {} accepted, {} delivered, {} failed, {} refused by send",
        t.accepted, t.delivered, t.failed, refused
    );
    println!(
        "throughput  {:.3} s, {:.0} records/s, {:.2} MB/s delivered (keys + values, 1 MB = 10^6 B)",
        secs,
        t.delivered as f64 / secs,
        t.delivered_bytes as f64 / secs / 1e6
    );
    let mut lat = t.latencies_us.clone();
    lat.sort_unstable();
    if lat.is_empty() {
        println!("latency     no deliveries");
    } else {
        println!(
            "latency     send -> delivered: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&lat, 50.0),
            percentile(&lat, 90.0),
            percentile(&lat, 99.0),
            lat.last().map_or(0.0, |v| *v as f64 / 1000.0)
        );
    }
    let spread: Vec<String> = t
        .per_partition
        .iter()
        .map(|(p, n)| format!("p{p} {n}"))
        .collect();
    if !spread.is_empty() {
        println!("partitions  {}", spread.join(", "));
    }
    println!(
        "retries     {} record retries (record-retry-total), {} batch retries (batch-retry-total), {} batch splits",
        m.record_retry_total, m.batch_retry_total, m.batch_split_total
    );
    if !t.failures.is_empty() {
        println!("failures by reason:");
        for (why, n) in &t.failures {
            println!("  {n:>10}  {why}");
        }
    }
    if !t.refused.is_empty() {
        println!("refusals by reason:");
        for (why, n) in &t.refused {
            println!("  {n:>10}  {why}");
        }
    }
    if !args.inject.is_empty() {
        println!(
            "injected faults (the embedded cluster fails whole Produce requests, every partition in them):"
        );
        for inj in &args.inject {
            println!(
                "  {:>10} Produce requests failed with {:<34} the producer saw it on {} partition responses",
                inj.count,
                inj.name,
                m.error_count(inj.code),
            );
        }
    }

    // The guarantees this run can check from the outside.
    let missing = t.terminal.iter().filter(|n| **n == 0).count();
    let duplicated = t.terminal.iter().filter(|n| **n > 1).count();
    let mut offsets = t.offsets.clone();
    offsets.sort_unstable();
    let same_offset = offsets.windows(2).filter(|w| w[0] == w[1]).count();
    println!("checks:");
    println!(
        "  terminal events: {} records without one, {} with more than one{}",
        missing,
        duplicated,
        if pending_at_end > 0 {
            format!(" ({pending_at_end} still pending when the drain ended)")
        } else {
            String::new()
        }
    );
    println!(
        "  offsets: {} deliveries share an offset, {} without an offset, {} landed below a record sent earlier",
        same_offset, t.offset_unknown, t.reordered
    );
    println!(
        "  close: {}",
        if t.closed {
            "Event::Closed received"
        } else {
            "no Event::Closed within 10 s"
        }
    );
    if stalled {
        println!(
            "  STALLED: no record reached its end for longer than delivery.timeout.ms + request.timeout.ms + 10 s"
        );
    }

    let s = driver.stats();
    println!(
        "driver      {} connects, {} disconnects asked, {} closed by peer or error, {} connect failures, {} bytes written, {} bytes read, {} waits ({} with the timer already due)",
        s.connects,
        s.disconnects,
        s.peer_closes,
        s.connect_failures,
        s.bytes_written,
        s.bytes_read,
        s.turns,
        s.immediate_timeouts
    );
    println!("metrics:");
    for (name, value) in m.iter() {
        if value.fract() == 0.0 && value.abs() < 9e15 {
            println!("  {name:<28} {value:.0}");
        } else {
            println!("  {name:<28} {value:.3}");
        }
    }
    println!("  {:<28} {}", "batch-retry-total", m.batch_retry_total);
    println!("  {:<28} {}", "metadata requests", m.metadata_request_total);
    for (code, n) in &m.errors_by_code {
        println!(
            "  {:<28} {n}",
            format!("errors {}", KafkaCode::from_i16(*code).name())
        );
    }

    let lost = t.accepted != t.delivered + t.failed;
    let ok = !stalled
        && !lost
        && refused == 0
        && t.unexpected_failures == 0
        && missing == 0
        && duplicated == 0
        && same_offset == 0;
    if !ok {
        println!(
            "RESULT: FAILED ({} unexpected failures, {} refused, {} lost, {} duplicated terminal events, {} shared offsets)",
            t.unexpected_failures,
            refused,
            t.accepted.saturating_sub(t.delivered + t.failed),
            duplicated,
            same_offset
        );
    } else {
        println!("RESULT: ok");
    }
    ok
}
