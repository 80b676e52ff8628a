//! The wire codec against a real, independent Kafka implementation:
//! librdkafka's mock cluster (3 brokers, one topic of 4 partitions), over
//! plain `std::net` TCP, read back with the rdkafka consumer.
//!
//! This exercises ApiVersions negotiation (the mock rejects v3 with
//! UNSUPPORTED_VERSION, so we fall back), Metadata, and Produce of record
//! batches built by our encoder, then compares every field and the order
//! of every partition as an independent consumer sees them.

use kafka_producer_interop::roundtrip;
use kafka_producer_proto::KafkaCode;
use kafka_producer_proto::wire::Message;
use kafka_producer_proto::wire::messages::{ApiVersionsRequest, ProduceRequest};
use rdkafka::mocking::MockCluster;

const TOPIC: &str = "wire-interop";
const PARTITIONS: i32 = 4;
const RECORDS: usize = 1_200;

#[test]
fn produce_through_the_wire_codec_and_read_back_with_rdkafka() {
    let cluster = MockCluster::new(3).expect("librdkafka mock cluster");
    cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();

    let produced = roundtrip::produce(&bootstrap, TOPIC, RECORDS);
    // The mock does not implement ApiVersions v3+, says so with
    // UNSUPPORTED_VERSION, and we settle on a version it does implement.
    assert_eq!(
        produced.negotiation_errors,
        vec![KafkaCode::UnsupportedVersion]
    );
    assert!(produced.api_versions_version < ApiVersionsRequest::MAX_VERSION);
    assert_eq!(produced.brokers, 3);
    assert!(produced.produce_version >= ProduceRequest::MIN_VERSION);
    // Several partitions per request: fewer requests than batches.
    assert!(
        produced.requests < produced.batches,
        "{} requests for {} batches",
        produced.requests,
        produced.batches
    );

    let got = roundtrip::read_back(&bootstrap, TOPIC, PARTITIONS, RECORDS);
    assert_eq!(got.len(), PARTITIONS as usize, "every partition read back");
    for (p, sent) in &produced.sent {
        let received = &got[p];
        assert_eq!(received.len(), sent.len(), "partition {p}: count");
        for (i, ((offset, r), s)) in received.iter().zip(sent).enumerate() {
            assert_eq!(*offset, i as i64, "partition {p}: offsets in send order");
            assert_eq!(
                r, s,
                "partition {p}, record {i} (Produce v{})",
                produced.produce_version
            );
        }
    }
}
