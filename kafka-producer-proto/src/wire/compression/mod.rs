//! Compression codecs for the records of a batch.
//!
//! A compressed batch keeps its 61-byte header as is; everything after it,
//! the records, is compressed as one stream in the codec's framing, and the
//! CRC covers the compressed bytes. The core names the codecs
//! ([`Compression`]) and calls them through [`Codec`]; the implementations
//! come from well-kept crates, each behind a cargo feature of this crate:
//!
//! | feature | codec | crate | what it writes |
//! | --- | --- | --- | --- |
//! | `gzip` | [`Gzip`] | flate2 (zlib-rs) | one gzip member |
//! | `snappy` | [`Snappy`] | snap | one raw snappy block, as librdkafka writes it |
//! | `lz4` | [`Lz4`] | lz4_flex | one LZ4 frame of independent 64 KiB blocks, the header Java writes |
//! | `zstd` | [`Zstd`] | zstd (libzstd) | one zstd frame |
//!
//! Each one's decoder reads what Kafka's brokers read for its codec (and so
//! what every producer writes): several gzip members, xerial-framed snappy
//! (the Java client's) as well as a raw block, LZ4 frames with any block
//! size Kafka allows, checksums or content size, several zstd frames. It
//! refuses what the broker refuses (an LZ4 frame of dependent blocks, the
//! official snappy framing, zlib-wrapped deflate).
//!
//! Without these features the core stays `no_std`; an application can
//! give the producer a codec of its own ([`CodecFactory`], through
//! `ConfigBuilder::compression_codec`).
//!
//! [`Gzip`]: gzip::Gzip
//! [`Snappy`]: snappy::Snappy
//! [`Lz4`]: lz4::Lz4
//! [`Zstd`]: zstd::Zstd

#[cfg(feature = "gzip")]
pub mod gzip;
#[cfg(feature = "lz4")]
pub mod lz4;
#[cfg(feature = "snappy")]
pub mod snappy;
#[cfg(feature = "zstd")]
pub mod zstd;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

pub use super::record_batch::Compression;

/// The levels Kafka 4.1 accepts for each codec, and their defaults
/// (KIP-390): `compression.gzip.level`, `compression.lz4.level`,
/// `compression.zstd.level`.
pub mod level {
    /// gzip's default: -1, zlib's own default (6).
    pub const GZIP_DEFAULT: i32 = -1;
    /// gzip's levels: 1 (fastest) to 9 (smallest), or -1.
    pub const GZIP: core::ops::RangeInclusive<i32> = 1..=9;
    /// lz4's default: 9.
    pub const LZ4_DEFAULT: i32 = 9;
    /// lz4's levels.
    pub const LZ4: core::ops::RangeInclusive<i32> = 1..=17;
    /// zstd's default: 3, libzstd's own.
    pub const ZSTD_DEFAULT: i32 = 3;
    /// zstd's levels: negative ones trade ratio for speed; 0 means the
    /// default.
    pub const ZSTD: core::ops::RangeInclusive<i32> = -131_072..=22;
}

/// The most bytes [`decompress`] and
/// [`RecordBatch::decode`](super::RecordBatch::decode) let one batch's
/// records grow to: a small compressed input can claim gigabytes, and a
/// peer's bytes must not decide how much memory is taken. As large as the
/// default `receive.message.max.bytes`.
pub const DEFAULT_DECOMPRESSED_LIMIT: usize = 100 * 1024 * 1024;

/// One compression codec: compresses the records of a batch into the
/// framing Kafka's brokers read for it, and decompresses them back.
///
/// The producer keeps one codec and calls it once per batch, from one
/// thread at a time; an implementation should keep its state (tables,
/// contexts) between calls, and write into `out`'s spare capacity, so
/// that compressing allocates nothing once warm.
///
/// A codec of your own replaces the built-in one for its
/// [`compression`](Codec::compression) (see [`CodecFactory`]); its output
/// must be what Kafka's brokers read for that codec, since they decompress
/// every batch to check it, and [`decompress`](Codec::decompress) must read
/// it back: the producer hands failed records back from their compressed
/// bytes.
pub trait Codec: Send {
    /// The codec this is, which batches it compresses are marked with.
    fn compression(&self) -> Compression;

    /// Appends `input`, compressed as one stream, to `out`.
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError>;

    /// Appends what `input` decompresses to to `out`, failing with
    /// [`CompressionError::TooLarge`] rather than appending more than
    /// `limit` bytes.
    fn decompress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), CompressionError>;
}

/// Why compressing or decompressing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompressionError {
    /// This build has no codec for it (its cargo feature is off).
    #[error("no {0} codec in this build (enable the `{0}` feature of kafka-producer-proto)")]
    Unavailable(Compression),
    /// The input is not valid data of the codec, in a framing Kafka reads.
    #[error("invalid {compression} data: {reason}")]
    Corrupt {
        /// The codec.
        compression: Compression,
        /// What is wrong with it.
        reason: String,
    },
    /// Decompressing would go past the limit given.
    #[error("{compression} data decompresses to more than {limit} bytes")]
    TooLarge {
        /// The codec.
        compression: Compression,
        /// The limit.
        limit: usize,
    },
    /// The codec could not compress the input.
    #[error("{compression} compression failed: {reason}")]
    Failed {
        /// The codec.
        compression: Compression,
        /// Why.
        reason: String,
    },
}

impl CompressionError {
    /// `Corrupt` with the reason's text.
    pub fn corrupt(compression: Compression, reason: impl fmt::Display) -> Self {
        CompressionError::Corrupt {
            compression,
            reason: alloc::format!("{reason}"),
        }
    }

    /// `Failed` with the reason's text.
    pub fn failed(compression: Compression, reason: impl fmt::Display) -> Self {
        CompressionError::Failed {
            compression,
            reason: alloc::format!("{reason}"),
        }
    }
}

/// Makes the codec a producer compresses with, in place of the built-in
/// one: for a codec this build lacks (a `no_std` target), or another
/// implementation of one it has.
///
/// Cloning shares the function; two factories are equal when they share
/// it.
///
/// ```
/// use kafka_producer_proto::wire::compression::{Codec, CodecFactory, Compression, CompressionError};
///
/// /// Writes "compressed" data that is the input as is... in no framing
/// /// Kafka reads: a real codec must write the codec's framing.
/// struct Identity;
/// impl Codec for Identity {
///     fn compression(&self) -> Compression { Compression::Lz4 }
///     fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
///         out.extend_from_slice(input);
///         Ok(())
///     }
///     fn decompress(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CompressionError> {
///         if input.len() > limit {
///             return Err(CompressionError::TooLarge { compression: Compression::Lz4, limit });
///         }
///         out.extend_from_slice(input);
///         Ok(())
///     }
/// }
///
/// let factory = CodecFactory::new(|| Box::new(Identity));
/// assert_eq!(factory.compression(), Compression::Lz4);
/// ```
#[derive(Clone)]
pub struct CodecFactory {
    make: Arc<dyn Fn() -> Box<dyn Codec> + Send + Sync>,
    compression: Compression,
}

impl CodecFactory {
    /// A factory calling `make` once per producer. `make` is called once
    /// here too, to learn which codec it makes.
    pub fn new(make: impl Fn() -> Box<dyn Codec> + Send + Sync + 'static) -> Self {
        let compression = make().compression();
        CodecFactory {
            make: Arc::new(make),
            compression,
        }
    }

    /// The codec it makes.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// A new codec.
    pub fn make(&self) -> Box<dyn Codec> {
        (self.make)()
    }
}

impl fmt::Debug for CodecFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodecFactory")
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl PartialEq for CodecFactory {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.make, &other.make)
    }
}

impl Eq for CodecFactory {}

/// Whether this build has a codec for `compression` (always, for `None`).
pub const fn is_available(compression: Compression) -> bool {
    match compression {
        Compression::None => true,
        Compression::Gzip => cfg!(feature = "gzip"),
        Compression::Snappy => cfg!(feature = "snappy"),
        Compression::Lz4 => cfg!(feature = "lz4"),
        Compression::Zstd => cfg!(feature = "zstd"),
    }
}

/// The built-in codec for `compression` at `level` (the codec's own level
/// property; snappy has none, and lz4 compresses alike at every level, see
/// [`Lz4`](lz4::Lz4)). A level outside Kafka's range for the codec is
/// taken as the nearest one in it.
///
/// Fails for `None` and for a codec whose feature is off.
pub fn builtin(compression: Compression, level: i32) -> Result<Box<dyn Codec>, CompressionError> {
    let _ = level;
    match compression {
        #[cfg(feature = "gzip")]
        Compression::Gzip => Ok(Box::new(gzip::Gzip::new(level))),
        #[cfg(feature = "snappy")]
        Compression::Snappy => Ok(Box::new(snappy::Snappy::new())),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => Ok(Box::new(lz4::Lz4::new())),
        #[cfg(feature = "zstd")]
        Compression::Zstd => Ok(Box::new(zstd::Zstd::new(level)?)),
        other => Err(CompressionError::Unavailable(other)),
    }
}

/// Decompresses `input` with the built-in decoder for `compression`,
/// appending to `out` at most `limit` bytes. `None` copies.
pub fn decompress(
    compression: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    let _ = (&out, limit);
    match compression {
        Compression::None => {
            if input.len() > limit {
                return Err(CompressionError::TooLarge { compression, limit });
            }
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::decompress(input, out, limit),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::decompress(input, out, limit),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::decompress(input, out, limit),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::decompress(input, out, limit),
        #[allow(unreachable_patterns)]
        other => Err(CompressionError::Unavailable(other)),
    }
}

/// Reads all of `reader` into `out`, refusing to append more than `limit`
/// bytes: the decoders of the streaming crates (gzip, lz4, zstd) go
/// through it.
#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
fn read_limited(
    compression: Compression,
    reader: impl std::io::Read,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    use std::io::Read;
    let start = out.len();
    // One byte past the limit tells a stream of exactly `limit` bytes from
    // a longer one.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    if let Err(e) = reader.take(cap).read_to_end(out) {
        out.truncate(start);
        return Err(CompressionError::corrupt(compression, e));
    }
    if out.len() - start > limit {
        out.truncate(start);
        return Err(CompressionError::TooLarge { compression, limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
