//! The producer's public errors: why `send` refused a record
//! ([`SendError`], which hands the record back), why an accepted record
//! failed ([`ProduceError`], carried by [`crate::Event::Failed`] with the
//! record), and what put the producer in its fatal state ([`FatalError`]).
//! Protocol error codes are [`KafkaCode`]s.

use alloc::string::String;
use core::fmt;
use core::time::Duration;

pub use crate::kafka_code::KafkaCode;
use crate::record::Record;
pub use crate::sasl::{AuthenticationError, AuthenticationFailure};
use crate::transaction::TransactionError;
use crate::wire::ApiKey;
use crate::wire::compression::{Compression, CompressionError};

/// Why an accepted record failed. Every failure hands the record back in
/// [`crate::Event::Failed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The broker refused the record's batch with a non-retriable error, or
    /// with a retriable one after `retries` retries.
    #[error("broker refused the batch: {code}{}", message.as_deref().map(|m| alloc::format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The partition-level error code.
        code: KafkaCode,
        /// The broker's message for this record or batch, if it sent one.
        message: Option<String>,
    },
    /// `delivery.timeout.ms` passed before the record was acknowledged.
    #[error("delivery timed out after {attempts} attempts{}", last_error.map(|c| alloc::format!(", last error {c}")).unwrap_or_default())]
    DeliveryTimeout {
        /// How many times the record's batch was sent.
        attempts: u32,
        /// The last error its batch met, if any.
        last_error: Option<KafkaCode>,
    },
    /// The topic did not appear in the cluster's metadata within
    /// `max.block.ms`.
    #[error("topic {topic:?} not present in metadata after {waited:?}")]
    TopicNotFound {
        /// The topic.
        topic: String,
        /// How long the producer waited.
        waited: Duration,
    },
    /// The topic exists but cannot be produced to (authorization, invalid
    /// name on the broker's side).
    #[error("topic {topic:?} is unusable: {code}")]
    TopicError {
        /// The topic.
        topic: String,
        /// The topic-level error code from Metadata.
        code: KafkaCode,
    },
    /// The record named a partition the topic does not have.
    #[error("partition {partition} does not exist (the topic has {partitions})")]
    InvalidPartition {
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// The batch may already be in the log and the producer can no longer
    /// tell: a send of it ended without an answer that rules the write
    /// out, then its partition's sequence had to restart under a new epoch
    /// (KIP-360). Sent again under the new epoch it could be written
    /// twice, so it is handed back instead; the application decides.
    #[error("possibly written: {attempts} attempts ended without a clear answer{}, and the partition's sequence had to restart", last_error.map(|c| alloc::format!(" (last error {c})")).unwrap_or_default())]
    PossiblyWritten {
        /// How many times the record's batch was sent.
        attempts: u32,
        /// The last error its batch met, if any.
        last_error: Option<KafkaCode>,
    },
    /// The producer is in its fatal state.
    #[error("producer is in its fatal state: {0}")]
    Fatal(FatalError),
    /// The only broker that could take the record would not authenticate
    /// the producer (SASL); not retried.
    #[error("{0}")]
    Authentication(AuthenticationError),
    /// The producer was stopped before the record was delivered
    /// ([`crate::Producer::abort`]; a driver's `close` whose timeout ran
    /// out).
    #[error("the producer was closed before the record was delivered{}", if *possibly_written { " (it may be in the log: a send of it got no answer)" } else { "" })]
    Aborted {
        /// A send of the record's batch got no answer: the broker may have
        /// written it.
        possibly_written: bool,
    },
    /// The record's transaction cannot commit: it was aborted
    /// ([`TransactionError::Aborted`]), or it met the abortable error
    /// carried here before the record was sent.
    #[error("transaction: {0}")]
    Transaction(TransactionError),
    /// The batch's codec failed to compress it (only a codec of the
    /// application's own can): it was not sent.
    #[error("the batch could not be compressed: {0}")]
    Compression(CompressionError),
    /// The partition's leader speaks no Produce version that can carry the
    /// batch's codec (zstd needs v7, Kafka 2.1): it was not sent. The code
    /// is UNSUPPORTED_COMPRESSION_TYPE, as the broker would answer.
    #[error(
        "broker {node} speaks Produce v{version} at most; {compression} batches need v7 or later"
    )]
    UnsupportedCompression {
        /// The codec.
        compression: Compression,
        /// The leader.
        node: i32,
        /// The highest Produce version it speaks.
        version: i16,
    },
}

impl ProduceError {
    /// The Kafka error code behind this failure, if there is one.
    pub fn code(&self) -> Option<KafkaCode> {
        match self {
            ProduceError::Broker { code, .. } | ProduceError::TopicError { code, .. } => {
                Some(*code)
            }
            ProduceError::DeliveryTimeout { last_error, .. }
            | ProduceError::PossiblyWritten { last_error, .. } => *last_error,
            ProduceError::UnsupportedCompression { .. } => {
                Some(KafkaCode::UnsupportedCompressionType)
            }
            ProduceError::Authentication(e) => e.code(),
            _ => None,
        }
    }
}

/// Why the producer entered its fatal state, after which every pending
/// record fails and every `send` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FatalError {
    /// Another producer took over this producer id with a newer epoch, or
    /// the broker refuses the epoch: going on could write duplicates.
    #[error("producer fenced: {code}")]
    Fenced {
        /// PRODUCER_FENCED or INVALID_PRODUCER_EPOCH.
        code: KafkaCode,
    },
    /// InitProducerId was refused for good (for example
    /// CLUSTER_AUTHORIZATION_FAILED).
    #[error("could not get a producer id: {code}")]
    ProducerId {
        /// The error InitProducerId returned.
        code: KafkaCode,
    },
    /// A broker speaks no version of an API the producer needs that this
    /// crate implements (Produce before v3 has no record batches).
    #[error(
        "broker {node} supports {api:?} versions {min}..={max}, none of which this producer implements"
    )]
    UnsupportedVersion {
        /// The broker, by node id (-1 for a bootstrap server).
        node: i32,
        /// The API.
        api: ApiKey,
        /// The broker's lowest version.
        min: i16,
        /// The broker's highest version.
        max: i16,
    },
    /// A fatal transaction error (see [`TransactionError::class`]).
    #[error("transaction: {0}")]
    Transaction(TransactionError),
}

/// Why `send` refused a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// Accepting the record would take the buffered bytes past
    /// `buffer.memory`. Nothing blocks: retry once deliveries free memory.
    #[error("buffer.memory exhausted: the record needs {needed} bytes, {available} are free")]
    BufferFull {
        /// The record's encoded size.
        needed: usize,
        /// Bytes free under `buffer.memory`.
        available: usize,
    },
    /// The record alone is larger than `max.request.size` (or `buffer.memory`).
    #[error("record of {size} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// The record's encoded size, batch overhead included.
        size: usize,
        /// The limit it exceeds.
        max: usize,
    },
    /// The topic name is not one Kafka allows.
    #[error("invalid topic name {topic:?}: {reason}")]
    InvalidTopic {
        /// The name.
        topic: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The record named a partition the topic does not have.
    #[error("partition {partition} does not exist (the topic has {partitions})")]
    InvalidPartition {
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// `buffer.memory` stayed full for `max.block.ms`: a driver that
    /// waits for memory gave up ([`SendErrorKind::BufferFull`] is the
    /// sans-IO producer's immediate answer).
    #[error(
        "buffer.memory still full after max.block.ms ({waited:?}): the record needs {needed} bytes, {available} are free"
    )]
    BufferTimeout {
        /// The record's encoded size.
        needed: usize,
        /// Bytes free under `buffer.memory` when the wait ended.
        available: usize,
        /// How long the driver waited.
        waited: Duration,
    },
    /// `close` was called.
    #[error("the producer is closed")]
    Closed,
    /// The producer is in its fatal state.
    #[error("the producer is in its fatal state: {0}")]
    Fatal(FatalError),
    /// A transactional producer takes records only inside a transaction,
    /// and not once it must be aborted.
    #[error("{0}")]
    Transaction(TransactionError),
}

/// A refused `send`: why, and the record, handed back untouched.
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T> {
    /// Why the record was refused.
    pub kind: SendErrorKind,
    /// The record.
    pub record: Record<T>,
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("kind", &self.kind)
            .field("topic", &self.record.topic)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl<T> core::error::Error for SendError<T> {}
