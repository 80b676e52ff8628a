//! Record batches (magic 2): the unit in which a producer ships records.
//!
//! Three tools, one per moment in a batch's life:
//!
//! - [`BatchBuilder`] encodes records straight into a reusable [`BytesMut`]
//!   as they are appended, then [`BatchBuilder::finish`] patches the header
//!   fields that depend on the records (length, counts, max timestamp) and
//!   the CRC. A batch is encoded exactly once.
//! - [`rewrite_producer_state`] changes producer id, epoch and base sequence
//!   of an encoded batch in place and recomputes its CRC, for a retry after
//!   an epoch bump: the records are not touched, and retried bytes stay
//!   identical to the first attempt everywhere else.
//! - [`RecordBatch::decode`] reads a batch back, checking every length and
//!   the CRC, with keys, values and header values as zero-copy slices of the
//!   input. The producer never reads batches itself; the simulated broker,
//!   the fuzzers and the tests do.
//!
//! A compressed batch is encoded uncompressed by the builder, then
//! compressed whole by [`BatchBuilder::finish_compressed`] with a
//! [`Codec`](crate::wire::compression::Codec); the decoder decompresses its
//! records. The header is never compressed, so rewriting the producer
//! fields works the same on every codec.
//!
//! [`BytesMut`]: bytes::BytesMut

// One concept per file: `attributes` holds the typed `attributes` field,
// `header` the fixed header and its producer fields (peeking and rewriting
// them in place), `encoder` the batch builder, `decoder` the batch reader.
// The header layout below is shared by all of them.
mod attributes;
mod compressed;
mod decoder;
mod encoder;
mod header;
#[cfg(test)]
mod test_support;

pub use attributes::{BatchAttributes, Compression, TimestampType};
pub use decoder::{BatchRecord, RecordBatch, RecordHeader};
pub use encoder::{BatchBuilder, record_size};
pub use header::{BatchHeader, ProducerState, rewrite_producer_state};

/// The only record batch format this codec reads and writes.
pub const MAGIC: i8 = 2;

/// Bytes of a batch before its first record: the fixed header.
pub const BATCH_HEADER_SIZE: usize = 61;

/// Bytes at the start of a batch that its `batchLength` does not count
/// (`baseOffset` and `batchLength` itself; Kafka's `LOG_OVERHEAD`).
pub const BATCH_LENGTH_OVERHEAD: usize = 12;

/// The timestamp Kafka writes when there is none.
pub const NO_TIMESTAMP: i64 = -1;

/// One record header as the encoder takes it: a UTF-8 key and a nullable
/// value.
pub type HeaderRef<'a> = (&'a str, Option<&'a [u8]>);

// Where each header field starts, from the first byte of the batch.
const BATCH_LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

/// The smallest `batchLength` a batch with an intact v2 header can have.
const MIN_BATCH_LENGTH: usize = BATCH_HEADER_SIZE - BATCH_LENGTH_OVERHEAD;
/// Length, attributes, timestamp delta, offset delta, key length, value
/// length and header count take at least one byte each; this bounds how
/// many records a batch of a given size can claim.
const MIN_RECORD_SIZE: usize = 7;
/// A header's key length and value length take at least one byte each.
const MIN_HEADER_SIZE: usize = 2;
