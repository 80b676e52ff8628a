#![no_main]
//! The FindCoordinator request decoder, in every version.
use kafka_producer_proto::wire::messages::FindCoordinatorRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kafka_producer_proto_fuzz::message::<FindCoordinatorRequest>(data));
