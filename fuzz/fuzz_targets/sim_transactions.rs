#![no_main]
//! The fuzzer's bytes choose a whole transactional run: the cluster, the
//! application's transactions, the producer's configuration, crashes,
//! zombies, coordinator moves and every network fault
//! (`kafka_producer_proto::sim::run_transactional_bytes`). Exactly-once and
//! the producer's own guarantees must hold; a broken one panics with the
//! run's report.
use kafka_producer_proto::sim::run_transactional_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = run_transactional_bytes(data);
    assert!(report.violations.is_empty(), "{report}");
});
