//! LZ4 (codec 3): the LZ4 frame format, blocks compressed by lz4_flex.
//!
//! Writes exactly what the Java client's `Lz4BlockOutputStream` writes at
//! its default level: one frame of independent blocks of at most 64 KiB,
//! no checksums, no content size, each block stored as is when compressing
//! does not shrink it. The frame around the blocks is written here rather
//! than by `lz4_flex::frame::FrameEncoder`, which allocates its buffers and
//! hash table anew for every frame: this way the table and the output
//! buffer are reused from batch to batch.
//!
//! Reads any frame the broker's `Lz4BlockInputStream` reads (block sizes
//! of 64 KiB to 4 MiB, block checksums, content size, content checksum),
//! through lz4_flex's frame decoder, after checking the header against the
//! broker's rules: the legacy and skippable magics, a dictionary id and
//! dependent blocks are refused, as there. Two corners are stricter than
//! the broker, which stops at the first end mark and reads the content
//! checksum without checking it: bytes after the frame, and a wrong content
//! checksum, are refused here.
//!
//! lz4_flex has no high-compression mode, so `compression.lz4.level`
//! changes nothing: every level compresses as the Java client's default
//! level 9 does, with the fast compressor. (Java uses its HC compressor for
//! the other levels.)

use alloc::vec::Vec;
use lz4_flex::block::{CompressTable, compress_into_with_table, get_maximum_output_size};

use super::{Codec, Compression, CompressionError, read_limited};

/// Magic (0x184D2204, little-endian); FLG 0x60: version 01, independent
/// blocks, nothing optional; BD 0x40: 64 KiB blocks; the header checksum
/// (the second byte of the xxHash32 of FLG and BD).
const HEADER: [u8; 7] = [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82];
/// The block size `HEADER` declares.
const BLOCK: usize = 64 * 1024;
/// Set in a block's length: the block is stored uncompressed.
const UNCOMPRESSED: u32 = 1 << 31;

const FLG_VERSION: u8 = 0b1100_0000;
const FLG_INDEPENDENT: u8 = 0b0010_0000;
const FLG_RESERVED_AND_DICT: u8 = 0b0000_0011;
const BD_RESERVED: u8 = 0b1000_1111;

/// The lz4 codec: the compressor's hash table is kept between blocks and
/// batches.
#[derive(Default)]
pub struct Lz4 {
    table: CompressTable,
}

impl Lz4 {
    /// An lz4 codec. It compresses alike at every `compression.lz4.level`
    /// (see the module docs).
    pub fn new() -> Self {
        Lz4::default()
    }
}

impl core::fmt::Debug for Lz4 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Lz4").finish_non_exhaustive()
    }
}

impl Codec for Lz4 {
    fn compression(&self) -> Compression {
        Compression::Lz4
    }

    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        let start = out.len();
        let blocks = input.len().div_ceil(BLOCK);
        out.reserve(
            HEADER.len() + blocks * (4 + get_maximum_output_size(BLOCK.min(input.len()))) + 4,
        );
        out.extend_from_slice(&HEADER);
        for block in input.chunks(BLOCK) {
            let at = out.len();
            out.resize(at + 4 + get_maximum_output_size(block.len()), 0);
            let written = compress_into_with_table(
                block,
                out.get_mut(at + 4..).unwrap_or_default(),
                &mut self.table,
            );
            let length = match written {
                Ok(n) if n < block.len() => {
                    out.truncate(at + 4 + n);
                    n as u32
                }
                // No gain (or no room, which the maximum rules out): the
                // block goes as it is, as Java stores it.
                _ => {
                    out.truncate(at + 4);
                    out.extend_from_slice(block);
                    block.len() as u32 | UNCOMPRESSED
                }
            };
            if let Some(slot) = out.get_mut(at..at + 4) {
                slot.copy_from_slice(&length.to_le_bytes());
            }
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        debug_assert!(out.len() > start);
        Ok(())
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

/// Decompresses one LZ4 frame that the broker would read.
pub(super) fn decompress(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    let corrupt = |reason| Err(CompressionError::corrupt(Compression::Lz4, reason));
    let Some((magic, descriptor)) = input.split_first_chunk::<4>() else {
        return corrupt("shorter than a frame header");
    };
    if *magic != [0x04, 0x22, 0x4d, 0x18] {
        return corrupt("not an LZ4 frame (wrong magic)");
    }
    let (Some(&flg), Some(&bd)) = (descriptor.first(), descriptor.get(1)) else {
        return corrupt("shorter than a frame header");
    };
    if flg & FLG_VERSION != 0b0100_0000 {
        return corrupt("unsupported frame version");
    }
    if flg & FLG_RESERVED_AND_DICT != 0 {
        return corrupt("reserved flag or dictionary id set");
    }
    if flg & FLG_INDEPENDENT == 0 {
        return corrupt("dependent blocks, which Kafka does not read");
    }
    if bd & BD_RESERVED != 0 || !(4..=7).contains(&(bd >> 4)) {
        return corrupt("invalid block size descriptor");
    }
    read_limited(
        Compression::Lz4,
        lz4_flex::frame::FrameDecoder::new(input),
        out,
        limit,
    )
}
