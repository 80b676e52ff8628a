//! A sans-IO Kafka producer.
//!
//! The whole producer protocol (batching, partitioning, metadata, retries
//! with backoff, request and delivery deadlines) lives in [`Producer`], a
//! deterministic state machine that owns no socket, no clock and no
//! runtime. A driver (tokio, a blocking loop, an embedded executor, a
//! simulator, a fuzzer) moves bytes and time in and out of it.
//!
//! # The run loop
//!
//! ```text
//! let mut p = Producer::new(config, now);
//! loop {
//!     while let Some(t) = p.poll_transmit(now) { write t.data to connection t.conn }
//!     while let Some(e) = p.poll_event() { match e {
//!         Event::Connect { conn, host, port } => open it, then p.handle_connected(conn, now)
//!                                                (or p.handle_disconnected(conn, now) on failure)
//!         Event::Disconnect { conn }          => close it
//!         Event::Delivered { .. } | Event::Failed { .. } | Event::Closed => tell the application
//!     }}
//!     wait until: bytes arrive    -> p.handle_response(conn, &bytes, now)   (any chunking)
//!                 a socket closes -> p.handle_disconnected(conn, now)
//!                 the app sends   -> p.send(record, now)                    (Err hands it back)
//!                 p.poll_timeout() passes -> p.handle_timeout(now)
//! }
//! ```
//!
//! # Call order
//!
//! The methods of [`Producer`] fall in three groups.
//!
//! - **Application inputs:** [`Producer::send`], [`Producer::flush`],
//!   [`Producer::close`]. `send` never blocks: it accepts a record (and
//!   returns its [`RecordId`]) or refuses it at once, handing it back in a
//!   [`SendError`].
//! - **Network and time inputs:** [`Producer::handle_connected`],
//!   [`Producer::handle_disconnected`], [`Producer::handle_response`],
//!   [`Producer::handle_timeout`]. Bytes may arrive cut anywhere, one byte
//!   at a time included. `handle_timeout` may be called early or often;
//!   spurious calls are harmless.
//! - **Outputs:** [`Producer::poll_transmit`], [`Producer::poll_event`],
//!   [`Producer::poll_timeout`]. After *every* input, drain
//!   `poll_transmit` and `poll_event` until both return `None`, then read
//!   `poll_timeout`: every input may change it. While output is pending,
//!   `poll_timeout` returns the last `now` seen, so a driver that sleeps
//!   until then never sleeps on work.
//!
//! Every input takes `now`, an [`Instant`] on a scale the driver chooses;
//! time only ever comes from arguments. Records without a timestamp get
//! `now` in milliseconds as their CreateTime, so drivers should measure
//! `Instant` from the Unix epoch (the provided drivers do).
//!
//! # Guarantees
//!
//! 1. **Nothing is lost.** Every record `send` accepts ends in exactly one
//!    [`Event::Delivered`] (with partition and offset) or [`Event::Failed`],
//!    and a failure hands the record back. `close` ends with every record
//!    terminal, then [`Event::Closed`].
//! 2. **Deadlines hold.** No record stays pending past `delivery.timeout.ms`
//!    (plus one `request.timeout.ms` when a request carrying it is in
//!    flight); no request waits past `request.timeout.ms`; retry and
//!    reconnect backoffs stay within their jittered bounds.
//! 3. **No panic and bounded memory on any peer input.** Malformed,
//!    truncated, oversized or out-of-order responses close their connection
//!    and what was in flight is retried.
//! 4. **Deterministic.** The same configuration (including `random.seed`)
//!    and the same inputs give the same outputs.
//! 5. **Kafka's error semantics.** Retriable versus fatal follows Kafka's
//!    error table and the Java client; errors reach the application as
//!    typed values ([`ProduceError`], [`KafkaCode`]).
//!
//! 6. **Exactly once, in order, with idempotence** (`enable.idempotence`,
//!    on by default): within a partition the log holds each record once, in
//!    `send` order, through retries, reconnects, leader moves, timeouts and
//!    epoch bumps. When a partition's sequence must restart under a new
//!    epoch while one of its batches may already be in the log (a send of
//!    it got no answer that rules the write out), that batch is handed back
//!    with [`ProduceError::PossiblyWritten`] instead of being sent under a
//!    second number: the one case where the producer cannot know, and says
//!    so rather than risk a duplicate.
//!
//! Without idempotence, ordering within a partition through retries needs
//! one request in flight per connection
//! (`max.in.flight.requests.per.connection=1`), as in Kafka, and a retry
//! after a lost answer can write a record twice.
//!
//! The simulator checks all of these after every seeded fault schedule
//! (`sim::run_seed`, feature `sim`).
//!
//! # Example
//!
//! A whole producer life against the simulated cluster of the `sim` module (feature
//! `sim`), written as the run loop above so that every call is visible:
//!
//! ```
//! # #[cfg(feature = "sim")] {
//! use std::collections::HashMap;
//! use kafka_producer_proto::sim::SimCluster;
//! use kafka_producer_proto::wire::FrameDecoder;
//! use kafka_producer_proto::{Config, Event, Instant, Producer, Record};
//!
//! let mut cluster = SimCluster::new(1);
//! cluster.create_topic("events", 1);
//! let config = Config::builder().bootstrap_servers(&cluster.bootstrap_servers()).build().unwrap();
//! let mut now = Instant::from_millis(1_700_000_000_000);
//! let mut p: Producer<&str> = Producer::new(config, now);
//! p.send(Record::new("events").key("k").value("hello").user("greeting"), now).unwrap();
//!
//! let mut nodes = HashMap::new(); // our "sockets": connection -> broker
//! let mut delivered = None;
//! while delivered.is_none() {
//!     while let Some(t) = p.poll_transmit(now) {
//!         // "Write" the bytes: the simulated broker answers at once.
//!         let mut frames = FrameDecoder::default();
//!         frames.push(&t.data);
//!         while let Some(frame) = frames.next_frame().unwrap() {
//!             if let Some(answer) = cluster.handle(nodes[&t.conn], frame) {
//!                 p.handle_response(t.conn, &answer, now);
//!             }
//!         }
//!     }
//!     while let Some(e) = p.poll_event() {
//!         match e {
//!             Event::Connect { conn, host, port } => {
//!                 nodes.insert(conn, cluster.node_at(&host, port).unwrap());
//!                 p.handle_connected(conn, now);
//!             }
//!             Event::Delivered { user, partition, offset, .. } => delivered = Some((user, partition, offset)),
//!             other => panic!("{other:?}"),
//!         }
//!     }
//!     if let Some(t) = p.poll_timeout() {
//!         now = now.max(t);
//!         p.handle_timeout(now);
//!     }
//! }
//! assert_eq!(delivered, Some(("greeting", 0, Some(0))));
//! assert_eq!(cluster.log("events", 0)[0].value.as_deref(), Some(&b"hello"[..]));
//! # }
//! ```
//!
//! # Security
//!
//! SASL is protocol, so it lives here: with `security.protocol` set to
//! `SASL_PLAINTEXT` or `SASL_SSL`, every connection authenticates right
//! after ApiVersions and before any other request (PLAIN, SCRAM-SHA-256,
//! SCRAM-SHA-512, OAUTHBEARER; see [`sasl`] and [`Config::sasl`]), and
//! again before the broker's session ends (KIP-368), with requests in
//! flight answered as usual. A refusal fails the records only that broker
//! could take with [`ProduceError::Authentication`], handed back; the
//! broker is tried again after `reconnect.backoff.max.ms`. For
//! OAUTHBEARER the producer asks the application for a token with
//! [`Event::OAuthBearerTokenRequired`] (once, and again at 80 % of a
//! token's life) and takes it in [`Producer::set_oauthbearer_token`], an
//! application input like `send`.
//!
//! TLS is the driver's: the core sees the bytes inside it, and carries the
//! `ssl.*` settings for drivers to read ([`Config::tls`]).
//!
//! Ready-made drivers are crates of their own: `kafka-producer-tokio` (a
//! single-task tokio driver) and `kafka-producer-blocking` (a blocking
//! `std::net` driver). Both measure time with [`EpochClock`] (feature
//! `std`) and count what they do in [`DriverStats`].
//!
//! # Transactions
//!
//! With `transactional.id` set, records are written inside transactions:
//! all of a transaction's records, on any partitions, and the consumed
//! offsets sent with it become visible to `read_committed` consumers
//! together, or never. The calls follow the Java client's:
//! [`Producer::init_transactions`] (once, fencing older producers with the
//! same id), then per transaction [`Producer::begin_transaction`],
//! [`Producer::send`], [`Producer::send_offsets_to_transaction`] and
//! [`Producer::commit_transaction`] or [`Producer::abort_transaction`]. None
//! blocks: a call is refused at once ([`TransactionError`]) or accepted, and
//! the work it starts ends in one [`Event::Transaction`] (`begin_transaction`
//! needs no work). A transactional producer refuses `send` outside a
//! transaction.
//!
//! What an error asks of the application is its [`ErrorClass`]:
//!
//! | class | examples | the application |
//! | --- | --- | --- |
//! | retriable | NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS, lost connections | does nothing: the producer finds the coordinator again and retries |
//! | abortable | a record failed (INVALID_PRODUCER_EPOCH after a broker-side timeout, delivery timeout, INVALID_RECORD), TRANSACTION_ABORTABLE, a stale consumer group generation | calls `abort_transaction`, rewinds its input to the committed offsets, goes on |
//! | fatal | PRODUCER_FENCED (a newer producer with the same id), TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a broker answer that cannot be | drops the producer; a new one with the same id takes over |
//! | misuse | commit without begin, send outside a transaction | fixes the calling code: nothing changed |
//!
//! ```
//! # #[cfg(feature = "sim")] {
//! use core::time::Duration;
//! use kafka_producer_proto::sim::{SimCluster, SimNet};
//! use kafka_producer_proto::{
//!     Config, ConsumerGroupMetadata, Event, Instant, OffsetCommit, Producer, Record,
//!     TransactionCall,
//! };
//!
//! let mut cluster = SimCluster::new(3);
//! cluster.create_topic("out", 2);
//! let config = Config::builder()
//!     .bootstrap_servers(&cluster.bootstrap_servers())
//!     .transactional_id("billing")
//!     .build()?;
//! let mut net = SimNet::new(Producer::new(config, Instant::ZERO), cluster, Instant::ZERO);
//! let done = |n: &SimNet<()>, call| {
//!     n.events.iter().any(|e| matches!(e, Event::Transaction { call: c, result: Ok(()) } if *c == call))
//! };
//! net.producer.init_transactions(net.now).unwrap();
//! assert!(net.run_until(Duration::from_secs(10), |n| done(n, TransactionCall::InitTransactions)));
//! net.producer.begin_transaction().unwrap();
//! net.producer.send(Record::new("out").key("k").value("v"), net.now).unwrap();
//! let group = ConsumerGroupMetadata::new("billing-consumers");
//! net.producer.send_offsets_to_transaction([OffsetCommit::new("in", 0, 42)], &group, net.now).unwrap();
//! net.producer.commit_transaction(net.now).unwrap();
//! assert!(net.run_until(Duration::from_secs(10), |n| done(n, TransactionCall::CommitTransaction)));
//! net.run_for(Duration::from_millis(50)); // the coordinator writes its markers
//! let visible: usize = (0..2).map(|p| net.cluster.read_committed("out", p).len()).sum();
//! assert_eq!(visible, 1);
//! assert_eq!(net.cluster.committed_offsets("billing-consumers")[&("in".to_string(), 0)], 42);
//! # }
//! # Ok::<(), kafka_producer_proto::ConfigError>(())
//! ```
//!
//! The [`transaction`] module documents the states and their transitions,
//! and the rule for each error code of each transaction request.
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
//!   runtime CPU detection for the hardware CRC-32C, `std::error::Error`
//!   and [`EpochClock`]. The compression codecs are features of their own
//!   (`gzip`, `snappy`, `lz4`, `zstd`, each needing `std`; see
//!   [`wire::compression`]); without them a codec can be plugged in
//!   ([`wire::CodecFactory`]).
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

mod batch;
#[cfg(feature = "std")]
pub mod clock;
mod cluster;
pub mod config;
pub mod driver_stats;
pub mod error;
pub mod event;
mod idempotence;
mod kafka_code;
pub mod metrics;
pub mod partitioner;
mod producer;
pub mod record;
pub mod retry;
pub mod rng;
pub mod sasl;
#[cfg(feature = "sim")]
pub mod sim;
pub mod time;
pub mod transaction;
pub mod wire;

#[cfg(feature = "std")]
pub use clock::EpochClock;
pub use config::{Acks, Config, ConfigBuilder, ConfigError};
pub use driver_stats::DriverStats;
pub use error::{
    AuthenticationError, AuthenticationFailure, FatalError, ProduceError, SendError, SendErrorKind,
};
pub use event::{ConnectionId, Event, Transmit};
pub use kafka_code::KafkaCode;
pub use metrics::Metrics;
pub use producer::Producer;
pub use record::{Header, Record, RecordId};
pub use sasl::{Mechanism, OAuthBearerToken};
pub use time::Instant;
pub use transaction::{
    ConsumerGroupMetadata, ErrorClass, OffsetCommit, TransactionCall, TransactionError,
    TransactionState,
};
