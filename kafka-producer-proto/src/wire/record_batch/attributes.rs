//! A batch's `attributes` field: codec, timestamp type, transactional and
//! control bits.

/// A compression codec, as carried in bits 0-2 of a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No compression (codec 0).
    #[default]
    None,
    /// gzip (codec 1).
    Gzip,
    /// Snappy (codec 2): one raw block, as librdkafka writes it, or the
    /// xerial framing of the Java client; brokers read both.
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

    /// The codec's name, as `compression.type` spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
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

/// Formats as the `compression.type` value: `none`, `gzip`, ...
impl core::fmt::Display for Compression {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
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
pub struct BatchAttributes(pub(super) i16);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::record_batch::test_support::{TestRecord, encode};
    use crate::wire::record_batch::{ATTRIBUTES_AT, ProducerState};

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
}
