//! Zstandard (codec 4), through the zstd crate (libzstd).
//!
//! Writes one zstd frame, with its content size; reads any number of
//! frames, as the broker's `ZstdInputStream` does. A batch compressed with
//! zstd needs Produce v7 or later (KIP-110): the producer refuses to send
//! one in an older request, and so does the broker.

use alloc::vec::Vec;
use std::io::Cursor;

use super::{Codec, Compression, CompressionError, level, read_limited};

/// The zstd codec: one compression context, reused for every batch.
pub struct Zstd {
    compressor: ::zstd::bulk::Compressor<'static>,
}

impl Zstd {
    /// A zstd codec at `compression.zstd.level` `level` (-131072 to 22; 0
    /// is libzstd's default, 3). Values beyond are taken as the nearest
    /// level.
    pub fn new(level: i32) -> Result<Self, CompressionError> {
        let level = level.clamp(*level::ZSTD.start(), *level::ZSTD.end());
        let compressor = ::zstd::bulk::Compressor::new(level)
            .map_err(|e| CompressionError::failed(Compression::Zstd, e))?;
        Ok(Zstd { compressor })
    }
}

impl core::fmt::Debug for Zstd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Zstd").finish_non_exhaustive()
    }
}

impl Codec for Zstd {
    fn compression(&self) -> Compression {
        Compression::Zstd
    }

    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        let start = out.len();
        out.reserve(::zstd::zstd_safe::compress_bound(input.len()));
        // The cursor makes libzstd write after what `out` holds, into its
        // spare capacity, without zeroing it first.
        let mut cursor = Cursor::new(&mut *out);
        cursor.set_position(start as u64);
        let written = self.compressor.compress_to_buffer(input, &mut cursor);
        match written {
            Ok(_) => Ok(()),
            Err(e) => {
                out.truncate(start);
                Err(CompressionError::failed(Compression::Zstd, e))
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

/// Decompresses every zstd frame of `input`.
pub(super) fn decompress(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    if input.is_empty() {
        return Err(CompressionError::corrupt(Compression::Zstd, "empty input"));
    }
    let decoder = ::zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|e| CompressionError::corrupt(Compression::Zstd, e))?;
    read_limited(Compression::Zstd, decoder, out, limit)
}
