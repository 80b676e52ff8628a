#![no_main]
//! The TxnOffsetCommit request decoder, in every version.
use kafka_producer_proto::wire::messages::TxnOffsetCommitRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kafka_producer_proto_fuzz::message::<TxnOffsetCommitRequest>(data));
