//! Encoding a batch record by record into a reusable buffer.

use bytes::{BufMut, Bytes, BytesMut};

use super::attributes::{BatchAttributes, Compression};
use super::header::{ProducerState, put_at, write_crc};
use super::{
    BASE_TIMESTAMP_AT, BATCH_HEADER_SIZE, BATCH_LENGTH_AT, BATCH_LENGTH_OVERHEAD, HeaderRef,
    LAST_OFFSET_DELTA_AT, MAGIC, MAX_TIMESTAMP_AT, NO_TIMESTAMP, RECORD_COUNT_AT,
};
use crate::wire::codec_error::EncodeError;
use crate::wire::primitives::{varint_len, varlong_len};

/// The bytes a varint length prefix of `n` takes. Lengths beyond `i32::MAX`
/// cannot be encoded; counting them as 5 bytes keeps the sum growing so the
/// caller's limit check refuses them.
fn length_prefix_len(n: usize) -> usize {
    i32::try_from(n).map_or(5, varint_len)
}

fn nullable_len(value: Option<&[u8]>) -> usize {
    value.map_or(1, |v| length_prefix_len(v.len()).saturating_add(v.len()))
}

/// The bytes of a record after its length prefix, and its header count.
fn record_body_len<'h>(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl Iterator<Item = HeaderRef<'h>>,
) -> (usize, usize) {
    let mut len = (1 + varlong_len(timestamp_delta) + varint_len(offset_delta))
        .saturating_add(nullable_len(key))
        .saturating_add(nullable_len(value));
    let mut count = 0usize;
    for (k, v) in headers {
        count += 1;
        len = len
            .saturating_add(length_prefix_len(k.len()))
            .saturating_add(k.len())
            .saturating_add(nullable_len(v));
    }
    (len.saturating_add(length_prefix_len(count)), count)
}

/// The encoded size of one record, length prefix included.
///
/// Sizes that cannot be encoded (above `i32::MAX`) come out at least as
/// large as they are, so a size limit check refuses them.
pub fn record_size<'h, H>(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: H,
) -> usize
where
    H: IntoIterator<Item = HeaderRef<'h>>,
{
    let (body, _) = record_body_len(
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers.into_iter(),
    );
    length_prefix_len(body).saturating_add(body)
}

/// Encodes one uncompressed record batch, record by record, into a buffer
/// that can be reused from batch to batch.
///
/// The header is written on creation with placeholders; each
/// [`append`](BatchBuilder::append) writes one record in its final place;
/// [`finish`](BatchBuilder::finish) fills in the placeholders and the CRC.
/// Appending allocates nothing of its own: the only allocation is the
/// buffer growing, and none happens when the buffer has room for the batch
/// (see [`with_capacity`](BatchBuilder::with_capacity) and
/// [`size_after`](BatchBuilder::size_after)).
#[derive(Debug)]
pub struct BatchBuilder {
    // Invariant: holds exactly this batch: a full header, then whole records.
    // Visible to the sibling modules only for the decoder tests, which splice
    // hand-made records into a batch.
    pub(super) buf: BytesMut,
    record_count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// Starts a batch in `buf`, discarding its contents but keeping its
    /// capacity. The first appended record's timestamp becomes the base
    /// timestamp.
    ///
    /// Pass [`ProducerState::NONE`] for a producer without idempotence.
    pub fn new(mut buf: BytesMut, producer: ProducerState, transactional: bool) -> Self {
        buf.clear();
        buf.reserve(BATCH_HEADER_SIZE);
        let attributes = BatchAttributes::default()
            .with_compression(Compression::None)
            .with_transactional(transactional);
        buf.put_i64(0); // baseOffset: the broker assigns offsets.
        buf.put_i32(0); // batchLength, set by finish.
        buf.put_i32(-1); // partitionLeaderEpoch: the broker's to stamp.
        buf.put_i8(MAGIC);
        buf.put_u32(0); // crc, set by finish.
        buf.put_i16(attributes.bits());
        buf.put_i32(0); // lastOffsetDelta, set by finish.
        buf.put_i64(0); // baseTimestamp, set by finish.
        buf.put_i64(0); // maxTimestamp, set by finish.
        buf.put_i64(producer.producer_id);
        buf.put_i16(producer.producer_epoch);
        buf.put_i32(producer.base_sequence);
        buf.put_i32(0); // recordCount, set by finish.
        BatchBuilder {
            buf,
            record_count: 0,
            base_timestamp: NO_TIMESTAMP,
            max_timestamp: NO_TIMESTAMP,
        }
    }

    /// Starts a batch in a new buffer of `capacity` bytes.
    pub fn with_capacity(capacity: usize, producer: ProducerState, transactional: bool) -> Self {
        Self::new(
            BytesMut::with_capacity(capacity.max(BATCH_HEADER_SIZE)),
            producer,
            transactional,
        )
    }

    /// Appends a record with this timestamp, key, value and headers.
    ///
    /// `headers` is walked twice (once to size the record, once to write
    /// it), so its iterator must be `Clone` and yield the same headers each
    /// time; pass `[]` for none, or `slice.iter().copied()`.
    ///
    /// Fails, leaving the batch unchanged, when the record or the batch
    /// would exceed what `i32` lengths and counts can describe.
    pub fn append<'h, H>(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: H,
    ) -> Result<(), EncodeError>
    where
        H: IntoIterator<Item = HeaderRef<'h>>,
        H::IntoIter: Clone,
    {
        let offset_delta = self.record_count;
        if offset_delta == i32::MAX {
            return Err(EncodeError::TooLong {
                what: "record batch record count",
                length: i32::MAX as usize,
            });
        }
        let base_timestamp = if self.record_count == 0 {
            timestamp
        } else {
            self.base_timestamp
        };
        // Kafka computes deltas with i64 wrap-around; so do we, so that any
        // pair of timestamps is encodable and decodes back exactly.
        let timestamp_delta = timestamp.wrapping_sub(base_timestamp);
        let headers = headers.into_iter();
        let (body_len, header_count) =
            record_body_len(timestamp_delta, offset_delta, key, value, headers.clone());
        let body_len_i32 = i32::try_from(body_len).map_err(|_| EncodeError::TooLong {
            what: "record",
            length: body_len,
        })?;
        let record_len = varint_len(body_len_i32) + body_len;
        let batch_len = (self.buf.len() - BATCH_LENGTH_OVERHEAD).saturating_add(record_len);
        if i32::try_from(batch_len).is_err() {
            return Err(EncodeError::TooLong {
                what: "record batch",
                length: batch_len,
            });
        }

        // From here on every length fits an i32: each is part of body_len.
        let buf = &mut self.buf;
        buf.reserve(record_len);
        let start = buf.len();
        let mut out = Staging::new(buf);
        out.varint(body_len_i32);
        out.byte(0); // attributes: none defined for records.
        out.varlong(timestamp_delta);
        out.varint(offset_delta);
        out.nullable(key);
        out.nullable(value);
        out.varint(header_count as i32);
        for (k, v) in headers {
            out.varint(k.len() as i32);
            out.slice(k.as_bytes());
            out.nullable(v);
        }
        out.flush();
        debug_assert_eq!(
            buf.len() - start,
            record_len,
            "headers changed between sizing and writing"
        );

        self.record_count += 1;
        self.base_timestamp = base_timestamp;
        self.max_timestamp = if offset_delta == 0 {
            timestamp
        } else {
            self.max_timestamp.max(timestamp)
        };
        Ok(())
    }

    /// The size of the batch so far, as [`finish`](BatchBuilder::finish)
    /// would return it.
    #[must_use]
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// The exact size of the batch if this record were appended next, to
    /// decide whether it still fits a `batch.size` limit.
    #[must_use]
    pub fn size_after<'h, H>(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: H,
    ) -> usize
    where
        H: IntoIterator<Item = HeaderRef<'h>>,
    {
        let base_timestamp = if self.record_count == 0 {
            timestamp
        } else {
            self.base_timestamp
        };
        let record = record_size(
            timestamp.wrapping_sub(base_timestamp),
            self.record_count,
            key,
            value,
            headers,
        );
        self.size().saturating_add(record)
    }

    /// The number of records appended.
    #[must_use]
    pub fn len(&self) -> usize {
        self.record_count as usize
    }

    /// Whether no record was appended yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// The base timestamp, once a record fixed it.
    #[must_use]
    pub fn base_timestamp(&self) -> Option<i64> {
        (self.record_count > 0).then_some(self.base_timestamp)
    }

    /// Completes the batch: fills in the header fields that depend on the
    /// records, then the CRC.
    ///
    /// A batch without records is well-formed (`lastOffsetDelta` -1, no
    /// timestamps) but brokers refuse it; do not send one.
    ///
    /// To reuse the allocation, turn the result back into a buffer with
    /// [`Bytes::try_into_mut`] once the batch is no longer needed.
    #[must_use]
    pub fn finish(self) -> Bytes {
        self.finish_mut().freeze()
    }

    /// Like [`finish`](BatchBuilder::finish), but keeps the batch mutable,
    /// e.g. for a later [`rewrite_producer_state`](super::rewrite_producer_state).
    #[must_use]
    pub fn finish_mut(mut self) -> BytesMut {
        self.seal_header();
        write_crc(&mut self.buf);
        self.buf
    }

    /// Fills in the header fields that depend on the records, all but the
    /// CRC, and hands the buffer over.
    pub(super) fn seal_header(&mut self) -> &mut BytesMut {
        let batch = &mut self.buf[..];
        // append keeps the batch length within i32.
        let batch_length = (batch.len() - BATCH_LENGTH_OVERHEAD) as i32;
        put_at(batch, BATCH_LENGTH_AT, &batch_length.to_be_bytes());
        put_at(
            batch,
            LAST_OFFSET_DELTA_AT,
            &(self.record_count - 1).to_be_bytes(),
        );
        put_at(batch, BASE_TIMESTAMP_AT, &self.base_timestamp.to_be_bytes());
        put_at(batch, MAX_TIMESTAMP_AT, &self.max_timestamp.to_be_bytes());
        put_at(batch, RECORD_COUNT_AT, &self.record_count.to_be_bytes());
        &mut self.buf
    }
}

/// Writes the small fields of a record through a stack buffer, so that
/// they reach the `BytesMut` in one copy per run between two byte strings:
/// pushing varints into it byte by byte, each push checking its capacity,
/// costs more than all the rest of encoding a small record.
struct Staging<'b> {
    buf: &'b mut BytesMut,
    bytes: [u8; Staging::CAPACITY],
    len: usize,
}

impl<'b> Staging<'b> {
    /// Enough for the longest run of small fields between two byte strings:
    /// record length (5), attributes (1), timestamp delta (10), offset delta
    /// (5), null key (1), null value (1), header count (5) and a header key
    /// length (5). A longer run would still be written right, in two copies.
    const CAPACITY: usize = 33;

    fn new(buf: &'b mut BytesMut) -> Self {
        Staging {
            buf,
            bytes: [0; Self::CAPACITY],
            len: 0,
        }
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        if self.len == Self::CAPACITY {
            self.flush();
        }
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// The same bytes as
    /// [`crate::wire::primitives::put_unsigned_varlong`]; a test holds them
    /// to it.
    #[inline]
    fn unsigned(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.byte(value as u8 | 0x80);
            value >>= 7;
        }
        self.byte(value as u8);
    }

    #[inline]
    fn varint(&mut self, value: i32) {
        self.unsigned(u64::from(((value << 1) ^ (value >> 31)) as u32));
    }

    #[inline]
    fn varlong(&mut self, value: i64) {
        self.unsigned(((value << 1) ^ (value >> 63)) as u64);
    }

    #[inline]
    fn flush(&mut self) {
        self.buf
            .put_slice(self.bytes.get(..self.len).unwrap_or_default());
        self.len = 0;
    }

    /// Writes the small fields gathered so far, then `bytes`.
    #[inline]
    fn slice(&mut self, bytes: &[u8]) {
        self.flush();
        self.buf.put_slice(bytes);
    }

    /// A nullable byte string: its length, then (unless null) its bytes.
    #[inline]
    fn nullable(&mut self, value: Option<&[u8]>) {
        match value {
            None => self.varint(-1),
            Some(v) => {
                self.varint(v.len() as i32);
                self.slice(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::crc32c::crc32c;
    use crate::wire::record_batch::test_support::{TestRecord, decode_one, encode, hex, unhex};
    use crate::wire::record_batch::{ATTRIBUTES_AT, BatchHeader, RecordHeader, TimestampType};
    use alloc::vec;
    use alloc::vec::Vec;

    fn assert_round_trip(producer: ProducerState, transactional: bool, records: &[TestRecord<'_>]) {
        let bytes = encode(producer, transactional, records);
        let batch = decode_one(&bytes).unwrap();
        let h = &batch.header;
        assert_eq!(h.base_offset, 0);
        assert_eq!(h.total_size(), Some(bytes.len()));
        assert_eq!(h.partition_leader_epoch, -1);
        assert_eq!(h.attributes.compression(), Some(Compression::None));
        assert_eq!(h.attributes.timestamp_type(), TimestampType::CreateTime);
        assert_eq!(h.attributes.is_transactional(), transactional);
        assert!(!h.attributes.is_control());
        assert_eq!(h.producer, producer);
        assert_eq!(h.record_count as usize, records.len());
        assert_eq!(h.last_offset_delta, records.len() as i32 - 1);
        assert_eq!(h.base_timestamp, records[0].timestamp);
        assert_eq!(
            h.max_timestamp,
            records.iter().map(|r| r.timestamp).max().unwrap()
        );
        assert_eq!(BatchHeader::peek(&bytes).unwrap(), *h);
        assert_eq!(batch.records.len(), records.len());
        for (i, (got, want)) in batch.records.iter().zip(records).enumerate() {
            assert_eq!(got.offset_delta, i as i32);
            assert_eq!(got.timestamp, want.timestamp);
            assert_eq!(got.key.as_deref(), want.key);
            assert_eq!(got.value.as_deref(), want.value);
            let headers: Vec<HeaderRef<'_>> = got
                .headers
                .iter()
                .map(|h| (h.key(), h.value().map(|v| &v[..])))
                .collect();
            assert_eq!(headers, want.headers);
        }
    }

    #[test]
    fn golden_one_record_batch() {
        // One record: timestamp 1_700_000_000_000 ms (0x0000018bcfe56800),
        // key "k", value "v", one header "h" = "x", no idempotence.
        //
        // Record body, after its length:
        //   00             attributes
        //   00             timestampDelta 0 (varlong, zigzag 0)
        //   00             offsetDelta 0
        //   02 6b          key length 1 (zigzag 2), "k"
        //   02 76          value length 1, "v"
        //   02             header count 1
        //   02 68 02 78    header key length 1, "h", value length 1, "x"
        // That is 12 bytes, so the record starts with length 12 (zigzag 24 =
        // 0x18): 13 bytes in all. The batch is 61 + 13 = 74 bytes, and
        // batchLength = 74 - 12 = 62 = 0x3e.
        //
        //   0000000000000000   baseOffset 0
        //   0000003e           batchLength 62
        //   ffffffff           partitionLeaderEpoch -1
        //   02                 magic
        //   5e93538d           crc: CRC-32C of every byte below
        //   0000               attributes: no codec, CreateTime, plain
        //   00000000           lastOffsetDelta 0
        //   0000018bcfe56800   baseTimestamp
        //   0000018bcfe56800   maxTimestamp
        //   ffffffffffffffff   producerId -1
        //   ffff               producerEpoch -1
        //   ffffffff           baseSequence -1
        //   00000001           recordCount 1
        //   18 000000 026b 0276 02 02680278   the record
        const GOLDEN: &str = "0000000000000000 0000003e ffffffff 02 5e93538d 0000 00000000 \
                              0000018bcfe56800 0000018bcfe56800 ffffffffffffffff ffff ffffffff \
                              00000001 18000000026b02760202680278";
        let ts = 1_700_000_000_000;
        let bytes = encode(
            ProducerState::NONE,
            false,
            &[TestRecord {
                timestamp: ts,
                key: Some(b"k"),
                value: Some(b"v"),
                headers: &[("h", Some(b"x"))],
            }],
        );
        assert_eq!(bytes.len(), 74);
        assert_eq!(crc32c(&bytes[ATTRIBUTES_AT..]), 0x5e93_538d);
        assert_eq!(hex(&bytes), hex(&unhex(GOLDEN)));

        let batch = decode_one(&unhex(GOLDEN)).unwrap();
        assert_eq!(batch.header.crc, 0x5e93_538d);
        assert_eq!(batch.records[0].timestamp, ts);
        assert_eq!(
            batch.records[0].headers,
            [RecordHeader::new("h", Some(Bytes::from_static(b"x")))]
        );
    }

    #[test]
    fn round_trip_nulls_empties_headers_and_negative_deltas() {
        let headers: &[HeaderRef<'_>] = &[
            ("trace", Some(b"abc")),
            ("null-value", None),
            ("", Some(b"")),
        ];
        assert_round_trip(
            ProducerState::new(4711, 3, 100),
            true,
            &[
                TestRecord {
                    timestamp: 1_000,
                    key: None,
                    value: Some(b"null key"),
                    headers: &[],
                },
                TestRecord {
                    timestamp: 2_000,
                    key: Some(b"null value"),
                    value: None,
                    headers: &[],
                },
                TestRecord {
                    timestamp: 3_000,
                    key: Some(b""),
                    value: Some(b""),
                    headers,
                },
                // Earlier than the base: a negative varlong delta.
                TestRecord {
                    timestamp: 10,
                    key: None,
                    value: None,
                    headers: &[("k", None)],
                },
                TestRecord {
                    timestamp: -5_000,
                    key: Some(&[0xff; 300]),
                    value: Some(&[7; 200]),
                    headers: &[],
                },
            ],
        );
    }

    #[test]
    fn round_trip_extreme_timestamps() {
        assert_round_trip(
            ProducerState::NONE,
            false,
            &[
                TestRecord {
                    timestamp: i64::MAX,
                    key: None,
                    value: None,
                    headers: &[],
                },
                TestRecord {
                    timestamp: i64::MIN,
                    key: None,
                    value: None,
                    headers: &[],
                },
                TestRecord {
                    timestamp: 0,
                    key: None,
                    value: None,
                    headers: &[],
                },
            ],
        );
    }

    #[test]
    fn round_trip_one_record() {
        assert_round_trip(
            ProducerState::NONE,
            false,
            &[TestRecord {
                timestamp: 42,
                key: Some(b"key"),
                value: Some(b"value"),
                headers: &[],
            }],
        );
    }

    #[test]
    fn round_trip_thousand_records() {
        let values: Vec<Vec<u8>> = (0..1000u32)
            .map(|i| vec![(i % 251) as u8; (i % 300) as usize])
            .collect();
        let keys: Vec<[u8; 4]> = (0..1000u32).map(u32::to_be_bytes).collect();
        let records: Vec<TestRecord<'_>> = (0..1000)
            .map(|i| TestRecord {
                timestamp: 1_700_000_000_000 + (i as i64 * 37) % 1000 - 500,
                key: (i % 3 != 0).then_some(&keys[i][..]),
                value: (i % 7 != 0).then_some(&values[i][..]),
                headers: if i % 2 == 0 {
                    &[("h", Some(b"v")), ("n", None)]
                } else {
                    &[]
                },
            })
            .collect();
        assert_round_trip(ProducerState::new(1, 0, i32::MAX - 10), false, &records);
    }

    #[test]
    fn empty_batch_is_well_formed() {
        let bytes = BatchBuilder::new(BytesMut::new(), ProducerState::NONE, false).finish();
        assert_eq!(bytes.len(), BATCH_HEADER_SIZE);
        let batch = decode_one(&bytes).unwrap();
        assert!(batch.records.is_empty());
        assert_eq!(batch.header.last_offset_delta, -1);
        assert_eq!(batch.header.base_timestamp, NO_TIMESTAMP);
        assert_eq!(batch.header.max_timestamp, NO_TIMESTAMP);
    }

    #[test]
    fn staged_varints_match_the_primitives() {
        use crate::wire::primitives::{put_varint, put_varlong};
        let ints = [0, 1, -1, 63, -64, 64, 8191, -8192, 8192, i32::MAX, i32::MIN];
        let longs = [0i64, -1, 1 << 35, -(1 << 62), i64::MAX, i64::MIN];
        let mut want = BytesMut::new();
        let mut got = BytesMut::new();
        let mut out = Staging::new(&mut got);
        // Far more than CAPACITY bytes, so runs that overflow it are covered.
        for _ in 0..3 {
            for v in ints {
                put_varint(&mut want, v);
                out.varint(v);
            }
            for v in longs {
                put_varlong(&mut want, v);
                out.varlong(v);
            }
        }
        out.flush();
        assert_eq!(hex(&got), hex(&want));
    }

    #[test]
    fn record_size_matches_encoding() {
        let big = vec![1u8; 20_000];
        for (delta, key, value, headers) in [
            (0i64, None, None, &[][..]),
            (
                -1,
                Some(&b"k"[..]),
                Some(&big[..]),
                &[("a", None), ("bb", Some(&big[..100]))][..],
            ),
            (
                i64::MIN,
                Some(&big[..64]),
                Some(&b""[..]),
                &[("", Some(&b""[..]))][..],
            ),
        ] {
            let mut b = BatchBuilder::new(BytesMut::new(), ProducerState::NONE, false);
            b.append(0, None, None, []).unwrap();
            let before = b.size();
            // The second record gets offset delta 1 and the chosen delta.
            b.append(delta, key, value, headers.iter().copied())
                .unwrap();
            assert_eq!(
                b.size() - before,
                record_size(delta, 1, key, value, headers.iter().copied())
            );
        }
    }

    #[test]
    fn appending_ten_thousand_records_does_not_reallocate() {
        let value = [0xabu8; 100];
        let headers: &[HeaderRef<'_>] = &[("h", Some(b"v"))];
        let n = 10_000;
        let capacity = BATCH_HEADER_SIZE
            + (0..n)
                .map(|i| {
                    record_size(
                        i as i64,
                        i,
                        Some(b"key"),
                        Some(&value),
                        headers.iter().copied(),
                    )
                })
                .sum::<usize>();
        let mut b = BatchBuilder::with_capacity(capacity, ProducerState::new(9, 9, 9), false);
        let ptr = b.buf.as_ptr();
        let cap = b.buf.capacity();
        for i in 0..n {
            b.append(
                1_000 + i as i64,
                Some(b"key"),
                Some(&value),
                headers.iter().copied(),
            )
            .unwrap();
        }
        assert_eq!(b.buf.capacity(), cap);
        assert_eq!(b.buf.as_ptr(), ptr);
        assert_eq!(b.size(), capacity);
        let bytes = b.finish();
        assert_eq!(bytes.as_ptr(), ptr);
        assert_eq!(decode_one(&bytes).unwrap().records.len(), n as usize);
    }

    #[test]
    fn buffer_is_reused_between_batches() {
        let mut b = BatchBuilder::with_capacity(4096, ProducerState::NONE, false);
        b.append(1, None, Some(b"first"), []).unwrap();
        let first = b.finish();
        let ptr = first.as_ptr();
        let buf = first.try_into_mut().unwrap();
        let mut b = BatchBuilder::new(buf, ProducerState::NONE, false);
        assert_eq!(b.size(), BATCH_HEADER_SIZE);
        b.append(2, None, Some(b"second"), []).unwrap();
        let second = b.finish();
        assert_eq!(second.as_ptr(), ptr);
        assert_eq!(
            decode_one(&second).unwrap().records[0].value.as_deref(),
            Some(&b"second"[..])
        );
    }

    #[test]
    fn oversized_records_are_refused_on_encode() {
        let mut b = BatchBuilder::new(BytesMut::new(), ProducerState::NONE, false);
        b.record_count = i32::MAX;
        assert!(matches!(
            b.append(0, None, None, []),
            Err(EncodeError::TooLong { .. })
        ));
        assert_eq!(b.size(), BATCH_HEADER_SIZE, "nothing written");
    }
}
