#![no_main]
//! The Produce request decoder, in every version.
use kafka_producer_proto::wire::messages::ProduceRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kafka_producer_proto_fuzz::message::<ProduceRequest>(data));
