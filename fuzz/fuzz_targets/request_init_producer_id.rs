#![no_main]
//! The InitProducerId request decoder, in every version.
use kafka_producer_proto::wire::messages::InitProducerIdRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kafka_producer_proto_fuzz::message::<InitProducerIdRequest>(data));
