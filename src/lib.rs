//! A sans-IO Kafka producer.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod kafka_code;
pub mod wire;

pub use kafka_code::KafkaCode;
