//! An async Kafka producer on tokio, built on the sans-IO
//! [`kafka_producer_proto`] producer.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kafka_producer_proto::sim::SimServer;
//! use kafka_producer_tokio::{Config, Producer, Record};
//!
//! let server = SimServer::bind()?; // a simulated cluster on loopback
//! let config = Config::builder()
//!     .bootstrap_servers(&server.bootstrap_servers())
//!     .build()?;
//! let producer = Producer::connect(config).await?;
//!
//! let delivery = producer.send(Record::new("events").key("user-7").value("clicked")).await?;
//! let delivered = delivery.await?;
//! println!("partition {} offset {:?}", delivered.partition, delivered.offset);
//!
//! producer.close(std::time::Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! # Design: one driver task, the producer behind a lock
//!
//! The sans-IO producer is one state machine: every record, every answer
//! and every timer goes through it. So there is one driver task per
//! producer, which alone waits on sockets and time; one task per broker
//! connection would still have to funnel every answer into that one
//! state machine, adding a channel hop (and a task switch) per read
//! without making anything parallel.
//!
//! The handle's methods do not send messages to the driver task: they call
//! the producer directly, under a `std::sync::Mutex` held only inside a
//! synchronous call (never across an `.await`). A send is one lock, one
//! call into the producer and, when it filled a batch, a write attempt on
//! the socket right there; the driver task is woken only when it has
//! something new to wait for (a connection to open, bytes the socket did
//! not take, an earlier timer). Results go to a shared completion slab
//! (slots reused, no allocation per record in steady state): a
//! [`DeliveryFuture`] is an index into it, and the driver wakes a future's
//! waker only if someone awaits it. There is no channel or oneshot per
//! record.
//!
//! # Backpressure, flush and close
//!
//! - [`Producer::send`] waits while `buffer.memory` is full, senders first
//!   come first served, up to `max.block.ms`; then it fails with
//!   [`SendErrorKind::BufferTimeout`] and hands the record back.
//! - [`Producer::flush`] waits until every record accepted before it has
//!   its result.
//! - [`Producer::close`] drains, and after its timeout fails every record
//!   still pending with
//!   [`ProduceError::Aborted`],
//!   handed back through its future. Dropping the last handle closes the
//!   producer too (without a timeout: records still get their
//!   `delivery.timeout.ms`).
//!
//! # Tracing
//!
//! Connections opened, closed, failed and broken, batches retried, records
//! failed and a close that timed out are [`tracing`] events (target
//! `kafka_producer_driver`).
//!
//! # The lower layer
//!
//! [`TokioDriver`] is the single-task driver of a `Producer<T>` with any
//! per-record value, driven by the task that awaits it: for tests and
//! tools that need the producer's events and inputs at hand.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod low_level;
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
pub use low_level::TokioDriver;
pub use producer::Producer;

/// A record to send: topic, optional partition, key, value, headers and
/// timestamp.
pub type Record = kafka_producer_proto::Record<()>;
