//! The codec's version ranges against the schemas vendored in `spec/`,
//! read here independently of the code generator: a regenerated codec
//! that drifted from the schemas, or spoke a version Kafka marks unstable,
//! fails here.

use std::path::PathBuf;

use kafka_producer_proto::wire::header::{request_header_version, response_header_version};
use kafka_producer_proto::wire::messages::{ApiKey, RequestHeader, ResponseHeader};

fn schema(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/messages")
        .join(format!("{name}.json"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the repo's spec/ is needed)", path.display()))
}

/// A top-level string value such as `"validVersions": "0-13"`.
fn string_value(text: &str, key: &str) -> Option<String> {
    let at = text.find(&format!("\"{key}\""))?;
    let rest = &text[at + key.len() + 2..];
    let open = rest.find('"')?;
    let rest = &rest[open + 1..];
    Some(rest[..rest.find('"')?].to_string())
}

fn range(text: &str) -> (i16, i16) {
    let v = string_value(text, "validVersions").expect("validVersions");
    let (lo, hi) = v.split_once('-').unwrap_or((&v, &v));
    (lo.parse().unwrap(), hi.parse().unwrap())
}

fn unstable(text: &str) -> bool {
    text.lines()
        .any(|l| l.contains("\"latestVersionUnstable\"") && l.contains("true"))
}

#[test]
fn every_api_is_generated_at_its_stable_schema_range() {
    for api in ApiKey::ALL {
        let request = schema(&format!("{}Request", api.name()));
        let response = schema(&format!("{}Response", api.name()));
        let (lo, mut hi) = range(&request);
        if unstable(&request) {
            hi -= 1;
        }
        // Produce v0-v2 carry message sets older than record batches.
        let lo = if api == ApiKey::Produce {
            lo.max(3)
        } else {
            lo
        };
        assert_eq!(api.versions(), (lo, hi), "{}", api.name());
        assert!(
            range(&response).1 >= hi,
            "{}: the response schema must cover the request's range",
            api.name()
        );
        let (clo, chi) = api.client_versions();
        assert_eq!(clo, lo, "{}", api.name());
        assert!(chi <= hi, "{}", api.name());
    }
}

#[test]
fn unstable_versions_are_not_spoken() {
    // Kafka 4.1.1 marks InitProducerId v6 (two-phase commit) unstable.
    let request = schema("InitProducerIdRequest");
    assert!(unstable(&request));
    assert_eq!(ApiKey::InitProducerId.versions().1, range(&request).1 - 1);
    assert_eq!(
        ApiKey::InitProducerId.client_versions().1,
        range(&request).1 - 1
    );
}

#[test]
fn add_partitions_to_txn_clients_stop_at_v3() {
    // v4+ is the broker-to-broker batch (KIP-890); Kafka's client stops at
    // v3 while the codec keeps every version for brokers and tests.
    assert_eq!(ApiKey::AddPartitionsToTxn.client_versions(), (0, 3));
    assert_eq!(
        ApiKey::AddPartitionsToTxn.versions().1,
        range(&schema("AddPartitionsToTxnRequest")).1
    );
}

#[test]
fn header_versions_come_from_the_header_schemas() {
    assert_eq!(
        (RequestHeader::MIN_VERSION, RequestHeader::MAX_VERSION),
        range(&schema("RequestHeader"))
    );
    assert_eq!(
        (ResponseHeader::MIN_VERSION, ResponseHeader::MAX_VERSION),
        range(&schema("ResponseHeader"))
    );
    // Whatever header a request or response of any version picks, the
    // header codec has it.
    for api in ApiKey::ALL {
        let (lo, hi) = api.versions();
        for v in lo..=hi {
            let h = request_header_version(api, v);
            assert!((RequestHeader::MIN_VERSION..=RequestHeader::MAX_VERSION).contains(&h));
            let h = response_header_version(api, v);
            assert!((ResponseHeader::MIN_VERSION..=ResponseHeader::MAX_VERSION).contains(&h));
        }
    }
}
