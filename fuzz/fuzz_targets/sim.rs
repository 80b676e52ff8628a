#![no_main]
//! The fuzzer's bytes choose a whole simulated run: the cluster, the
//! producer's configuration, the records, and every fault as the run goes
//! (`kafka_producer_proto::sim::run_bytes`). Every guarantee the seeded
//! schedules check must hold; a broken one panics with the run's report.
//! Replay a crash file with `cargo run --release -p kafka-producer-proto --example sim -- --bytes FILE`.
use kafka_producer_proto::sim::run_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = run_bytes(data);
    assert!(report.violations.is_empty(), "{report}");
});
