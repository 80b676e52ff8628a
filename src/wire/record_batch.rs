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
//! Only uncompressed batches are encoded and decoded for now. The codec bits
//! already travel as a typed [`Compression`] so that codecs can be added
//! without changing the header handling.

use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};

use super::codec_error::{DecodeError, EncodeError};
use super::crc32c::crc32c;
use super::primitives::{Reader, varint_len, varlong_len};

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

/// A compression codec, as carried in bits 0-2 of a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No compression (codec 0).
    #[default]
    None,
    /// gzip (codec 1).
    Gzip,
    /// Snappy, in Kafka's xerial framing (codec 2).
    Snappy,
    /// LZ4, in the LZ4 frame format (codec 3).
    Lz4,
    /// Zstandard (codec 4); needs Produce v7 or later.
    Zstd,
}

impl Compression {
    /// The codec number written in the attributes.
    pub const fn code(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec with number `code`, if Kafka defines one.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// What a batch's timestamps mean (bit 3 of its attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer when the record was created.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch; the broker then writes
    /// the append time as `maxTimestamp`.
    LogAppendTime,
}

/// A batch's `attributes` field.
///
/// Kept as the raw bits so that bits this codec does not know survive a
/// decode; the accessors give the typed view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BatchAttributes(i16);

impl BatchAttributes {
    const CODEC_MASK: i16 = 0b0111;
    const LOG_APPEND_TIME: i16 = 1 << 3;
    const TRANSACTIONAL: i16 = 1 << 4;
    const CONTROL: i16 = 1 << 5;

    /// Attributes with exactly these bits.
    pub const fn from_bits(bits: i16) -> Self {
        BatchAttributes(bits)
    }

    /// The bits as written on the wire.
    pub const fn bits(self) -> i16 {
        self.0
    }

    /// These attributes with the codec bits set to `compression`.
    #[must_use]
    pub const fn with_compression(self, compression: Compression) -> Self {
        BatchAttributes((self.0 & !Self::CODEC_MASK) | compression.code() as i16)
    }

    /// These attributes with the timestamp type bit set to `timestamp_type`.
    #[must_use]
    pub const fn with_timestamp_type(self, timestamp_type: TimestampType) -> Self {
        self.with_flag(
            Self::LOG_APPEND_TIME,
            matches!(timestamp_type, TimestampType::LogAppendTime),
        )
    }

    /// These attributes with the transactional bit set to `transactional`.
    #[must_use]
    pub const fn with_transactional(self, transactional: bool) -> Self {
        self.with_flag(Self::TRANSACTIONAL, transactional)
    }

    /// These attributes with the control bit set to `control`.
    #[must_use]
    pub const fn with_control(self, control: bool) -> Self {
        self.with_flag(Self::CONTROL, control)
    }

    const fn with_flag(self, flag: i16, on: bool) -> Self {
        if on {
            BatchAttributes(self.0 | flag)
        } else {
            BatchAttributes(self.0 & !flag)
        }
    }

    /// The raw codec number (0 to 7), including numbers Kafka does not
    /// define.
    pub const fn compression_code(self) -> u8 {
        (self.0 & Self::CODEC_MASK) as u8
    }

    /// The codec, or `None` for a codec number Kafka does not define.
    pub const fn compression(self) -> Option<Compression> {
        Compression::from_code(self.compression_code())
    }

    /// What the batch's timestamps mean.
    pub const fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction.
    pub const fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL != 0
    }

    /// Whether the batch holds transaction markers rather than data.
    pub const fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }
}

/// The producer fields of a batch header: who wrote it and the sequence
/// number of its first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerState {
    /// The producer id, or -1 without idempotence.
    pub producer_id: i64,
    /// The producer epoch, or -1 without idempotence.
    pub producer_epoch: i16,
    /// The sequence number of the batch's first record, or -1 without
    /// idempotence.
    pub base_sequence: i32,
}

impl ProducerState {
    /// The fields of a producer without idempotence.
    pub const NONE: Self = ProducerState::new(-1, -1, -1);

    /// Producer fields with these values.
    pub const fn new(producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        ProducerState {
            producer_id,
            producer_epoch,
            base_sequence,
        }
    }
}

impl Default for ProducerState {
    fn default() -> Self {
        Self::NONE
    }
}

/// The fixed header of a record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchHeader {
    /// The offset of the first record; 0 from a producer, assigned by the
    /// broker.
    pub base_offset: i64,
    /// Bytes after the `batchLength` field.
    pub batch_length: i32,
    /// The leader epoch the broker stamps; -1 from a producer.
    pub partition_leader_epoch: i32,
    /// The CRC-32C stored in the header.
    pub crc: u32,
    /// Codec, timestamp type, transactional and control bits.
    pub attributes: BatchAttributes,
    /// The offset delta of the last record (record count - 1 from a
    /// producer).
    pub last_offset_delta: i32,
    /// The timestamp that record timestamp deltas are relative to.
    pub base_timestamp: i64,
    /// The largest record timestamp.
    pub max_timestamp: i64,
    /// Producer id, epoch and base sequence.
    pub producer: ProducerState,
    /// The number of records.
    pub record_count: i32,
}

impl BatchHeader {
    /// Reads the header at the start of `batch` without checking the CRC or
    /// that the records are all there, so that a caller can look at the
    /// producer fields of an encoded batch, or of a batch still arriving.
    pub fn peek(batch: &[u8]) -> Result<Self, DecodeError> {
        // Magic 0 and 1 message sets keep their magic byte at the same place,
        // so a wrong format is reported as such even when it is short.
        if let Ok([magic]) = array_at::<1>(batch, MAGIC_AT) {
            let magic = magic as i8;
            if magic != MAGIC {
                return Err(DecodeError::UnsupportedMagic(magic));
            }
        }
        if batch.len() < BATCH_HEADER_SIZE {
            return Err(DecodeError::UnexpectedEnd {
                needed: BATCH_HEADER_SIZE - batch.len(),
            });
        }
        Ok(BatchHeader {
            base_offset: i64::from_be_bytes(array_at(batch, 0)?),
            batch_length: i32::from_be_bytes(array_at(batch, BATCH_LENGTH_AT)?),
            partition_leader_epoch: i32::from_be_bytes(array_at(batch, BATCH_LENGTH_AT + 4)?),
            crc: u32::from_be_bytes(array_at(batch, CRC_AT)?),
            attributes: BatchAttributes(i16::from_be_bytes(array_at(batch, ATTRIBUTES_AT)?)),
            last_offset_delta: i32::from_be_bytes(array_at(batch, LAST_OFFSET_DELTA_AT)?),
            base_timestamp: i64::from_be_bytes(array_at(batch, BASE_TIMESTAMP_AT)?),
            max_timestamp: i64::from_be_bytes(array_at(batch, MAX_TIMESTAMP_AT)?),
            producer: ProducerState {
                producer_id: i64::from_be_bytes(array_at(batch, PRODUCER_ID_AT)?),
                producer_epoch: i16::from_be_bytes(array_at(batch, PRODUCER_EPOCH_AT)?),
                base_sequence: i32::from_be_bytes(array_at(batch, BASE_SEQUENCE_AT)?),
            },
            record_count: i32::from_be_bytes(array_at(batch, RECORD_COUNT_AT)?),
        })
    }

    /// The size of the whole batch (`batchLength` plus the 12 bytes before
    /// it counts), or `None` for a negative `batchLength`.
    pub fn total_size(&self) -> Option<usize> {
        usize::try_from(self.batch_length)
            .ok()
            .map(|n| n + BATCH_LENGTH_OVERHEAD)
    }
}

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
    /// delta). Meaningless in a [`TimestampType::LogAppendTime`] batch, whose
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
    /// offset fits an `i64`. Compressed batches fail with
    /// [`DecodeError::UnsupportedCompression`].
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
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
        if attributes.compression_code() != Compression::None.code() {
            return Err(DecodeError::UnsupportedCompression(
                attributes.compression_code(),
            ));
        }
        let last_offset_delta = body.i32()?;
        let base_timestamp = body.i64()?;
        let max_timestamp = body.i64()?;
        let producer = ProducerState {
            producer_id: body.i64()?,
            producer_epoch: body.i16()?,
            base_sequence: body.i32()?,
        };
        let record_count = body.i32()?;

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
        let mut r = Reader::new(bytes);
        let mut batches = Vec::new();
        while !r.is_empty() {
            batches.push(Self::decode(&mut r)?);
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

fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], DecodeError> {
    bytes
        .get(at..at.saturating_add(N))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(DecodeError::UnexpectedEnd {
            needed: at.saturating_add(N).saturating_sub(bytes.len()),
        })
}

/// Overwrites `bytes.len()` bytes at `at`. Callers have checked the batch
/// covers a whole header, so the range is always there.
fn put_at(batch: &mut [u8], at: usize, bytes: &[u8]) {
    let slot = batch.get_mut(at..at + bytes.len());
    debug_assert!(slot.is_some(), "patching beyond a batch header");
    if let Some(slot) = slot {
        slot.copy_from_slice(bytes);
    }
}

fn write_crc(batch: &mut [u8]) {
    let crc = crc32c(batch.get(ATTRIBUTES_AT..).unwrap_or_default());
    put_at(batch, CRC_AT, &crc.to_be_bytes());
}

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
    buf: BytesMut,
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
    /// e.g. for a later [`rewrite_producer_state`].
    #[must_use]
    pub fn finish_mut(mut self) -> BytesMut {
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
        write_crc(batch);
        self.buf
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

    /// The same bytes as [`super::primitives::put_unsigned_varlong`]; a test
    /// holds them to it.
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

/// Sets producer id, epoch and base sequence of the encoded batch that
/// `batch` holds exactly, and recomputes its CRC, without touching the
/// records: what a retry needs after an epoch bump renumbered sequences.
///
/// The old CRC is checked first, so that a batch damaged in memory is
/// reported rather than given a fresh, valid CRC. Fails without changing
/// anything when `batch` is not one whole magic 2 batch or its CRC is wrong.
pub fn rewrite_producer_state(
    batch: &mut [u8],
    producer: ProducerState,
) -> Result<(), DecodeError> {
    let header = BatchHeader::peek(batch)?;
    if header.total_size() != Some(batch.len()) {
        return Err(DecodeError::InvalidLength {
            what: "record batch length",
            length: header.batch_length.into(),
        });
    }
    let actual = crc32c(batch.get(ATTRIBUTES_AT..).unwrap_or_default());
    if actual != header.crc {
        return Err(DecodeError::CrcMismatch {
            expected: header.crc,
            actual,
        });
    }
    put_at(batch, PRODUCER_ID_AT, &producer.producer_id.to_be_bytes());
    put_at(
        batch,
        PRODUCER_EPOCH_AT,
        &producer.producer_epoch.to_be_bytes(),
    );
    put_at(
        batch,
        BASE_SEQUENCE_AT,
        &producer.base_sequence.to_be_bytes(),
    );
    write_crc(batch);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;
    use core::fmt::Write;

    fn hex(bytes: &[u8]) -> String {
        let mut s = String::new();
        for b in bytes {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn decode_one(bytes: &[u8]) -> Result<RecordBatch, DecodeError> {
        let mut r = Reader::new(Bytes::copy_from_slice(bytes));
        let batch = RecordBatch::decode(&mut r)?;
        r.finish()?;
        Ok(batch)
    }

    /// Recomputes the CRC of a hand-edited batch, so a test can reach the
    /// checks behind the CRC.
    fn reseal(batch: &mut [u8]) {
        write_crc(batch);
    }

    struct TestRecord<'a> {
        timestamp: i64,
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        headers: &'a [HeaderRef<'a>],
    }

    fn encode(producer: ProducerState, transactional: bool, records: &[TestRecord<'_>]) -> Bytes {
        let mut b = BatchBuilder::new(BytesMut::new(), producer, transactional);
        for r in records {
            let expected = b.size_after(r.timestamp, r.key, r.value, r.headers.iter().copied());
            b.append(r.timestamp, r.key, r.value, r.headers.iter().copied())
                .unwrap();
            assert_eq!(b.size(), expected, "size_after is exact");
        }
        b.finish()
    }

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

    fn small_batch() -> Bytes {
        encode(
            ProducerState::new(77, 2, 5),
            false,
            &[
                TestRecord {
                    timestamp: 500,
                    key: Some(b"a"),
                    value: Some(b"bc"),
                    headers: &[("h", Some(b"1"))],
                },
                TestRecord {
                    timestamp: 400,
                    key: None,
                    value: Some(b""),
                    headers: &[("n", None)],
                },
            ],
        )
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
    fn rewrite_changes_only_producer_fields_and_crc() {
        let old = small_batch();
        let mut new = BytesMut::from(&old[..]);
        rewrite_producer_state(
            &mut new,
            ProducerState::new(0x0102_0304_0506_0708, 0x0a0b, 0x0c0d_0e0f),
        )
        .unwrap();
        let changed: Vec<usize> = (0..old.len()).filter(|&i| old[i] != new[i]).collect();
        let allowed = CRC_AT..CRC_AT + 4;
        let producer = PRODUCER_ID_AT..RECORD_COUNT_AT;
        assert!(
            changed
                .iter()
                .all(|i| allowed.contains(i) || producer.contains(i)),
            "{changed:?}"
        );
        assert!(
            changed.iter().any(|i| allowed.contains(i)),
            "the CRC must change"
        );
        assert_eq!(
            hex(&new[PRODUCER_ID_AT..RECORD_COUNT_AT]),
            "01020304050607080a0b0c0d0e0f"
        );

        let batch = decode_one(&new).unwrap();
        assert_eq!(
            batch.header.producer,
            ProducerState::new(0x0102_0304_0506_0708, 0x0a0b, 0x0c0d_0e0f)
        );
        let before = decode_one(&old).unwrap();
        assert_eq!(batch.records, before.records);
        assert_eq!(
            BatchHeader::peek(&new).unwrap().producer,
            batch.header.producer
        );

        // Rewriting back restores the original bytes exactly.
        rewrite_producer_state(&mut new, ProducerState::new(77, 2, 5)).unwrap();
        assert_eq!(&new[..], &old[..]);
    }

    #[test]
    fn rewrite_refuses_corrupt_or_partial_batches() {
        let good = small_batch();
        let target = ProducerState::new(1, 1, 1);

        let mut corrupt = good.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        let before = corrupt.clone();
        assert!(matches!(
            rewrite_producer_state(&mut corrupt, target),
            Err(DecodeError::CrcMismatch { .. })
        ));
        assert_eq!(corrupt, before, "nothing written on failure");

        let mut short = good[..good.len() - 1].to_vec();
        assert!(matches!(
            rewrite_producer_state(&mut short, target),
            Err(DecodeError::InvalidLength { .. })
        ));
        let mut long = good.to_vec();
        long.push(0);
        assert!(matches!(
            rewrite_producer_state(&mut long, target),
            Err(DecodeError::InvalidLength { .. })
        ));
        let mut tiny = good[..30].to_vec();
        assert!(matches!(
            rewrite_producer_state(&mut tiny, target),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
        let mut magic = good.to_vec();
        magic[MAGIC_AT] = 1;
        assert_eq!(
            rewrite_producer_state(&mut magic, target),
            Err(DecodeError::UnsupportedMagic(1))
        );
    }

    #[test]
    fn compressed_batches_are_unsupported_for_now() {
        for codec in 1..=7u8 {
            let mut batch = small_batch().to_vec();
            batch[ATTRIBUTES_AT + 1] |= codec;
            reseal(&mut batch);
            assert_eq!(
                decode_one(&batch),
                Err(DecodeError::UnsupportedCompression(codec))
            );
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
    fn attributes_bits_follow_the_spec() {
        let a = BatchAttributes::default()
            .with_compression(Compression::Zstd)
            .with_timestamp_type(TimestampType::LogAppendTime)
            .with_transactional(true)
            .with_control(true);
        assert_eq!(a.bits(), 0b11_1100);
        assert_eq!(a.compression(), Some(Compression::Zstd));
        assert_eq!(a.with_compression(Compression::Gzip).bits(), 0b11_1001);
        assert_eq!(
            a.with_transactional(false).with_control(false).bits(),
            0b1100
        );
        for code in 0..=4 {
            assert_eq!(
                Compression::from_code(code).map(Compression::code),
                Some(code)
            );
        }
        let tx = encode(
            ProducerState::new(1, 0, 0),
            true,
            &[TestRecord {
                timestamp: 1,
                key: None,
                value: None,
                headers: &[],
            }],
        );
        assert_eq!(&tx[ATTRIBUTES_AT..ATTRIBUTES_AT + 2], &[0x00, 0x10]);
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

    #[test]
    fn peek_reads_a_prefix_and_refuses_short_input() {
        let good = small_batch();
        let header = BatchHeader::peek(&good[..BATCH_HEADER_SIZE]).unwrap();
        assert_eq!(header.producer, ProducerState::new(77, 2, 5));
        assert_eq!(header.record_count, 2);
        assert_eq!(
            BatchHeader::peek(&good[..60]),
            Err(DecodeError::UnexpectedEnd { needed: 1 })
        );
        assert_eq!(
            BatchHeader::peek(&[]),
            Err(DecodeError::UnexpectedEnd { needed: 61 })
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
