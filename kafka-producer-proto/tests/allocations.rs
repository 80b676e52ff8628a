//! Steady state allocates nothing per record: once batch buffers are
//! pooled, a record's way from `send` to `Delivered` costs no heap
//! allocation of the producer's own; what remains is per request and per
//! batch. Counted with dhat's allocator over a run in the simulator (whose
//! own allocations are counted too, so the bound is conservative).

use std::time::Duration;

use bytes::Bytes;
use kafka_producer_proto::sim::{SimCluster, SimNet};
use kafka_producer_proto::{Config, Event, Instant, Producer, Record};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn records(n: usize, value: &Bytes) -> Vec<Record<u64>> {
    (0..n as u64)
        .map(|i| Record::new("t").value(value.clone()).user(i))
        .collect()
}

fn run(net: &mut SimNet<u64>, batch: Vec<Record<u64>>) {
    let total = net.events.len() + batch.len();
    for r in batch {
        let now = net.now;
        net.producer.send(r, now).expect("accepted");
    }
    assert!(net.run_until(Duration::from_secs(60), |n| n.events.len() == total));
}

#[test]
fn no_allocation_per_record_in_steady_state() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut cluster = SimCluster::new(1);
    cluster.create_topic("t", 1);
    let config = Config::builder()
        .bootstrap_servers(&cluster.bootstrap_servers())
        .build()
        .unwrap();
    let start = Instant::from_millis(1_700_000_000_000);
    let mut net = SimNet::new(Producer::new(config, start), cluster, start);
    net.events.reserve(100_000);
    let value = Bytes::from(vec![b'v'; 100]);

    // Warm up: connections, metadata, pooled batch buffers.
    run(&mut net, records(10_000, &value));
    let measured = records(50_000, &value);
    let before = dhat::HeapStats::get().total_blocks;
    run(&mut net, measured);
    let after = dhat::HeapStats::get().total_blocks;

    assert!(
        net.events
            .iter()
            .all(|e| matches!(e, Event::Delivered { .. }))
    );
    let per_record = (after - before) as f64 / 50_000.0;
    // A per-record allocation anywhere on the path would make this >= 1.
    assert!(
        per_record < 0.5,
        "{per_record:.3} allocations per record ({} in all)",
        after - before
    );
    println!("{per_record:.4} allocations per record");
}
