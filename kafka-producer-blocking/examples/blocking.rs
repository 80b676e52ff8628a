//! The producer on plain blocking sockets: 1,000 records to an embedded
//! librdkafka mock cluster, through the blocking `std::net` driver.
//!
//! `cargo run --release -p kafka-producer-blocking --example blocking [RECORDS]`

use std::process::ExitCode;

use kafka_producer_blocking::BlockingDriver;
use kafka_producer_proto::{Config, Event, Record};
use rdkafka::mocking::MockCluster;

fn main() -> ExitCode {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000);
    let topic = "blocking-demo";
    let cluster = MockCluster::new(3).expect("librdkafka mock cluster");
    cluster.create_topic(topic, 4, 1).expect("create topic");
    let bootstrap = cluster.bootstrap_servers();
    println!("embedded librdkafka mock cluster: 3 brokers at {bootstrap}");

    let config = match Config::builder().bootstrap_servers(&bootstrap).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("config: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut driver = BlockingDriver::<u64>::from_config(config);
    let started = std::time::Instant::now();
    let mut refused = 0u64;
    for i in 0..count {
        let record = Record::new(topic)
            .key(format!("key-{i}"))
            .value(format!("value {i}"))
            .user(i);
        if let Err(e) = driver.send(record) {
            eprintln!("record {i} refused: {e}");
            refused += 1;
        }
    }
    driver.flush();
    driver.close();
    let elapsed = started.elapsed();

    let (mut delivered, mut failed) = (0u64, 0u64);
    let mut per_partition = [0u64; 4];
    for event in driver.take_events() {
        match event {
            Event::Delivered { partition, .. } => {
                delivered += 1;
                if let Some(n) = usize::try_from(partition)
                    .ok()
                    .and_then(|p| per_partition.get_mut(p))
                {
                    *n += 1;
                }
            }
            Event::Failed { id, error, .. } => {
                failed += 1;
                eprintln!("record {} failed: {error}", id.0);
            }
            _ => {}
        }
    }
    let stats = driver.stats();
    println!(
        "sent {count} records in {:.1} ms: {delivered} delivered {per_partition:?} per partition, {failed} failed, {refused} refused",
        elapsed.as_secs_f64() * 1e3
    );
    println!(
        "driver: {} connects, {} disconnects, {} bytes written, {} bytes read",
        stats.connects, stats.disconnects, stats.bytes_written, stats.bytes_read
    );
    if delivered == count {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
