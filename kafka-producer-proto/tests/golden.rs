//! Golden bytes derived by hand from the schemas and the protocol's
//! primitive encodings, in an old and a flexible version of ApiVersions,
//! Metadata and Produce. A round trip alone cannot catch an encoder and a
//! decoder that are wrong the same way; these can.
//!
//! Each expected byte string is annotated field by field.

use bytes::{Bytes, BytesMut};
use kafka_producer_proto::wire::header::{
    decode_request_header, decode_response, encode_request, encode_response,
};
use kafka_producer_proto::wire::messages::api_versions::ApiVersion;
use kafka_producer_proto::wire::messages::metadata::{
    MetadataRequestTopic, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_producer_proto::wire::messages::produce::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceData, PartitionProduceResponse,
    TopicProduceData, TopicProduceResponse,
};
use kafka_producer_proto::wire::messages::*;
use kafka_producer_proto::wire::{EncodeError, Message, RawTaggedField, Reader, Uuid};

/// Parses annotated hex: on each line, two-digit hex tokens (separated by
/// spaces or `|`) up to the first other token, which starts the annotation.
fn hex(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in s.lines() {
        for token in line
            .split(|c: char| c.is_whitespace() || c == '|')
            .filter(|t| !t.is_empty())
        {
            match u8::from_str_radix(token, 16) {
                Ok(b) if token.len() == 2 => out.push(b),
                _ => break,
            }
        }
    }
    out
}

fn body<M: Message>(m: &M, version: i16) -> Vec<u8> {
    let mut buf = BytesMut::new();
    m.encode(&mut buf, version).unwrap();
    buf.to_vec()
}

fn parse<M: Message>(bytes: &[u8], version: i16) -> M {
    M::decode_exact(&mut Reader::new(Bytes::copy_from_slice(bytes)), version).unwrap()
}

/// Asserts that `m` encodes to `expected` in `version` and decodes back.
fn golden<M: Message>(m: &M, version: i16, expected: &str) {
    let want = hex(expected);
    assert_eq!(
        body(m, version),
        want,
        "{:?} {:?} v{version} encode",
        M::API_KEY,
        M::KIND
    );
    assert_eq!(
        &parse::<M>(&want, version),
        m,
        "{:?} {:?} v{version} decode",
        M::API_KEY,
        M::KIND
    );
}

#[test]
fn api_versions_request_v0_frame() {
    let mut buf = BytesMut::new();
    encode_request(&mut buf, 1, Some("kpp"), 0, &ApiVersionsRequest::default()).unwrap();
    let want = hex("00 00 00 0d          | size 13
         00 12 | 00 00        | api key 18, version 0
         00 00 00 01          | correlation id 1
         00 03 6b 70 70       | client id 'kpp' (int16 length)");
    assert_eq!(&buf[..], &want[..]);
    let (header, rest) = decode_request_header(Bytes::copy_from_slice(&want[4..])).unwrap();
    assert_eq!((header.request_api_key, header.correlation_id), (18, 1));
    assert_eq!(header.client_id.as_deref(), Some("kpp"));
    assert!(rest.is_empty());
}

#[test]
fn api_versions_request_v3_frame_uses_header_v2() {
    let req = ApiVersionsRequest::default()
        .with_client_software_name("kpp".into())
        .with_client_software_version("0.1".into());
    let mut buf = BytesMut::new();
    encode_request(&mut buf, 2, Some("kpp"), 3, &req).unwrap();
    let want = hex("00 00 00 17          | size 23
         00 12 | 00 03        | api key 18, version 3
         00 00 00 02          | correlation id 2
         00 03 6b 70 70       | client id stays a non-compact string in header v2
         00                   | header tagged fields: none
         04 6b 70 70          | ClientSoftwareName compact 'kpp' (length + 1)
         04 30 2e 31          | ClientSoftwareVersion compact '0.1'
         00                   | body tagged fields: none");
    assert_eq!(&buf[..], &want[..]);
}

#[test]
fn api_versions_response_v0() {
    let resp = ApiVersionsResponse::default().with_api_keys(vec![
        ApiVersion::default()
            .with_api_key(0)
            .with_min_version(3)
            .with_max_version(11),
    ]);
    golden(
        &resp,
        0,
        "00 00                | error code 0
         00 00 00 01          | api keys: 1 (int32 count)
         00 00 00 03 00 0b    | Produce, 3..11",
    );
}

#[test]
fn api_versions_response_v3_tagged_fields_known_and_unknown() {
    let mut resp = ApiVersionsResponse::default()
        .with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(18)
                .with_min_version(0)
                .with_max_version(4),
        ])
        .with_finalized_features_epoch(5);
    resp.unknown_tagged_fields = vec![RawTaggedField {
        tag: 9,
        data: Bytes::from_static(&[0xaa]),
    }];
    let bytes = "00 00                | error code 0
         02                   | api keys: 1 (compact count + 1)
         00 12 00 00 00 04 00 | ApiVersions 0..4, no tagged fields
         00 00 00 00          | throttle time 0
         02                   | two tagged fields
         01 08 00 00 00 00 00 00 00 05 | tag 1 FinalizedFeaturesEpoch = 5
         09 01 aa             | tag 9, unknown to the schema: kept as bytes";
    golden(&resp, 3, bytes);
    // A whole response frame: ApiVersions answers with header v0 even in v3.
    let mut frame = BytesMut::new();
    encode_response(&mut frame, 7, 3, &resp).unwrap();
    assert_eq!(
        &frame[4..8],
        &[0, 0, 0, 7],
        "correlation id, and no header tagged fields"
    );
    assert_eq!(&frame[8..], &hex(bytes)[..]);
    let (corr, back) =
        decode_response::<ApiVersionsResponse>(frame.freeze().slice(4..), 3).unwrap();
    assert_eq!((corr, back), (7, resp));
}

#[test]
fn metadata_request_v1_and_null_topics() {
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some("t".into())),
    ]));
    golden(
        &req,
        1,
        "00 00 00 01 | one topic
         00 01 74    | name 't'",
    );
    // All topics: null array, which v1 can say and v0 cannot.
    let all = MetadataRequest::default().with_topics(None);
    golden(&all, 1, "ff ff ff ff");
    assert_eq!(
        all.encode(&mut BytesMut::new(), 0),
        Err(EncodeError::NullNotAllowed {
            field: "Topics",
            version: 0
        })
    );
}

#[test]
fn metadata_request_v9_flexible() {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some("t".into())),
        ]))
        .with_allow_auto_topic_creation(false);
    golden(
        &req,
        9,
        "02                   | one topic (compact)
         02 74 00             | name 't', topic tagged fields
         00                   | AllowAutoTopicCreation false
         00 00                | IncludeCluster/TopicAuthorizedOperations
         00                   | tagged fields",
    );
}

fn metadata_response(version: i16) -> MetadataResponse {
    let partition = MetadataResponsePartition::default()
        .with_partition_index(0)
        .with_leader_id(1)
        .with_replica_nodes(vec![1])
        .with_isr_nodes(vec![1]);
    let mut topic = MetadataResponseTopic::default().with_name(Some("t".into()));
    let broker = MetadataResponseBroker::default()
        .with_node_id(1)
        .with_host("h".into())
        .with_port(9092);
    let mut resp = MetadataResponse::default().with_controller_id(1);
    if version >= 12 {
        topic = topic.with_topic_id(Uuid([1; 16]));
        resp = resp.with_cluster_id(Some("c".into()));
    }
    let leader_epoch = if version >= 7 { 5 } else { -1 };
    topic = topic.with_partitions(vec![partition.with_leader_epoch(leader_epoch)]);
    resp.with_brokers(vec![broker]).with_topics(vec![topic])
}

#[test]
fn metadata_response_v1() {
    golden(
        &metadata_response(1),
        1,
        "00 00 00 01          | brokers: 1
         00 00 00 01          | node id 1
         00 01 68             | host 'h'
         00 00 23 84          | port 9092
         ff ff                | rack null (v1+)
         00 00 00 01          | controller id 1 (v1+); no cluster id before v2
         00 00 00 01          | topics: 1
         00 00 | 00 01 74     | error 0, name 't'
         00                   | is internal false (v1+)
         00 00 00 01          | partitions: 1
         00 00 | 00 00 00 00  | error 0, index 0
         00 00 00 01          | leader 1 (no leader epoch before v7)
         00 00 00 01 00 00 00 01 | replicas [1]
         00 00 00 01 00 00 00 01 | isr [1]",
    );
}

#[test]
fn metadata_response_v12_flexible() {
    golden(
        &metadata_response(12),
        12,
        "00 00 00 00          | throttle time
         02                   | brokers: 1
         00 00 00 01 | 02 68 | 00 00 23 84 | node 1, host 'h', port 9092
         00 00                | rack null, broker tagged fields
         02 63                | cluster id 'c'
         00 00 00 01          | controller id
         02                   | topics: 1
         00 00 | 02 74        | error 0, name 't' (nullable in v12)
         01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 | topic id
         00                   | is internal
         02                   | partitions: 1
         00 00 | 00 00 00 00 | 00 00 00 01 | error, index 0, leader 1
         00 00 00 05          | leader epoch 5 (v7+)
         02 00 00 00 01       | replicas [1]
         02 00 00 00 01       | isr [1]
         01                   | offline replicas [] (v5+)
         00                   | partition tagged fields
         80 00 00 00          | topic authorized operations: default i32::MIN (v8+)
         00                   | topic tagged fields; no cluster authorized operations after v10
         00                   | tagged fields",
    );
}

fn produce_request() -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name("t".into())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(2)
                        .with_records(Some(Bytes::from_static(&[0xaa, 0xbb, 0xcc]))),
                ]),
        ])
}

#[test]
fn produce_request_v3() {
    golden(
        &produce_request(),
        3,
        "ff ff                | transactional id null
         ff ff                | acks -1
         00 00 75 30          | timeout 30000
         00 00 00 01 | 00 01 74 | one topic 't'
         00 00 00 01          | one partition
         00 00 00 02          | index 2
         00 00 00 03 aa bb cc | records (int32 length)",
    );
}

#[test]
fn produce_request_v9_flexible() {
    golden(
        &produce_request(),
        9,
        "00                   | transactional id null (compact)
         ff ff | 00 00 75 30  | acks -1, timeout 30000
         02 | 02 74           | one topic 't'
         02                   | one partition
         00 00 00 02          | index 2
         04 aa bb cc          | records (compact length + 1)
         00 00 00             | partition, topic, request tagged fields",
    );
}

#[test]
fn produce_response_v3() {
    let resp = ProduceResponse::default().with_responses(vec![
        TopicProduceResponse::default()
            .with_name("t".into())
            .with_partition_responses(vec![
                PartitionProduceResponse::default()
                    .with_index(2)
                    .with_base_offset(42),
            ]),
    ]);
    golden(
        &resp,
        3,
        "00 00 00 01 | 00 01 74 | one topic 't'
         00 00 00 01          | one partition
         00 00 00 02 | 00 00  | index 2, error 0
         00 00 00 00 00 00 00 2a | base offset 42
         ff ff ff ff ff ff ff ff | log append time -1 (v2+)
         00 00 00 00          | throttle time (v1+)",
    );
}

#[test]
fn produce_response_v10_with_leader_hints() {
    let resp = ProduceResponse::default()
        .with_responses(vec![
            TopicProduceResponse::default()
                .with_name("t".into())
                .with_partition_responses(vec![
                    PartitionProduceResponse::default()
                        .with_index(2)
                        .with_error_code(6)
                        .with_base_offset(-1)
                        .with_current_leader(
                            LeaderIdAndEpoch::default()
                                .with_leader_id(3)
                                .with_leader_epoch(7),
                        ),
                ]),
        ])
        .with_node_endpoints(vec![
            NodeEndpoint::default()
                .with_node_id(3)
                .with_host("h".into())
                .with_port(9092),
        ]);
    golden(
        &resp,
        10,
        "02 | 02 74           | one topic 't'
         02                   | one partition
         00 00 00 02 | 00 06  | index 2, NOT_LEADER_OR_FOLLOWER
         ff ff ff ff ff ff ff ff | base offset -1
         ff ff ff ff ff ff ff ff | log append time -1
         ff ff ff ff ff ff ff ff | log start offset -1 (v5+)
         01                   | record errors [] (v8+)
         00                   | error message null (v8+)
         01 00 09             | one tagged field: tag 0 CurrentLeader, 9 bytes:
         00 00 00 03 00 00 00 07 00 | leader 3, epoch 7, and the struct's own tagged fields
         00                   | topic tagged fields
         00 00 00 00          | throttle time
         01 00 0d             | tag 0 NodeEndpoints, 13 bytes:
         02 00 00 00 03 02 68 00 00 23 84 00 00 | node 3 'h':9092, rack null, no tags",
    );
}

#[test]
fn fields_a_version_lacks_are_refused_unless_ignorable() {
    // CoordinatorKeys exists from v4 and is not ignorable: v3 cannot carry it.
    let req = FindCoordinatorRequest::default().with_coordinator_keys(vec!["txn".into()]);
    assert_eq!(
        req.encode(&mut BytesMut::new(), 3),
        Err(EncodeError::FieldNotInVersion {
            field: "CoordinatorKeys",
            version: 3
        })
    );
    // ClientSoftwareName is ignorable: v2 silently leaves it out.
    let req = ApiVersionsRequest::default().with_client_software_name("kpp".into());
    assert_eq!(body(&req, 2), Vec::<u8>::new());
}

#[test]
fn versions_outside_the_schema_are_refused() {
    assert!(
        ProduceRequest::default()
            .encode(&mut BytesMut::new(), 2)
            .is_err()
    );
    let above = ProduceRequest::MAX_VERSION + 1;
    assert!(
        ProduceRequest::default()
            .encode(&mut BytesMut::new(), above)
            .is_err()
    );
    assert!(ProduceResponse::decode(&mut Reader::new(Bytes::new()), above).is_err());
    // InitProducerId v6 is unstable in Kafka 4.1.1: not generated.
    assert_eq!(InitProducerIdRequest::MAX_VERSION, 5);
    assert!(
        InitProducerIdRequest::default()
            .encode(&mut BytesMut::new(), 6)
            .is_err()
    );
}

#[test]
fn produce_request_v13_names_topics_by_id_only() {
    // The name is ignorable in v13: a writer drops it without a word, so a
    // request must carry the id (the producer never relies on the name).
    let mut req = produce_request();
    req.topic_data[0].topic_id = Uuid([7; 16]);
    let expected = hex("00                   | transactional id null (compact)
         ff ff | 00 00 75 30  | acks -1, timeout 30000
         02                   | one topic, no name:
         07 07 07 07 07 07 07 07 07 07 07 07 07 07 07 07 | topic id
         02                   | one partition
         00 00 00 02          | index 2
         04 aa bb cc          | records (compact length + 1)
         00 00 00             | partition, topic, request tagged fields");
    assert_eq!(body(&req, 13), expected);
    let decoded: ProduceRequest = parse(&expected, 13);
    assert_eq!(decoded.topic_data[0].name, "", "no name on the wire");
    assert_eq!(decoded.topic_data[0].topic_id, Uuid([7; 16]));
}

#[test]
fn produce_response_v13_names_topics_by_id_only() {
    let resp = ProduceResponse::default().with_responses(vec![
        TopicProduceResponse::default()
            .with_topic_id(Uuid([9; 16]))
            .with_partition_responses(vec![
                PartitionProduceResponse::default()
                    .with_index(2)
                    .with_base_offset(42),
            ]),
    ]);
    golden(
        &resp,
        13,
        "02                   | one topic, no name:
         09 09 09 09 09 09 09 09 09 09 09 09 09 09 09 09 | topic id
         02                   | one partition
         00 00 00 02 | 00 00  | index 2, error 0
         00 00 00 00 00 00 00 2a | base offset 42
         ff ff ff ff ff ff ff ff | log append time -1
         ff ff ff ff ff ff ff ff | log start offset -1
         01 | 00              | record errors [], error message null
         00 | 00              | partition, topic tagged fields
         00 00 00 00 | 00     | throttle time, tagged fields",
    );
}

#[test]
fn metadata_response_v13_top_level_error() {
    let resp = MetadataResponse::default().with_error_code(129);
    golden(
        &resp,
        13,
        "00 00 00 00          | throttle time
         01                   | brokers: none
         00                   | cluster id null
         ff ff ff ff          | controller id -1
         01                   | topics: none
         00 81                | error code 129 REBOOTSTRAP_REQUIRED (v13+)
         00                   | tagged fields",
    );
}
