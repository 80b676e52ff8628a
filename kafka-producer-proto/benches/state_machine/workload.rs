//! The workloads: the producer driven as a driver would, and the floor
//! (`BatchBuilder` encoding the same records alone).

use std::time::{Duration, Instant as WallClock};

use bytes::{Bytes, BytesMut};
use kafka_producer_proto::sim::SimCluster;
use kafka_producer_proto::wire::record_batch::{BatchBuilder, ProducerState};
use kafka_producer_proto::{Config, Event, Instant, Producer, Record};

use crate::counting::{allocations, call};
use crate::responder::Responder;

const TOPIC: &str = "bench";
const VALUE_LENS: [usize; 2] = [100, 10 * 1024];
const PARTITIONS: [usize; 3] = [1, 16, 1000];
/// Distinct keys, built before the run and shared by reference count.
const KEYS: usize = 10_000;
/// `batch.size`'s default, which the floor's batches are cut at too.
const BATCH_SIZE: usize = 16 * 1024;
/// The application sends a record every virtual microsecond.
const RECORD_EVERY: Duration = Duration::from_micros(1);
const START_MILLIS: u64 = 1_700_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    pub value_len: usize,
    pub partitions: usize,
    pub keys: bool,
    pub idempotence: bool,
}

/// What a measured run counted.
pub struct Measured {
    pub records: u64,
    pub value_len: usize,
    pub allocations: u64,
    /// Wall time of the measured phase (responder included).
    pub seconds: f64,
}

impl Workload {
    pub fn all() -> Vec<Workload> {
        let mut all = Vec::new();
        for value_len in VALUE_LENS {
            for partitions in PARTITIONS {
                for keys in [false, true] {
                    for idempotence in [true, false] {
                        all.push(Workload {
                            value_len,
                            partitions,
                            keys,
                            idempotence,
                        });
                    }
                }
            }
        }
        all
    }

    pub fn name(&self) -> String {
        format!(
            "v{}-p{}-{}-{}",
            self.value_len,
            self.partitions,
            if self.keys { "keys" } else { "nokeys" },
            if self.idempotence { "idem" } else { "noidem" }
        )
    }

    pub fn parse(name: &str) -> Option<Workload> {
        Workload::all().into_iter().find(|w| w.name() == name)
    }

    /// (warm-up, measured) record counts: enough for every partition's
    /// batches, buffers and pools to reach steady state first.
    fn records(&self) -> (u64, u64) {
        if self.value_len > 1024 {
            (2_000, 2_000)
        } else {
            (20_000, 20_000)
        }
    }
}

pub fn floors() -> Vec<(usize, bool)> {
    VALUE_LENS
        .iter()
        .flat_map(|&v| [(v, false), (v, true)])
        .collect()
}

pub fn floor_name(value_len: usize, keys: bool) -> String {
    format!(
        "floor-v{value_len}-{}",
        if keys { "keys" } else { "nokeys" }
    )
}

pub fn parse_floor(name: &str) -> Option<(usize, bool)> {
    floors()
        .into_iter()
        .find(|&(v, k)| floor_name(v, k) == name)
}

fn keys() -> Vec<Bytes> {
    (0..KEYS as u64)
        .map(|i| Bytes::from(format!("key-{i:012}").into_bytes()))
        .collect()
}

fn key_of(keys: &[Bytes], i: u64) -> &Bytes {
    // A stride that visits every key and spreads neighbours apart.
    &keys[(i.wrapping_mul(7_919) % KEYS as u64) as usize]
}

/// The producer and its peer, driven as a driver would.
struct Bench {
    producer: Producer<u64>,
    responder: Responder,
    delivered: u64,
}

impl Bench {
    fn new(w: Workload, now: Instant) -> Bench {
        let mut cluster = SimCluster::new(1);
        cluster.create_topic(TOPIC, w.partitions);
        let config = Config::builder()
            .bootstrap_servers(&cluster.bootstrap_servers())
            .enable_idempotence(w.idempotence)
            .build()
            .expect("a valid configuration");
        Bench {
            producer: Producer::new(config, now),
            responder: Responder::new(cluster, w.partitions),
            delivered: 0,
        }
    }

    /// What a driver does after an input: until nothing moves, write
    /// transmits, hand back answers, act on events, serve the timer.
    fn pump(&mut self, now: Instant, m: bool) {
        loop {
            let mut moved = false;
            if call(m, || self.producer.poll_timeout()).is_some_and(|t| t <= now) {
                call(m, || self.producer.handle_timeout(now));
            }
            while let Some(t) = call(m, || self.producer.poll_transmit(now)) {
                self.responder.write(t.conn, &t.data);
                moved = true;
            }
            while let Some((conn, bytes)) = self.responder.next_answer() {
                call(m, || self.producer.handle_response(conn, &bytes, now));
                moved = true;
            }
            while let Some(event) = call(m, || self.producer.poll_event()) {
                moved = true;
                match event {
                    Event::Connect { conn, host, port } => {
                        self.responder.connect(conn, &host, port);
                        call(m, || self.producer.handle_connected(conn, now));
                    }
                    Event::Disconnect { conn } => self.responder.disconnect(conn),
                    Event::Delivered { .. } => self.delivered += 1,
                    Event::Failed { error, .. } => panic!("a record failed: {error}"),
                    other => panic!("unexpected event {other:?}"),
                }
            }
            if !moved {
                return;
            }
        }
    }
}

/// Sends `count` records from `first` on, measured or not.
fn send_all(
    b: &mut Bench,
    w: Workload,
    first: u64,
    count: u64,
    keys: &[Bytes],
    value: &Bytes,
    m: bool,
) {
    let start = Instant::from_millis(START_MILLIS);
    for i in first..first + count {
        let now = start + RECORD_EVERY * (i as u32);
        let key = key_of(keys, i);
        let accepted = call(m, || {
            let mut record = Record::new(TOPIC).value(value.clone()).user(i);
            if w.keys {
                record = record.key(key.clone());
            }
            b.producer.send(record, now).is_ok()
        });
        assert!(accepted, "the bench's records are accepted");
        b.pump(now, m);
    }
}

/// Runs a workload: a warm-up, then the measured records.
pub fn run(w: Workload) -> Measured {
    let keys = keys();
    let value = Bytes::from(vec![0x5a; w.value_len]);
    let mut b = Bench::new(w, Instant::from_millis(START_MILLIS));
    let (warm, measured) = w.records();
    send_all(&mut b, w, 0, warm, &keys, &value, false);
    assert!(b.delivered > 0, "the warm-up delivered records");
    let allocs = allocations();
    let clock = WallClock::now();
    send_all(&mut b, w, warm, measured, &keys, &value, true);
    let seconds = clock.elapsed().as_secs_f64();
    Measured {
        records: measured,
        value_len: w.value_len,
        allocations: allocations() - allocs,
        seconds,
    }
}

/// The floor: `BatchBuilder` alone encoding the same records into batches
/// of `batch.size`, one buffer reused.
pub fn floor(value_len: usize, with_keys: bool) -> Measured {
    let keys = keys();
    let value = Bytes::from(vec![0x5a; value_len]);
    let count = Workload {
        value_len,
        partitions: 1,
        keys: with_keys,
        idempotence: false,
    }
    .records()
    .1;
    let encode = |first: u64, m: bool| {
        // One buffer, reused from batch to batch as a producer's pool does.
        let mut builder = Some(BatchBuilder::new(
            BytesMut::with_capacity(BATCH_SIZE),
            ProducerState::NONE,
            false,
        ));
        for i in first..first + count {
            let key = with_keys.then(|| key_of(&keys, i).as_ref());
            call(m, || {
                let ts = START_MILLIS as i64 + i as i64;
                let mut b = builder.take().expect("a builder between records");
                if b.size_after(ts, key, Some(&value), []) > BATCH_SIZE && !b.is_empty() {
                    let bytes = std::hint::black_box(b.finish());
                    let buf = bytes.try_into_mut().expect("nothing else holds the batch");
                    b = BatchBuilder::new(buf, ProducerState::NONE, false);
                }
                b.append(ts, key, Some(&value), [])
                    .expect("the bench's records are small");
                builder = Some(b);
            });
        }
        if let Some(b) = builder {
            std::hint::black_box(b.finish());
        }
    };
    encode(0, false);
    let allocs = allocations();
    let clock = WallClock::now();
    encode(0, true);
    let seconds = clock.elapsed().as_secs_f64();
    Measured {
        records: count,
        value_len,
        allocations: allocations() - allocs,
        seconds,
    }
}
