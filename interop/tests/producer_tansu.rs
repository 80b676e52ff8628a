//! The idempotent Producer (tokio driver, `enable.idempotence=true`, the
//! default) against tansu, a Kafka-compatible broker that enforces producer
//! sequences without a transactional id (46 DUPLICATE_SEQUENCE_NUMBER, 45
//! OUT_OF_ORDER_SEQUENCE_NUMBER), through the fault proxy.
//!
//! The proxy makes the case librdkafka's mock cannot: a request the broker
//! applied whose answer never reaches the producer, which then retries it.
//! Each test reads the whole topic back from tansu directly (not through
//! the proxy) with the rdkafka consumer and checks that every record was
//! delivered, is in the log exactly once, where the producer said, and in
//! send order within its partition.
//!
//! tansu must be installed (`scripts/tansu install`); a test that cannot
//! find it fails and says so. Each test starts its own broker, in memory,
//! on a free port, and stops it when done, pass or fail.
//!
//! tansu's caveats (see DESIGN.md): one broker, and the high watermark
//! from ListOffsets is wrong, so the read-back never relies on watermarks:
//! it reads until it has every record it expects, then goes on reading
//! for a while to catch duplicates.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_producer_interop::fault_proxy::{FaultProxy, ProxyStats};
use kafka_producer_proto::{Config, ConfigBuilder, Event, KafkaCode, Metrics, Record};
use kafka_producer_tokio::{DriverStats, TokioDriver};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 4;
const TANSU_VERSION: &str = "0.6.0";

// ---------------------------------------------------------------------------
// tansu

/// The tansu binary: on PATH, else where `cargo install` puts it. Panics
/// with the install command when there is none: these tests must not pass
/// by skipping.
fn tansu_binary() -> PathBuf {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin"));
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(cargo_bin.clone())
        .map(|dir| dir.join("tansu"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "tansu is not installed (looked on PATH and in {}); these tests need it. \
                 Run `scripts/tansu install`, or: cargo install tansu@{TANSU_VERSION} --locked \
                 --no-default-features --features dynostore",
                cargo_bin.map_or_else(|| "~/.cargo/bin".into(), |d| d.display().to_string())
            )
        })
}

/// A port nobody listens on now. Another process could take it before
/// tansu binds it; [`Tansu::start`] then fails with tansu's log.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A tansu broker with in-memory storage, ours alone; killed on drop, so a
/// failing test does not leave it running.
struct Tansu {
    bin: PathBuf,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Tansu {
    fn start() -> Tansu {
        let bin = tansu_binary();
        let port = free_port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let url = format!("tcp://{addr}");
        let log = std::env::temp_dir().join(format!("kpp-tansu-test-{port}.log"));
        let out = File::create(&log).expect("tansu log file");
        let child = Command::new(&bin)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("tansu log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        // The guard exists before the first check that can panic.
        let mut broker = Tansu {
            bin,
            child,
            addr,
            log,
        };
        let started = Instant::now();
        loop {
            let accepting = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
            // Alive after accepting: a tansu that lost the port to another
            // process exits, and the test must not talk to that process.
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!(
                    "tansu exited during start-up ({status}); log {}:\n{}",
                    broker.log.display(),
                    log_tail(&broker.log)
                );
            }
            if accepting {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "tansu not accepting connections on {addr} after 30 s; log {}:\n{}",
                broker.log.display(),
                log_tail(&broker.log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        println!(
            "tansu ({}) on {addr} (pid {}), accepting after {:?}",
            broker.bin.display(),
            broker.child.id(),
            started.elapsed()
        );
        broker
    }

    fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    fn create_topic(&self, name: &str, partitions: i32) {
        let out = Command::new(&self.bin)
            .args(["topic", "create", name])
            .args(["--partitions", &partitions.to_string()])
            .args(["--broker", &format!("tcp://{}", self.addr)])
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {name}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The log stays when the test failed, for a look at what tansu saw.
        if std::thread::panicking() {
            eprintln!("tansu log: {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

// ---------------------------------------------------------------------------
// Producing

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Quick retries and reconnects: the tests are about what is retried, not
/// how long the backoff waits (the simulator tests that).
fn config(bootstrap: &str) -> ConfigBuilder {
    let mut b = Config::builder();
    b.bootstrap_servers(bootstrap)
        .retry_backoff(Duration::from_millis(10))
        .retry_backoff_max(Duration::from_millis(100))
        .reconnect_backoff(Duration::from_millis(10))
        .reconnect_backoff_max(Duration::from_millis(100));
    b
}

/// Record `i`: keyed, so murmur2 spreads the records over every partition;
/// its value carries the send index, to check order and duplicates.
fn record(topic: &str, i: u64) -> Record<u64> {
    Record::new(topic)
        .key(format!("k{i}"))
        .value(format!("record-{i}"))
        .user(i)
}

async fn send_range(d: &mut TokioDriver<u64>, topic: &str, range: std::ops::Range<u64>) {
    for i in range {
        d.send(record(topic, i))
            .await
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
}

fn index_of(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value)
        .ok()?
        .strip_prefix("record-")?
        .parse()
        .ok()
}

/// What a produce run did.
struct Run {
    count: u64,
    events: Vec<Event<u64>>,
    metrics: Metrics,
    driver: DriverStats,
    elapsed: Duration,
}

impl Run {
    /// Every record has exactly one terminal event and it is `Delivered`:
    /// send index -> (partition, offset).
    fn delivered(&self) -> BTreeMap<u64, (i32, Option<i64>)> {
        let mut delivered = BTreeMap::new();
        let mut failed = BTreeMap::new();
        for e in &self.events {
            let (user, fresh) = match e {
                Event::Delivered {
                    user,
                    partition,
                    offset,
                    ..
                } => (
                    *user,
                    delivered.insert(*user, (*partition, *offset)).is_none()
                        && !failed.contains_key(user),
                ),
                Event::Failed { record, error, .. } => (
                    record.user,
                    failed.insert(record.user, error.to_string()).is_none()
                        && !delivered.contains_key(&record.user),
                ),
                _ => continue,
            };
            assert!(fresh, "record {user} has two terminal events");
        }
        assert!(
            failed.is_empty(),
            "{} of {} records failed; the first: {:?}",
            failed.len(),
            self.count,
            failed.iter().next()
        );
        for i in 0..self.count {
            assert!(
                delivered.contains_key(&i),
                "record {i} has no terminal event"
            );
        }
        assert_eq!(delivered.len() as u64, self.count, "only our records");
        delivered
    }
}

// ---------------------------------------------------------------------------
// Reading back

/// The topic as the log holds it: per partition, (offset, send index) in
/// offset order.
type Log = BTreeMap<i32, Vec<(i64, u64)>>;

/// Reads `topic` from the beginning of every partition, directly from the
/// broker, until it has seen `expected` distinct records or `deadline`
/// passes; then it goes on until nothing new came for `quiet`, so that
/// duplicates written after the originals are read too. Values that are
/// not ours fail the test.
fn read_log(bootstrap: &str, topic: &str, expected: usize, deadline: Duration) -> Log {
    let quiet = Duration::from_secs(3);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("kpp-read-back-{topic}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("rdkafka consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut log: Log = BTreeMap::new();
    let mut distinct = std::collections::BTreeSet::new();
    let started = Instant::now();
    let mut last_new = Instant::now();
    loop {
        let now = Instant::now();
        if distinct.len() >= expected {
            if now.duration_since(last_new) >= quiet {
                break;
            }
        } else if now.duration_since(started) >= deadline {
            break;
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = message.unwrap_or_else(|e| panic!("consumer error: {e}"));
        let value = m.payload().unwrap_or_default();
        let i = index_of(value).unwrap_or_else(|| {
            panic!(
                "partition {} offset {}: not one of ours: {:?}",
                m.partition(),
                m.offset(),
                String::from_utf8_lossy(value)
            )
        });
        distinct.insert(i);
        log.entry(m.partition()).or_default().push((m.offset(), i));
        last_new = Instant::now();
    }
    for records in log.values_mut() {
        records.sort_unstable();
    }
    log
}

/// What the log showed, against what the producer reported.
#[derive(Debug, Default)]
struct Checked {
    in_log: usize,
    /// Copies beyond the first, over all records.
    duplicates: usize,
    /// The first few records written more than once: (index, where).
    duplicated: Vec<(u64, Vec<(i32, i64)>)>,
    /// Delivered records not in the log (the first few, and how many).
    missing: Vec<u64>,
    missing_count: usize,
    /// Records in another partition or at another offset than reported.
    misplaced: Vec<String>,
    /// Per partition, the first two records out of send order.
    out_of_order: Vec<String>,
    offsets_checked: usize,
    offsets_unknown: usize,
}

impl Checked {
    /// Every delivered record is in the log exactly once, in the partition
    /// and at the offset the producer reported, and each partition holds
    /// its records in send order.
    fn assert_exactly_once_in_order(&self, count: u64) {
        assert!(
            self.duplicated.is_empty(),
            "{} duplicates in the log; the first records written more than once \
             (index, [(partition, offset)]): {:?}",
            self.duplicates,
            self.duplicated
        );
        assert!(
            self.missing.is_empty(),
            "{} delivered records are not in the log (read {}); the first: {:?}",
            self.missing_count,
            self.in_log,
            self.missing
        );
        assert!(self.misplaced.is_empty(), "{:?}", self.misplaced);
        assert!(
            self.out_of_order.is_empty(),
            "send order broken: {:?}",
            self.out_of_order
        );
        assert_eq!(self.in_log as u64, count, "the log holds every record once");
    }
}

const SHOWN: usize = 10;

fn check_log(delivered: &BTreeMap<u64, (i32, Option<i64>)>, log: &Log) -> Checked {
    let mut copies: BTreeMap<u64, Vec<(i32, i64)>> = BTreeMap::new();
    for (p, records) in log {
        for (offset, i) in records {
            copies.entry(*i).or_default().push((*p, *offset));
        }
    }
    let mut checked = Checked {
        in_log: log.values().map(Vec::len).sum(),
        ..Checked::default()
    };
    for (i, at) in copies.iter().filter(|(_, at)| at.len() > 1) {
        checked.duplicates += at.len() - 1;
        if checked.duplicated.len() < SHOWN {
            checked.duplicated.push((*i, at.clone()));
        }
    }
    for (i, (partition, offset)) in delivered {
        let Some(at) = copies.get(i) else {
            checked.missing_count += 1;
            if checked.missing.len() < SHOWN {
                checked.missing.push(*i);
            }
            continue;
        };
        let (p, o) = at[0];
        if p != *partition || offset.is_some_and(|offset| offset != o) {
            if checked.misplaced.len() < SHOWN {
                checked.misplaced.push(format!(
                    "record {i}: reported at partition {partition} offset {offset:?}, \
                     found at partition {p} offset {o}"
                ));
            }
            continue;
        }
        if offset.is_some() {
            checked.offsets_checked += 1;
        } else {
            checked.offsets_unknown += 1;
        }
    }
    for (p, records) in log {
        if let Some(w) = records.windows(2).find(|w| w[0].1 >= w[1].1) {
            checked.out_of_order.push(format!(
                "partition {p}: record {} at offset {} before record {} at offset {}",
                w[0].1, w[0].0, w[1].1, w[1].0
            ));
        }
    }
    checked
}

fn report_run(name: &str, run: &Run, proxy: &ProxyStats) {
    println!(
        "{name}: {} records in {:?} ({:.0} records/s); proxy {proxy:?}",
        run.count,
        run.elapsed,
        run.count as f64 / run.elapsed.as_secs_f64()
    );
    println!(
        "{name}: producer requests {}, batches retried {}, records retried {}, \
         connections opened {} closed {}, errors by code {:?}; driver {:?}",
        run.metrics.request_total,
        run.metrics.batch_retry_total,
        run.metrics.record_retry_total,
        run.metrics.connection_creation_total,
        run.metrics.connection_close_total,
        run.metrics.errors_by_code,
        run.driver,
    );
}

/// Reads the topic back directly from the broker and checks it against
/// what the producer said it delivered.
fn read_and_check(
    name: &str,
    bootstrap: &str,
    topic: &str,
    count: u64,
    delivered: &BTreeMap<u64, (i32, Option<i64>)>,
) -> Checked {
    let started = Instant::now();
    let log = read_log(bootstrap, topic, count as usize, Duration::from_secs(60));
    let checked = check_log(delivered, &log);
    report_log(name, &checked, started.elapsed());
    checked
}

fn report_log(name: &str, checked: &Checked, read: Duration) {
    println!(
        "{name}: log read back in {read:?}: {} records, {} duplicates, {} missing, \
         {} misplaced, {} partitions out of order; {} offsets checked, \
         {} delivered without an offset (DUPLICATE_SEQUENCE_NUMBER)",
        checked.in_log,
        checked.duplicates,
        checked.missing_count,
        checked.misplaced.len(),
        checked.out_of_order.len(),
        checked.offsets_checked,
        checked.offsets_unknown
    );
}

// ---------------------------------------------------------------------------
// Tests

/// 200,000 records through a proxy that, after every 2,000th response,
/// cuts the connection once the next request reached tansu and was applied
/// there, before its answer gets back. The producer retries what it never
/// heard about with the same producer id, epoch and sequences; tansu
/// answers DUPLICATE_SEQUENCE_NUMBER for what it already has, and the log
/// holds every record once, in send order.
#[test]
fn two_hundred_thousand_records_through_connection_cuts() {
    let topic = "tansu-cuts";
    let count = 200_000u64;
    let cut_every = 2_000;
    let broker = Tansu::start();
    broker.create_topic(topic, PARTITIONS);
    let proxy = FaultProxy::start(broker.addr);

    let mut b = config(&proxy.bootstrap());
    // A batch.size below one record's size: every batch holds one record
    // and a request one batch per partition, so about 50,000 requests and
    // 25 cuts.
    b.linger(Duration::from_millis(1)).batch_size(64);
    let config = b.build().unwrap();
    assert!(config.enable_idempotence(), "idempotence is the default");
    proxy.cut_every_n_responses(cut_every);

    let started = Instant::now();
    let run = runtime().block_on(async {
        let mut d: TokioDriver<u64> = TokioDriver::from_config(config);
        send_range(&mut d, topic, 0..count).await;
        d.flush().await;
        Run {
            count,
            events: d.take_events(),
            metrics: d.producer().metrics(),
            driver: d.stats(),
            elapsed: started.elapsed(),
        }
    });
    proxy.cut_every_n_responses(0);
    let stats = proxy.stats();
    report_run("cuts", &run, &stats);
    let delivered = run.delivered();

    let checked = read_and_check("cuts", &broker.bootstrap(), topic, count, &delivered);

    checked.assert_exactly_once_in_order(count);
    assert!(
        stats.cuts >= 20,
        "the proxy cut at least 20 connections under the producer: {stats:?}"
    );
    assert!(
        run.metrics.batch_retry_total > 0,
        "cut requests were retried: {:?}",
        run.metrics
    );
}

/// Responses held longer than `request.timeout.ms`, in two windows
/// (1.5 s and 2 s against a 1 s timeout) while records keep coming: the
/// producer times the Produce requests out, closes the connection and
/// retries on a new one (whose answers are held in turn until the window
/// ends), while tansu has already applied the requests whose answers were
/// held. Once released, everything is delivered once.
#[test]
fn responses_held_past_the_request_timeout() {
    let topic = "tansu-held";
    let count = 40_000u64;
    let request_timeout = Duration::from_millis(1000);
    let holds = [Duration::from_millis(1500), Duration::from_millis(2000)];
    let broker = Tansu::start();
    broker.create_topic(topic, PARTITIONS);
    let proxy = FaultProxy::start(broker.addr);

    let mut b = config(&proxy.bootstrap());
    b.request_timeout(request_timeout)
        // Long enough for every hold to pass: records must not expire.
        .delivery_timeout(Duration::from_secs(60))
        .linger(Duration::from_millis(5))
        // Several requests per window, so that up to five are in flight
        // when their answers stop coming.
        .batch_size(1024);
    let config = b.build().unwrap();
    assert!(config.enable_idempotence(), "idempotence is the default");

    let started = Instant::now();
    let (run, timed_out) = runtime().block_on(async {
        let mut d: TokioDriver<u64> = TokioDriver::from_config(config);
        let part = count / 4;
        // The producer has its id and the topic's metadata, and Produce
        // requests flow, before the first window opens.
        send_range(&mut d, topic, 0..part).await;
        d.flush().await;
        let mut timed_out = Vec::new();
        for (window, hold) in holds.into_iter().enumerate() {
            let before = d
                .producer()
                .metrics()
                .error_count(KafkaCode::RequestTimedOut);
            proxy.hold_responses(hold);
            let window = window as u64;
            send_range(&mut d, topic, part * (1 + window)..part * (2 + window)).await;
            d.drive_for(hold * 2).await;
            proxy.release();
            timed_out.push(
                d.producer()
                    .metrics()
                    .error_count(KafkaCode::RequestTimedOut)
                    - before,
            );
            d.flush().await;
        }
        send_range(&mut d, topic, part * 3..count).await;
        d.flush().await;
        let run = Run {
            count,
            events: d.take_events(),
            metrics: d.producer().metrics(),
            driver: d.stats(),
            elapsed: started.elapsed(),
        };
        (run, timed_out)
    });
    proxy.release();
    let stats = proxy.stats();
    report_run("held", &run, &stats);
    println!("held: batches timed out per window: {timed_out:?}");
    let delivered = run.delivered();

    let checked = read_and_check("held", &broker.bootstrap(), topic, count, &delivered);

    checked.assert_exactly_once_in_order(count);
    assert!(stats.held > 0, "responses were held: {stats:?}");
    for (window, n) in timed_out.iter().enumerate() {
        assert!(
            *n > 0,
            "window {window}: the producer timed out Produce requests (batches timed out per window: {timed_out:?})"
        );
    }
    assert!(
        run.driver.disconnects >= 2,
        "the producer closed connections on request timeouts: {:?}",
        run.driver
    );
    assert!(
        run.metrics.batch_retry_total > 0,
        "timed-out requests were retried: {:?}",
        run.metrics
    );
    // tansu answers a retried batch it already has with
    // DUPLICATE_SEQUENCE_NUMBER, which the producer takes as delivered
    // without an offset.
    assert!(
        run.metrics.error_count(KafkaCode::DuplicateSequenceNumber) > 0,
        "tansu had applied requests the producer timed out: {:?}",
        run.metrics.errors_by_code
    );
}
