//! A minimal blocking client built from the wire codec alone, over
//! `std::net`: one request at a time, no producer logic. It is what the
//! codec's real-broker tests (and the `wire_roundtrip` example) drive.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_producer_proto::KafkaCode;
use kafka_producer_proto::wire::header::{
    decode_response_header, encode_request, peek_correlation_id,
};
use kafka_producer_proto::wire::messages::api_versions::ApiVersion;
use kafka_producer_proto::wire::messages::{ApiKey, ApiVersionsRequest};
use kafka_producer_proto::wire::version_negotiation::{
    ApiVersionsOutcome, choose_version, read_api_versions_response,
};
use kafka_producer_proto::wire::{FrameDecoder, Message, Request};

/// One broker connection with its negotiated versions.
pub struct Connection {
    stream: TcpStream,
    frames: FrameDecoder,
    next_correlation_id: i32,
    /// The broker's version range per API key, from ApiVersions.
    pub broker_versions: BTreeMap<i16, (i16, i16)>,
    /// The ApiVersions version the broker finally accepted.
    pub api_versions_version: i16,
    /// Every ApiVersions error seen during negotiation, in order.
    pub negotiation_errors: Vec<KafkaCode>,
}

impl Connection {
    /// Connects and negotiates API versions: ask in our highest ApiVersions
    /// version; a broker that does not know it answers UNSUPPORTED_VERSION
    /// with a v0 body listing what it does know, and we ask again in the
    /// highest version both sides speak.
    pub fn connect(addr: &str) -> Connection {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut conn = Connection {
            stream,
            frames: FrameDecoder::default(),
            next_correlation_id: 1,
            broker_versions: BTreeMap::new(),
            api_versions_version: ApiVersionsRequest::MAX_VERSION,
            negotiation_errors: Vec::new(),
        };
        let request = ApiVersionsRequest::default()
            .with_client_software_name("kafka-producer-proto".into())
            .with_client_software_version(env!("CARGO_PKG_VERSION").into());
        let mut version = ApiVersionsRequest::MAX_VERSION;
        loop {
            let frame = conn.round_trip(version, &request);
            let (_, body) = decode_response_header(frame, ApiKey::ApiVersions, version).unwrap();
            let rest = body.remaining();
            match read_api_versions_response(body.clone().take(rest).unwrap(), version) {
                ApiVersionsOutcome::Supported(response) => {
                    conn.broker_versions = ranges(&response.api_keys);
                    conn.api_versions_version = version;
                    return conn;
                }
                ApiVersionsOutcome::Retry { version: next } => {
                    conn.negotiation_errors.push(KafkaCode::UnsupportedVersion);
                    assert!(next < version);
                    version = next;
                }
                other => panic!("ApiVersions v{version}: {other:?}"),
            }
        }
    }

    /// The version to use for `api`: the highest both sides implement.
    pub fn version_for(&self, api: ApiKey) -> i16 {
        choose_version(api.client_versions(), self.broker_versions[&api.as_i16()])
            .unwrap_or_else(|| panic!("no common version for {api:?}"))
    }

    /// Sends one request and returns its response, decoded.
    pub fn call<R: Request>(&mut self, request: &R) -> R::Response {
        let version = self.version_for(R::API_KEY);
        self.call_version(version, request)
    }

    /// Sends one request in `version` and returns its response, decoded.
    pub fn call_version<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let frame = self.round_trip(version, request);
        let (_, mut body) = decode_response_header(frame, R::API_KEY, version).unwrap();
        let raw = body.clone();
        R::Response::decode(&mut body, version).unwrap_or_else(|e| {
            let n = raw.remaining();
            panic!(
                "{:?} v{version} response: {e}\nbody: {:02x?}",
                R::API_KEY,
                &raw.clone().take(n).unwrap()[..]
            )
        })
    }

    fn round_trip<R: Request>(&mut self, version: i16, request: &R) -> Bytes {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut buf = BytesMut::new();
        encode_request(
            &mut buf,
            correlation_id,
            Some("kpp-wire-test"),
            version,
            request,
        )
        .unwrap();
        self.stream.write_all(&buf).unwrap();
        let frame = self.read_frame();
        assert_eq!(peek_correlation_id(&frame).unwrap(), correlation_id);
        frame
    }

    fn read_frame(&mut self) -> Bytes {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if let Some(frame) = self.frames.next_frame().unwrap() {
                return frame;
            }
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "broker closed the connection");
            self.frames.push(&chunk[..n]);
        }
    }
}

fn ranges(keys: &[ApiVersion]) -> BTreeMap<i16, (i16, i16)> {
    keys.iter()
        .map(|k| (k.api_key, (k.min_version, k.max_version)))
        .collect()
}
