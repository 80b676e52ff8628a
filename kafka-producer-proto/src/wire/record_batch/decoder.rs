//! Decoding batches, with every length and the CRC checked and the byte
//! fields left as zero-copy slices of the input.

use alloc::vec::Vec;
use bytes::Bytes;

use super::attributes::{BatchAttributes, Compression};
use super::compressed::decompress_records;
use super::header::{BatchHeader, ProducerState};
use super::{MAGIC, MIN_BATCH_LENGTH, MIN_HEADER_SIZE, MIN_RECORD_SIZE};
use crate::wire::codec_error::DecodeError;
use crate::wire::compression::{Codec, DEFAULT_DECOMPRESSED_LIMIT};
use crate::wire::crc32c::crc32c;
use crate::wire::primitives::Reader;

/// One header of a decoded record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    // Invariant: valid UTF-8. Kept as `Bytes` so decoding does not copy it.
    key: Bytes,
    value: Option<Bytes>,
}

impl RecordHeader {
    /// A header with this key and value.
    pub fn new(key: &str, value: Option<Bytes>) -> Self {
        RecordHeader {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value,
        }
    }

    /// The header's key.
    pub fn key(&self) -> &str {
        // The fallback is unreachable: every constructor checks UTF-8.
        core::str::from_utf8(&self.key).unwrap_or_default()
    }

    /// The header's key as the bytes it was decoded from.
    pub fn key_bytes(&self) -> &Bytes {
        &self.key
    }

    /// The header's value; `None` for null.
    pub fn value(&self) -> Option<&Bytes> {
        self.value.as_ref()
    }
}

/// One decoded record; its byte fields are slices of the decoded input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchRecord {
    /// The record's timestamp (the batch's base timestamp plus the record's
    /// delta). Meaningless in a [`TimestampType::LogAppendTime`](super::TimestampType::LogAppendTime) batch, whose
    /// records all take the batch's max timestamp.
    pub timestamp: i64,
    /// The record's offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// The key; `None` for null.
    pub key: Option<Bytes>,
    /// The value; `None` for null (a tombstone).
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<RecordHeader>,
}

/// A decoded record batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordBatch {
    /// The batch header. `header.record_count` equals `records.len()`.
    pub header: BatchHeader,
    /// The records, in offset order.
    pub records: Vec<BatchRecord>,
}

impl RecordBatch {
    /// Decodes one batch from `r`, consuming exactly its bytes.
    ///
    /// Checks the magic byte, `batchLength` against the input, the CRC, the
    /// record count against the records present, each record's length
    /// against its contents, every varint and length, that offset deltas
    /// strictly increase within `0..=lastOffsetDelta`, and that the last
    /// offset fits an `i64`.
    ///
    /// A compressed batch's records are decompressed with the built-in
    /// decoder of its codec, up to
    /// [`DEFAULT_DECOMPRESSED_LIMIT`](crate::wire::compression::DEFAULT_DECOMPRESSED_LIMIT)
    /// bytes; without that codec's feature it fails with
    /// [`DecodeError::UnsupportedCompression`]. The keys and values of a
    /// compressed batch are slices of one buffer holding its decompressed
    /// records.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Self::decode_with(r, None, DEFAULT_DECOMPRESSED_LIMIT)
    }

    /// [`decode`](RecordBatch::decode), decompressing with `codec` when the
    /// batch is compressed with its codec (with the built-in decoder
    /// otherwise), to at most `limit` bytes of records.
    pub fn decode_with(
        r: &mut Reader,
        codec: Option<&mut dyn Codec>,
        limit: usize,
    ) -> Result<Self, DecodeError> {
        let base_offset = r.i64()?;
        let batch_length = r.i32()?;
        let bad_length = DecodeError::InvalidLength {
            what: "record batch length",
            length: batch_length.into(),
        };
        let length = usize::try_from(batch_length).map_err(|_| bad_length.clone())?;
        let mut body = Reader::new(r.take(length)?);
        // Read the magic before judging the length by the v2 layout: a v0/v1
        // message can be shorter than a v2 header and deserves the clearer
        // error.
        let (Ok(partition_leader_epoch), Ok(magic)) = (body.i32(), body.i8()) else {
            return Err(bad_length);
        };
        if magic != MAGIC {
            return Err(DecodeError::UnsupportedMagic(magic));
        }
        if length < MIN_BATCH_LENGTH {
            return Err(bad_length);
        }
        let crc = body.u32()?;
        let covered = body.take(body.remaining())?;
        let actual = crc32c(&covered);
        if actual != crc {
            return Err(DecodeError::CrcMismatch {
                expected: crc,
                actual,
            });
        }

        let mut body = Reader::new(covered);
        let attributes = BatchAttributes(body.i16()?);
        let Some(compression) = attributes.compression() else {
            return Err(DecodeError::UnsupportedCompression(
                attributes.compression_code(),
            ));
        };
        let last_offset_delta = body.i32()?;
        let base_timestamp = body.i64()?;
        let max_timestamp = body.i64()?;
        let producer = ProducerState {
            producer_id: body.i64()?,
            producer_epoch: body.i16()?,
            base_sequence: body.i32()?,
        };
        let record_count = body.i32()?;
        if compression != Compression::None {
            let compressed = body.take(body.remaining())?;
            body = Reader::new(decompress_records(compression, &compressed, codec, limit)?);
        }

        let count = usize::try_from(record_count)
            .ok()
            .filter(|&n| n <= body.remaining() / MIN_RECORD_SIZE)
            .ok_or(DecodeError::InvalidLength {
                what: "record count",
                length: record_count.into(),
            })?;
        if last_offset_delta < -1 || base_offset.checked_add(last_offset_delta.into()).is_none() {
            return Err(DecodeError::InvalidValue {
                what: "last offset delta",
            });
        }

        let mut records = Vec::with_capacity(count);
        let mut next_offset_delta: i64 = 0;
        for _ in 0..count {
            let record = decode_record(
                &mut body,
                base_timestamp,
                next_offset_delta,
                last_offset_delta,
            )?;
            next_offset_delta = i64::from(record.offset_delta) + 1;
            records.push(record);
        }
        // Bytes after the last counted record: the count and the length
        // disagree, and one of them is lying.
        body.finish()?;

        Ok(RecordBatch {
            header: BatchHeader {
                base_offset,
                batch_length,
                partition_leader_epoch,
                crc,
                attributes,
                last_offset_delta,
                base_timestamp,
                max_timestamp,
                producer,
                record_count,
            },
            records,
        })
    }

    /// Decodes a concatenation of batches (the `records` field of a Produce
    /// request may hold several) that must end exactly at the end of `bytes`.
    pub fn decode_all(bytes: Bytes) -> Result<Vec<Self>, DecodeError> {
        Self::decode_all_with(bytes, None, DEFAULT_DECOMPRESSED_LIMIT)
    }

    /// [`decode_all`](RecordBatch::decode_all) with a codec and a limit to
    /// each batch's decompressed records, as
    /// [`decode_with`](RecordBatch::decode_with) takes them.
    pub fn decode_all_with(
        bytes: Bytes,
        mut codec: Option<&mut dyn Codec>,
        limit: usize,
    ) -> Result<Vec<Self>, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut batches = Vec::new();
        while !r.is_empty() {
            let codec = codec.as_mut().map(|c| &mut **c as &mut dyn Codec);
            batches.push(Self::decode_with(&mut r, codec, limit)?);
        }
        Ok(batches)
    }

    /// The offset of the batch's last record (checked not to overflow by
    /// [`RecordBatch::decode`]).
    pub fn last_offset(&self) -> i64 {
        self.header
            .base_offset
            .wrapping_add(self.header.last_offset_delta.into())
    }
}

fn decode_record(
    r: &mut Reader,
    base_timestamp: i64,
    min_offset_delta: i64,
    last_offset_delta: i32,
) -> Result<BatchRecord, DecodeError> {
    let declared = r.varint()?;
    let length = checked_length(declared, r, "record length")?;
    let mut rec = Reader::new(r.take(length)?);
    // No record attribute is defined yet and Kafka ignores the byte; so do
    // we, so that a future flag does not make batches unreadable.
    let _attributes = rec.i8()?;
    let timestamp_delta = rec.varlong()?;
    let offset_delta = rec.varint()?;
    if i64::from(offset_delta) < min_offset_delta || offset_delta > last_offset_delta {
        return Err(DecodeError::InvalidValue {
            what: "record offset delta",
        });
    }
    let key = nullable_bytes(&mut rec, "record key")?;
    let value = nullable_bytes(&mut rec, "record value")?;
    let header_count = rec.varint()?;
    let header_count = usize::try_from(header_count)
        .ok()
        .filter(|&n| n <= rec.remaining() / MIN_HEADER_SIZE)
        .ok_or(DecodeError::InvalidLength {
            what: "record header count",
            length: header_count.into(),
        })?;
    let mut headers = Vec::with_capacity(header_count);
    for _ in 0..header_count {
        let key_length = rec.varint()?;
        let key_length = checked_length(key_length, &rec, "record header key")?;
        let key = rec.take(key_length)?;
        if core::str::from_utf8(&key).is_err() {
            return Err(DecodeError::InvalidUtf8);
        }
        let value = nullable_bytes(&mut rec, "record header value")?;
        headers.push(RecordHeader { key, value });
    }
    if !rec.is_empty() {
        return Err(DecodeError::InvalidLength {
            what: "record length",
            length: declared.into(),
        });
    }
    Ok(BatchRecord {
        // Kafka adds with i64 wrap-around; doing the same keeps every
        // encodable timestamp round-tripping.
        timestamp: base_timestamp.wrapping_add(timestamp_delta),
        offset_delta,
        key,
        value,
        headers,
    })
}

/// A non-negative varint length that fits in what `r` has left.
fn checked_length(length: i32, r: &Reader, what: &'static str) -> Result<usize, DecodeError> {
    usize::try_from(length)
        .ok()
        .filter(|&n| n <= r.remaining())
        .ok_or(DecodeError::InvalidLength {
            what,
            length: length.into(),
        })
}

fn nullable_bytes(r: &mut Reader, what: &'static str) -> Result<Option<Bytes>, DecodeError> {
    match r.varint()? {
        -1 => Ok(None),
        n => {
            let n = checked_length(n, r, what)?;
            r.take(n).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::record_batch::header::write_crc;
    use crate::wire::record_batch::test_support::{
        TestRecord, decode_one, encode, small_batch, unhex,
    };
    use crate::wire::record_batch::{
        ATTRIBUTES_AT, BATCH_LENGTH_AT, BatchBuilder, LAST_OFFSET_DELTA_AT, MAGIC_AT,
        RECORD_COUNT_AT, rewrite_producer_state,
    };
    use bytes::BytesMut;

    /// Recomputes the CRC of a hand-edited batch, so a test can reach the
    /// checks behind the CRC.
    fn reseal(batch: &mut [u8]) {
        write_crc(batch);
    }

    #[test]
    fn every_single_byte_flip_in_crc_region_is_detected() {
        let good = small_batch();
        decode_one(&good).unwrap();
        for at in ATTRIBUTES_AT..good.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = good.to_vec();
                bad[at] ^= flip;
                let err = decode_one(&bad).unwrap_err();
                assert!(
                    matches!(err, DecodeError::CrcMismatch { .. }),
                    "byte {at} ^ {flip:#x}: {err:?}"
                );
            }
        }
        // Flips in the CRC itself are mismatches too; in the length, length
        // errors; in the magic, a magic error.
        for at in 0..ATTRIBUTES_AT {
            let mut bad = good.to_vec();
            bad[at] ^= 0x01;
            let result = decode_one(&bad);
            match at {
                0..8 | 12..16 => assert!(
                    result.is_ok(),
                    "base offset and leader epoch are not covered"
                ),
                8..12 => assert!(
                    matches!(
                        result,
                        Err(DecodeError::UnexpectedEnd { .. }
                            | DecodeError::InvalidLength { .. }
                            | DecodeError::CrcMismatch { .. }
                            | DecodeError::TrailingBytes { .. })
                    ),
                    "byte {at}: {result:?}"
                ),
                16 => assert_eq!(result, Err(DecodeError::UnsupportedMagic(3))),
                _ => assert!(
                    matches!(result, Err(DecodeError::CrcMismatch { .. })),
                    "byte {at}: {result:?}"
                ),
            }
        }
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        let good = small_batch();
        for len in 0..good.len() {
            let prefix = Bytes::copy_from_slice(&good[..len]);
            assert!(
                RecordBatch::decode(&mut Reader::new(prefix.clone())).is_err(),
                "prefix {len}"
            );
            // An empty input is an empty concatenation, not a truncated one.
            if len > 0 {
                assert!(RecordBatch::decode_all(prefix).is_err(), "prefix {len}");
            }
        }
    }

    #[test]
    fn decode_all_reads_concatenated_batches() {
        let one = small_batch();
        let two = encode(
            ProducerState::new(77, 2, 7),
            false,
            &[TestRecord {
                timestamp: 9,
                key: None,
                value: Some(b"z"),
                headers: &[],
            }],
        );
        let mut both = BytesMut::new();
        both.extend_from_slice(&one);
        both.extend_from_slice(&two);
        let batches = RecordBatch::decode_all(both.clone().freeze()).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].records.len(), 2);
        assert_eq!(batches[1].header.producer.base_sequence, 7);
        assert_eq!(RecordBatch::decode_all(Bytes::new()).unwrap(), []);
        // A partial second batch is an error, not a shorter list.
        both.truncate(one.len() + 20);
        assert!(RecordBatch::decode_all(both.freeze()).is_err());
    }

    #[test]
    fn decoded_fields_share_the_input() {
        let bytes = small_batch();
        let batch = RecordBatch::decode(&mut Reader::new(bytes.clone())).unwrap();
        let range = bytes.as_ptr_range();
        let value = batch.records[0].value.as_ref().unwrap();
        assert!(range.contains(&value.as_ptr()));
        let header_value = batch.records[0].headers[0].value().unwrap();
        assert!(range.contains(&header_value.as_ptr()));
    }

    #[test]
    fn undefined_codecs_and_records_not_compressed_as_marked_are_refused() {
        for codec in 1..=7u8 {
            let mut batch = small_batch().to_vec();
            batch[ATTRIBUTES_AT + 1] |= codec;
            reseal(&mut batch);
            if codec <= 4 {
                // Plain records under a codec's mark do not decompress.
                assert!(matches!(
                    decode_one(&batch),
                    Err(DecodeError::Compression(_))
                ));
            } else {
                assert_eq!(
                    decode_one(&batch),
                    Err(DecodeError::UnsupportedCompression(codec))
                );
            }
            let header = BatchHeader::peek(&batch).unwrap();
            assert_eq!(header.attributes.compression_code(), codec);
            assert_eq!(
                header.attributes.compression(),
                Compression::from_code(codec)
            );
            // Rewriting works on any codec: the producer fields are outside
            // the compressed part.
            rewrite_producer_state(&mut batch, ProducerState::NONE).unwrap();
        }
    }

    #[test]
    fn wrong_magic_and_bad_batch_lengths_are_rejected() {
        let good = small_batch();
        let mut magic = good.to_vec();
        magic[MAGIC_AT] = 1;
        assert_eq!(decode_one(&magic), Err(DecodeError::UnsupportedMagic(1)));
        // A v1-sized message set still reports its magic.
        let mut v1 = unhex("0000000000000000 00000010 01020304 01");
        v1.resize(12 + 16, 0);
        assert_eq!(decode_one(&v1), Err(DecodeError::UnsupportedMagic(1)));

        for length in [-1i32, 0, 3, 48] {
            let mut bad = good.to_vec();
            bad[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
            let mut r = Reader::new(Bytes::from(bad));
            assert_eq!(
                RecordBatch::decode(&mut r),
                Err(DecodeError::InvalidLength {
                    what: "record batch length",
                    length: length.into()
                })
            );
        }
        let mut huge = good.to_vec();
        huge[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            decode_one(&huge),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    /// A one-record batch whose record bytes are `record`, with the header
    /// fields consistent and the CRC right, so the record checks are reached.
    fn batch_with_record(record: &[u8], count: i32, last_offset_delta: i32) -> Vec<u8> {
        let mut b = BatchBuilder::new(BytesMut::new(), ProducerState::NONE, false);
        b.buf.extend_from_slice(record);
        let mut batch = b.finish_mut().to_vec();
        batch[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&count.to_be_bytes());
        batch[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&last_offset_delta.to_be_bytes());
        reseal(&mut batch);
        batch
    }

    #[test]
    fn hostile_records_are_rejected() {
        // A well-formed record for reference: length 6, then
        // attributes, ts delta, offset delta, null key, null value, 0 headers.
        let ok = unhex("0c 00 00 00 01 01 00");
        decode_one(&batch_with_record(&ok, 1, 0)).unwrap();

        let cases: &[(&str, i32, i32, DecodeError)] = &[
            // Record count larger than the bytes could hold, or negative.
            (
                "0c 00 00 00 01 01 00",
                2,
                1,
                DecodeError::InvalidLength {
                    what: "record count",
                    length: 2,
                },
            ),
            (
                "0c 00 00 00 01 01 00",
                i32::MAX,
                0,
                DecodeError::InvalidLength {
                    what: "record count",
                    length: i32::MAX as i64,
                },
            ),
            (
                "0c 00 00 00 01 01 00",
                -1,
                0,
                DecodeError::InvalidLength {
                    what: "record count",
                    length: -1,
                },
            ),
            // Fewer records counted than present.
            (
                "0c 00 00 00 01 01 00 0c 00 00 02 01 01 00",
                1,
                1,
                DecodeError::TrailingBytes { remaining: 7 },
            ),
            // Declared record length: larger than the record's contents,
            // larger than the bytes present, shorter than the contents,
            // negative, huge.
            (
                "0e 00 00 00 01 01 00 00",
                1,
                0,
                DecodeError::InvalidLength {
                    what: "record length",
                    length: 7,
                },
            ),
            (
                "0e 00 00 00 01 01 00",
                1,
                0,
                DecodeError::InvalidLength {
                    what: "record length",
                    length: 7,
                },
            ),
            (
                "0a 00 00 00 01 01 00",
                1,
                0,
                DecodeError::UnexpectedEnd { needed: 1 },
            ),
            (
                "7f 00 00 00 01 01 00",
                1,
                0,
                DecodeError::InvalidLength {
                    what: "record length",
                    length: -64,
                },
            ),
            (
                "fe ff ff ff 0f 00 00",
                1,
                0,
                DecodeError::InvalidLength {
                    what: "record length",
                    length: i32::MAX as i64,
                },
            ),
            // Key length past the record, and below -1.
            (
                "0c 00 00 00 7e 01 00",
                1,
                0,
                DecodeError::InvalidLength {
                    what: "record key",
                    length: 63,
                },
            ),
            (
                "0c 00 00 00 03 01 00",
                1,
                0,
                DecodeError::InvalidLength {
                    what: "record key",
                    length: -2,
                },
            ),
            // Header counts: negative, beyond the bytes left.
            (
                "0c 00 00 00 01 01 01",
                1,
                0,
                DecodeError::InvalidLength {
                    what: "record header count",
                    length: -1,
                },
            ),
            (
                "0c 00 00 00 01 01 02",
                1,
                0,
                DecodeError::InvalidLength {
                    what: "record header count",
                    length: 1,
                },
            ),
            // Null header key; header key that is not UTF-8.
            (
                "10 00 00 00 01 01 02 01 01",
                1,
                0,
                DecodeError::InvalidLength {
                    what: "record header key",
                    length: -1,
                },
            ),
            (
                "12 00 00 00 01 01 02 02 ff 01",
                1,
                0,
                DecodeError::InvalidUtf8,
            ),
            // Offset delta beyond lastOffsetDelta, negative, out of order.
            (
                "0c 00 00 02 01 01 00",
                1,
                0,
                DecodeError::InvalidValue {
                    what: "record offset delta",
                },
            ),
            (
                "0c 00 00 01 01 01 00",
                1,
                0,
                DecodeError::InvalidValue {
                    what: "record offset delta",
                },
            ),
            (
                "0c 00 00 02 01 01 00 0c 00 00 00 01 01 00",
                2,
                5,
                DecodeError::InvalidValue {
                    what: "record offset delta",
                },
            ),
            (
                "0c 00 00 00 01 01 00",
                1,
                -2,
                DecodeError::InvalidValue {
                    what: "last offset delta",
                },
            ),
            // Overlong varint.
            (
                "14 00 00 ff ff ff ff ff 01 01 00",
                1,
                0,
                DecodeError::VarintTooLong { max_bytes: 5 },
            ),
        ];
        for (record, count, last, want) in cases {
            let got = decode_one(&batch_with_record(&unhex(record), *count, *last));
            assert_eq!(
                got.as_ref().err(),
                Some(want),
                "record {record}, count {count}, last {last}"
            );
        }
        // Gaps in offset deltas are allowed (compacted batches have them).
        let gapped = batch_with_record(&unhex("0c 00 00 00 01 01 00 0c 00 00 04 01 01 00"), 2, 9);
        let batch = decode_one(&gapped).unwrap();
        assert_eq!(batch.records[1].offset_delta, 2);
        assert_eq!(batch.last_offset(), 9);
    }

    #[test]
    fn last_offset_must_fit() {
        let mut batch = batch_with_record(&unhex("0c 00 00 00 01 01 00"), 1, 1);
        batch[..8].copy_from_slice(&i64::MAX.to_be_bytes());
        assert_eq!(
            decode_one(&batch),
            Err(DecodeError::InvalidValue {
                what: "last offset delta"
            })
        );
    }

    /// A small deterministic generator, so the mutation test reproduces.
    fn next(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *state >> 33
    }

    #[test]
    fn random_mutations_never_panic() {
        let good = small_batch();
        let mut state = 0x5eed;
        for _ in 0..20_000 {
            let mut bad = good.to_vec();
            for _ in 0..1 + next(&mut state) % 4 {
                let at = next(&mut state) as usize % bad.len();
                bad[at] = next(&mut state) as u8;
            }
            if next(&mut state) & 1 == 0 {
                // Reach past the CRC check too.
                reseal(&mut bad);
            }
            let cut = next(&mut state) as usize % (bad.len() + 1);
            let _ = RecordBatch::decode_all(Bytes::copy_from_slice(&bad[..cut]));
            let _ = BatchHeader::peek(&bad[..cut]);
            let _ = rewrite_producer_state(&mut bad[..cut], ProducerState::NONE);
        }
    }
}
