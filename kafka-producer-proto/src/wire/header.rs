//! Request and response headers, and which header version goes with which
//! API version.
//!
//! A request's header is v2 when its API version is flexible and v1
//! otherwise; a response's header is v1 when flexible and v0 otherwise.
//! The exception: ApiVersions responses always use header v0, so that a
//! client can read the answer before it knows what the broker speaks.

use alloc::string::String;
use bytes::{Bytes, BytesMut};

use super::frame::{begin_frame, finish_frame};
use super::messages::{ApiKey, RequestHeader, ResponseHeader};
use super::{DecodeError, EncodeError, Message, Reader, Request};

/// The request header version for `version` of `api`.
pub fn request_header_version(api: ApiKey, version: i16) -> i16 {
    if version >= api.first_flexible_version() {
        2
    } else {
        1
    }
}

/// The response header version for `version` of `api`.
pub fn response_header_version(api: ApiKey, version: i16) -> i16 {
    if api == ApiKey::ApiVersions || version < api.first_flexible_version() {
        0
    } else {
        1
    }
}

/// Appends one whole request frame: size, header, body.
pub fn encode_request<R: Request>(
    buf: &mut BytesMut,
    correlation_id: i32,
    client_id: Option<&str>,
    version: i16,
    body: &R,
) -> Result<(), EncodeError> {
    let start = begin_frame(buf);
    let header = RequestHeader::default()
        .with_request_api_key(R::API_KEY.as_i16())
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id.map(String::from));
    let result = header
        .encode(buf, request_header_version(R::API_KEY, version))
        .and_then(|()| body.encode(buf, version))
        .and_then(|()| finish_frame(buf, start));
    if result.is_err() {
        // Leave no half-written frame behind for the caller to send.
        buf.truncate(start);
    }
    result
}

/// Appends one whole response frame: size, header, body.
pub fn encode_response<M: Message>(
    buf: &mut BytesMut,
    correlation_id: i32,
    version: i16,
    body: &M,
) -> Result<(), EncodeError> {
    let start = begin_frame(buf);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let result = header
        .encode(buf, response_header_version(M::API_KEY, version))
        .and_then(|()| body.encode(buf, version))
        .and_then(|()| finish_frame(buf, start));
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// Reads the correlation id (and, in v1, the tagged fields) from the start
/// of a response frame, leaving the body in the returned reader. The caller
/// picks the body's type and version from the request that the correlation
/// id names.
pub fn decode_response_header(
    frame: Bytes,
    api: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, Reader), DecodeError> {
    let mut r = Reader::new(frame);
    let header = ResponseHeader::decode(&mut r, response_header_version(api, version))?;
    Ok((header, r))
}

/// Reads the correlation id at the start of a response frame without
/// consuming anything, to match the frame with its request.
pub fn peek_correlation_id(frame: &[u8]) -> Result<i32, DecodeError> {
    match frame {
        [a, b, c, d, ..] => Ok(i32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(DecodeError::UnexpectedEnd {
            needed: 4 - frame.len(),
        }),
    }
}

/// Reads a request header from the start of a request frame (the broker's
/// side: a simulated cluster, the fuzzers). The API key and version are read
/// first because they choose the header version. An API this codec does not
/// implement is read as header v1, as a broker would to answer it.
pub fn decode_request_header(frame: Bytes) -> Result<(RequestHeader, Reader), DecodeError> {
    let mut peek = Reader::new(frame.clone());
    let api_key = peek.i16()?;
    let version = peek.i16()?;
    let header_version = match ApiKey::from_i16(api_key) {
        Some(api) => request_header_version(api, version),
        None => 1,
    };
    let mut r = Reader::new(frame);
    let header = RequestHeader::decode(&mut r, header_version)?;
    Ok((header, r))
}

/// Decodes a whole response frame whose request is known.
///
/// Bytes after the end of the body are ignored, as the Java client and
/// librdkafka ignore them: brokers in the field append them (librdkafka's
/// mock cluster adds one to Metadata v12), and refusing such a response
/// would only turn a readable answer into a broken connection.
pub fn decode_response<M: Message>(frame: Bytes, version: i16) -> Result<(i32, M), DecodeError> {
    let (header, mut r) = decode_response_header(frame, M::API_KEY, version)?;
    let body = M::decode(&mut r, version)?;
    Ok((header.correlation_id, body))
}
