//! The Kafka wire codec: framing, headers, the producer's messages, record
//! batches and their CRC.
//!
//! This module knows nothing of the producer. It turns values into bytes
//! and bytes into values, for both sides of every exchange the producer
//! takes part in: the client encodes requests and decodes responses; a
//! simulated broker and the fuzzers do the opposite.
//!
//! Every decoder is total: any input yields a value or a
//! [`DecodeError`], never a panic, and never an allocation sized by a
//! length that was not first checked against the input.

pub mod codec_error;
pub mod compression;
pub mod crc32c;
pub mod frame;
pub mod header;
pub mod message;
pub mod messages;
pub mod primitives;
pub mod record_batch;
#[cfg(test)]
mod sample_rng;
pub mod version_negotiation;

pub use codec_error::{DecodeError, EncodeError};
pub use compression::{Codec, CodecFactory, CompressionError};
pub use frame::FrameDecoder;
pub use message::{Message, MessageKind, Request};
pub use messages::ApiKey;
pub use primitives::{RawTaggedField, Reader, Uuid};
pub use record_batch::{
    BatchBuilder, BatchHeader, BatchRecord, Compression, ProducerState, RecordBatch, RecordHeader,
};
