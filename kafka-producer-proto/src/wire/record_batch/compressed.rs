//! Compressed batches: the header as it is, then the records compressed as
//! one stream; the CRC covers the compressed bytes.
//!
//! Records are encoded uncompressed as they are appended (the
//! [`BatchBuilder`] does not know the codec), then compressed once, when
//! the batch is complete: one pass over the records, into a buffer the
//! caller reuses.

use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};

use super::attributes::{BatchAttributes, Compression};
use super::encoder::BatchBuilder;
use super::header::{put_at, write_crc};
use super::{ATTRIBUTES_AT, BATCH_HEADER_SIZE, BATCH_LENGTH_AT, BATCH_LENGTH_OVERHEAD};
use crate::wire::codec_error::DecodeError;
use crate::wire::compression::{self, Codec, CompressionError};

impl BatchBuilder {
    /// Completes the batch with its records compressed by `codec`, written
    /// to `out` (cleared first): the header, marked with the codec, then the
    /// compressed records.
    ///
    /// On success, returns the builder's buffer, whose contents are spent,
    /// for reuse. If the codec fails, the batch is completed uncompressed in
    /// that buffer instead (a valid batch, which any broker takes) and comes
    /// back with the reason.
    pub fn finish_compressed(
        mut self,
        codec: &mut dyn Codec,
        out: &mut Vec<u8>,
    ) -> Result<BytesMut, (BytesMut, CompressionError)> {
        let compression = codec.compression();
        let records = self.seal_header();
        out.clear();
        let result = match compression {
            Compression::None => Err(CompressionError::failed(
                compression,
                "the codec says it does not compress",
            )),
            _ => {
                out.extend_from_slice(records.get(..BATCH_HEADER_SIZE).unwrap_or_default());
                codec.compress(records.get(BATCH_HEADER_SIZE..).unwrap_or_default(), out)
            }
        };
        let length = out.len().saturating_sub(BATCH_LENGTH_OVERHEAD);
        let result = result.and_then(|()| {
            i32::try_from(length).map_err(|_| {
                CompressionError::failed(compression, "the compressed batch exceeds 2 GiB")
            })
        });
        let mut buf = self.buf;
        match result {
            Ok(length) => {
                // `out` starts with the header copied above.
                let bits = out
                    .get(ATTRIBUTES_AT..ATTRIBUTES_AT + 2)
                    .and_then(|s| <[u8; 2]>::try_from(s).ok())
                    .map_or(0, i16::from_be_bytes);
                let attributes = BatchAttributes::from_bits(bits).with_compression(compression);
                put_at(out, ATTRIBUTES_AT, &attributes.bits().to_be_bytes());
                put_at(out, BATCH_LENGTH_AT, &length.to_be_bytes());
                write_crc(out);
                Ok(buf)
            }
            Err(e) => {
                out.clear();
                write_crc(&mut buf);
                Err((buf, e))
            }
        }
    }
}

/// The records section of a batch whose header says it is compressed with
/// `compression`, decompressed: by `codec` when it is that codec's,
/// otherwise by the built-in decoder; at most `limit` bytes.
pub(super) fn decompress_records(
    compression: Compression,
    compressed: &[u8],
    codec: Option<&mut dyn Codec>,
    limit: usize,
) -> Result<Bytes, DecodeError> {
    let mut out = Vec::new();
    let result = match codec {
        Some(codec) if codec.compression() == compression => {
            codec.decompress(compressed, &mut out, limit)
        }
        _ => compression::decompress(compression, compressed, &mut out, limit),
    };
    match result {
        Ok(()) => Ok(Bytes::from(out)),
        Err(CompressionError::Unavailable(c)) => Err(DecodeError::UnsupportedCompression(c.code())),
        Err(e) => Err(DecodeError::Compression(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::compression::{builtin, level};
    use crate::wire::crc32c::crc32c;
    use crate::wire::primitives::Reader;
    use crate::wire::record_batch::test_support::{TestRecord, decode_one, encode};
    use crate::wire::record_batch::{
        BatchHeader, CRC_AT, HeaderRef, ProducerState, RecordBatch, rewrite_producer_state,
    };
    use alloc::boxed::Box;
    use alloc::vec;

    const CODECS: [Compression; 4] = [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn codec(c: Compression) -> Box<dyn Codec> {
        let level = match c {
            Compression::Gzip => level::GZIP_DEFAULT,
            Compression::Zstd => level::ZSTD_DEFAULT,
            _ => level::LZ4_DEFAULT,
        };
        builtin(c, level).unwrap()
    }

    fn builder(n: usize) -> BatchBuilder {
        let headers: &[HeaderRef<'_>] = &[("trace", Some(b"abc")), ("null", None)];
        let mut b = BatchBuilder::new(BytesMut::new(), ProducerState::new(42, 3, 1000), true);
        for i in 0..n {
            let value = alloc::format!("{{\"n\":{i},\"payload\":\"{}\"}}", "x".repeat(i % 50));
            let key = (i % 3 != 0).then(|| i.to_be_bytes());
            b.append(
                1_700_000_000_000 + (i as i64 % 7) * 10 - 30,
                key.as_ref().map(|k| &k[..]),
                (i % 5 != 0).then_some(value.as_bytes()),
                if i % 2 == 0 { headers } else { &[] }.iter().copied(),
            )
            .unwrap();
        }
        b
    }

    #[test]
    fn compressed_batches_decode_to_the_same_records_and_header() {
        let plain = builder(500).finish();
        let plain = decode_one(&plain).unwrap();
        for c in CODECS {
            let mut out = Vec::new();
            let spare = builder(500)
                .finish_compressed(codec(c).as_mut(), &mut out)
                .unwrap();
            assert!(spare.capacity() > 0, "the records buffer comes back");
            let h = BatchHeader::peek(&out).unwrap();
            assert_eq!(h.total_size(), Some(out.len()));
            assert_eq!(h.attributes.compression(), Some(c));
            assert!(h.attributes.is_transactional(), "other bits kept");
            assert_eq!(crc32c(&out[ATTRIBUTES_AT..]), h.crc);
            assert!(out.len() < plain.header.total_size().unwrap() / 2, "{c}");
            let batch = decode_one(&out).unwrap();
            assert_eq!(batch.records, plain.records, "{c}");
            let mut want = plain.header;
            want.attributes = want.attributes.with_compression(c);
            want.batch_length = h.batch_length;
            want.crc = h.crc;
            assert_eq!(batch.header, want, "{c}");
        }
    }

    #[test]
    fn the_producer_fields_of_a_compressed_batch_are_rewritten_in_place() {
        for c in CODECS {
            let mut out = Vec::new();
            builder(50)
                .finish_compressed(codec(c).as_mut(), &mut out)
                .unwrap();
            let before = out.clone();
            rewrite_producer_state(&mut out, ProducerState::new(42, 4, 0)).unwrap();
            let changed: Vec<usize> = (0..out.len()).filter(|&i| out[i] != before[i]).collect();
            assert!(
                changed
                    .iter()
                    .all(|i| (CRC_AT..CRC_AT + 4).contains(i) || (43..57).contains(i)),
                "{c}: {changed:?}"
            );
            let batch = decode_one(&out).unwrap();
            assert_eq!(batch.header.producer, ProducerState::new(42, 4, 0));
            assert_eq!(batch.records, decode_one(&before).unwrap().records);
        }
    }

    #[test]
    fn a_failing_codec_leaves_a_valid_uncompressed_batch() {
        struct Broken;
        impl Codec for Broken {
            fn compression(&self) -> Compression {
                Compression::Lz4
            }
            fn compress(&mut self, _: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
                out.extend_from_slice(b"half");
                Err(CompressionError::failed(Compression::Lz4, "broken"))
            }
            fn decompress(
                &mut self,
                _: &[u8],
                _: &mut Vec<u8>,
                _: usize,
            ) -> Result<(), CompressionError> {
                unreachable!()
            }
        }
        let mut out = vec![1, 2, 3];
        let (batch, e) = builder(10)
            .finish_compressed(&mut Broken, &mut out)
            .unwrap_err();
        assert_eq!(e, CompressionError::failed(Compression::Lz4, "broken"));
        assert!(out.is_empty());
        let decoded = decode_one(&batch).unwrap();
        assert_eq!(decoded.records.len(), 10);
        assert_eq!(
            decoded.header.attributes.compression(),
            Some(Compression::None)
        );
    }

    #[test]
    fn records_that_do_not_decompress_are_a_decode_error() {
        for c in CODECS {
            let mut out = Vec::new();
            builder(20)
                .finish_compressed(codec(c).as_mut(), &mut out)
                .unwrap();
            // Damage the compressed records and give the batch a fresh
            // CRC, as a producer with a broken codec would send it.
            let mut bad = out.clone();
            bad.truncate(BATCH_HEADER_SIZE + (out.len() - BATCH_HEADER_SIZE) / 2);
            let length = (bad.len() - BATCH_LENGTH_OVERHEAD) as i32;
            put_at(&mut bad, BATCH_LENGTH_AT, &length.to_be_bytes());
            write_crc(&mut bad);
            assert!(
                matches!(decode_one(&bad), Err(DecodeError::Compression(_))),
                "{c}: {:?}",
                decode_one(&bad)
            );
        }
    }

    #[test]
    fn the_limit_and_the_codec_given_are_used() {
        let mut out = Vec::new();
        builder(100)
            .finish_compressed(codec(Compression::Zstd).as_mut(), &mut out)
            .unwrap();
        let bytes = Bytes::from(out);
        let mut r = Reader::new(bytes.clone());
        assert!(matches!(
            RecordBatch::decode_with(&mut r, None, 100),
            Err(DecodeError::Compression(CompressionError::TooLarge { .. }))
        ));
        // A codec that counts its calls: used for its own codec only.
        struct Counting(Box<dyn Codec>, usize);
        impl Codec for Counting {
            fn compression(&self) -> Compression {
                self.0.compression()
            }
            fn compress(&mut self, i: &[u8], o: &mut Vec<u8>) -> Result<(), CompressionError> {
                self.0.compress(i, o)
            }
            fn decompress(
                &mut self,
                i: &[u8],
                o: &mut Vec<u8>,
                l: usize,
            ) -> Result<(), CompressionError> {
                self.1 += 1;
                self.0.decompress(i, o, l)
            }
        }
        let mut zstd = Counting(codec(Compression::Zstd), 0);
        let batches =
            RecordBatch::decode_all_with(bytes.clone(), Some(&mut zstd), 1 << 20).unwrap();
        assert_eq!(batches[0].records.len(), 100);
        assert_eq!(zstd.1, 1);
        let mut lz4 = Counting(codec(Compression::Lz4), 0);
        RecordBatch::decode_all_with(bytes, Some(&mut lz4), 1 << 20).unwrap();
        assert_eq!(lz4.1, 0, "a zstd batch is not the lz4 codec's");
    }

    #[test]
    fn an_uncompressed_batch_is_untouched_by_the_compressed_path() {
        let bytes = encode(
            ProducerState::NONE,
            false,
            &[TestRecord {
                timestamp: 1,
                key: None,
                value: Some(b"v"),
                headers: &[],
            }],
        );
        let batch = decode_one(&bytes).unwrap();
        assert_eq!(
            batch.header.attributes.compression(),
            Some(Compression::None)
        );
        // Its values are slices of the input, not of a copy.
        let batch = RecordBatch::decode(&mut Reader::new(bytes.clone())).unwrap();
        assert!(
            bytes
                .as_ptr_range()
                .contains(&batch.records[0].value.as_ref().unwrap().as_ptr())
        );
    }
}
