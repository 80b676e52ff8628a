//! side_by_side: our tokio driver against librdkafka's `BaseProducer`, in one
//! process, on one embedded librdkafka mock cluster.
//!
//! ```text
//! cargo run --release -p kafka-producer-bench -- [--records N] [--rounds R] [--idempotence true|false]
//! cargo run --release -p kafka-producer-bench -- --only ours   # one client, e.g. under perf
//! ```
//!
//! Defaults: 1,000,000 records, 5 rounds, idempotence as our producer's
//! configuration default.
//!
//! Before anything runs with `enable.idempotence=true`, a probe runs our
//! producer against the simulated cluster (feature `sim`) and checks that it
//! really sends InitProducerId and stamps its batches with a producer id. If
//! it does not (the setting accepted but not implemented), both clients run
//! with `enable.idempotence=false` and the output says so at the top.
//!
//! # What runs
//!
//! One mock cluster (`rdkafka::mocking::MockCluster`, 3 brokers) serves both
//! clients. Every run produces to a topic of its own (4 partitions,
//! replication factor 1: `bench-ours-1`, `bench-rd-1`, ...), so that every
//! run starts from empty partition logs. The mock keeps at most 5 MiB (or
//! 100,000 message sets) per partition and drops the oldest message sets
//! beyond that: 1,000,000 records of 100 bytes are about 27 MB per
//! partition, so a run overflows that cap within itself whatever the topic;
//! a fresh topic only makes every run start alike.
//!
//! Both clients: `acks=all`, `linger.ms=5`, `batch.size=16384`, 100-byte
//! values, null keys (both use a sticky partition for them), no
//! compression, `enable.idempotence` as given. librdkafka's queue limits
//! are raised (`queue.buffering.max.messages=2000000`,
//! `queue.buffering.max.kbytes=2097151`) so that they never throttle it.
//! Everything else is each client's default.
//!
//! - **Ours:** the async [`Producer`] of `kafka-producer-tokio` on a
//!   current-thread tokio runtime in the main thread (its driver task runs
//!   there too): `send(record).await` N times, dropping each
//!   `DeliveryFuture`, then `flush().await`; failures are counted from the
//!   producer's `record-error-total`.
//! - **librdkafka:** `BaseProducer` with a `ProducerContext` whose delivery
//!   callback counts successes and failures; `send` in a loop, answering
//!   `QueueFull` with `poll(1 ms)` and serving callbacks with `poll(0)` every
//!   1024 sends, then `flush`.
//!
//! One unmeasured warm-up run of each (min(N, 200,000) records) comes
//! first, then ours, librdkafka,
//! ours, librdkafka, ... R rounds each. Every run must account for every
//! record (delivered == N, no failure, no refusal), or the command stops
//! with exit status 1.
//!
//! # What is measured
//!
//! A run's window opens just before its client is created and closes when
//! its flush has returned (before the client is dropped): connection set-up
//! and metadata are inside it for both clients.
//!
//! - **Throughput:** N / wall time of the window.
//! - **Client CPU per record:** the CPU time (user + system) of the
//!   client's threads during the window, divided by N. The mock cluster
//!   runs in this process too, so whole-process figures (`getrusage`) would
//!   charge the broker's work to the client. Instead every thread's CPU
//!   time is read from `/proc/self/task/<tid>/schedstat` (nanoseconds on
//!   CPU) at both ends of the window. The client's threads are the calling
//!   thread plus every thread that did not exist when the window opened:
//!   for ours that is the calling thread alone (the driver runs there and
//!   starts no thread); for librdkafka it is the calling thread (`send`,
//!   `poll`, delivery callbacks) plus the `rdk:main` and `rdk:broker*`
//!   threads the `BaseProducer` starts. The threads that existed before,
//!   other than the calling one, are the mock cluster's (its own
//!   librdkafka handle's `rdk:main` and the `rdk:mock` thread that serves
//!   all brokers); they are reported separately as "mock CPU". The first
//!   measured run of each client prints which threads it counted, with
//!   their CPU time.
//! - **runq:** how long the calling thread was ready to run but waited for
//!   a CPU (second field of schedstat). On a shared machine this is where
//!   wall time goes that no client can be blamed for: compare it with the
//!   wall time before reading much into records/s.
//!
//! The machine's cores are shared by the client under test and the mock
//! cluster, so a client that burns more CPU also slows the broker.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_producer_proto::sim::{SimCluster, request_api};
use kafka_producer_proto::wire::header::decode_request_header;
use kafka_producer_proto::wire::messages::ProduceRequest;
use kafka_producer_proto::wire::{ApiKey, BatchHeader, FrameDecoder, Message};
use kafka_producer_proto::{Config, Event, Producer as SansIo, Record};
use kafka_producer_tokio::Producer;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};

const USAGE: &str = "\
usage: side_by_side [--records N] [--rounds R] [--idempotence true|false]

Runs our tokio driver and librdkafka's BaseProducer alternately against one
embedded librdkafka mock cluster (3 brokers, a 4-partition topic per run),
acks=all, linger.ms=5, batch.size=16384, 100-byte values, null keys, and
prints records/s and client CPU time per record, with medians and ratios.

  --records N            records per run (default 1000000)
  --rounds R             measured runs of each client (default 5)
  --idempotence BOOL     enable.idempotence for both clients (default: our
                         producer's configuration default)
  --only CLIENT          run only ours or librdkafka (for profiling one
                         client; no ratios)
  -h, --help             this text";

const VALUE_SIZE: usize = 100;
const PARTITIONS: i32 = 4;
const BROKERS: i32 = 3;
const WARMUP_RECORDS_MAX: u64 = 200_000;
/// Sends between two looks at the terminal events (ours) or the delivery
/// callbacks (librdkafka's `poll(0)`).
const EVENTS_EVERY: u64 = 1024;
/// Longest a run may take before it counts as stuck.
const RUN_LIMIT: Duration = Duration::from_secs(300);

struct Args {
    records: u64,
    rounds: usize,
    idempotence: Option<bool>,
    only: Option<Client>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut a = Args {
        records: 1_000_000,
        rounds: 5,
        idempotence: None,
        only: None,
    };
    while let Some(flag) = it.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (flag, None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let value = inline
            .or_else(|| it.next())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--records" => {
                a.records = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--records: {value:?} is not a positive number"))?;
            }
            "--rounds" => {
                a.rounds = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--rounds: {value:?} is not a positive number"))?;
            }
            "--idempotence" => {
                a.idempotence = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("--idempotence: {value:?} is not true or false")),
                });
            }
            "--only" => {
                a.only = Some(match value.as_str() {
                    "ours" => Client::Ours,
                    "librdkafka" => Client::Librdkafka,
                    _ => return Err(format!("--only: {value:?} is not ours or librdkafka")),
                });
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Some(a))
}

// ---- Per-thread CPU time --------------------------------------------------

/// The calling thread's id, from the `/proc/thread-self` link
/// (`<pid>/task/<tid>`).
fn current_tid() -> Result<u32, String> {
    let link = std::fs::read_link("/proc/thread-self")
        .map_err(|e| format!("cannot read /proc/thread-self: {e}"))?;
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("unexpected /proc/thread-self link {}", link.display()))
}

#[derive(Debug, Clone)]
struct ThreadCpu {
    name: String,
    /// Nanoseconds on CPU (user + system) since the thread started.
    ns: u64,
    /// Nanoseconds spent runnable but waiting for a CPU (0 without
    /// schedstat).
    runq_ns: u64,
}

/// Every thread of this process with its CPU time so far. A thread that
/// ends while it is being read is left out.
fn thread_cpu() -> BTreeMap<u32, ThreadCpu> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let path = entry.path();
        let schedstat = std::fs::read_to_string(path.join("schedstat")).ok();
        let field = |i: usize| {
            schedstat
                .as_deref()
                .and_then(|s| s.split_whitespace().nth(i)?.parse::<u64>().ok())
        };
        let ns = field(0).or_else(|| stat_cpu_ns(&path));
        let runq_ns = field(1).unwrap_or(0);
        let name = std::fs::read_to_string(path.join("comm"))
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default();
        if let Some(ns) = ns {
            out.insert(tid, ThreadCpu { name, ns, runq_ns });
        }
    }
    out
}

/// utime + stime from `/proc/.../stat`, for kernels without schedstat
/// (clock ticks, assumed 100 per second: coarser, but the same quantity).
fn stat_cpu_ns(task: &std::path::Path) -> Option<u64> {
    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
    // The name, in parentheses, may hold spaces; fields count from after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10_000_000)
}

/// CPU time spent between two snapshots, split into the client's threads
/// (the calling thread and threads that started in between) and the rest
/// (the mock cluster's).
struct CpuSplit {
    client_ns: u64,
    other_ns: u64,
    /// Run-queue wait of the calling thread: how long it could have run
    /// but other threads (of this process or others) had the CPUs.
    caller_runq_ns: u64,
    client_threads: Vec<String>,
    other_threads: Vec<String>,
}

fn split_cpu(
    me: u32,
    before: &BTreeMap<u32, ThreadCpu>,
    after: &BTreeMap<u32, ThreadCpu>,
) -> CpuSplit {
    let mut s = CpuSplit {
        client_ns: 0,
        other_ns: 0,
        caller_runq_ns: 0,
        client_threads: Vec::new(),
        other_threads: Vec::new(),
    };
    for (tid, t) in after {
        let start = before.get(tid).map_or(0, |b| b.ns);
        let spent = t.ns.saturating_sub(start);
        let label = format!("{} [{tid}] {:.0} ms", t.name, spent as f64 / 1e6);
        if *tid == me {
            s.caller_runq_ns = t
                .runq_ns
                .saturating_sub(before.get(tid).map_or(0, |b| b.runq_ns));
        }
        if *tid == me || !before.contains_key(tid) {
            s.client_ns += spent;
            s.client_threads.push(label);
        } else {
            s.other_ns += spent;
            s.other_threads.push(label);
        }
    }
    s
}

// ---- Runs ------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Ours,
    Librdkafka,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Ours => "ours",
            Client::Librdkafka => "librdkafka",
        }
    }
}

/// What a client reports at the end of a run.
#[derive(Default)]
struct Outcome {
    delivered: u64,
    failed: u64,
    refused: u64,
    /// Delivered without an offset (DUPLICATE_SEQUENCE_NUMBER, acks=0).
    offset_unknown: u64,
    first_error: Option<String>,
    /// Still pending when the run ended (ours) or left in the queue
    /// (librdkafka).
    pending: u64,
    /// Client-specific notes (driver turns, requests).
    notes: String,
}

impl Outcome {
    fn note_error(&mut self, error: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            self.first_error = Some(error());
        }
    }

    /// Whether every one of `n` records was delivered, and none failed, was
    /// refused or is left.
    fn complete(&self, n: u64) -> bool {
        self.delivered == n && self.failed == 0 && self.refused == 0 && self.pending == 0
    }
}

struct Measured {
    outcome: Outcome,
    wall: Duration,
    cpu: CpuSplit,
}

/// A measuring window: opened before the client exists, closed after its
/// flush returned and before it is dropped (librdkafka's threads end with
/// it, and their CPU time with them).
struct Window {
    before: BTreeMap<u32, ThreadCpu>,
    start: Instant,
}

impl Window {
    fn open() -> Window {
        let before = thread_cpu();
        Window {
            before,
            start: Instant::now(),
        }
    }

    fn close(self, me: u32) -> (Duration, CpuSplit) {
        let wall = self.start.elapsed();
        let after = thread_cpu();
        (wall, split_cpu(me, &self.before, &after))
    }
}

/// librdkafka's delivery callback: counts outcomes. It runs in the thread
/// that calls `poll` or `flush`.
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

struct Bench {
    bootstrap: String,
    idempotence: bool,
    value: Bytes,
    me: u32,
    runtime: tokio::runtime::Runtime,
}

impl Bench {
    fn run(&self, client: Client, topic: &str, n: u64) -> Result<Measured, String> {
        match client {
            Client::Ours => self.run_ours(topic, n),
            Client::Librdkafka => self.run_librdkafka(topic, n),
        }
    }

    fn our_config(&self) -> Result<Config, String> {
        our_config(&self.bootstrap, self.idempotence)
    }

    fn run_ours(&self, topic: &str, n: u64) -> Result<Measured, String> {
        let config = self.our_config()?;
        let value = self.value.clone();
        let me = self.me;
        let window = Window::open();
        self.runtime.block_on(async move {
            let producer = Producer::connect(config)
                .await
                .map_err(|e| format!("cannot start our producer: {e}"))?;
            let mut o = Outcome::default();
            let mut accepted = 0u64;
            let body = async {
                for _ in 0..n {
                    let record = Record::new(topic).value(value.clone());
                    match producer.send(record).await {
                        // Fire and forget, as librdkafka's run counts in a
                        // delivery callback: results are counted from the
                        // producer's metrics once flushed.
                        Ok(delivery) => {
                            accepted += 1;
                            drop(delivery);
                        }
                        Err(e) => {
                            o.refused += 1;
                            o.note_error(|| format!("send refused: {}", e.kind));
                        }
                    }
                }
                producer.flush().await;
            };
            let timed_out = tokio::time::timeout(RUN_LIMIT, body).await.is_err();
            o.pending = producer.pending() as u64;
            let (wall, cpu) = window.close(me);
            if timed_out {
                o.note_error(|| format!("not finished after {RUN_LIMIT:?}"));
            }
            let m = producer.metrics();
            o.failed = m.record_error_total;
            o.delivered = accepted.saturating_sub(o.failed + o.pending);
            if o.failed > 0 {
                o.note_error(|| {
                    format!(
                        "{} records failed (record-error-total)",
                        m.record_error_total
                    )
                });
            }
            let st = producer.driver_stats();
            o.notes = format!(
                "{} requests, {:.0} records/request, {} driver turns",
                m.request_total, m.records_per_request_avg, st.turns
            );
            let _ = producer.close(Duration::from_secs(10)).await;
            Ok(Measured {
                outcome: o,
                wall,
                cpu,
            })
        })
    }

    fn run_librdkafka(&self, topic: &str, n: u64) -> Result<Measured, String> {
        let window = Window::open();
        let producer: BaseProducer<Counting> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("batch.size", "16384")
            .set("compression.type", "none")
            .set("enable.idempotence", self.idempotence.to_string())
            .set("queue.buffering.max.messages", "2000000")
            .set("queue.buffering.max.kbytes", "2097151")
            .create_with_context(Counting::default())
            .map_err(|e| format!("cannot create the librdkafka producer: {e}"))?;
        let mut o = Outcome::default();
        let deadline = Instant::now() + RUN_LIMIT;
        let mut queue_full = 0u64;
        'records: for i in 0..n {
            let mut record = BaseRecord::<(), [u8]>::to(topic).payload(&self.value[..]);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        queue_full += 1;
                        producer.poll(Duration::from_millis(1));
                        if Instant::now() > deadline {
                            o.note_error(|| format!("not finished after {RUN_LIMIT:?}"));
                            break 'records;
                        }
                    }
                    Err((e, _)) => {
                        o.refused += 1;
                        o.note_error(|| format!("send refused: {e}"));
                        break;
                    }
                }
            }
            if i % EVENTS_EVERY == EVENTS_EVERY - 1 {
                producer.poll(Duration::ZERO);
            }
        }
        if let Err(e) = producer.flush(deadline.saturating_duration_since(Instant::now())) {
            o.note_error(|| format!("flush: {e}"));
        }
        let (wall, cpu) = window.close(self.me);
        let ctx = producer.context();
        o.delivered = ctx.delivered.load(Ordering::Relaxed);
        o.failed = ctx.failed.load(Ordering::Relaxed);
        if let Some(e) = ctx.first_error.lock().ok().and_then(|e| e.clone()) {
            o.note_error(|| e);
        }
        o.pending = u64::try_from(producer.in_flight_count()).unwrap_or(0);
        o.notes = format!("{queue_full} QueueFull waits");
        drop(producer);
        Ok(Measured {
            outcome: o,
            wall,
            cpu,
        })
    }
}

fn our_config(bootstrap: &str, idempotence: bool) -> Result<Config, String> {
    let mut b = Config::builder();
    b.bootstrap_servers(bootstrap);
    for (k, v) in [
        ("acks", "all"),
        ("linger.ms", "5"),
        ("batch.size", "16384"),
        ("compression.type", "none"),
        (
            "enable.idempotence",
            if idempotence { "true" } else { "false" },
        ),
    ] {
        b.set(k, v)
            .map_err(|e| format!("our producer refuses {k}={v}: {e}"))?;
    }
    b.build()
        .map_err(|e| format!("our producer refuses the configuration: {e}"))
}

// ---- Does our producer implement idempotence? ------------------------------

/// Whether our producer, configured with `enable.idempotence=true`, really
/// produces idempotently: run it against the simulated cluster and look at
/// its requests. It must ask for a producer id (InitProducerId) and stamp
/// its record batches with one (producer id >= 0). `Err` says why not.
fn probe_our_idempotence() -> Result<(), String> {
    let mut cluster = SimCluster::new(1);
    cluster.create_topic("probe", 1);
    let config = our_config(&cluster.bootstrap_servers(), true)?;
    let mut now = kafka_producer_proto::Instant::from_millis(1_700_000_000_000);
    let mut p: SansIo<()> = SansIo::new(config, now);
    if let Err(e) = p.send(Record::new("probe").value("x"), now) {
        return Err(format!("send refused: {}", e.kind));
    }
    let mut nodes = BTreeMap::new();
    let mut init_producer_id = false;
    let mut batch_producer_ids = Vec::new();
    let mut done = None;
    for _ in 0..10_000 {
        while let Some(t) = p.poll_transmit(now) {
            let mut frames = FrameDecoder::default();
            frames.push(&t.data);
            while let Ok(Some(frame)) = frames.next_frame() {
                match request_api(&frame) {
                    Some(ApiKey::InitProducerId) => init_producer_id = true,
                    Some(ApiKey::Produce) => {
                        batch_producer_ids.extend(produce_producer_ids(&frame))
                    }
                    _ => {}
                }
                if let Some(answer) = cluster.handle(nodes[&t.conn], frame) {
                    p.handle_response(t.conn, &answer, now);
                }
            }
        }
        while let Some(e) = p.poll_event() {
            match e {
                Event::Connect { conn, host, port } => {
                    let Some(node) = cluster.node_at(&host, port) else {
                        return Err(format!("probe: no simulated broker at {host}:{port}"));
                    };
                    nodes.insert(conn, node);
                    p.handle_connected(conn, now);
                }
                Event::Delivered { .. } => done = Some(Ok(())),
                Event::Failed { error, .. } => done = Some(Err(error.to_string())),
                _ => {}
            }
        }
        if let Some(result) = done.take() {
            result.map_err(|e| format!("the probe record failed: {e}"))?;
            return match (
                init_producer_id,
                batch_producer_ids.iter().all(|id| *id >= 0),
            ) {
                (true, true) if !batch_producer_ids.is_empty() => Ok(()),
                _ => Err(format!(
                    "with enable.idempotence=true it {} InitProducerId and its batches carry producer id {:?} \
                     (-1 = none): the setting is accepted but not implemented yet",
                    if init_producer_id {
                        "sends"
                    } else {
                        "never sends"
                    },
                    batch_producer_ids
                )),
            };
        }
        match p.poll_timeout() {
            Some(t) => {
                now = now.max(t);
                p.handle_timeout(now);
            }
            None => return Err("probe: the producer stopped without delivering".into()),
        }
    }
    Err("probe: no delivery after 10000 steps".into())
}

/// The producer ids in the record batches of a Produce request frame.
fn produce_producer_ids(frame: &Bytes) -> Vec<i64> {
    let Ok((header, mut body)) = decode_request_header(frame.clone()) else {
        return Vec::new();
    };
    let Ok(request) = ProduceRequest::decode(&mut body, header.request_api_version) else {
        return Vec::new();
    };
    request
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .filter_map(|p| p.records.as_ref())
        .filter_map(|r| BatchHeader::peek(r).ok())
        .map(|h| h.producer.producer_id)
        .collect()
}

// ---- Main ------------------------------------------------------------------

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[derive(Default)]
struct Series {
    rate: Vec<f64>,
    cpu_us: Vec<f64>,
    mock_us: Vec<f64>,
}

fn print_row(label: &str, client: Client, topic: &str, n: u64, m: &Measured) {
    let secs = m.wall.as_secs_f64().max(1e-9);
    println!(
        "{label:>7}  {:<10}  {topic:<16} {:>8.3} {:>12.0} {:>9.1} {:>9.3} {:>9.3} {:>9.0}  {}",
        client.name(),
        secs,
        n as f64 / secs,
        m.cpu.client_ns as f64 / 1e6,
        m.cpu.client_ns as f64 / 1e3 / n as f64,
        m.cpu.other_ns as f64 / 1e3 / n as f64,
        m.cpu.caller_runq_ns as f64 / 1e6,
        m.outcome.notes,
    );
}

fn check(label: &str, client: Client, n: u64, m: &Measured) -> bool {
    let o = &m.outcome;
    if o.complete(n) {
        return true;
    }
    println!(
        "\nFAILED {label} {}: {n} records sent, {} delivered ({} without offset), {} failed, {} refused, {} left pending; first error: {}",
        client.name(),
        o.delivered,
        o.offset_unknown,
        o.failed,
        o.refused,
        o.pending,
        o.first_error.as_deref().unwrap_or("none")
    );
    false
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("side_by_side: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("side_by_side: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let n = args.records;
    let our_default = Config::builder()
        .bootstrap_servers("localhost:9092")
        .build()
        .map_err(|e| format!("our default configuration: {e}"))?
        .enable_idempotence();
    let asked = args.idempotence.unwrap_or(our_default);
    let idempotence = if asked {
        match probe_our_idempotence() {
            Ok(()) => true,
            Err(why) => {
                println!(
                    "NOTE: enable.idempotence=true was asked, but our producer cannot run it:"
                );
                println!("      {why}.");
                println!("      BOTH clients run with enable.idempotence=false.\n");
                false
            }
        }
    } else {
        false
    };

    let mock =
        MockCluster::new(BROKERS).map_err(|e| format!("cannot start the mock cluster: {e}"))?;
    let bootstrap = mock.bootstrap_servers();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    let bench = Bench {
        bootstrap: bootstrap.clone(),
        idempotence,
        value: Bytes::from(
            (0..VALUE_SIZE)
                .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36])
                .collect::<Vec<u8>>(),
        ),
        me: current_tid()?,
        runtime,
    };

    let warmup_n = n.min(WARMUP_RECORDS_MAX);
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into())
    };
    println!(
        "side by side: our tokio driver vs librdkafka {} BaseProducer",
        rdkafka::util::get_rdkafka_version().1
    );
    println!(
        "mock cluster: {BROKERS} brokers at {bootstrap}, a fresh {PARTITIONS}-partition topic per run; {cores} cores shared by clients and mock"
    );
    println!(
        "both: acks=all linger.ms=5 batch.size=16384 compression=none, {VALUE_SIZE}-byte values, null keys, enable.idempotence={idempotence}{}",
        match args.idempotence {
            Some(a) if a != idempotence =>
                " (true was asked; ours does not implement it: see the NOTE above)",
            Some(_) => " (asked)",
            None => " (our default)",
        }
    );
    println!(
        "librdkafka: queue.buffering.max.messages=2000000 queue.buffering.max.kbytes=2097151, other settings default"
    );
    println!("ours: current-thread tokio runtime in the main thread, other settings default");
    println!(
        "{n} records per run, {} rounds each{}, after one warm-up run each ({warmup_n} records)",
        args.rounds,
        if args.only.is_none() {
            ", alternating"
        } else {
            ""
        }
    );
    println!(
        "client CPU = CPU time of the calling thread + threads the client started (from /proc/self/task/*/schedstat);"
    );
    println!(
        "mock CPU = the threads that existed before the run (the mock cluster's); both per record"
    );
    println!(
        "runq = time the calling thread was ready to run but waited for a CPU (schedstat), a measure of contention"
    );
    println!(
        "machine load average at start: {} (other processes compete for the {cores} cores: wall-clock figures depend on it more than CPU figures)\n",
        load()
    );

    println!(
        "{:>7}  {:<10}  {:<16} {:>8} {:>12} {:>9} {:>9} {:>9} {:>9}  notes",
        "run",
        "client",
        "topic",
        "wall s",
        "records/s",
        "CPU ms",
        "CPU µs/r",
        "mock µs/r",
        "runq ms"
    );
    let clients: Vec<Client> = [Client::Ours, Client::Librdkafka]
        .into_iter()
        .filter(|c| args.only.is_none_or(|o| o == *c))
        .collect();
    for &client in &clients {
        let topic = format!("bench-{}-warmup", short(client));
        mock.create_topic(&topic, PARTITIONS, 1)
            .map_err(|e| format!("cannot create topic {topic}: {e}"))?;
        let m = bench.run(client, &topic, warmup_n)?;
        print_row("warm-up", client, &topic, warmup_n, &m);
        if !check("warm-up", client, warmup_n, &m) {
            return Ok(false);
        }
    }

    let mut ours = Series::default();
    let mut theirs = Series::default();
    for round in 1..=args.rounds {
        for &client in &clients {
            let topic = format!("bench-{}-{round}", short(client));
            mock.create_topic(&topic, PARTITIONS, 1)
                .map_err(|e| format!("cannot create topic {topic}: {e}"))?;
            let m = bench.run(client, &topic, n)?;
            let label = format!("{round}");
            print_row(&label, client, &topic, n, &m);
            if !check(&label, client, n, &m) {
                return Ok(false);
            }
            if round == 1 {
                println!(
                    "{:>7}  counted as {}: {}",
                    "",
                    client.name(),
                    m.cpu.client_threads.join(", ")
                );
                println!(
                    "{:>7}  counted as mock: {}",
                    "",
                    m.cpu.other_threads.join(", ")
                );
            }
            let s = match client {
                Client::Ours => &mut ours,
                Client::Librdkafka => &mut theirs,
            };
            s.rate.push(n as f64 / m.wall.as_secs_f64().max(1e-9));
            s.cpu_us.push(m.cpu.client_ns as f64 / 1e3 / n as f64);
            s.mock_us.push(m.cpu.other_ns as f64 / 1e3 / n as f64);
        }
    }

    let (o_rate, o_cpu, o_mock) = (
        median(&mut ours.rate),
        median(&mut ours.cpu_us),
        median(&mut ours.mock_us),
    );
    let (t_rate, t_cpu, t_mock) = (
        median(&mut theirs.rate),
        median(&mut theirs.cpu_us),
        median(&mut theirs.mock_us),
    );
    println!(
        "\nmedians over {} rounds, {n} records per run, enable.idempotence={idempotence}:",
        args.rounds
    );
    if clients.contains(&Client::Ours) {
        println!(
            "ours:       median {o_rate:>10.0} records/s, {o_cpu:.3} µs CPU/record (mock {o_mock:.3} µs/record)"
        );
    }
    if clients.contains(&Client::Librdkafka) {
        println!(
            "librdkafka: median {t_rate:>10.0} records/s, {t_cpu:.3} µs CPU/record (mock {t_mock:.3} µs/record)"
        );
    }
    if clients.len() == 2 {
        let rate_ratio = o_rate / t_rate;
        let cpu_ratio = o_cpu / t_cpu;
        println!(
            "throughput ratio ours/librdkafka = {rate_ratio:.2} (target >= 2.00: {})",
            if rate_ratio >= 2.0 { "met" } else { "NOT met" }
        );
        println!(
            "CPU ratio        ours/librdkafka = {cpu_ratio:.2} (target <= 0.50: {})",
            if cpu_ratio <= 0.5 { "met" } else { "NOT met" }
        );
    }
    println!("machine load average at end: {}", load());
    if args.idempotence == Some(true) && !idempotence {
        println!("(idempotence was asked but ran OFF for both clients: see the NOTE at the top)");
    }
    drop(bench);
    drop(mock);
    Ok(true)
}

fn short(client: Client) -> &'static str {
    match client {
        Client::Ours => "ours",
        Client::Librdkafka => "rd",
    }
}
