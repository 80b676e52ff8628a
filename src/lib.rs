//! A sans-IO Kafka producer.
//!
//! The whole producer protocol lives in a deterministic state machine that
//! owns no socket, no clock and no runtime; any runtime drives it. This
//! release carries the foundation: [`wire`], the complete Kafka codec a
//! producer needs, and [`KafkaCode`], every protocol error code.
//!
//! # The wire codec
//!
//! [`wire`] turns values into bytes and bytes into values for both sides of
//! every exchange a producer takes part in: ApiVersions, Metadata, Produce,
//! InitProducerId, FindCoordinator, AddPartitionsToTxn, AddOffsetsToTxn,
//! EndTxn, TxnOffsetCommit, SaslHandshake and SaslAuthenticate, in every
//! version their schemas list (Produce from v3, the first with record
//! batches), plus framing, headers and record batches.
//!
//! Building a Produce request around a freshly encoded record batch:
//!
//! ```
//! use bytes::BytesMut;
//! use kafka_producer_proto::wire::header::encode_request;
//! use kafka_producer_proto::wire::messages::produce::{PartitionProduceData, TopicProduceData};
//! use kafka_producer_proto::wire::messages::ProduceRequest;
//! use kafka_producer_proto::wire::record_batch::{BatchBuilder, ProducerState};
//!
//! let mut batch = BatchBuilder::with_capacity(16 * 1024, ProducerState::NONE, false);
//! batch.append(1_700_000_000_000, Some(b"key"), Some(b"value"), [("trace", Some(&b"1"[..]))])?;
//! batch.append(1_700_000_000_001, None, None, [])?; // null key, null value (a tombstone)
//! let records = batch.finish();
//!
//! let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(30_000).with_topic_data(vec![
//!     TopicProduceData::default().with_name("events".into()).with_partition_data(vec![
//!         PartitionProduceData::default().with_index(0).with_records(Some(records)),
//!     ]),
//! ]);
//! let mut frame = BytesMut::new();
//! encode_request(&mut frame, 1, Some("my-app"), 9, &request)?;
//! // `frame` now holds size, header v2 and body: ready for the socket.
//! assert_eq!(&frame[4..6], &[0, 0]); // api key 0: Produce
//! # Ok::<(), kafka_producer_proto::wire::EncodeError>(())
//! ```
//!
//! Reading responses from a byte stream that arrives in arbitrary chunks:
//!
//! ```
//! use bytes::BytesMut;
//! use kafka_producer_proto::wire::header::{decode_response, encode_response};
//! use kafka_producer_proto::wire::messages::{MetadataResponse, metadata::MetadataResponseBroker};
//! use kafka_producer_proto::wire::FrameDecoder;
//!
//! // What a broker would send (here made with the same codec).
//! let answer = MetadataResponse::default().with_brokers(vec![
//!     MetadataResponseBroker::default().with_node_id(1).with_host("k1".into()).with_port(9092),
//! ]);
//! let mut stream = BytesMut::new();
//! encode_response(&mut stream, 42, 12, &answer)?;
//!
//! let mut frames = FrameDecoder::default();
//! let mut got = None;
//! for byte in stream.chunks(1) {
//!     // One byte at a time is as good as one read of everything.
//!     frames.push(byte);
//!     while let Some(frame) = frames.next_frame()? {
//!         got = Some(decode_response::<MetadataResponse>(frame, 12)?);
//!     }
//! }
//! let (correlation_id, metadata) = got.unwrap();
//! assert_eq!(correlation_id, 42);
//! assert_eq!(metadata.brokers[0].host, "k1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees of the codec
//!
//! - Decoding is total: any input gives a value or a typed
//!   [`wire::DecodeError`], never a panic, and no allocation is sized by a
//!   length that was not first checked against the input.
//! - Encoding refuses what a version cannot carry ([`wire::EncodeError`])
//!   rather than silently dropping it, except for fields Kafka marks
//!   ignorable.
//! - The core is `#![no_std]` with `alloc`; the default `std` feature adds
//!   runtime CPU detection for the hardware CRC-32C and `std::error::Error`.
//! - No `unsafe` outside [`wire::crc32c`], whose one block calls the SSE4.2
//!   path after runtime detection.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]
// Refusals and failures hand the record back by value, by design: boxing it
// would allocate on every refusal, and BufferFull is a hot-path answer.
#![allow(clippy::result_large_err)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod accumulator;
mod batch;
pub mod config;
mod connection;
pub mod error;
pub mod event;
mod housekeeping;
mod kafka_code;
mod metadata;
pub mod metrics;
pub mod partitioner;
mod producer;
pub mod record;
pub mod retry;
pub mod rng;
mod sender;
#[cfg(feature = "sim")]
pub mod sim;
pub mod time;
pub mod wire;

pub use config::{Acks, Config, ConfigBuilder, ConfigError};
pub use error::{FatalError, ProduceError, SendError, SendErrorKind};
pub use event::{ConnectionId, Event, Transmit};
pub use kafka_code::KafkaCode;
pub use metrics::Metrics;
pub use producer::Producer;
pub use record::{Header, Record, RecordId};
pub use time::Instant;
