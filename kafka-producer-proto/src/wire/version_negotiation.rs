//! ApiVersions negotiation: reading the broker's answer, falling back when
//! it does not speak our version, and choosing a version per API.
//!
//! The first request on every connection is ApiVersions in the highest
//! version we implement. A broker that does not know that version answers
//! UNSUPPORTED_VERSION, and is supposed to do so in a v0 body listing its
//! ranges so the client can ask again in a version it knows. Not every
//! broker manages that body (librdkafka's mock cluster writes a hybrid of
//! v0 and v3), so when the body cannot be read either way the client asks
//! again in v0, which every broker implements.

use bytes::Bytes;

use super::messages::{ApiKey, ApiVersionsResponse};
use super::{DecodeError, Message, Reader};
use crate::kafka_code::KafkaCode;

/// What to do after an ApiVersions response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiVersionsOutcome {
    /// The broker answered; its ranges are in the response.
    Supported(ApiVersionsResponse),
    /// The broker did not speak the version we asked in: ask again in this one.
    Retry {
        /// The ApiVersions version to ask in next.
        version: i16,
    },
    /// The broker refused with another error code.
    Refused(KafkaCode),
    /// The body could not be read and gave no reason to try another version.
    Malformed(DecodeError),
}

/// Interprets the body of an ApiVersions response to a request sent in
/// `asked`.
pub fn read_api_versions_response(body: Bytes, asked: i16) -> ApiVersionsOutcome {
    let parsed = ApiVersionsResponse::decode_exact(&mut Reader::new(body.clone()), asked);
    if let Ok(response) = &parsed
        && response.error_code == 0
    {
        return ApiVersionsOutcome::Supported(response.clone());
    }
    // The error code is the first field in every version, so it can be read
    // even from a body that does not parse.
    let code = match body.get(..2) {
        Some(&[a, b]) => KafkaCode::from_i16(i16::from_be_bytes([a, b])),
        _ => {
            return ApiVersionsOutcome::Malformed(match parsed {
                Err(e) => e,
                Ok(_) => DecodeError::UnexpectedEnd { needed: 2 },
            });
        }
    };
    if code != KafkaCode::UnsupportedVersion {
        return match parsed {
            Ok(_) => ApiVersionsOutcome::Refused(code),
            Err(e) => ApiVersionsOutcome::Malformed(e),
        };
    }
    if asked == 0 {
        // Nothing lower to fall back to.
        return ApiVersionsOutcome::Refused(code);
    }
    let listed = ApiVersionsResponse::decode_exact(&mut Reader::new(body), 0)
        .ok()
        .and_then(|r| {
            r.api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions.as_i16())
                .map(|k| k.max_version)
        });
    let version = match listed {
        Some(max) if (0..asked).contains(&max) => max.min(ApiVersionsResponse::MAX_VERSION),
        _ => 0,
    };
    ApiVersionsOutcome::Retry { version }
}

/// The version to use for an API: the highest that both we (`ours`) and the
/// broker (`theirs`) implement, or `None` when the ranges do not overlap.
pub fn choose_version(ours: (i16, i16), theirs: (i16, i16)) -> Option<i16> {
    let v = ours.1.min(theirs.1);
    (v >= ours.0.max(theirs.0)).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::messages::api_versions::ApiVersion;
    use bytes::BytesMut;

    fn body(r: &ApiVersionsResponse, version: i16) -> Bytes {
        let mut buf = BytesMut::new();
        r.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn a_normal_answer_is_supported() {
        let r = ApiVersionsResponse::default().with_api_keys(alloc::vec![
            ApiVersion::default()
                .with_api_key(0)
                .with_min_version(3)
                .with_max_version(9)
        ]);
        assert_eq!(
            read_api_versions_response(body(&r, 3), 3),
            ApiVersionsOutcome::Supported(r)
        );
    }

    #[test]
    fn unsupported_version_with_a_v0_body_retries_at_the_listed_max() {
        let r = ApiVersionsResponse::default()
            .with_error_code(35)
            .with_api_keys(alloc::vec![
                ApiVersion::default()
                    .with_api_key(18)
                    .with_min_version(0)
                    .with_max_version(2)
            ]);
        assert_eq!(
            read_api_versions_response(body(&r, 0), 4),
            ApiVersionsOutcome::Retry { version: 2 }
        );
    }

    #[test]
    fn librdkafka_mock_hybrid_body_falls_back_to_v0() {
        // What librdkafka's mock cluster answers to ApiVersions v3: error 35,
        // a raw varint count, one entry without tagged fields, throttle time.
        let raw = Bytes::from_static(&[
            0x00, 0x23, 0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        ]);
        assert_eq!(
            read_api_versions_response(raw, 3),
            ApiVersionsOutcome::Retry { version: 0 }
        );
    }

    #[test]
    fn other_errors_and_garbage_do_not_retry() {
        let r = ApiVersionsResponse::default().with_error_code(31);
        assert_eq!(
            read_api_versions_response(body(&r, 3), 3),
            ApiVersionsOutcome::Refused(KafkaCode::ClusterAuthorizationFailed)
        );
        assert!(matches!(
            read_api_versions_response(Bytes::from_static(&[0]), 3),
            ApiVersionsOutcome::Malformed(_)
        ));
        let r = ApiVersionsResponse::default().with_error_code(35);
        assert_eq!(
            read_api_versions_response(body(&r, 0), 0),
            ApiVersionsOutcome::Refused(KafkaCode::UnsupportedVersion)
        );
    }

    #[test]
    fn versions_are_chosen_from_the_overlap() {
        assert_eq!(choose_version((3, 11), (0, 9)), Some(9));
        assert_eq!(choose_version((3, 11), (0, 12)), Some(11));
        assert_eq!(choose_version((3, 11), (0, 2)), None);
        assert_eq!(choose_version((0, 4), (3, 3)), Some(3));
    }
}
