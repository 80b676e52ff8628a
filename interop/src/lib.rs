//! What the interop tests share: real Apache Kafka clusters on loopback
//! ([`kafka::KafkaCluster`]), a fault-injecting proxy that can also record
//! what it forwards, a minimal client built from the wire codec alone, a
//! produce-and-read-back round trip through librdkafka's consumer, the
//! check of a topic read back against what the producer reported
//! ([`log_check`]), and reading a topic back at `read_committed` or
//! `read_uncommitted` ([`read_committed`]), and an rdkafka consumer's
//! group metadata for transactional offsets ([`group_metadata`]).
//!
//! The tests in `tests/` run the producer and the codec against independent
//! peers (Apache Kafka, librdkafka's mock cluster, and tansu with the
//! `tansu` feature) and read back what was written with the rdkafka
//! consumer. Not published: it exists for those tests and
//! the `wire_roundtrip` example.

pub mod fault_proxy;
pub mod group_metadata;
pub mod kafka;
pub mod log_check;
pub mod read_committed;
pub mod roundtrip;
pub mod wire_client;
