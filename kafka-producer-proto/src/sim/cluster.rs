//! A deterministic in-memory Kafka cluster that speaks the real protocol:
//! it takes request frames and answers with response frames, through the
//! same [`crate::wire`] codec a real client would meet.
//!
//! It keeps, per partition, a leader (with a leader epoch) and a log of the
//! records appended, and answers ApiVersions, Metadata and Produce as a
//! broker would: a Produce for a partition this node does not lead gets
//! NOT_LEADER_OR_FOLLOWER, an unknown topic UNKNOWN_TOPIC_OR_PARTITION (by
//! name) or UNKNOWN_TOPIC_ID (by id, Produce v13), a batch that does not
//! decode (compressed batches are decompressed to check them) the code
//! Kafka answers. Every topic has an id, new each time it is created.
//! Errors can be injected per
//! API, in order, as librdkafka's mock cluster does.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};

use super::batch_validation::validate;
use super::coordinators::Coordinators;
use super::markers::{Marker, PartitionTxns};
use super::producer_state::{Judgement, ProducerEntry, judge, remember};
use super::topic_ids::TopicIds;
use crate::kafka_code::KafkaCode;
use crate::time::Instant;
use crate::wire::header::{decode_request_header, encode_response};
use crate::wire::messages::api_versions::ApiVersion;
use crate::wire::messages::metadata::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use crate::wire::messages::produce::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use crate::wire::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, InitProducerIdRequest, InitProducerIdResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
};
use crate::wire::record_batch::{RecordBatch, RecordHeader};
use crate::wire::{Message, Reader, Uuid};

/// A record as the simulated log stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp.
    pub timestamp: i64,
    /// Its key.
    pub key: Option<Bytes>,
    /// Its value.
    pub value: Option<Bytes>,
    /// Its headers.
    pub headers: Vec<RecordHeader>,
    /// The producer id of its batch (-1 without idempotence).
    pub producer_id: i64,
    /// The producer epoch of its batch.
    pub producer_epoch: i16,
    /// Its sequence number (-1 without idempotence).
    pub sequence: i32,
    /// Its batch is part of a transaction.
    pub transactional: bool,
    /// A commit or abort marker (a control record), not a record sent.
    pub control: Option<Marker>,
}

#[derive(Debug, Clone)]
pub(super) struct Partition {
    pub(super) leader: i32,
    leader_epoch: i32,
    pub(super) log: Vec<StoredRecord>,
    /// Offsets below this were removed (retention, truncation).
    pub(super) log_start: i64,
    pub(super) producers: BTreeMap<i64, ProducerEntry>,
    /// Open transactions, aborted ones (see `markers`).
    pub(super) txns: PartitionTxns,
}

/// A broker of the simulated cluster.
#[derive(Debug, Clone)]
pub struct SimBroker {
    /// Its node id.
    pub node: i32,
    /// The host it advertises.
    pub host: String,
    /// The port it advertises.
    pub port: u16,
}

/// The simulated cluster.
#[derive(Debug, Clone)]
pub struct SimCluster {
    pub(super) brokers: Vec<SimBroker>,
    pub(super) topics: BTreeMap<String, Vec<Partition>>,
    topic_ids: TopicIds,
    /// Metadata names each topic's id (a broker without ids answers the
    /// nil uuid, and the producer stays below Produce v13).
    pub topic_ids_in_metadata: bool,
    injected: BTreeMap<i16, VecDeque<KafkaCode>>,
    /// The transaction and group coordinators.
    pub(super) coordinators: Coordinators,
    /// The cluster's clock: the time of the last `advance`.
    pub(super) now: Instant,
    /// Topics named in Metadata requests are created (with this many
    /// partitions) when they do not exist and the request allows it.
    pub auto_create_partitions: Option<usize>,
    /// The highest Produce version the brokers claim.
    pub max_produce_version: i16,
    /// The highest version the brokers claim per API key, where lower than
    /// the codec's ([`SimCluster::cap_version`]).
    version_caps: BTreeMap<i16, i16>,
    /// Records each partition's log may hold before Produce answers
    /// KAFKA_STORAGE_ERROR; bounds memory under fuzzing.
    pub max_log_records: usize,
    /// Answer acks=0 Produce requests anyway, as librdkafka's mock and
    /// tansu do (Kafka does not).
    pub answer_acks0: bool,
    /// Throttle time put in every Produce response.
    pub throttle_ms: i32,
    /// Name the new leader in NOT_LEADER_OR_FOLLOWER answers (KIP-951,
    /// Produce v10+).
    pub leader_hints: bool,
    /// The epoch the next new producer id starts at (then 0 again), to
    /// bring a producer near epoch exhaustion.
    pub next_grant_epoch: Option<i16>,
    /// The current epoch of every producer id handed out.
    producer_epochs: BTreeMap<i64, i16>,
    pub(super) next_producer_id: i64,
    /// A SASL listener: connections authenticate first
    /// ([`SimCluster::handle_session`]).
    pub sasl: Option<super::sasl::SimSasl>,
}

impl SimCluster {
    /// A cluster of `brokers` brokers, `broker-0:9092`, `broker-1:9093`, ...
    /// with node ids 0, 1, ...
    pub fn new(brokers: usize) -> SimCluster {
        SimCluster {
            brokers: (0..brokers)
                .map(|i| SimBroker {
                    node: i as i32,
                    host: format!("broker-{i}"),
                    port: 9092 + i as u16,
                })
                .collect(),
            topics: BTreeMap::new(),
            topic_ids: TopicIds::default(),
            topic_ids_in_metadata: true,
            injected: BTreeMap::new(),
            coordinators: Coordinators::default(),
            now: Instant::ZERO,
            auto_create_partitions: None,
            max_produce_version: ProduceRequest::MAX_VERSION,
            version_caps: BTreeMap::new(),
            max_log_records: 1 << 20,
            answer_acks0: false,
            throttle_ms: 0,
            leader_hints: true,
            next_grant_epoch: None,
            producer_epochs: BTreeMap::new(),
            next_producer_id: 1000,
            sasl: None,
        }
    }

    /// The brokers.
    pub fn brokers(&self) -> &[SimBroker] {
        &self.brokers
    }

    /// `bootstrap.servers` for this cluster.
    pub fn bootstrap_servers(&self) -> String {
        let addrs: Vec<String> = self
            .brokers
            .iter()
            .map(|b| format!("{}:{}", b.host, b.port))
            .collect();
        addrs.join(",")
    }

    /// The node listening at `host:port`.
    pub fn node_at(&self, host: &str, port: u16) -> Option<i32> {
        self.brokers
            .iter()
            .find(|b| b.host == host && b.port == port)
            .map(|b| b.node)
    }

    /// Makes broker `node` advertise `host:port` (in Metadata and leader
    /// hints), for a cluster served on real sockets.
    pub fn set_address(&mut self, node: i32, host: &str, port: u16) {
        if let Some(b) = self.brokers.iter_mut().find(|b| b.node == node) {
            b.host = String::from(host);
            b.port = port;
        }
    }

    /// Keeps at most about `keep` records per partition: a partition past
    /// twice that loses its oldest (retention), so a long run against a
    /// served cluster stays in bounded memory.
    pub fn trim_logs(&mut self, keep: usize) {
        let over: Vec<(String, usize, i64)> = self
            .topics
            .iter()
            .flat_map(|(name, parts)| {
                parts
                    .iter()
                    .enumerate()
                    .filter(move |(_, p)| p.log.len() > keep.saturating_mul(2))
                    .map(move |(i, p)| (name.clone(), i, p.log_start + (p.log.len() - keep) as i64))
            })
            .collect();
        for (topic, partition, offset) in over {
            self.truncate_log(&topic, partition, offset);
        }
    }

    /// Creates a topic whose partition leaders go round the brokers.
    pub fn create_topic(&mut self, name: &str, partitions: usize) {
        let n = self.brokers.len().max(1);
        let parts = (0..partitions)
            .map(|p| Partition {
                leader: (p % n) as i32,
                leader_epoch: 0,
                log: Vec::new(),
                log_start: 0,
                producers: BTreeMap::new(),
                txns: PartitionTxns::default(),
            })
            .collect();
        self.topics.insert(String::from(name), parts);
        self.topic_ids.assign(name);
    }

    /// Deletes a topic, its logs and its id. Created again, it has a new id.
    pub fn delete_topic(&mut self, name: &str) {
        self.topics.remove(name);
        self.topic_ids.remove(name);
    }

    /// A topic's id, if it exists.
    pub fn topic_id(&self, name: &str) -> Option<Uuid> {
        self.topic_ids.id_of(name)
    }

    /// Moves a partition's leadership, bumping its leader epoch.
    pub fn set_leader(&mut self, topic: &str, partition: usize, node: i32) {
        if let Some(p) = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.get_mut(partition))
        {
            p.leader = node;
            p.leader_epoch += 1;
        }
    }

    /// The brokers claim `api` only up to version `max`, as an older
    /// broker would (a `max` below the codec's minimum removes the API
    /// from what they claim).
    pub fn cap_version(&mut self, api: ApiKey, max: i16) {
        self.version_caps.insert(api.as_i16(), max);
    }

    /// The next requests of `api` fail with these codes, one each, in order
    /// (every partition of a Produce request gets the code).
    pub fn inject(&mut self, api: ApiKey, errors: &[KafkaCode]) {
        self.injected
            .entry(api.as_i16())
            .or_default()
            .extend(errors.iter().copied());
    }

    /// The very next request of `api` fails with `code`, ahead of any
    /// errors already queued by [`inject`](SimCluster::inject).
    pub fn inject_next(&mut self, api: ApiKey, code: KafkaCode) {
        self.injected
            .entry(api.as_i16())
            .or_default()
            .push_front(code);
    }

    /// Injected errors not yet used.
    pub fn injected_left(&self, api: ApiKey) -> usize {
        self.injected.get(&api.as_i16()).map_or(0, VecDeque::len)
    }

    /// A partition's log.
    pub fn log(&self, topic: &str, partition: usize) -> &[StoredRecord] {
        self.topics
            .get(topic)
            .and_then(|t| t.get(partition))
            .map_or(&[], |p| p.log.as_slice())
    }

    /// How many partitions a topic has (0 when it does not exist).
    pub fn partitions(&self, topic: &str) -> usize {
        self.topics.get(topic).map_or(0, Vec::len)
    }

    /// Answers one request frame (without its size prefix) received by
    /// `node`: the response frame (with its size prefix), or `None` when no
    /// answer is due (acks=0) or the frame is not a request this cluster
    /// understands, in which case a broker closes the connection.
    pub fn handle(&mut self, node: i32, frame: Bytes) -> Option<Bytes> {
        let (header, mut body) = decode_request_header(frame).ok()?;
        let api = ApiKey::from_i16(header.request_api_key)?;
        let version = header.request_api_version;
        let correlation_id = header.correlation_id;
        // A request in a version the brokers do not claim is not understood
        // (ApiVersions has its own answer for that).
        if api != ApiKey::ApiVersions
            && self
                .claimed(api)
                .is_none_or(|(min, max)| version < min || version > max)
        {
            return None;
        }
        let mut out = BytesMut::new();
        match api {
            ApiKey::ApiVersions => {
                let supported = self
                    .claimed(ApiKey::ApiVersions)
                    .is_some_and(|(min, max)| (min..=max).contains(&version))
                    && ApiVersionsRequest::decode(&mut body, version).is_ok();
                let mut response = self.api_versions(supported);
                if let Some(code) = self.take_injected(ApiKey::ApiVersions) {
                    // Kafka lists its versions with UNSUPPORTED_VERSION
                    // (so the client can pick one) and nothing otherwise.
                    if code != KafkaCode::UnsupportedVersion {
                        response.api_keys.clear();
                    }
                    response.error_code = code.code();
                }
                // Unknown versions are answered in v0, listing what we speak.
                let v = if supported { version } else { 0 };
                encode_response(&mut out, correlation_id, v, &response).ok()?;
            }
            ApiKey::Metadata => {
                let request = MetadataRequest::decode(&mut body, version).ok()?;
                let response = self.metadata(version, &request);
                encode_response(&mut out, correlation_id, version, &response).ok()?;
            }
            ApiKey::Produce => {
                let request = ProduceRequest::decode(&mut body, version).ok()?;
                let response = self.produce(node, version, &request);
                if request.acks == 0 && !self.answer_acks0 {
                    return None;
                }
                encode_response(&mut out, correlation_id, version, &response).ok()?;
            }
            ApiKey::InitProducerId => {
                let request = InitProducerIdRequest::decode(&mut body, version).ok()?;
                let response = match request.transactional_id.as_deref() {
                    Some(id) if !id.is_empty() => self.txn_init_producer_id(node, &request),
                    _ => self.init_producer_id(&request),
                };
                encode_response(&mut out, correlation_id, version, &response).ok()?;
            }
            api => return self.handle_transactional(node, api, version, correlation_id, body),
        }
        Some(out.freeze())
    }

    fn init_producer_id(&mut self, request: &InitProducerIdRequest) -> InitProducerIdResponse {
        let refuse = |code: KafkaCode| {
            InitProducerIdResponse::default()
                .with_error_code(code.code())
                .with_producer_id(-1)
                .with_producer_epoch(-1)
        };
        if let Some(code) = self.take_injected(ApiKey::InitProducerId) {
            return refuse(code);
        }
        let known = (request.producer_id >= 0)
            .then(|| self.producer_epochs.get(&request.producer_id).copied())
            .flatten();
        let (id, epoch) = match known {
            // KIP-360: the producer asks to bump its own epoch.
            Some(current) if current == request.producer_epoch && current < i16::MAX => {
                (request.producer_id, current + 1)
            }
            // A retried bump whose answer was lost: the same answer again,
            // as Kafka's coordinator remembers the previous epoch (KIP-360).
            Some(current) if current > 0 && current - 1 == request.producer_epoch => {
                (request.producer_id, current)
            }
            Some(current) if current != request.producer_epoch => {
                return refuse(KafkaCode::ProducerFenced);
            }
            // A new id: first request, exhausted epoch, or an id the cluster
            // no longer knows.
            _ => {
                self.next_producer_id += 1;
                (
                    self.next_producer_id,
                    self.next_grant_epoch.take().unwrap_or(0),
                )
            }
        };
        self.producer_epochs.insert(id, epoch);
        InitProducerIdResponse::default()
            .with_producer_id(id)
            .with_producer_epoch(epoch)
    }

    /// Forgets every producer's state, as a broker restart without its
    /// snapshots would.
    pub fn forget_producers(&mut self) {
        for p in self.topics.values_mut().flat_map(|t| t.iter_mut()) {
            p.producers.clear();
        }
    }

    /// Restarts `node`'s producer state from its snapshot, as Kafka does:
    /// the snapshot keeps each producer's epoch and last batch only, so the
    /// broker forgets the four batches before it, and answers a retry of
    /// one of those OUT_OF_ORDER_SEQUENCE_NUMBER instead of recognising it.
    pub fn forget_producers_on(&mut self, node: i32) {
        for p in self.topics.values_mut().flat_map(|t| t.iter_mut()) {
            if p.leader == node {
                for entry in p.producers.values_mut() {
                    entry.keep_last();
                }
            }
        }
    }

    /// The first offset still in a partition's log.
    pub fn log_start(&self, topic: &str, partition: usize) -> i64 {
        self.topics
            .get(topic)
            .and_then(|t| t.get(partition))
            .map_or(0, |p| p.log_start)
    }

    /// Removes the partition's records below `offset` (retention). A
    /// producer whose last batch went with them is forgotten, as Kafka
    /// expires producer state with the last segment that held it.
    pub fn truncate_log(&mut self, topic: &str, partition: usize, offset: i64) {
        if let Some(p) = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.get_mut(partition))
        {
            let drop = usize::try_from(offset - p.log_start)
                .unwrap_or(0)
                .min(p.log.len());
            p.log.drain(..drop);
            p.log_start += drop as i64;
            let start = p.log_start;
            p.producers
                .retain(|_, e| e.last_offset().is_some_and(|o| o >= start));
        }
    }

    /// Sets a producer id's epoch, as if it had been bumped that far.
    pub fn set_producer_epoch(&mut self, producer_id: i64, epoch: i16) {
        self.producer_epochs.insert(producer_id, epoch);
    }

    pub(super) fn take_injected(&mut self, api: ApiKey) -> Option<KafkaCode> {
        self.injected
            .get_mut(&api.as_i16())
            .and_then(VecDeque::pop_front)
    }

    /// The versions of `api` the brokers claim, if any.
    fn claimed(&self, api: ApiKey) -> Option<(i16, i16)> {
        let (min, mut max) = api.versions();
        if api == ApiKey::Produce {
            max = max.min(self.max_produce_version);
        }
        if let Some(cap) = self.version_caps.get(&api.as_i16()) {
            max = max.min(*cap);
        }
        (max >= min).then_some((min, max))
    }

    fn api_versions(&mut self, supported: bool) -> ApiVersionsResponse {
        let keys = ApiKey::ALL
            .iter()
            .filter_map(|api| self.claimed(*api).map(|(min, max)| (api, min, max)))
            .map(|(api, min, max)| {
                ApiVersion::default()
                    .with_api_key(api.as_i16())
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect();
        let code = if supported {
            KafkaCode::None
        } else {
            KafkaCode::UnsupportedVersion
        };
        let response = ApiVersionsResponse::default()
            .with_error_code(code.code())
            .with_api_keys(keys);
        self.with_finalized_features(response)
    }

    fn metadata(&mut self, version: i16, request: &MetadataRequest) -> MetadataResponse {
        let injected = self.take_injected(ApiKey::Metadata);
        if injected == Some(KafkaCode::RebootstrapRequired) && version >= 13 {
            // Metadata v13's top-level code (KIP-1102), and nothing else;
            // an older version cannot carry it, and gets a plain answer.
            let code = KafkaCode::RebootstrapRequired.code();
            return MetadataResponse::default().with_error_code(code);
        }
        let injected = injected.filter(|c| *c != KafkaCode::RebootstrapRequired);
        let brokers = self
            .brokers
            .iter()
            .map(|b| {
                MetadataResponseBroker::default()
                    .with_node_id(b.node)
                    .with_host(b.host.clone())
                    .with_port(i32::from(b.port))
            })
            .collect();
        let names: Vec<String> = match &request.topics {
            Some(topics) => topics.iter().filter_map(|t| t.name.clone()).collect(),
            None => self.topics.keys().cloned().collect(),
        };
        let mut topics = Vec::new();
        for name in names {
            if !self.topics.contains_key(&name)
                && request.allow_auto_topic_creation
                && let Some(n) = self.auto_create_partitions
            {
                self.create_topic(&name, n);
            }
            let topic = match (injected, self.topics.get(&name)) {
                (Some(code), _) => MetadataResponseTopic::default()
                    .with_name(Some(name))
                    .with_error_code(code.code()),
                (None, None) => MetadataResponseTopic::default()
                    .with_name(Some(name))
                    .with_error_code(KafkaCode::UnknownTopicOrPartition.code()),
                (None, Some(parts)) => MetadataResponseTopic::default()
                    .with_topic_id(match self.topic_ids.id_of(&name) {
                        Some(id) if self.topic_ids_in_metadata && version >= 10 => id,
                        _ => Uuid::NIL,
                    })
                    .with_name(Some(name))
                    .with_partitions(
                        parts
                            .iter()
                            .enumerate()
                            .map(|(i, p)| {
                                MetadataResponsePartition::default()
                                    .with_partition_index(i as i32)
                                    .with_leader_id(p.leader)
                                    .with_leader_epoch(p.leader_epoch)
                                    .with_replica_nodes(alloc::vec![p.leader])
                                    .with_isr_nodes(alloc::vec![p.leader])
                            })
                            .collect(),
                    ),
            };
            topics.push(topic);
        }
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_controller_id(0)
            .with_topics(topics)
    }

    fn produce(&mut self, node: i32, version: i16, request: &ProduceRequest) -> ProduceResponse {
        // Kafka refuses transactional batches that come without the
        // transactional id they are authorized by.
        let injected = match super::txn_handlers::lacks_transactional_id(request) {
            true => Some(KafkaCode::TransactionalIdAuthorizationFailed),
            false => self.take_injected(ApiKey::Produce),
        };
        // Three codes come after the leader's append (a duplicate, too few
        // replicas after it, and acks=all's replication timeout): those are
        // told only after a real append, as a broker would.
        let after_append = injected.filter(|c| {
            matches!(
                c,
                KafkaCode::DuplicateSequenceNumber
                    | KafkaCode::NotEnoughReplicasAfterAppend
                    | KafkaCode::RequestTimedOut
            )
        });
        let injected = injected.filter(|_| after_append.is_none());
        // A broker that has a batch answers a retry of it as a duplicate,
        // whatever else it might say about sequences: those two codes are
        // never injected over a batch already in the log.
        let sequence_lie = |p: &Partition, records: &Option<Bytes>| {
            let Some(Ok(batches)) = records.clone().map(RecordBatch::decode_all) else {
                return false;
            };
            batches.iter().any(|b| {
                let h = b.header.producer;
                let last = ((i64::from(h.base_sequence) + b.records.len() as i64 - 1)
                    % (i64::from(i32::MAX) + 1)) as i32;
                matches!(
                    judge(
                        &p.producers,
                        h.producer_id,
                        h.producer_epoch,
                        h.base_sequence,
                        last
                    ),
                    Judgement::Duplicate { .. }
                )
            })
        };
        let max_log = self.max_log_records;
        let mut hinted: Vec<i32> = Vec::new();
        let mut responses = Vec::new();
        for t in &request.topic_data {
            // v13 names the topic by id only.
            let name = if version >= 13 {
                self.topic_ids.name_of(t.topic_id).map(String::from)
            } else {
                Some(t.name.clone())
            };
            let unknown = if version >= 13 {
                KafkaCode::UnknownTopicId
            } else {
                KafkaCode::UnknownTopicOrPartition
            };
            // A broker says UNKNOWN_TOPIC_ID only to a request by id.
            let injected = match injected {
                Some(KafkaCode::UnknownTopicId) if version < 13 => {
                    Some(KafkaCode::UnknownTopicOrPartition)
                }
                other => other,
            };
            let mut partitions = Vec::new();
            for pd in &t.partition_data {
                let mut answer = PartitionProduceResponse::default()
                    .with_index(pd.index)
                    .with_base_offset(-1);
                let code = match (
                    injected,
                    name.as_ref()
                        .and_then(|n| self.topics.get_mut(n))
                        .and_then(|ps| usize::try_from(pd.index).ok().and_then(|i| ps.get_mut(i))),
                ) {
                    (Some(code), Some(p))
                        if p.leader == node
                            && matches!(
                                code,
                                KafkaCode::OutOfOrderSequenceNumber | KafkaCode::UnknownProducerId
                            )
                            && sequence_lie(p, &pd.records) =>
                    {
                        // Answered as the broker would: appended before.
                        answer = answer.with_log_start_offset(p.log_start);
                        match validate(&pd.records, version) {
                            Ok(batches) => match append(p, batches, max_log, None) {
                                Ok(base) => {
                                    answer = answer.with_base_offset(base);
                                    KafkaCode::None
                                }
                                Err(code) => code,
                            },
                            Err(code) => code,
                        }
                    }
                    // Only a leader knows a producer's sequences: another
                    // broker answers NOT_LEADER_OR_FOLLOWER first.
                    (Some(code), Some(p))
                        if p.leader != node
                            && matches!(
                                code,
                                KafkaCode::OutOfOrderSequenceNumber | KafkaCode::UnknownProducerId
                            ) =>
                    {
                        KafkaCode::NotLeaderOrFollower
                    }
                    (Some(code), _) => code,
                    (None, None) => unknown,
                    (None, Some(p)) if p.leader != node => {
                        if self.leader_hints && version >= 10 {
                            answer = answer.with_current_leader(
                                LeaderIdAndEpoch::default()
                                    .with_leader_id(p.leader)
                                    .with_leader_epoch(p.leader_epoch),
                            );
                            hinted.push(p.leader);
                        }
                        KafkaCode::NotLeaderOrFollower
                    }
                    (None, Some(p)) => match validate(&pd.records, version) {
                        Ok(batches) => {
                            answer = answer.with_log_start_offset(p.log_start);
                            let check = Verify {
                                coordinators: &mut self.coordinators,
                                topic: name.as_deref().unwrap_or_default(),
                                partition: pd.index,
                                version,
                                now: self.now,
                            };
                            match append(p, batches, max_log, Some(check)) {
                                Ok(base) => {
                                    answer = answer.with_base_offset(base);
                                    KafkaCode::None
                                }
                                Err(code) => code,
                            }
                        }
                        Err(code) => code,
                    },
                };
                let (code, answer) = match after_append {
                    Some(told) if code == KafkaCode::None => (told, answer.with_base_offset(-1)),
                    _ => (code, answer),
                };
                partitions.push(answer.with_error_code(code.code()));
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(t.name.clone())
                    .with_topic_id(t.topic_id)
                    .with_partition_responses(partitions),
            );
        }
        let endpoints = self
            .brokers
            .iter()
            .filter(|b| hinted.contains(&b.node))
            .map(|b| {
                NodeEndpoint::default()
                    .with_node_id(b.node)
                    .with_host(b.host.clone())
                    .with_port(i32::from(b.port))
            })
            .collect();
        ProduceResponse::default()
            .with_responses(responses)
            .with_throttle_time_ms(self.throttle_ms)
            .with_node_endpoints(endpoints)
    }
}

/// What a partition leader asks the transaction coordinator before the
/// first batch of a transaction (KIP-890 part 1).
struct Verify<'a> {
    coordinators: &'a mut Coordinators,
    topic: &'a str,
    partition: i32,
    version: i16,
    now: Instant,
}

/// Appends decoded batches to a partition's log after the idempotence
/// and transaction checks; the base offset of the first, or the code
/// refusing them. `verify`: check a transaction's first batch with its
/// coordinator (`None`: a batch already known to be in the log).
fn append(
    p: &mut Partition,
    batches: Vec<RecordBatch>,
    max_log: usize,
    mut verify: Option<Verify<'_>>,
) -> Result<i64, KafkaCode> {
    let incoming: usize = batches.iter().map(|b| b.records.len()).sum();
    if p.log.len() + incoming > max_log {
        return Err(KafkaCode::KafkaStorageError);
    }
    let mut first_offset = None;
    for b in batches {
        let h = b.header;
        let transactional = h.attributes.is_transactional();
        if h.attributes.is_control() {
            // Only coordinators write markers.
            return Err(KafkaCode::InvalidRecord);
        }
        let pid = h.producer.producer_id;
        if !transactional && p.txns.is_open(pid) {
            return Err(KafkaCode::InvalidTxnState);
        }
        if transactional
            && !p.txns.is_open_at(pid, h.producer.producer_epoch)
            && let Some(v) = &mut verify
        {
            let tp = (String::from(v.topic), v.partition);
            let epoch = h.producer.producer_epoch;
            if v.version >= 12 {
                // Transactions v2: the batch adds its partition (KIP-890).
                v.coordinators.add_implicitly(pid, epoch, &tp, v.now)?;
            } else {
                v.coordinators.verify(pid, epoch, &tp, v.version >= 11)?;
            }
        }
        let n = b.records.len() as i64;
        let last_seq = if h.producer.base_sequence < 0 {
            -1
        } else {
            ((i64::from(h.producer.base_sequence) + n - 1) % (i64::from(i32::MAX) + 1)) as i32
        };
        let (pid, epoch, first_seq) = (
            h.producer.producer_id,
            h.producer.producer_epoch,
            h.producer.base_sequence,
        );
        match judge(&p.producers, pid, epoch, first_seq, last_seq) {
            Judgement::Refuse(code) => return Err(code),
            Judgement::Duplicate { base_offset } => {
                first_offset.get_or_insert(base_offset);
                continue;
            }
            Judgement::Append => {}
        }
        let base = p.log_start + p.log.len() as i64;
        first_offset.get_or_insert(base);
        remember(&mut p.producers, pid, epoch, first_seq, last_seq, base);
        if transactional {
            p.txns.on_append(pid, epoch, base);
        }
        for r in b.records {
            let offset = p.log_start + p.log.len() as i64;
            let sequence = if first_seq < 0 {
                -1
            } else {
                ((i64::from(first_seq) + i64::from(r.offset_delta)) % (i64::from(i32::MAX) + 1))
                    as i32
            };
            p.log.push(StoredRecord {
                offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r.headers,
                producer_id: pid,
                producer_epoch: epoch,
                sequence,
                transactional,
                control: None,
            });
        }
    }
    Ok(first_offset.unwrap_or(-1))
}

/// Reads a whole request frame's API key, for drivers that route by API.
pub fn request_api(frame: &[u8]) -> Option<ApiKey> {
    let mut r = Reader::new(Bytes::copy_from_slice(frame.get(..2)?));
    ApiKey::from_i16(r.i16().ok()?)
}
