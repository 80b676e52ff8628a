//! The simulated cluster's answers to the transaction APIs
//! (FindCoordinator, InitProducerId with a transactional id,
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn), its
//! clock (coordinator timeouts, markers written after their decision),
//! and what it shows of transactions: markers in the logs, the last stable
//! offset, the `read_committed` view, committed offsets, every decision
//! and every fence.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use core::time::Duration;

use super::cluster::{SimCluster, StoredRecord};
use super::coordinators::{Fence, TxnDecision};
use super::markers::{AbortedTxn, Marker, read_committed};
use super::producer_state::on_marker;
use crate::kafka_code::KafkaCode;
use crate::time::Instant;
use crate::wire::header::encode_response;
use crate::wire::messages::ProduceRequest;
use crate::wire::messages::add_partitions_to_txn::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use crate::wire::messages::api_versions::FinalizedFeatureKey;
use crate::wire::messages::find_coordinator::Coordinator;
use crate::wire::messages::txn_offset_commit::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use crate::wire::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, ApiKey, ApiVersionsResponse, EndTxnRequest, EndTxnResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use crate::wire::record_batch::BatchHeader;
use crate::wire::{Message, Reader};

/// Which coordinator a fault moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorKind {
    /// The transaction coordinator.
    Transaction,
    /// The group coordinator.
    Group,
}

/// Whether a Produce request carries transactional batches without a
/// transactional id, which Kafka refuses (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
pub(super) fn lacks_transactional_id(request: &ProduceRequest) -> bool {
    if request
        .transactional_id
        .as_deref()
        .is_some_and(|id| !id.is_empty())
    {
        return false;
    }
    request
        .topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter())
        .filter_map(|p| p.records.as_deref())
        .filter_map(|bytes| BatchHeader::peek(bytes).ok())
        .any(|h| h.attributes.is_transactional())
}

impl SimCluster {
    /// Answers a transaction API request, or `None` for an API this
    /// cluster does not speak.
    pub(super) fn handle_transactional(
        &mut self,
        node: i32,
        api: ApiKey,
        version: i16,
        correlation_id: i32,
        mut body: Reader,
    ) -> Option<Bytes> {
        let mut out = BytesMut::new();
        let injected = self.take_injected(api);
        match api {
            ApiKey::FindCoordinator => {
                let request = FindCoordinatorRequest::decode(&mut body, version).ok()?;
                let response = self.find_coordinator(&request, version, injected);
                encode_response(&mut out, correlation_id, version, &response).ok()?;
            }
            ApiKey::AddPartitionsToTxn if version <= 3 => {
                let request = AddPartitionsToTxnRequest::decode(&mut body, version).ok()?;
                let response = self.add_partitions(node, &request, injected);
                encode_response(&mut out, correlation_id, version, &response).ok()?;
            }
            ApiKey::AddOffsetsToTxn => {
                let request = AddOffsetsToTxnRequest::decode(&mut body, version).ok()?;
                let code = injected.map_or_else(
                    || {
                        self.coordinators.txn_check(node, self.now).and_then(|()| {
                            self.coordinators.add(
                                &request.transactional_id,
                                request.producer_id,
                                request.producer_epoch,
                                &[],
                                Some(&request.group_id),
                                self.now,
                            )
                        })
                    },
                    Err,
                );
                let response = AddOffsetsToTxnResponse::default()
                    .with_error_code(code.err().unwrap_or(KafkaCode::None).code());
                encode_response(&mut out, correlation_id, version, &response).ok()?;
            }
            ApiKey::TxnOffsetCommit => {
                let request = TxnOffsetCommitRequest::decode(&mut body, version).ok()?;
                let response = self.txn_offset_commit(node, version, &request, injected);
                encode_response(&mut out, correlation_id, version, &response).ok()?;
            }
            ApiKey::EndTxn if version >= 5 => {
                let request = EndTxnRequest::decode(&mut body, version).ok()?;
                let result = match injected {
                    Some(code) => Err(code),
                    None => self.coordinators.txn_check(node, self.now).and_then(|()| {
                        self.coordinators.end_v2(
                            &request.transactional_id,
                            request.producer_id,
                            request.producer_epoch,
                            request.committed,
                            self.now,
                        )
                    }),
                };
                let response = match result {
                    Ok((pid, epoch)) => EndTxnResponse::default()
                        .with_producer_id(pid)
                        .with_producer_epoch(epoch),
                    Err(code) => EndTxnResponse::default()
                        .with_error_code(code.code())
                        .with_producer_id(-1)
                        .with_producer_epoch(-1),
                };
                encode_response(&mut out, correlation_id, version, &response).ok()?;
            }
            ApiKey::EndTxn => {
                let request = EndTxnRequest::decode(&mut body, version).ok()?;
                let code = injected.map_or_else(
                    || {
                        self.coordinators.txn_check(node, self.now).and_then(|()| {
                            self.coordinators.end(
                                &request.transactional_id,
                                request.producer_id,
                                request.producer_epoch,
                                request.committed,
                                self.now,
                            )
                        })
                    },
                    Err,
                );
                let response = EndTxnResponse::default()
                    .with_error_code(code.err().unwrap_or(KafkaCode::None).code());
                encode_response(&mut out, correlation_id, version, &response).ok()?;
            }
            _ => return None,
        }
        Some(out.freeze())
    }

    fn find_coordinator(
        &self,
        request: &FindCoordinatorRequest,
        version: i16,
        injected: Option<KafkaCode>,
    ) -> FindCoordinatorResponse {
        let node = if request.key_type == 1 {
            self.coordinators.txn_node
        } else {
            self.coordinators.group_node
        };
        let broker = self.brokers.iter().find(|b| b.node == node);
        let (code, node, host, port) = match (injected, broker) {
            (Some(code), _) => (code, -1, String::new(), -1),
            (None, Some(b)) => (KafkaCode::None, b.node, b.host.clone(), i32::from(b.port)),
            (None, None) => (KafkaCode::CoordinatorNotAvailable, -1, String::new(), -1),
        };
        if version >= 4 {
            let coordinators = request
                .coordinator_keys
                .iter()
                .map(|key| {
                    Coordinator::default()
                        .with_key(key.clone())
                        .with_node_id(node)
                        .with_host(host.clone())
                        .with_port(port)
                        .with_error_code(code.code())
                })
                .collect();
            FindCoordinatorResponse::default().with_coordinators(coordinators)
        } else {
            FindCoordinatorResponse::default()
                .with_error_code(code.code())
                .with_node_id(node)
                .with_host(host)
                .with_port(port)
        }
    }

    pub(super) fn txn_init_producer_id(
        &mut self,
        node: i32,
        request: &InitProducerIdRequest,
    ) -> InitProducerIdResponse {
        let refuse = |code: KafkaCode| {
            InitProducerIdResponse::default()
                .with_error_code(code.code())
                .with_producer_id(-1)
                .with_producer_epoch(-1)
        };
        if let Some(code) = self.take_injected(ApiKey::InitProducerId) {
            return refuse(code);
        }
        if let Err(code) = self.coordinators.txn_check(node, self.now) {
            return refuse(code);
        }
        let id = request.transactional_id.clone().unwrap_or_default();
        let next = &mut self.next_producer_id;
        let mut new_id = || {
            *next += 1;
            *next
        };
        match self.coordinators.init_producer_id(
            &id,
            request.transaction_timeout_ms,
            (request.producer_id, request.producer_epoch),
            self.now,
            &mut new_id,
        ) {
            Ok((pid, epoch)) => InitProducerIdResponse::default()
                .with_producer_id(pid)
                .with_producer_epoch(epoch),
            Err(code) => refuse(code),
        }
    }

    fn add_partitions(
        &mut self,
        node: i32,
        request: &AddPartitionsToTxnRequest,
        injected: Option<KafkaCode>,
    ) -> AddPartitionsToTxnResponse {
        let wanted: Vec<(String, i32)> = request
            .v3_and_below_topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), *p)))
            .collect();
        // Partitions that do not exist fail alone; the others are then
        // not attempted, as Kafka answers.
        let unknown = |tp: &(String, i32)| {
            self.topics
                .get(&tp.0)
                .is_none_or(|ps| usize::try_from(tp.1).map_or(true, |i| i >= ps.len()))
        };
        let missing: Vec<bool> = wanted.iter().map(unknown).collect();
        let code = match injected {
            Some(code) => Err(code),
            None if missing.iter().any(|m| *m) => Err(KafkaCode::OperationNotAttempted),
            None => self.coordinators.txn_check(node, self.now).and_then(|()| {
                self.coordinators.add(
                    &request.v3_and_below_transactional_id,
                    request.v3_and_below_producer_id,
                    request.v3_and_below_producer_epoch,
                    &wanted,
                    None,
                    self.now,
                )
            }),
        };
        let mut results: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
        for ((topic, partition), missing) in wanted.iter().zip(missing) {
            let code = match (&code, missing) {
                (Err(KafkaCode::OperationNotAttempted), true) => KafkaCode::UnknownTopicOrPartition,
                (Err(c), _) => *c,
                (Ok(()), _) => KafkaCode::None,
            };
            let result = AddPartitionsToTxnPartitionResult::default()
                .with_partition_index(*partition)
                .with_partition_error_code(code.code());
            match results.iter_mut().find(|r| r.name == *topic) {
                Some(r) => r.results_by_partition.push(result),
                None => results.push(
                    AddPartitionsToTxnTopicResult::default()
                        .with_name(topic.clone())
                        .with_results_by_partition(alloc::vec![result]),
                ),
            }
        }
        AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
    }

    fn txn_offset_commit(
        &mut self,
        node: i32,
        version: i16,
        request: &TxnOffsetCommitRequest,
        injected: Option<KafkaCode>,
    ) -> TxnOffsetCommitResponse {
        let offsets: Vec<((String, i32), i64)> = request
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| ((t.name.clone(), p.partition_index), p.committed_offset))
            })
            .collect();
        let implicit = version >= 5;
        let now = self.now;
        let code = match injected {
            Some(code) => Err(code),
            None => self.coordinators.group_check(node, now).and_then(|()| {
                if implicit {
                    // Transactions v2: the group coordinator adds the
                    // offsets to the transaction itself.
                    self.coordinators.add_group_implicitly(
                        request.producer_id,
                        request.producer_epoch,
                        &request.group_id,
                        now,
                    )?;
                }
                self.coordinators.txn_offset_commit(
                    &request.transactional_id,
                    &request.group_id,
                    request.producer_id,
                    request.producer_epoch,
                    request.generation_id,
                    &request.member_id,
                    &offsets,
                )
            }),
        };
        let code = code.err().unwrap_or(KafkaCode::None);
        let topics = request
            .topics
            .iter()
            .map(|t| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code.code())
                            })
                            .collect(),
                    )
            })
            .collect();
        TxnOffsetCommitResponse::default().with_topics(topics)
    }

    // ---- The clock -----------------------------------------------------------

    /// Moves the cluster's clock to `now`: transactions past their timeout
    /// are aborted, and decided transactions get their markers.
    pub fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.coordinators.expire(self.now);
        for write in self.coordinators.due_markers(self.now) {
            for (topic, partition) in &write.partitions {
                self.write_marker(
                    topic,
                    *partition,
                    write.producer_id,
                    write.epoch,
                    write.marker,
                );
            }
        }
    }

    /// When the cluster's own clock makes something happen (a marker
    /// written, a transaction timing out), if ever.
    pub fn next_due(&self) -> Option<Instant> {
        self.coordinators.next_due()
    }

    fn write_marker(&mut self, topic: &str, partition: i32, pid: i64, epoch: i16, marker: Marker) {
        let Some(p) = self
            .topics
            .get_mut(topic)
            .and_then(|ps| usize::try_from(partition).ok().and_then(|i| ps.get_mut(i)))
        else {
            return;
        };
        let offset = p.log_start + p.log.len() as i64;
        p.log.push(StoredRecord {
            offset,
            timestamp: 0,
            key: None,
            value: None,
            headers: Vec::new(),
            producer_id: pid,
            producer_epoch: epoch,
            sequence: -1,
            transactional: true,
            control: Some(marker),
        });
        p.txns.on_marker(pid, marker, offset);
        on_marker(&mut p.producers, pid, epoch);
    }

    // ---- Faults and settings ---------------------------------------------------

    /// Moves a coordinator to `node`, which loads its state for `loading`
    /// (answering COORDINATOR_LOAD_IN_PROGRESS meanwhile); the old node
    /// answers NOT_COORDINATOR. The state itself survives, as it does in
    /// Kafka's internal topics.
    pub fn move_coordinator(&mut self, kind: CoordinatorKind, node: i32, loading: Duration) {
        let until = self.now + loading;
        match kind {
            CoordinatorKind::Transaction => {
                self.coordinators.txn_node = node;
                self.coordinators.txn_loading_until = until;
            }
            CoordinatorKind::Group => {
                self.coordinators.group_node = node;
                self.coordinators.group_loading_until = until;
            }
        }
    }

    /// The `transaction.version` the brokers report as finalized (2 and
    /// above: transactions v2), under a new features epoch, as a cluster
    /// upgraded with `kafka-features` would; connections opened from now
    /// on see it.
    pub fn finalize_transaction_version(&mut self, level: i16) {
        self.coordinators.transaction_version = level;
        self.coordinators.features_epoch += 1;
    }

    /// An ApiVersions answer with the finalized features, if any.
    pub(super) fn with_finalized_features(
        &self,
        response: ApiVersionsResponse,
    ) -> ApiVersionsResponse {
        let level = self.coordinators.transaction_version;
        if level <= 0 {
            return response;
        }
        response
            .with_finalized_features_epoch(self.coordinators.features_epoch.max(0))
            .with_finalized_features(alloc::vec![
                FinalizedFeatureKey::default()
                    .with_name(String::from("transaction.version"))
                    .with_max_version_level(level)
                    .with_min_version_level(level),
            ])
    }

    /// How long a coordinator takes from a decision to its markers.
    pub fn set_marker_delay(&mut self, delay: Duration) {
        self.coordinators.marker_delay = delay;
    }

    /// The group's generation moves on (a rebalance): offsets sent with
    /// the old one are refused with ILLEGAL_GENERATION.
    pub fn rebalance(&mut self, group: &str) -> i32 {
        let g = self
            .coordinators
            .groups
            .entry(String::from(group))
            .or_default();
        g.generation += 1;
        g.generation
    }

    /// The group's generation.
    pub fn generation(&self, group: &str) -> i32 {
        self.coordinators
            .groups
            .get(group)
            .map_or(0, |g| g.generation)
    }

    // ---- What transactions left --------------------------------------------

    /// The partition's last stable offset: a `read_committed` consumer
    /// reads no further.
    pub fn last_stable_offset(&self, topic: &str, partition: usize) -> i64 {
        self.topics
            .get(topic)
            .and_then(|t| t.get(partition))
            .map_or(0, |p| {
                p.txns.last_stable_offset(p.log_start + p.log.len() as i64)
            })
    }

    /// The partition's aborted transactions.
    pub fn aborted_transactions(&self, topic: &str, partition: usize) -> Vec<AbortedTxn> {
        self.topics
            .get(topic)
            .and_then(|t| t.get(partition))
            .map_or_else(Vec::new, |p| p.txns.aborted().to_vec())
    }

    /// What a `read_committed` consumer reads of the partition.
    pub fn read_committed(&self, topic: &str, partition: usize) -> Vec<StoredRecord> {
        let Some(p) = self.topics.get(topic).and_then(|t| t.get(partition)) else {
            return Vec::new();
        };
        let lso = p.txns.last_stable_offset(p.log_start + p.log.len() as i64);
        read_committed(&p.log, p.txns.aborted(), lso)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The group's committed offsets as a consumer that asks for stable
    /// offsets reads them (KIP-447, `require_stable`): `None` while any
    /// transaction holds offsets of the group that are not yet committed or
    /// dropped (Kafka answers UNSTABLE_OFFSET_COMMIT, and the consumer asks
    /// again).
    pub fn stable_offsets(&self, group: &str) -> Option<BTreeMap<(String, i32), i64>> {
        match self.coordinators.groups.get(group) {
            Some(g) if !g.pending.is_empty() => None,
            _ => Some(self.committed_offsets(group)),
        }
    }

    /// The group's committed offsets.
    pub fn committed_offsets(&self, group: &str) -> BTreeMap<(String, i32), i64> {
        self.coordinators
            .groups
            .get(group)
            .map(|g| g.committed.clone())
            .unwrap_or_default()
    }

    /// Every transaction end the coordinator decided, in order.
    pub fn transaction_decisions(&self) -> &[TxnDecision] {
        &self.coordinators.decisions
    }

    /// Every epoch the coordinator made stale, in order.
    pub fn fences(&self) -> &[Fence] {
        &self.coordinators.fences
    }
}
