//! Errors of the wire codec.
//!
//! Every decoder in [`crate::wire`] is total: whatever bytes a peer sends,
//! decoding ends in a value or in one of these errors. The producer treats
//! a [`DecodeError`] on a connection as fatal to that connection (close it,
//! retry what was in flight), never to the process.

/// Why bytes from a peer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("input ended early: {needed} more bytes needed")]
    UnexpectedEnd {
        /// How many more bytes the value needed at least.
        needed: usize,
    },
    /// A length or count was negative (other than the -1 of null) or larger
    /// than the bytes that remain.
    #[error("invalid length {length} for {what}")]
    InvalidLength {
        /// What the length described.
        what: &'static str,
        /// The length as read.
        length: i64,
    },
    /// A null appeared where the schema does not allow one.
    #[error("null {what} where the schema forbids it")]
    UnexpectedNull {
        /// What was null.
        what: &'static str,
    },
    /// A varint ran past its maximum size.
    #[error("varint longer than {max_bytes} bytes")]
    VarintTooLong {
        /// The largest size allowed for that varint.
        max_bytes: usize,
    },
    /// A string was not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// The API or version is not one this codec implements.
    #[error("api key {api_key} version {version} is not supported")]
    UnsupportedVersion {
        /// The API key.
        api_key: i16,
        /// The version asked for.
        version: i16,
    },
    /// A message decoded completely but bytes were left over, which means the
    /// peer and we disagree about the version or the schema.
    #[error("{remaining} bytes left after the end of the message")]
    TrailingBytes {
        /// Bytes left unread.
        remaining: usize,
    },
    /// A frame announced a size below zero.
    #[error("frame size {size} is negative")]
    NegativeFrameSize {
        /// The size as read.
        size: i32,
    },
    /// A frame announced a size above the configured limit.
    #[error("frame size {size} exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The size as read.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// A record batch's CRC-32C did not match its contents.
    #[error(
        "record batch CRC mismatch: header says {expected:#010x}, contents give {actual:#010x}"
    )]
    CrcMismatch {
        /// The CRC stored in the batch header.
        expected: u32,
        /// The CRC computed over the batch.
        actual: u32,
    },
    /// A record batch used a magic byte other than 2.
    #[error("record batch magic {0} is not supported (only magic 2)")]
    UnsupportedMagic(i8),
    /// A record batch uses a compression codec that this build cannot read.
    #[error("record batch compression codec {0} is not supported")]
    UnsupportedCompression(u8),
    /// A compressed record batch's records did not decompress.
    #[error("record batch records: {0}")]
    Compression(#[from] crate::wire::compression::CompressionError),
    /// A field held a value its schema rules out.
    #[error("invalid value for {what}")]
    InvalidValue {
        /// Which field.
        what: &'static str,
    },
}

/// Why a message could not be encoded.
///
/// These are programming errors on our side of the wire (a value that the
/// chosen version cannot carry), never caused by a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The API or version is not one this codec implements.
    #[error("api key {api_key} version {version} is not supported")]
    UnsupportedVersion {
        /// The API key.
        api_key: i16,
        /// The version asked for.
        version: i16,
    },
    /// A field holds a non-default value but does not exist in this version,
    /// and the schema does not mark it ignorable.
    #[error("field {field} does not exist in version {version}")]
    FieldNotInVersion {
        /// The schema name of the field.
        field: &'static str,
        /// The version being encoded.
        version: i16,
    },
    /// A field is null where this version cannot carry a null.
    #[error("field {field} cannot be null in version {version}")]
    NullNotAllowed {
        /// The schema name of the field.
        field: &'static str,
        /// The version being encoded.
        version: i16,
    },
    /// A string, byte string or array is longer than its length prefix allows.
    #[error("{what} is {length} long, more than its encoding allows")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length.
        length: usize,
    },
}
