//! The in-memory peer of the bench: it answers every Produce request at once
//! with minimal work (no log, no record decoding: the record count comes
//! from the batch header) and hands every other request (ApiVersions,
//! Metadata, InitProducerId) to the simulated cluster. Nothing it does is
//! counted: the bench measures the producer's calls only.

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};
use kafka_producer_proto::ConnectionId;
use kafka_producer_proto::sim::{SimCluster, request_api};
use kafka_producer_proto::wire::Message;
use kafka_producer_proto::wire::header::{decode_request_header, encode_response};
use kafka_producer_proto::wire::messages::produce::{
    PartitionProduceResponse, TopicProduceResponse,
};
use kafka_producer_proto::wire::messages::{ApiKey, ProduceRequest, ProduceResponse};

/// Where a batch header keeps its record count (after baseOffset,
/// batchLength, partitionLeaderEpoch, magic, crc, attributes,
/// lastOffsetDelta, two timestamps, producer id, epoch, base sequence).
const RECORD_COUNT_AT: usize = 57;

pub struct Responder {
    cluster: SimCluster,
    nodes: BTreeMap<ConnectionId, i32>,
    answers: VecDeque<(ConnectionId, Bytes)>,
    /// The next offset of each partition of the bench's one topic.
    next_offset: Vec<i64>,
    out: BytesMut,
}

impl Responder {
    pub fn new(cluster: SimCluster, partitions: usize) -> Responder {
        Responder {
            cluster,
            nodes: BTreeMap::new(),
            answers: VecDeque::new(),
            next_offset: vec![0; partitions],
            out: BytesMut::new(),
        }
    }

    pub fn connect(&mut self, conn: ConnectionId, host: &str, port: u16) {
        let node = self
            .cluster
            .node_at(host, port)
            .expect("the producer connects to the cluster's brokers only");
        self.nodes.insert(conn, node);
    }

    pub fn disconnect(&mut self, conn: ConnectionId) {
        self.nodes.remove(&conn);
        self.answers.retain(|(c, _)| *c != conn);
    }

    /// Takes bytes written to `conn`: whole request frames, each with its
    /// size prefix.
    pub fn write(&mut self, conn: ConnectionId, mut data: &[u8]) {
        let node = self.nodes[&conn];
        while data.len() >= 4 {
            let len = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
            let frame = &data[4..4 + len];
            data = &data[4 + len..];
            if request_api(frame) == Some(ApiKey::Produce) {
                self.produce(conn, frame);
            } else if let Some(answer) = self.cluster.handle(node, Bytes::copy_from_slice(frame)) {
                self.answers.push_back((conn, answer));
            }
        }
        assert!(data.is_empty(), "a transmit carries whole frames");
    }

    pub fn next_answer(&mut self) -> Option<(ConnectionId, Bytes)> {
        self.answers.pop_front()
    }

    fn produce(&mut self, conn: ConnectionId, frame: &[u8]) {
        let (header, mut body) =
            decode_request_header(Bytes::copy_from_slice(frame)).expect("a valid request header");
        let version = header.request_api_version;
        let request = ProduceRequest::decode(&mut body, version).expect("a valid Produce request");
        let mut responses = Vec::with_capacity(request.topic_data.len());
        for topic in &request.topic_data {
            let mut partitions = Vec::with_capacity(topic.partition_data.len());
            for p in &topic.partition_data {
                let batch = p.records.as_deref().unwrap_or_default();
                let count = batch
                    .get(RECORD_COUNT_AT..RECORD_COUNT_AT + 4)
                    .map_or(0, |b| i32::from_be_bytes(b.try_into().unwrap()));
                let next = &mut self.next_offset[p.index as usize];
                partitions.push(
                    PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_base_offset(*next),
                );
                *next += i64::from(count);
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(topic.name.clone())
                    .with_topic_id(topic.topic_id)
                    .with_partition_responses(partitions),
            );
        }
        if request.acks == 0 {
            return;
        }
        let response = ProduceResponse::default().with_responses(responses);
        encode_response(&mut self.out, header.correlation_id, version, &response)
            .expect("the response encodes");
        self.answers.push_back((conn, self.out.split().freeze()));
    }
}
