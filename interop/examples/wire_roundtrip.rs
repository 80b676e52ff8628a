//! Produces records through the wire codec alone to an embedded librdkafka
//! mock cluster (3 brokers, 4 partitions), reads them back with the rdkafka
//! consumer, and prints what happened.
//!
//! `cargo run --release -p kafka-producer-interop --example wire_roundtrip [RECORDS]`
//!
//! No producer logic is involved: every byte on the wire is encoded and
//! decoded by `kafka_producer_proto::wire`.

use std::process::ExitCode;

use kafka_producer_interop::roundtrip;
use rdkafka::mocking::MockCluster;

fn main() -> ExitCode {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000);
    let topic = "wire-roundtrip";
    let partitions = 4;
    let cluster = MockCluster::new(3).expect("librdkafka mock cluster");
    cluster
        .create_topic(topic, partitions, 1)
        .expect("create topic");
    let bootstrap = cluster.bootstrap_servers();
    println!("embedded librdkafka mock cluster: 3 brokers at {bootstrap}");
    println!("topic {topic}: {partitions} partitions");

    let p = roundtrip::produce(&bootstrap, topic, count);
    let errors: Vec<String> = p
        .negotiation_errors
        .iter()
        .map(ToString::to_string)
        .collect();
    println!(
        "ApiVersions: settled on v{} (after {})",
        p.api_versions_version,
        if errors.is_empty() {
            "no errors".to_string()
        } else {
            errors.join(", ")
        }
    );
    println!(
        "Metadata v{}, Produce v{}",
        p.metadata_version, p.produce_version
    );
    let bytes: usize = p
        .sent
        .values()
        .flatten()
        .map(|r| r.value.as_ref().map_or(0, Vec::len))
        .sum();
    println!(
        "produced {count} records ({bytes} value bytes) in {} batches over {} requests, {:.1} ms",
        p.batches,
        p.requests,
        p.elapsed.as_secs_f64() * 1e3
    );

    let got = roundtrip::read_back(&bootstrap, topic, partitions, count);
    let mut mismatches = 0;
    for (partition, sent) in &p.sent {
        let received = got.get(partition).map_or(&[][..], Vec::as_slice);
        let equal = received.len() == sent.len()
            && received
                .iter()
                .zip(sent)
                .enumerate()
                .all(|(i, ((off, r), s))| *off == i as i64 && r == s);
        if !equal {
            mismatches += 1;
        }
        println!(
            "partition {partition}: sent {:5}, read back {:5}, {}",
            sent.len(),
            received.len(),
            if equal {
                "identical, in order"
            } else {
                "MISMATCH"
            }
        );
    }
    if mismatches == 0 {
        println!(
            "read back with the rdkafka consumer: all {count} records identical, in send order"
        );
        ExitCode::SUCCESS
    } else {
        println!("{mismatches} partitions differ");
        ExitCode::FAILURE
    }
}
