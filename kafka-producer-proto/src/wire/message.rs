//! What every request and response type has in common.

use bytes::BytesMut;

use super::messages::ApiKey;
use super::{DecodeError, EncodeError, Reader};

/// Whether a message travels client to broker or back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Client to broker.
    Request,
    /// Broker to client.
    Response,
}

/// A request or response body of one Kafka API, in any of its versions.
///
/// Bodies carry no header and no size prefix; see [`crate::wire::header`]
/// and [`crate::wire::frame`] for those.
pub trait Message: Sized + Clone + core::fmt::Debug + PartialEq + Default {
    /// The API this message belongs to.
    const API_KEY: ApiKey;
    /// Request or response.
    const KIND: MessageKind;
    /// The lowest version this codec implements.
    const MIN_VERSION: i16;
    /// The highest version this codec implements.
    const MAX_VERSION: i16;
    /// The first flexible version, or `i16::MAX` when none is.
    const FIRST_FLEXIBLE_VERSION: i16;

    /// Appends the body in `version`.
    ///
    /// Fails when the version is not implemented, or when the value holds
    /// something that version cannot carry (a non-ignorable field that the
    /// version lacks, a null where it allows none).
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError>;

    /// Reads a body of `version`. Does not check that the input ends with it;
    /// [`Message::decode_exact`] does.
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError>;

    /// Reads a body of `version` that must span the whole input.
    fn decode_exact(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        let value = Self::decode(r, version)?;
        r.finish()?;
        Ok(value)
    }

    /// Whether `version` uses the flexible encodings.
    fn is_flexible(version: i16) -> bool {
        version >= Self::FIRST_FLEXIBLE_VERSION
    }
}

/// A request, tied to the response type it gets back.
pub trait Request: Message {
    /// The response to this request.
    type Response: Message;
}
