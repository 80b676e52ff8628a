//! An async Kafka producer on smol (async-io), built on the sans-IO
//! [`kafka_producer_proto`] producer: the same API as
//! `kafka-producer-tokio`, on another runtime, from the same core.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> { smol::block_on(async {
//! use kafka_producer_proto::sim::SimServer;
//! use kafka_producer_smol::{Config, Producer, Record};
//!
//! let server = SimServer::bind()?; // a simulated cluster on loopback
//! let config = Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?;
//! let producer = Producer::connect(config).await?;
//!
//! let delivery = producer.send(Record::new("events").key("user-7").value("clicked")).await?;
//! let delivered = delivery.await?;
//! println!("partition {} offset {:?}", delivered.partition, delivered.offset);
//!
//! producer.close(std::time::Duration::from_secs(5)).await?;
//! # Ok(()) }) }
//! ```
//!
//! # Design
//!
//! One driver task per producer, spawned on smol's global executor, waits
//! on the sockets (async-io's `Async<TcpStream>`) and one `Timer`; the
//! handles call the producer directly under a lock held only inside a
//! call (never across an `.await`), and results go to the completion slab
//! every driver shares (`kafka-producer-driver`): no channel or oneshot
//! per record. One task rather than one per connection, because every
//! answer must go through the one producer state machine anyway.
//!
//! `send` waits while `buffer.memory` is full, up to `max.block.ms`;
//! `flush` waits for every record sent before it; `close(timeout)` fails
//! the records still pending when the timeout runs out with
//! [`ProduceError::Aborted`].
//! Connections and failures are `tracing` events.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod producer;
mod task;
mod transaction;

pub use kafka_producer_driver::{
    CloseError, Delivery, DeliveryError, DeliveryFuture, DeliveryResult,
};
pub use kafka_producer_proto::{
    Acks, Config, ConfigBuilder, ConfigError, ConsumerGroupMetadata, DriverStats, EpochClock,
    ErrorClass, Header, KafkaCode, Metrics, OffsetCommit, ProduceError, RecordId, SendError,
    SendErrorKind, TransactionError, TransactionState,
};
pub use producer::Producer;

/// A record to send: topic, optional partition, key, value, headers and
/// timestamp.
pub type Record = kafka_producer_proto::Record<()>;
