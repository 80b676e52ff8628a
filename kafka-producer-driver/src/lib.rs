//! What every driver of [`kafka_producer_proto`] shares, whatever its
//! runtime: the [`Engine`] around the sans-IO producer (write queues,
//! delivery results, senders waiting for `buffer.memory`, flush, close
//! and abort, `tracing` events), the [`DeliveryFuture`] a send returns,
//! and [`Shared`], the engine behind its lock.
//!
//! Application crates use a driver (`kafka-producer-tokio`,
//! `kafka-producer-blocking`, `kafka-producer-smol`), which re-exports what
//! is public here. A new driver provides a [`Transport`] for its sockets,
//! opens the connections [`Engine::take_actions`] asks for, watches the
//! sockets and the timer, and calls the engine when something happens.
//!
//! ```
//! use kafka_producer_driver::{Engine, Transport};
//! use kafka_producer_proto::{Config, Record};
//!
//! // A transport that never has bytes: enough to see a send accepted.
//! struct Nothing;
//! impl Transport for Nothing {
//!     fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
//!         Err(std::io::ErrorKind::WouldBlock.into())
//!     }
//!     fn write_vectored(&mut self, b: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
//!         Ok(b.iter().map(|s| s.len()).sum())
//!     }
//! }
//!
//! let config = Config::builder().bootstrap_servers("127.0.0.1:9092").build()?;
//! let mut engine: Engine<Nothing> = Engine::new(config);
//! let ticket = engine.try_send(Record::new("events").value("hello"), None).unwrap();
//! assert_eq!(engine.pending(), 1);
//! // The producer wants metadata first: the driver is asked to connect.
//! assert!(matches!(engine.take_actions()[..], [kafka_producer_driver::Action::Connect { .. }]));
//! # let _ = ticket;
//! # Ok::<(), kafka_producer_proto::ConfigError>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod close;
mod delivery;
mod engine;
mod memory_wait;
mod shared;
mod slab;
mod ticket;
mod transaction;

pub use close::CloseError;
pub use delivery::{Completions, Delivery, DeliveryError, DeliveryFuture, DeliveryResult};
pub use engine::{Action, Engine, ReadState, Transport};
pub use memory_wait::MemoryWait;
pub use shared::Shared;
pub use ticket::Ticket;
