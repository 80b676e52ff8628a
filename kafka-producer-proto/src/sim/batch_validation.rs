//! What the simulated broker does with a partition's records before it
//! appends them, as Kafka's broker does: decode every batch, decompressing
//! compressed ones with the codec's decoder (the broker always decompresses
//! to validate, even when it then stores the producer's bytes as they are),
//! and refuse a bad batch with the code Kafka answers:
//!
//! - zstd in a Produce request before v7: UNSUPPORTED_COMPRESSION_TYPE
//!   (`ProduceRequest.validateRecords`, KIP-110);
//! - records that do not decompress, or an undefined codec: the broker's
//!   decompression throws a plain `KafkaException`, which it answers as
//!   UNKNOWN_SERVER_ERROR;
//! - a wrong CRC, a bad length, a malformed record: CORRUPT_MESSAGE;
//! - no batch at all: CORRUPT_MESSAGE.

use alloc::vec::Vec;
use bytes::Bytes;

use crate::kafka_code::KafkaCode;
use crate::wire::codec_error::DecodeError;
use crate::wire::record_batch::{BatchHeader, Compression, RecordBatch};

/// The first Produce version that may carry zstd batches.
const ZSTD_MIN_PRODUCE_VERSION: i16 = 7;

/// The batches of one partition's `records` in a Produce request of
/// `version`, or the code refusing them.
pub(super) fn validate(
    records: &Option<Bytes>,
    version: i16,
) -> Result<Vec<RecordBatch>, KafkaCode> {
    let Some(records) = records else {
        return Err(KafkaCode::CorruptMessage);
    };
    if version < ZSTD_MIN_PRODUCE_VERSION && uses_zstd(records) {
        return Err(KafkaCode::UnsupportedCompressionType);
    }
    match RecordBatch::decode_all(records.clone()) {
        Ok(batches) if !batches.is_empty() => Ok(batches),
        Ok(_) => Err(KafkaCode::CorruptMessage),
        Err(DecodeError::Compression(_) | DecodeError::UnsupportedCompression(_)) => {
            Err(KafkaCode::UnknownServerError)
        }
        Err(_) => Err(KafkaCode::CorruptMessage),
    }
}

/// Whether any batch's header says zstd (the broker checks the headers
/// before it decompresses anything).
fn uses_zstd(mut records: &[u8]) -> bool {
    while let Ok(header) = BatchHeader::peek(records) {
        if header.attributes.compression() == Some(Compression::Zstd) {
            return true;
        }
        let Some(rest) = header.total_size().and_then(|size| records.get(size..)) else {
            return false;
        };
        records = rest;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::compression::builtin;
    use crate::wire::record_batch::{BatchBuilder, ProducerState};
    use bytes::BytesMut;

    fn batch(compression: Compression) -> Bytes {
        let mut b = BatchBuilder::new(BytesMut::new(), ProducerState::NONE, false);
        for i in 0..20 {
            b.append(i, None, Some(b"value value value value"), [])
                .unwrap();
        }
        if compression == Compression::None {
            return b.finish();
        }
        let mut out = Vec::new();
        b.finish_compressed(builtin(compression, 1).unwrap().as_mut(), &mut out)
            .unwrap();
        Bytes::from(out)
    }

    #[test]
    fn every_codec_is_decoded_and_zstd_needs_v7() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let records = Some(batch(c));
            let batches = validate(&records, 9).unwrap();
            assert_eq!(batches[0].records.len(), 20, "{c}");
            let old = validate(&records, 6);
            if c == Compression::Zstd {
                assert_eq!(old.unwrap_err(), KafkaCode::UnsupportedCompressionType);
            } else {
                assert!(old.is_ok(), "{c}");
            }
        }
    }

    #[test]
    fn bad_batches_get_the_codes_kafka_answers() {
        assert_eq!(validate(&None, 9).unwrap_err(), KafkaCode::CorruptMessage);
        assert_eq!(
            validate(&Some(Bytes::new()), 9).unwrap_err(),
            KafkaCode::CorruptMessage
        );
        // A flipped bit under the CRC.
        let mut flipped = batch(Compression::Lz4).to_vec();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            validate(&Some(flipped.into()), 9).unwrap_err(),
            KafkaCode::CorruptMessage
        );
        // Records that are not what their codec says, under a valid CRC:
        // gzip-marked plain records.
        let mut lying = batch(Compression::None).to_vec();
        lying[22] |= 1;
        let crc = crate::wire::crc32c::crc32c(&lying[21..]);
        lying[17..21].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            validate(&Some(lying.into()), 9).unwrap_err(),
            KafkaCode::UnknownServerError
        );
    }
}
