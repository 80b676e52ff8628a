//! Applying the coordinators' answers to the manager, by the rules of
//! `rules.rs`. An answer that is not for the request in flight (or comes
//! after the fatal state) is ignored.

use alloc::string::String;

use super::error::ErrorClass;
use super::manager::{CoordinatorType, Effect, TransactionManager, Work};
use super::rules::{self, Reaction};
use super::state::{TransactionCall, TransactionState};
use crate::kafka_code::KafkaCode;
use crate::time::Instant;
use crate::wire::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, EndTxnResponse, FindCoordinatorResponse,
    InitProducerIdResponse, TxnOffsetCommitResponse,
};

impl TransactionManager {
    /// Takes `work` out of flight; false when the answer is not for it.
    fn answered(&mut self, work: Work) -> bool {
        if self.in_flight != Some(work) {
            return false;
        }
        self.in_flight = None;
        self.state() != TransactionState::FatalError
    }

    /// Applies a reaction other than `Done` with the error it would be.
    fn fail(
        &mut self,
        work: Work,
        reaction: Reaction,
        code: KafkaCode,
        message: Option<String>,
        now: Instant,
    ) {
        let class = reaction.class().unwrap_or(ErrorClass::Fatal);
        if code.is_error() {
            self.push_effect(Effect::Error(code));
        }
        let error = self.error_for(work.api(), code, class, message, now);
        self.react(work, reaction, error, now);
    }

    pub(crate) fn on_find_coordinator(
        &mut self,
        kind: CoordinatorType,
        response: &FindCoordinatorResponse,
        version: i16,
        now: Instant,
    ) {
        let work = Work::FindCoordinator(kind);
        if !self.answered(work) {
            return;
        }
        let key = match kind {
            CoordinatorType::Transaction => Some(self.transactional_id.clone()),
            CoordinatorType::Group => self.offsets.front().map(|o| o.group.group_id.clone()),
        };
        let Some(key) = key else {
            // The offsets it was for were given up meanwhile.
            return;
        };
        let found = if version >= 4 {
            response
                .coordinators
                .iter()
                .find(|c| c.key == key)
                .map(|c| {
                    (
                        c.error_code,
                        c.node_id,
                        c.host.clone(),
                        c.port,
                        c.error_message.clone(),
                    )
                })
        } else {
            Some((
                response.error_code,
                response.node_id,
                response.host.clone(),
                response.port,
                response.error_message.clone(),
            ))
        };
        // A batched answer without our key: as good as no answer.
        let (code, node, host, port, message) = found.unwrap_or((
            KafkaCode::CoordinatorNotAvailable.code(),
            -1,
            String::new(),
            -1,
            None,
        ));
        let code = KafkaCode::from_i16(code);
        let reaction = rules::find_coordinator(code);
        if reaction != Reaction::Done {
            self.fail(work, reaction, code, message, now);
            return;
        }
        let Ok(port) = u16::try_from(port) else {
            self.fail(
                work,
                Reaction::Retry,
                KafkaCode::CoordinatorNotAvailable,
                None,
                now,
            );
            return;
        };
        if node < 0 || host.is_empty() {
            self.fail(
                work,
                Reaction::Retry,
                KafkaCode::CoordinatorNotAvailable,
                None,
                now,
            );
            return;
        }
        match kind {
            CoordinatorType::Transaction => self.coordinator = Some(node),
            CoordinatorType::Group => self.group_coordinator = Some((key, node)),
        }
        self.retry_at = now;
        self.push_effect(Effect::Coordinator { node, host, port });
    }

    pub(crate) fn on_init_producer_id(&mut self, response: &InitProducerIdResponse, now: Instant) {
        let work = Work::InitProducerId;
        if !self.answered(work) {
            return;
        }
        let code = KafkaCode::from_i16(response.error_code);
        let reaction = rules::init_producer_id(code);
        if reaction != Reaction::Done {
            self.fail(work, reaction, code, None, now);
            return;
        }
        if response.producer_id < 0 || response.producer_epoch < 0 {
            // No error and no id: ask again.
            self.fail(work, Reaction::Retry, code, None, now);
            return;
        }
        if self.state() != TransactionState::Initializing {
            return;
        }
        self.granted(response.producer_id, response.producer_epoch);
        self.initialized();
    }

    pub(crate) fn on_add_partitions(
        &mut self,
        response: &AddPartitionsToTxnResponse,
        name: impl Fn(u32) -> String,
        now: Instant,
    ) {
        let work = Work::AddPartitions;
        if !self.answered(work) {
            return;
        }
        let adding = core::mem::take(&mut self.adding);
        // The first error decides; OPERATION_NOT_ATTEMPTED only says that
        // another partition failed, and a partition left out of the answer
        // is as good as not answered.
        let mut worst: Option<KafkaCode> = None;
        for (t, p) in &adding {
            let topic = name(*t);
            let code = response
                .results_by_topic_v3_and_below
                .iter()
                .filter(|r| r.name == topic)
                .flat_map(|r| r.results_by_partition.iter())
                .find(|r| r.partition_index == *p)
                .map_or(KafkaCode::NetworkException, |r| {
                    KafkaCode::from_i16(r.partition_error_code)
                });
            match (worst, code) {
                (_, KafkaCode::None) => {}
                (None | Some(KafkaCode::OperationNotAttempted), code) => worst = Some(code),
                _ => {}
            }
        }
        let Some(code) = worst else {
            self.added.extend(adding);
            self.started = true;
            return;
        };
        let reaction = rules::add_partitions(code, !self.added.is_empty());
        if matches!(
            reaction,
            Reaction::Retry | Reaction::RetrySoon | Reaction::Rediscover
        ) && !matches!(
            self.state(),
            TransactionState::AbortingTransaction | TransactionState::AbortableError
        ) {
            self.pending.extend(adding);
        }
        self.fail(work, reaction, code, None, now);
    }

    pub(crate) fn on_add_offsets(&mut self, response: &AddOffsetsToTxnResponse, now: Instant) {
        let work = Work::AddOffsets;
        if !self.answered(work) {
            return;
        }
        let code = KafkaCode::from_i16(response.error_code);
        let reaction = rules::add_offsets(code);
        if reaction != Reaction::Done {
            self.fail(work, reaction, code, None, now);
            return;
        }
        self.started = true;
        if let Some(front) = self.offsets.front_mut() {
            front.added = true;
        }
    }

    pub(crate) fn on_txn_offset_commit(
        &mut self,
        response: &TxnOffsetCommitResponse,
        now: Instant,
    ) {
        let work = Work::TxnOffsetCommit;
        if !self.answered(work) {
            return;
        }
        let Some(front) = self.offsets.front_mut() else {
            return;
        };
        // The worst answer decides; committed partitions are done.
        let rank = |r: Reaction| match r {
            Reaction::Done => 0,
            Reaction::Retry | Reaction::RetrySoon => 1,
            Reaction::Rediscover => 2,
            Reaction::Abortable { .. } => 3,
            Reaction::Fatal => 4,
        };
        let mut worst = (Reaction::Done, KafkaCode::None);
        for t in &response.topics {
            for p in &t.partitions {
                let code = KafkaCode::from_i16(p.error_code);
                let reaction = rules::txn_offset_commit(code);
                if reaction == Reaction::Done {
                    front
                        .offsets
                        .retain(|o| !(o.topic == t.name && o.partition == p.partition_index));
                } else if rank(reaction) > rank(worst.0) {
                    worst = (reaction, code);
                }
            }
        }
        if front.offsets.is_empty() {
            self.offsets.pop_front();
            self.outcome(TransactionCall::SendOffsets, Ok(()));
            return;
        }
        if self.state() == TransactionState::AbortingTransaction {
            self.offsets.pop_front();
            self.outcome(
                TransactionCall::SendOffsets,
                Err(super::TransactionError::Aborted),
            );
            return;
        }
        let (reaction, code) = match worst {
            // Partitions the answer left out: ask again.
            (Reaction::Done, _) => (Reaction::Retry, KafkaCode::NetworkException),
            w => w,
        };
        self.fail(work, reaction, code, None, now);
    }

    pub(crate) fn on_end_txn(&mut self, response: &EndTxnResponse, version: i16, now: Instant) {
        let work = Work::EndTxn;
        if !self.answered(work) {
            return;
        }
        let aborting = self.state() == TransactionState::AbortingTransaction;
        let code = KafkaCode::from_i16(response.error_code);
        let reaction = rules::end_txn(code, aborting);
        if reaction != Reaction::Done {
            self.fail(work, reaction, code, None, now);
            return;
        }
        if !self.ending() {
            return;
        }
        // Transactions v2: the coordinator bumped the epoch (or gave a new
        // id when the epoch ran out), and every partition starts again.
        if self.v2 && version >= 5 && response.producer_id >= 0 && response.producer_epoch >= 0 {
            self.granted(response.producer_id, response.producer_epoch);
        }
        self.ended();
    }
}
