//! Snappy (codec 2), through snap's raw block format.
//!
//! Kafka's brokers read two encodings of a snappy batch: the xerial
//! framing the Java client writes (a 16-byte header, then chunks of a
//! big-endian length and a raw block) and, when the magic is missing, one
//! raw block for the whole records section, which is what librdkafka
//! writes and what this codec writes: the simplest, and every consumer
//! reads it. Google's official snappy *framing* format (what
//! `snap::write::FrameEncoder` writes) is refused by the broker, and here.

use alloc::vec::Vec;

use super::{Codec, Compression, CompressionError};

/// The start of the xerial framing: `\x82SNAPPY\0`.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// The magic, then a big-endian version and compatible version.
const XERIAL_HEADER: usize = 16;

/// The snappy codec: one raw-block encoder, whose hash table is reused for
/// every batch.
pub struct Snappy {
    encoder: snap::raw::Encoder,
}

impl Snappy {
    /// A snappy codec (snappy has no levels).
    pub fn new() -> Self {
        Snappy {
            encoder: snap::raw::Encoder::new(),
        }
    }
}

impl Default for Snappy {
    fn default() -> Self {
        Snappy::new()
    }
}

impl core::fmt::Debug for Snappy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Snappy").finish_non_exhaustive()
    }
}

impl Codec for Snappy {
    fn compression(&self) -> Compression {
        Compression::Snappy
    }

    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        let max = snap::raw::max_compress_len(input.len());
        if max == 0 {
            return Err(CompressionError::failed(
                Compression::Snappy,
                "input too large for one snappy block",
            ));
        }
        let start = out.len();
        out.resize(start + max, 0);
        let written = self
            .encoder
            .compress(input, out.get_mut(start..).unwrap_or_default());
        match written {
            Ok(n) => {
                out.truncate(start + n);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(CompressionError::failed(Compression::Snappy, e))
            }
        }
    }

    fn decompress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), CompressionError> {
        decompress(input, out, limit)
    }
}

/// Decompresses xerial-framed snappy, or one raw block when the input does
/// not start with the xerial magic (the broker's rule).
pub(super) fn decompress(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    let start = out.len();
    let result = if input.starts_with(&XERIAL_MAGIC) {
        xerial(input, out, start.saturating_add(limit))
    } else {
        raw_block(input, out, start.saturating_add(limit), limit)
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// The xerial framing: after the header, chunks of a big-endian `i32`
/// length and one raw block, to the end of the input. A header met where
/// a chunk would start begins a concatenated stream, as xerial reads it.
fn xerial(input: &[u8], out: &mut Vec<u8>, end: usize) -> Result<(), CompressionError> {
    let limit = end - out.len();
    let mut rest = input
        .get(XERIAL_HEADER..)
        .ok_or_else(|| CompressionError::corrupt(Compression::Snappy, "truncated xerial header"))?;
    while !rest.is_empty() {
        if rest.starts_with(&XERIAL_MAGIC) {
            rest = rest.get(XERIAL_HEADER..).ok_or_else(|| {
                CompressionError::corrupt(Compression::Snappy, "truncated xerial header")
            })?;
            continue;
        }
        let (length, after) = rest.split_first_chunk::<4>().ok_or_else(|| {
            CompressionError::corrupt(Compression::Snappy, "truncated chunk length")
        })?;
        let length = usize::try_from(i32::from_be_bytes(*length))
            .map_err(|_| CompressionError::corrupt(Compression::Snappy, "negative chunk length"))?;
        let chunk = after.get(..length).ok_or_else(|| {
            CompressionError::corrupt(Compression::Snappy, "chunk longer than the input")
        })?;
        raw_block(chunk, out, end, limit)?;
        rest = after.get(length..).unwrap_or_default();
    }
    Ok(())
}

/// One raw block, appended to `out`, which must not grow past `end`.
fn raw_block(
    block: &[u8],
    out: &mut Vec<u8>,
    end: usize,
    limit: usize,
) -> Result<(), CompressionError> {
    let length = snap::raw::decompress_len(block)
        .map_err(|e| CompressionError::corrupt(Compression::Snappy, e))?;
    let at = out.len();
    if at.saturating_add(length) > end {
        return Err(CompressionError::TooLarge {
            compression: Compression::Snappy,
            limit,
        });
    }
    out.resize(at + length, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, out.get_mut(at..).unwrap_or_default())
        .map_err(|e| CompressionError::corrupt(Compression::Snappy, e))?;
    out.truncate(at + written);
    Ok(())
}
