//! gzip (codec 1), through flate2 on its zlib-rs backend.
//!
//! Writes one gzip member (RFC 1952), which is what the Java client's
//! `GZIPOutputStream` writes too. Reads any number of members, as the
//! broker's `GZIPInputStream` does; raw deflate and zlib-wrapped data are
//! refused, as there.

use alloc::vec::Vec;
use flate2::{Compress, FlushCompress, Status};

use super::{Codec, Compression, CompressionError, level, read_limited};

/// The gzip codec: one deflate state, reset and reused for every batch.
pub struct Gzip {
    deflate: Compress,
}

impl Gzip {
    /// A gzip codec at `compression.gzip.level` `level`: 1 (fastest) to 9
    /// (smallest), or -1 for zlib's default (6). Other values are taken as
    /// the nearest level.
    pub fn new(level: i32) -> Self {
        let level = if level == level::GZIP_DEFAULT {
            flate2::Compression::default()
        } else {
            let level = level.clamp(*level::GZIP.start(), *level::GZIP.end());
            flate2::Compression::new(level.unsigned_abs())
        };
        Gzip {
            // 15 window bits: zlib's (and Java's) 32 KiB window.
            deflate: Compress::new_gzip(level, 15),
        }
    }
}

impl core::fmt::Debug for Gzip {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gzip").finish_non_exhaustive()
    }
}

/// zlib's `deflateBound` for a gzip stream, rounded up: the most a deflate
/// of `n` bytes can take, stored blocks and wrapper included.
fn bound(n: usize) -> usize {
    n.saturating_add(n >> 12)
        .saturating_add(n >> 14)
        .saturating_add(n >> 25)
        .saturating_add(64)
}

impl Codec for Gzip {
    fn compression(&self) -> Compression {
        Compression::Gzip
    }

    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        self.deflate.reset();
        out.reserve(bound(input.len()));
        loop {
            let consumed = usize::try_from(self.deflate.total_in()).unwrap_or(usize::MAX);
            let rest = input.get(consumed..).unwrap_or_default();
            let status = self
                .deflate
                .compress_vec(rest, out, FlushCompress::Finish)
                .map_err(|e| CompressionError::failed(Compression::Gzip, e))?;
            match status {
                Status::StreamEnd => return Ok(()),
                // The bound was not enough (it always is, by zlib's
                // arithmetic); grow and go on rather than fail.
                Status::Ok | Status::BufError => out.reserve(out.capacity().max(64)),
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

/// Decompresses every gzip member of `input`.
pub(super) fn decompress(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    if input.is_empty() {
        // `MultiGzDecoder` reads nothing as nothing; `GZIPInputStream`
        // wants a header.
        return Err(CompressionError::corrupt(Compression::Gzip, "empty input"));
    }
    read_limited(
        Compression::Gzip,
        flate2::read::MultiGzDecoder::new(input),
        out,
        limit,
    )
}
