//! Compression buffers are pooled: with a codec on, the producer makes no
//! more heap allocations per batch in steady state than without one.
//!
//! Counted with dhat's allocator, only while the producer runs (each call
//! into it is measured on its own), so the simulated broker's own
//! allocations (it decompresses every batch into a new buffer, to keep its
//! records) are left out. libzstd allocates through Rust's allocator in
//! this build (see the dev-dependencies), so its allocations count too.
//! Compared with the same run uncompressed: whatever the producer
//! allocates per request or per batch regardless of the codec cancels out,
//! and a per-batch allocation of the compression path would show as one
//! or more per batch.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_producer_proto::sim::{SimCluster, request_api};
use kafka_producer_proto::wire::compression::Compression;
use kafka_producer_proto::wire::{ApiKey, FrameDecoder};
use kafka_producer_proto::{Config, ConnectionId, Event, Instant, Producer, Record};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Allocations made while `f` runs.
fn counted<R>(total: &mut u64, f: impl FnOnce() -> R) -> R {
    let before = dhat::HeapStats::get().total_blocks;
    let r = f();
    *total += dhat::HeapStats::get().total_blocks - before;
    r
}

/// A producer and a simulated cluster wired back to back without latency;
/// only the producer's calls are counted.
struct Loop {
    producer: Producer<u64>,
    cluster: SimCluster,
    nodes: BTreeMap<ConnectionId, (i32, FrameDecoder)>,
    now: Instant,
    delivered: usize,
    counted: u64,
    /// Produce requests: one batch each, with one partition.
    produces: u64,
}

impl Loop {
    fn new(compression: Compression) -> Loop {
        let mut cluster = SimCluster::new(1);
        cluster.create_topic("t", 1);
        let config = Config::builder()
            .bootstrap_servers(&cluster.bootstrap_servers())
            .compression_type(compression)
            // Small batches: the ratio estimate takes a few hundred batches
            // to settle (0.005 per batch), and that is the warm-up.
            .batch_size(1_024)
            .linger(Duration::from_millis(5))
            .build()
            .unwrap();
        let now = Instant::from_millis(1_700_000_000_000);
        Loop {
            producer: Producer::new(config, now),
            cluster,
            nodes: BTreeMap::new(),
            now,
            delivered: 0,
            counted: 0,
            produces: 0,
        }
    }

    /// Sends `records` (made beforehand, outside the count) and runs until
    /// each is delivered.
    fn run(&mut self, records: Vec<Record<u64>>) {
        let want = self.delivered + records.len();
        for r in records {
            let now = self.now;
            let accepted = counted(&mut self.counted, || self.producer.send(r, now).is_ok());
            assert!(accepted);
        }
        while self.delivered < want {
            if !self.step() {
                self.now += Duration::from_millis(5);
                let now = self.now;
                counted(&mut self.counted, || self.producer.handle_timeout(now));
            }
        }
    }

    /// One round of outputs; whether anything happened.
    fn step(&mut self) -> bool {
        let now = self.now;
        let mut progressed = false;
        while let Some(e) = counted(&mut self.counted, || self.producer.poll_event()) {
            progressed = true;
            match e {
                Event::Connect { conn, host, port } => {
                    let node = self.cluster.node_at(&host, port).expect("a broker");
                    self.nodes.insert(conn, (node, FrameDecoder::default()));
                    counted(&mut self.counted, || {
                        self.producer.handle_connected(conn, now)
                    });
                }
                Event::Delivered { .. } => self.delivered += 1,
                Event::Failed { error, .. } => panic!("a record failed: {error}"),
                _ => {}
            }
        }
        while let Some(t) = counted(&mut self.counted, || self.producer.poll_transmit(now)) {
            progressed = true;
            let (node, frames) = self.nodes.get_mut(&t.conn).expect("a connection");
            frames.push(&t.data);
            let mut answers = Vec::new();
            while let Ok(Some(frame)) = frames.next_frame() {
                if request_api(&frame) == Some(ApiKey::Produce) {
                    self.produces += 1;
                }
                answers.extend(self.cluster.handle(*node, frame));
            }
            for answer in answers {
                counted(&mut self.counted, || {
                    self.producer.handle_response(t.conn, &answer, now)
                });
            }
        }
        progressed
    }
}

fn records(from: u64, n: u64) -> Vec<Record<u64>> {
    (from..from + n)
        .map(|i| {
            let value = format!(
                "{{\"id\":{i},\"event\":\"page_view\",\"path\":\"/products/{}\",\"ok\":true}}",
                i % 113
            );
            Record::new("t")
                .key(format!("k{}", i % 31))
                .value(value)
                .user(i)
        })
        .collect()
}

/// Allocations per batch in steady state, and batches measured.
fn per_batch(compression: Compression) -> (f64, u64) {
    let mut l = Loop::new(compression);
    // Warm up: connections, metadata, the producer id, the ratio estimate
    // settled (from 1.0 down by 0.005 a batch), pooled buffers grown to
    // the batches it fills, codec state.
    for wave in 0..250 {
        l.run(records(wave * 100, 100));
    }
    l.counted = 0;
    l.produces = 0;
    for wave in 250..350 {
        l.run(records(wave * 100, 100));
    }
    (l.counted as f64 / l.produces as f64, l.produces)
}

#[test]
fn compression_adds_no_allocation_per_batch() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let (none, plain_batches) = per_batch(Compression::None);
    println!("none: {none:.3} allocations per batch over {plain_batches} batches");
    for c in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let (with, batches) = per_batch(c);
        println!("{c}: {with:.3} allocations per batch over {batches} batches");
        assert!(batches >= 100, "{c}: only {batches} batches measured");
        // A per-batch allocation anywhere on the compression path would
        // add 1 or more; a buffer growing now and then, a little.
        assert!(
            with <= none + 0.05,
            "{c}: {with:.3} allocations per batch, {none:.3} uncompressed"
        );
    }
}
