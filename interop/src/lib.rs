//! What the interop tests share: real Apache Kafka clusters on loopback
//! ([`kafka::KafkaCluster`]), a fault-injecting proxy, a minimal client
//! built from the wire codec alone, and a produce-and-read-back round trip
//! through librdkafka's consumer.
//!
//! The tests in `tests/` run the producer and the codec against independent
//! peers (librdkafka's mock cluster, tansu) and read back what was written
//! with the rdkafka consumer. Not published: it exists for those tests and
//! the `wire_roundtrip` example.

pub mod fault_proxy;
pub mod kafka;
pub mod roundtrip;
pub mod wire_client;
