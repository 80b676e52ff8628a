#![no_main]
//! The AddPartitionsToTxn response decoder, in every version.
use kafka_producer_proto::wire::messages::AddPartitionsToTxnResponse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kafka_producer_proto_fuzz::message::<AddPartitionsToTxnResponse>(data));
