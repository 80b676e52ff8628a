//! The fixed header of a batch: reading it without decoding the records,
//! and rewriting its producer fields in place.

use super::attributes::BatchAttributes;
use super::{
    ATTRIBUTES_AT, BASE_SEQUENCE_AT, BASE_TIMESTAMP_AT, BATCH_HEADER_SIZE, BATCH_LENGTH_AT,
    BATCH_LENGTH_OVERHEAD, CRC_AT, LAST_OFFSET_DELTA_AT, MAGIC, MAGIC_AT, MAX_TIMESTAMP_AT,
    PRODUCER_EPOCH_AT, PRODUCER_ID_AT, RECORD_COUNT_AT,
};
use crate::wire::codec_error::DecodeError;
use crate::wire::crc32c::crc32c;

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
pub(super) fn put_at(batch: &mut [u8], at: usize, bytes: &[u8]) {
    let slot = batch.get_mut(at..at + bytes.len());
    debug_assert!(slot.is_some(), "patching beyond a batch header");
    if let Some(slot) = slot {
        slot.copy_from_slice(bytes);
    }
}

pub(super) fn write_crc(batch: &mut [u8]) {
    let crc = crc32c(batch.get(ATTRIBUTES_AT..).unwrap_or_default());
    put_at(batch, CRC_AT, &crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::record_batch::test_support::{decode_one, hex, small_batch};
    use alloc::vec::Vec;
    use bytes::BytesMut;

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
}
