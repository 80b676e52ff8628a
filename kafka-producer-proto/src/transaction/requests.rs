//! Building the transaction requests the manager decided are due. Each
//! builder takes the version the connection negotiated, refuses a version
//! that cannot carry what is needed, and marks the request in flight.

use alloc::string::String;
use alloc::vec::Vec;

use super::error::TransactionError;
use super::manager::{CoordinatorType, TransactionManager, Work};
use crate::time::millis_i32;
use crate::wire::ApiKey;
use crate::wire::messages::add_partitions_to_txn::AddPartitionsToTxnTopic;
use crate::wire::messages::txn_offset_commit::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use crate::wire::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest,
    InitProducerIdRequest, TxnOffsetCommitRequest,
};

/// The highest AddPartitionsToTxn a client speaks: v4 and later are the
/// brokers' own batched form (KIP-890), and a broker takes a v4+ request as
/// one from a transactions v2 client.
pub(crate) const ADD_PARTITIONS_CLIENT_MAX: i16 = 3;
/// Under transactions v1, EndTxn and TxnOffsetCommit stay below the
/// versions that mean v2 to the broker.
pub(crate) const END_TXN_V1_MAX: i16 = 4;
pub(crate) const TXN_OFFSET_COMMIT_V1_MAX: i16 = 4;
/// The last Produce version before transactions v2.
pub(crate) const PRODUCE_V1_MAX: i16 = 11;

impl TransactionManager {
    /// The version to speak of `api` on a connection that negotiated
    /// `negotiated`, under this transaction's protocol.
    pub(crate) fn cap_version(&self, api: ApiKey, negotiated: i16) -> i16 {
        let cap = match api {
            ApiKey::AddPartitionsToTxn => ADD_PARTITIONS_CLIENT_MAX,
            ApiKey::EndTxn if !self.v2 => END_TXN_V1_MAX,
            ApiKey::TxnOffsetCommit if !self.v2 => TXN_OFFSET_COMMIT_V1_MAX,
            ApiKey::Produce if !self.v2 => PRODUCE_V1_MAX,
            _ => i16::MAX,
        };
        negotiated.min(cap)
    }

    /// FindCoordinator for `kind` (the transactional id, or the group of
    /// the offsets being sent).
    pub(crate) fn find_coordinator_request(
        &mut self,
        kind: CoordinatorType,
        version: i16,
    ) -> Result<FindCoordinatorRequest, TransactionError> {
        let (key, key_type) = match kind {
            CoordinatorType::Transaction => (self.transactional_id.clone(), 1),
            CoordinatorType::Group => (
                self.offsets
                    .front()
                    .map(|o| o.group.group_id.clone())
                    .unwrap_or_default(),
                0,
            ),
        };
        let request = match version {
            0 if key_type != 0 => {
                return Err(TransactionError::UnsupportedVersion {
                    api: ApiKey::FindCoordinator,
                    what: "find a transaction coordinator",
                });
            }
            0..=3 => FindCoordinatorRequest::default()
                .with_key(key)
                .with_key_type(key_type),
            _ => FindCoordinatorRequest::default()
                .with_key_type(key_type)
                .with_coordinator_keys(alloc::vec![key]),
        };
        self.sent(Work::FindCoordinator(kind));
        Ok(request)
    }

    /// InitProducerId for the transactional id: a first one, or a bump of
    /// the current epoch (which needs v3, KIP-360).
    pub(crate) fn init_producer_id_request(
        &mut self,
        version: i16,
    ) -> Result<InitProducerIdRequest, TransactionError> {
        let (id, epoch) = if self.bump_next {
            if version < 3 {
                return Err(TransactionError::UnsupportedVersion {
                    api: ApiKey::InitProducerId,
                    what: "bump the epoch after an abortable error (KIP-360, Kafka 2.5)",
                });
            }
            (self.producer_id, self.epoch)
        } else {
            (-1, -1)
        };
        self.sent(Work::InitProducerId);
        Ok(InitProducerIdRequest::default()
            .with_transactional_id(Some(self.transactional_id.clone()))
            .with_transaction_timeout_ms(millis_i32(self.timeout))
            .with_producer_id(id)
            .with_producer_epoch(epoch))
    }

    /// AddPartitionsToTxn (v0-3) with every partition waiting to be
    /// added: one request per drain of the pending set. `name` gives a
    /// topic index's name.
    pub(crate) fn add_partitions_request(
        &mut self,
        name: impl Fn(u32) -> String,
    ) -> AddPartitionsToTxnRequest {
        self.adding = core::mem::take(&mut self.pending).into_iter().collect();
        let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
        let mut last = None;
        for (t, p) in &self.adding {
            match topics.last_mut() {
                Some(topic) if last == Some(*t) => topic.partitions.push(*p),
                _ => {
                    last = Some(*t);
                    topics.push(
                        AddPartitionsToTxnTopic::default()
                            .with_name(name(*t))
                            .with_partitions(alloc::vec![*p]),
                    );
                }
            }
        }
        self.sent(Work::AddPartitions);
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(self.transactional_id.clone())
            .with_v3_and_below_producer_id(self.producer_id)
            .with_v3_and_below_producer_epoch(self.epoch)
            .with_v3_and_below_topics(topics)
    }

    /// AddOffsetsToTxn for the group of the offsets being sent.
    pub(crate) fn add_offsets_request(&mut self) -> AddOffsetsToTxnRequest {
        let group = self
            .offsets
            .front()
            .map(|o| o.group.group_id.clone())
            .unwrap_or_default();
        self.sent(Work::AddOffsets);
        AddOffsetsToTxnRequest::default()
            .with_transactional_id(self.transactional_id.clone())
            .with_producer_id(self.producer_id)
            .with_producer_epoch(self.epoch)
            .with_group_id(group)
    }

    /// TxnOffsetCommit of the offsets being sent that are not committed
    /// yet, to the group coordinator. Group membership (KIP-447) needs v3.
    pub(crate) fn txn_offset_commit_request(
        &mut self,
        version: i16,
    ) -> Result<TxnOffsetCommitRequest, TransactionError> {
        let Some(front) = self.offsets.front() else {
            return Err(TransactionError::Aborted);
        };
        if version < 3 && front.group.has_membership() {
            return Err(TransactionError::UnsupportedVersion {
                api: ApiKey::TxnOffsetCommit,
                what: "carry the consumer group's generation and member (KIP-447, Kafka 2.5)",
            });
        }
        let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
        for o in &front.offsets {
            let partition = TxnOffsetCommitRequestPartition::default()
                .with_partition_index(o.partition)
                .with_committed_offset(o.offset)
                .with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                .with_committed_metadata(Some(o.metadata.clone().unwrap_or_default()));
            match topics.iter_mut().find(|t| t.name == o.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(
                    TxnOffsetCommitRequestTopic::default()
                        .with_name(o.topic.clone())
                        .with_partitions(alloc::vec![partition]),
                ),
            }
        }
        let group = &front.group;
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(self.transactional_id.clone())
            .with_group_id(group.group_id.clone())
            .with_producer_id(self.producer_id)
            .with_producer_epoch(self.epoch)
            .with_generation_id(group.generation_id)
            .with_member_id(group.member_id.clone())
            .with_group_instance_id(group.group_instance_id.clone())
            .with_topics(topics);
        self.sent(Work::TxnOffsetCommit);
        Ok(request)
    }

    /// EndTxn: commit or abort, as the state says.
    pub(crate) fn end_txn_request(&mut self) -> EndTxnRequest {
        let committed = self.state() == super::TransactionState::CommittingTransaction;
        self.sent(Work::EndTxn);
        EndTxnRequest::default()
            .with_transactional_id(self.transactional_id.clone())
            .with_producer_id(self.producer_id)
            .with_producer_epoch(self.epoch)
            .with_committed(committed)
    }
}
