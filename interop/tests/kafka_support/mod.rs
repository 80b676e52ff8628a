//! What the real-Kafka test binaries share: the producer (tokio driver)
//! sending a list of records and collecting each record's result, paced
//! sends for runs that disturb the cluster meanwhile, the read-back check,
//! and librdkafka's murmur2 as the independent placement reference.
//!
//! Each `producer_kafka*.rs` binary includes it with `mod kafka_support;`;
//! not every binary uses every helper.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_producer_interop::kafka::KafkaCluster;
use kafka_producer_interop::log_check::{self, Checked, Expected, Outcome};
use kafka_producer_tokio::{
    Config, ConfigBuilder, DeliveryError, DeliveryFuture, DeliveryResult, DriverStats, Metrics,
    Producer, Record,
};

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A runtime whose tasks (the producer's driver task) run on a worker
/// thread, so that the thread that calls `block_on` may block in between
/// (killing brokers, running Kafka's tools) while the producer goes on.
pub fn runtime_with_worker() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A producer configuration for `bootstrap` with quick retries: the
/// backoff's own behaviour is tested in the simulator, and real-broker
/// runs should spend their time on the broker, not in backoff.
pub fn config(bootstrap: &str) -> ConfigBuilder {
    let mut b = Config::builder();
    b.bootstrap_servers(bootstrap)
        .retry_backoff(Duration::from_millis(20))
        .retry_backoff_max(Duration::from_millis(200));
    b
}

/// What a run ended with: the records as sent, in send order, and each
/// one's result.
pub struct Run {
    pub sent: Vec<Record>,
    pub results: Vec<DeliveryResult>,
    pub metrics: Metrics,
    pub driver: DriverStats,
    pub elapsed: Duration,
}

impl Run {
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.results
            .iter()
            .map(|r| match r {
                Ok(d) => Outcome::Delivered {
                    partition: d.partition,
                    offset: d.offset,
                    timestamp: d.timestamp,
                },
                Err(_) => Outcome::Failed,
            })
            .collect()
    }

    pub fn failures(&self) -> impl Iterator<Item = (usize, &DeliveryError)> {
        self.results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
    }

    pub fn delivered(&self) -> usize {
        self.results.iter().filter(|r| r.is_ok()).count()
    }

    pub fn delivered_to(&self, topic: &str) -> usize {
        self.results
            .iter()
            .zip(&self.sent)
            .filter(|(r, s)| r.is_ok() && s.topic == topic)
            .count()
    }

    /// Panics with the first few failures unless every record was
    /// delivered.
    pub fn assert_all_delivered(&self) {
        let failed: Vec<String> = self
            .failures()
            .take(5)
            .map(|(i, e)| format!("record {i}: {e}"))
            .collect();
        assert!(
            failed.is_empty(),
            "{} of {} records failed; the first: {failed:#?}",
            self.results.len() - self.delivered(),
            self.results.len()
        );
    }

    /// Every failed record came back as it was sent (the producer fills
    /// in the partition it chose; nothing else may change).
    pub fn assert_failures_hand_records_back(&self) {
        for (i, e) in self.failures() {
            let sent = &self.sent[i];
            let back = &e.record;
            assert_eq!(back.topic, sent.topic, "record {i}: topic handed back");
            assert_eq!(back.key, sent.key, "record {i}: key handed back");
            assert_eq!(back.value, sent.value, "record {i}: value handed back");
            assert_eq!(
                back.headers, sent.headers,
                "record {i}: headers handed back"
            );
            if let Some(p) = sent.partition {
                assert_eq!(back.partition, Some(p), "record {i}: partition handed back");
            }
            if let Some(t) = sent.timestamp {
                assert_eq!(back.timestamp, Some(t), "record {i}: timestamp handed back");
            }
        }
    }

    /// Reads `topic` back from `cluster` and checks it against this run;
    /// panics on any discrepancy. Returns what was checked.
    pub fn check_log(&self, cluster: &KafkaCluster, topic: &str, partitions: i32) -> Checked {
        self.check_log_with(cluster, topic, partitions, None)
    }

    /// [`Run::check_log`], allowing reported timestamps that are the
    /// broker's time for a batch (see `Expected::broker_times`).
    pub fn check_log_with(
        &self,
        cluster: &KafkaCluster,
        topic: &str,
        partitions: i32,
        broker_times: Option<&dyn Fn(i32, i64) -> Option<i64>>,
    ) -> Checked {
        let started = Instant::now();
        let log = log_check::read_topic(
            cluster.bootstrap(),
            topic,
            partitions,
            self.delivered_to(topic),
            Duration::from_secs(120),
        );
        let outcomes = self.outcomes();
        let checked = log_check::check(
            topic,
            &Expected {
                sent: &self.sent,
                outcomes: &outcomes,
                broker_times,
            },
            &log,
        );
        println!(
            "{topic}: read back {} records in {:?}: {} delivered, {} failed, {} offsets checked, \
             {} reported with the broker's batch time, problems {:?}",
            checked.in_log,
            started.elapsed(),
            checked.delivered,
            checked.failed,
            checked.offsets_checked,
            checked.broker_times,
            checked.counts
        );
        checked.assert_exact();
        checked
    }

    pub fn report(&self, name: &str) {
        println!(
            "{name}: {} records ({} delivered) in {:?}; requests {}, batches retried {}, \
             records retried {}, splits {}, metadata requests {}, connections opened {} closed {}, \
             errors by code {:?}, throttle max {} ms; driver {:?}",
            self.sent.len(),
            self.delivered(),
            self.elapsed,
            self.metrics.request_total,
            self.metrics.batch_retry_total,
            self.metrics.record_retry_total,
            self.metrics.batch_split_total,
            self.metrics.metadata_request_total,
            self.metrics.connection_creation_total,
            self.metrics.connection_close_total,
            self.metrics.errors_by_code,
            self.metrics.produce_throttle_time_max_ms,
            self.driver,
        );
    }
}

/// A producer and what was sent through it so far.
pub struct Sending {
    producer: Producer,
    records: Vec<Record>,
    futures: Vec<DeliveryFuture>,
    started: Instant,
}

impl Sending {
    pub async fn start(config: Config) -> Sending {
        Sending {
            producer: Producer::connect(config).await.expect("producer"),
            records: Vec::new(),
            futures: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Sends one record; panics if the producer refuses it.
    pub async fn send(&mut self, record: Record) {
        self.records.push(record.clone());
        let future = self
            .producer
            .send(record)
            .await
            .unwrap_or_else(|e| panic!("send refused: {}", e.kind));
        self.futures.push(future);
    }

    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Records sent so far.
    pub fn sent(&self) -> usize {
        self.records.len()
    }

    /// Waits for every record's result, then closes the producer.
    pub async fn finish(self) -> Run {
        let mut results = Vec::with_capacity(self.futures.len());
        for f in self.futures {
            results.push(f.await);
        }
        let metrics = self.producer.metrics();
        let driver = self.producer.driver_stats();
        self.producer
            .close(Duration::from_secs(10))
            .await
            .expect("close with nothing pending");
        Run {
            sent: self.records,
            results,
            metrics,
            driver,
            elapsed: self.started.elapsed(),
        }
    }
}

/// Sends `records` as fast as the producer takes them, then waits for
/// every result.
pub async fn send_all(config: Config, records: Vec<Record>) -> Run {
    let mut s = Sending::start(config).await;
    for r in records {
        s.send(r).await;
    }
    s.finish().await
}

/// Progress of a paced run, shared with the thread that disturbs the
/// cluster meanwhile.
#[derive(Default)]
pub struct Progress {
    /// The run's producer, once it started (for its metrics).
    pub producer: std::sync::OnceLock<Producer>,
    /// Records accepted by the producer so far.
    pub sent: AtomicUsize,
    /// Set by the disturbing side when it is done; the run then sends
    /// `after` more records and ends.
    pub disturbed: AtomicBool,
}

impl Progress {
    /// Waits (on the calling thread) until `n` records were sent.
    pub fn wait_sent(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.sent.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "the run never sent {n} records");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    pub fn done(&self) {
        self.disturbed.store(true, Ordering::SeqCst);
    }

    /// The producer's metrics now.
    pub fn metrics(&self) -> Metrics {
        self.producer.get().expect("the run has started").metrics()
    }

    /// Waits until `cond` holds for the producer's metrics; whether it did
    /// within `limit`.
    pub fn wait_metrics(&self, limit: Duration, cond: impl Fn(&Metrics) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.producer.get().is_some_and(|p| cond(&p.metrics())) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

/// Sends `make(0)`, `make(1)`, ... at about `per_second` records a second
/// until `progress.done()` was called and `after` more records went out;
/// then waits for every result. Meant to run while another thread
/// disturbs the cluster and calls `done`.
pub async fn send_paced(
    config: Config,
    per_second: u32,
    after: usize,
    progress: Arc<Progress>,
    mut make: impl FnMut(usize) -> Record,
) -> Run {
    let mut s = Sending::start(config).await;
    let _ = progress.producer.set(s.producer().clone());
    let tick = Duration::from_millis(10);
    let per_tick = (per_second as usize / 100).max(1);
    let mut next = tokio::time::Instant::now();
    let mut until: Option<usize> = None;
    let give_up = Instant::now() + Duration::from_secs(600);
    loop {
        if until.is_none() && progress.disturbed.load(Ordering::SeqCst) {
            until = Some(s.sent() + after);
        }
        if until.is_some_and(|n| s.sent() >= n) {
            break;
        }
        assert!(Instant::now() < give_up, "the disturbance never ended");
        for _ in 0..per_tick {
            let r = make(s.sent());
            s.send(r).await;
        }
        progress.sent.store(s.sent(), Ordering::SeqCst);
        next += tick;
        tokio::time::sleep_until(next).await;
    }
    s.finish().await
}

/// The partition librdkafka's `murmur2` partitioner (the Java client's
/// placement, implemented independently of ours) picks for `key`.
pub fn murmur2_partition(key: &[u8], partitions: i32) -> i32 {
    // SAFETY: librdkafka's murmur2 partitioner only reads `keylen` bytes at
    // `key`; it does not touch the topic handle or the opaques, which may
    // therefore be null.
    unsafe {
        rdkafka::bindings::rd_kafka_msg_partitioner_murmur2(
            std::ptr::null(),
            key.as_ptr().cast(),
            key.len(),
            partitions,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// A record for `topic` with these fields.
pub fn record(
    topic: &str,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
) -> Record {
    let mut r = Record::new(topic);
    r.key = key.map(Bytes::from);
    r.value = value.map(Bytes::from);
    for (k, v) in headers {
        r = r.header(k, v.map(Bytes::from));
    }
    r
}

/// A small keyed record whose value names its index, for runs where the
/// content matters less than the count.
pub fn numbered(topic: &str, i: usize) -> Record {
    Record::new(topic)
        .key(format!("key-{}", i % 1000))
        .value(format!("value-{i:08}"))
        .header("i", Some(Bytes::from((i as u64).to_be_bytes().to_vec())))
}

/// A CreateTime an hour before this run started: recent enough that the
/// broker's time-based retention (7 days by default) leaves the records
/// alone, and well clear of `log.message.timestamp.after.max.ms` (an hour
/// into the future).
pub fn base_timestamp() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("a clock after 1970");
        now.as_millis() as i64 - 3_600_000
    })
}

/// [`numbered`] with an explicit CreateTime, a millisecond apart from the
/// next record's.
pub fn numbered_at(topic: &str, i: usize) -> Record {
    numbered(topic, i).timestamp(base_timestamp() + i as i64)
}

/// A fault proxy in front of every broker of `cluster`, recording what it
/// forwards. Runs that retry need it for the read-back check: Kafka
/// answers a retried batch it already has with a log append time (the
/// original batch's max timestamp) even on a CreateTime topic, and the
/// producer reports that as those records' timestamp, as the Java client
/// does; the answers recorded here tell that apart from a wrong timestamp
/// (see [`broker_times`]).
pub fn recording_proxy(cluster: &KafkaCluster) -> kafka_producer_interop::fault_proxy::FaultProxy {
    use kafka_producer_interop::fault_proxy::{FaultProxy, parse_addrs};
    let proxy = FaultProxy::start_multi(&parse_addrs(cluster.bootstrap()));
    proxy.record_traffic();
    proxy
}

/// From a fault proxy's traffic: for a delivered record at (partition,
/// offset), the `log_append_time_ms` of the answer that covered it, when
/// the broker gave one (see `Expected::broker_times`).
pub fn broker_times(
    traffic: &[kafka_producer_interop::fault_proxy::Traffic],
) -> impl Fn(i32, i64) -> Option<i64> + use<> {
    let mut answers: std::collections::BTreeMap<(i32, i64), i64> = Default::default();
    for t in traffic {
        for p in &t.produced {
            if p.error_code == 0 && p.base_offset >= 0 {
                answers.insert((p.partition, p.base_offset), p.log_append_time);
            }
        }
    }
    move |partition, offset| {
        answers
            .range((partition, 0)..=(partition, offset))
            .next_back()
            .map(|(_, t)| *t)
            .filter(|t| *t >= 0)
    }
}

/// Prints the tail of `cluster`'s logs if the test fails while it is in
/// scope: for the shared cluster, which is never dropped (a dedicated
/// cluster prints its logs itself when dropped during a panic).
pub struct LogsOnFailure<'a>(pub &'a KafkaCluster);

impl Drop for LogsOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "\n---- Kafka logs ({}), the test failed ----\n{}---- end of Kafka logs ----",
                self.0.dir().display(),
                self.0.logs()
            );
        }
    }
}

/// A partition's leader and in-sync replicas, as Metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// Every partition of `topic` as a broker of `bootstrap` sees it now,
/// asked with the rdkafka client (not ours).
pub fn partitions(bootstrap: &str, topic: &str) -> std::collections::BTreeMap<i32, PartitionState> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("rdkafka client");
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap_or_else(|| panic!("{topic} not in metadata"));
    t.partitions()
        .iter()
        .map(|p| {
            (
                p.id(),
                PartitionState {
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                },
            )
        })
        .collect()
}

/// Waits until `cond` holds for `topic`'s partitions; panics with the
/// last state after `limit`.
pub fn wait_partitions(
    bootstrap: &str,
    topic: &str,
    limit: Duration,
    what: &str,
    cond: impl Fn(&std::collections::BTreeMap<i32, PartitionState>) -> bool,
) -> std::collections::BTreeMap<i32, PartitionState> {
    let deadline = Instant::now() + limit;
    loop {
        let state = partitions(bootstrap, topic);
        if cond(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: {what} did not happen within {limit:?}; partitions now {state:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
