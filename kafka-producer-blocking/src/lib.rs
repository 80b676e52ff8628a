//! A Kafka producer on threads and blocking `std::net` sockets, built on
//! the sans-IO [`kafka_producer_proto`] producer. No async runtime is in
//! its dependency tree.
//!
//! ```
//! use kafka_producer_blocking::{Config, Producer, Record};
//! use kafka_producer_proto::sim::SimServer;
//!
//! let server = SimServer::bind()?; // a simulated cluster on loopback
//! let config = Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?;
//! let producer = Producer::connect(config)?;
//!
//! let handle = producer.send(Record::new("events").key("user-7").value("clicked"))?;
//! let delivered = handle.wait()?;
//! println!("partition {} offset {:?}", delivered.partition, delivered.offset);
//!
//! producer.close(std::time::Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! The same as `kafka-producer-tokio`'s, on threads: the handles call the
//! producer directly under a lock (held only inside a call), and a send
//! that fills a batch writes it to the blocking socket there. One driver
//! thread waits for the producer's next deadline and for what the
//! connection threads report; one thread per connection connects and then
//! reads, so that a blocking write can never deadlock against a broker
//! that waits for its answers to be read. Results go to the completion
//! slab shared by every driver; [`DeliveryHandle::wait`] parks the thread
//! until its record's result is there.
//!
//! `send` blocks while `buffer.memory` is full, up to `max.block.ms`;
//! `close(timeout)` fails the records still pending when the timeout runs
//! out with
//! [`ProduceError::Aborted`].
//! Connections and failures are [`tracing`](https://docs.rs/tracing)
//! events.
//!
//! [`BlockingDriver`] is the lower layer: a `Producer<T>` owned by the
//! calling thread, for tests and tools.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod low_level;
mod producer;
mod thread;
mod transaction;

pub use kafka_producer_driver::{CloseError, Delivery, DeliveryError, DeliveryResult};
pub use kafka_producer_proto::{
    Acks, Config, ConfigBuilder, ConfigError, ConsumerGroupMetadata, DriverStats, EpochClock,
    ErrorClass, Header, KafkaCode, Metrics, OffsetCommit, ProduceError, RecordId, SendError,
    SendErrorKind, TransactionError, TransactionState,
};
pub use low_level::BlockingDriver;
pub use producer::{DeliveryHandle, Producer};

/// A record to send: topic, optional partition, key, value, headers and
/// timestamp.
pub type Record = kafka_producer_proto::Record<()>;
