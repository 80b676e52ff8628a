//! The transactional producer's glue: the transaction calls, and the
//! transaction manager's requests, answers and effects applied to the rest
//! of the producer (its connections, the accumulator, the producer id, the
//! events). The rules live in `crate::transaction`.

use alloc::string::ToString;
use alloc::vec::Vec;
use bytes::Bytes;

use super::{CloseCause, Producer};
use crate::cluster::Purpose;
use crate::error::{FatalError, ProduceError};
use crate::event::{ConnectionId, Event, Transmit};
use crate::idempotence::IdInput;
use crate::time::Instant;
use crate::transaction::{
    ConsumerGroupMetadata, Dest, Effect, OffsetCommit, TransactionCall, TransactionError,
    TransactionManager, TransactionState, Work,
};
use crate::wire::header::decode_response;
use crate::wire::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, EndTxnResponse, FindCoordinatorResponse,
    InitProducerIdResponse, TxnOffsetCommitResponse,
};

/// The feature whose finalized level 2 means transactions v2 (KIP-890).
const TRANSACTION_VERSION: &str = "transaction.version";

impl<T> Producer<T> {
    // ---- The transaction calls ---------------------------------------------

    /// Starts the producer's transactional life: finds the transaction
    /// coordinator of `transactional.id` and gets a producer id and epoch
    /// for it, which fences every earlier producer with the same id and
    /// aborts whatever transaction it left open. The outcome arrives as
    /// [`Event::Transaction`] with [`TransactionCall::InitTransactions`].
    ///
    /// Calling it again while it is under way changes nothing (the one
    /// outcome still comes).
    pub fn init_transactions(&mut self, now: Instant) -> Result<(), TransactionError> {
        self.transaction_call(TransactionCall::InitTransactions, now)
    }

    /// Opens a transaction. Local: no request, no event. Records may then
    /// be sent, and offsets with [`Producer::send_offsets_to_transaction`].
    pub fn begin_transaction(&mut self) -> Result<(), TransactionError> {
        let now = self.last_now;
        self.transaction_call(TransactionCall::BeginTransaction, now)
    }

    /// Adds consumed offsets to the open transaction: they are committed
    /// for `group` if and only if the transaction commits. `group` carries
    /// the consumer's generation and member (KIP-447), so a consumer that
    /// lost its partitions cannot commit for them. The outcome arrives as
    /// [`Event::Transaction`] with [`TransactionCall::SendOffsets`] (at once
    /// for no offsets).
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: impl IntoIterator<Item = OffsetCommit>,
        group: &ConsumerGroupMetadata,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let offsets: Vec<OffsetCommit> = offsets.into_iter().collect();
        group
            .check()
            .and_then(|()| offsets.iter().try_for_each(OffsetCommit::check))
            .map_err(|reason| TransactionError::InvalidGroupMetadata { reason })?;
        self.quiet_until = None;
        self.last_now = self.last_now.max(now);
        let txn = self
            .txn
            .as_mut()
            .ok_or(TransactionError::NotTransactional)?;
        txn.send_offsets(offsets, group.clone(), now)?;
        self.maintain(now);
        Ok(())
    }

    /// Commits the open transaction: sends every record without waiting
    /// for `linger.ms`, waits for all of them and for the offsets, then
    /// asks the coordinator to commit. The outcome arrives as
    /// [`Event::Transaction`] with [`TransactionCall::CommitTransaction`]; an
    /// abortable error there means the application must call
    /// [`Producer::abort_transaction`].
    pub fn commit_transaction(&mut self, now: Instant) -> Result<(), TransactionError> {
        self.transaction_call(TransactionCall::CommitTransaction, now)
    }

    /// Aborts the open transaction (also the way out of an abortable
    /// error): records not yet sent fail with [`TransactionError::Aborted`],
    /// those in flight are waited for, then the coordinator writes abort
    /// markers. The outcome arrives as [`Event::Transaction`] with
    /// [`TransactionCall::AbortTransaction`].
    pub fn abort_transaction(&mut self, now: Instant) -> Result<(), TransactionError> {
        self.transaction_call(TransactionCall::AbortTransaction, now)
    }

    /// The transaction state, for a producer with a `transactional.id`.
    pub fn transaction_state(&self) -> Option<TransactionState> {
        self.txn.as_ref().map(TransactionManager::state)
    }

    fn transaction_call(
        &mut self,
        call: TransactionCall,
        now: Instant,
    ) -> Result<(), TransactionError> {
        self.quiet_until = None;
        self.last_now = self.last_now.max(now);
        let txn = self
            .txn
            .as_mut()
            .ok_or(TransactionError::NotTransactional)?;
        txn.call(call, now)?;
        if call == TransactionCall::CommitTransaction {
            // Every record of the transaction goes now.
            self.flushing = true;
        }
        self.maintain(now);
        Ok(())
    }

    // ---- Hooks the rest of the producer calls --------------------------------

    /// Whether a transactional producer may take a record now.
    pub(super) fn transaction_refuses_send(&self) -> Option<TransactionError> {
        self.txn.as_ref().and_then(|t| t.check_send().err())
    }

    /// A record of the transaction was placed on partition `(topic, p)`.
    pub(super) fn transaction_placed(&mut self, topic: u32, partition: i32, now: Instant) {
        if let Some(txn) = &mut self.txn {
            txn.add_partition((topic, partition), now);
        }
    }

    /// Records failed with `error` (`numbered`: the batch had sequence
    /// numbers): an error of the transaction itself changes nothing more,
    /// any other makes the transaction abortable (or fatal).
    pub(super) fn transaction_records_failed(&mut self, numbered: bool, error: &ProduceError) {
        let now = self.last_now;
        let Some(txn) = &mut self.txn else {
            return;
        };
        match error {
            // The producer gave up on everything, the transaction with it.
            ProduceError::Fatal(_) | ProduceError::Aborted { .. } => {}
            ProduceError::Transaction(e) => {
                if numbered {
                    // Its sequence numbers are spent without a write the
                    // broker knows of: the next transaction needs a new
                    // epoch.
                    txn.abortable(e.clone(), true);
                }
            }
            other => txn.record_failed(other.code(), now),
        }
    }

    /// The producer is closing: an open transaction is aborted first.
    pub(super) fn transaction_close(&mut self, now: Instant) {
        if let Some(txn) = &mut self.txn {
            txn.close();
        }
        self.apply_transaction_effects(now);
    }

    /// The producer closed or gave up: calls still owed an outcome get one.
    pub(super) fn transaction_abandon(&mut self, now: Instant) {
        if let Some(txn) = &mut self.txn {
            txn.abandon();
        }
        self.apply_transaction_effects(now);
    }

    /// Whether a commit or abort must finish before the producer closes.
    pub(super) fn transaction_ending(&self) -> bool {
        self.txn.as_ref().is_some_and(TransactionManager::ending)
    }

    /// The producer entered its fatal state.
    pub(super) fn transaction_producer_fatal(&mut self, error: &FatalError) {
        if let Some(txn) = &mut self.txn {
            txn.producer_fatal(error.to_string());
        }
    }

    /// A broker reported its finalized features.
    pub(super) fn transaction_features(&mut self, epoch: i64, level: Option<i16>) {
        if let Some(txn) = &mut self.txn {
            txn.features(epoch, level);
        }
    }

    /// The level of `transaction.version` among finalized features.
    pub(super) fn transaction_version_of(
        features: &[crate::wire::messages::api_versions::FinalizedFeatureKey],
    ) -> Option<i16> {
        features
            .iter()
            .find(|f| f.name == TRANSACTION_VERSION)
            .map(|f| f.max_version_level)
    }

    /// After every input: records not sent while the transaction cannot
    /// commit fail; a transaction the coordinator never heard of ends
    /// without a request; the manager's effects are applied.
    pub(super) fn maintain_transaction(&mut self, now: Instant) {
        let Some(txn) = &self.txn else {
            return;
        };
        if let Some(error) = txn.failing_unsent()
            && self.acc.queued_records() > 0
        {
            self.fail_all_pending(ProduceError::Transaction(error));
        }
        let pending = !self.acc.is_empty();
        if let Some(txn) = &mut self.txn {
            txn.settle(pending);
        }
        self.apply_transaction_effects(now);
    }

    /// Applies what the manager asks for.
    pub(super) fn apply_transaction_effects(&mut self, now: Instant) {
        while let Some(effect) = self.txn.as_mut().and_then(TransactionManager::take_effect) {
            match effect {
                Effect::Outcome { call, result } => {
                    self.events.push_back(Event::Transaction { call, result })
                }
                Effect::Identity { producer_id, epoch } => {
                    self.identity.on(IdInput::Assigned {
                        id: producer_id,
                        epoch,
                    });
                    self.acc.restart_all_sequences((producer_id, epoch));
                }
                Effect::Coordinator { node, host, port } => {
                    self.meta.learn_broker(node, &host, port);
                }
                Effect::Fatal(error) => self.enter_fatal(FatalError::Transaction(error), now),
                Effect::Error(code) => self.metrics.partition_error(code),
            }
        }
    }

    /// The transaction request connection `id` should send now, if any.
    pub(super) fn transaction_transmit(
        &mut self,
        id: ConnectionId,
        now: Instant,
    ) -> Option<Transmit> {
        let pending = !self.acc.is_empty();
        let (work, dest) = self.txn.as_ref()?.next_work(now, pending)?;
        let conn = self.conns.get(&id)?;
        if let Dest::Node(node) = dest
            && conn.node != node
        {
            return None;
        }
        let api = work.api();
        let Some(negotiated) = conn.version(api) else {
            let error = TransactionError::UnsupportedVersion {
                api,
                what: "take part in transactions",
            };
            self.fail_transaction(error, now);
            return None;
        };
        let txn = self.txn.as_mut()?;
        let version = txn.cap_version(api, negotiated);
        let purpose = Purpose::Transaction(work);
        let acc = &self.acc;
        let transmit = match work {
            Work::FindCoordinator(kind) => match txn.find_coordinator_request(kind, version) {
                Ok(r) => self.control_transmit(id, version, &r, purpose, now),
                Err(e) => return self.fail_transaction(e, now),
            },
            Work::InitProducerId => match txn.init_producer_id_request(version) {
                Ok(r) => self.control_transmit(id, version, &r, purpose, now),
                Err(e) => return self.fail_transaction(e, now),
            },
            Work::AddPartitions => {
                let r = txn.add_partitions_request(|t| {
                    acc.topics
                        .get(t as usize)
                        .map(|t| t.name.clone())
                        .unwrap_or_default()
                });
                self.control_transmit(id, version, &r, purpose, now)
            }
            Work::AddOffsets => {
                let r = txn.add_offsets_request();
                self.control_transmit(id, version, &r, purpose, now)
            }
            Work::TxnOffsetCommit => match txn.txn_offset_commit_request(version) {
                Ok(r) => self.control_transmit(id, version, &r, purpose, now),
                Err(e) => return self.fail_transaction(e, now),
            },
            Work::EndTxn => {
                let r = txn.end_txn_request();
                self.control_transmit(id, version, &r, purpose, now)
            }
        };
        if transmit.is_none()
            && let Some(txn) = &mut self.txn
        {
            // Could not be encoded (cannot happen with these fields): as if
            // lost, so that it is tried again rather than forgotten.
            txn.lost(work, now);
        }
        transmit
    }

    fn fail_transaction(&mut self, error: TransactionError, now: Instant) -> Option<Transmit> {
        if let Some(txn) = &mut self.txn {
            txn.fatal(error);
        }
        self.apply_transaction_effects(now);
        None
    }

    /// The answer to a transaction request.
    pub(super) fn on_transaction_answer(
        &mut self,
        id: ConnectionId,
        work: Work,
        version: i16,
        frame: Bytes,
        now: Instant,
    ) {
        let Some(txn) = &mut self.txn else {
            return;
        };
        let decoded = match work {
            Work::FindCoordinator(kind) => {
                decode_response::<FindCoordinatorResponse>(frame, version)
                    .map(|(_, r)| txn.on_find_coordinator(kind, &r, version, now))
            }
            Work::InitProducerId => decode_response::<InitProducerIdResponse>(frame, version)
                .map(|(_, r)| txn.on_init_producer_id(&r, now)),
            Work::AddPartitions => {
                let acc = &self.acc;
                decode_response::<AddPartitionsToTxnResponse>(frame, version).map(|(_, r)| {
                    txn.on_add_partitions(
                        &r,
                        |t| {
                            acc.topics
                                .get(t as usize)
                                .map(|t| t.name.clone())
                                .unwrap_or_default()
                        },
                        now,
                    )
                })
            }
            Work::AddOffsets => decode_response::<AddOffsetsToTxnResponse>(frame, version)
                .map(|(_, r)| txn.on_add_offsets(&r, now)),
            Work::TxnOffsetCommit => decode_response::<TxnOffsetCommitResponse>(frame, version)
                .map(|(_, r)| txn.on_txn_offset_commit(&r, now)),
            Work::EndTxn => decode_response::<EndTxnResponse>(frame, version)
                .map(|(_, r)| txn.on_end_txn(&r, version, now)),
        };
        if decoded.is_err() {
            txn.lost(work, now);
            self.close_connection(id, CloseCause::Protocol, now);
        }
        self.apply_transaction_effects(now);
    }

    /// A transaction request's answer will not come.
    pub(super) fn transaction_request_lost(&mut self, work: Work, now: Instant) {
        if let Some(txn) = &mut self.txn {
            txn.lost(work, now);
        }
    }

    /// Connections the transaction manager needs: to its coordinator, or
    /// to any broker for FindCoordinator.
    pub(super) fn plan_transaction_connections(&mut self, now: Instant) {
        let pending = !self.acc.is_empty();
        let Some((_, dest)) = self.txn.as_ref().and_then(|t| t.due_work(pending)) else {
            return;
        };
        match dest {
            Dest::Node(node) => self.connect(node, now),
            Dest::Any if self.conns.is_empty() => {
                let candidate = self
                    .meta
                    .brokers
                    .iter()
                    .filter(|(_, b)| b.conn.is_none() && b.reconnect_at <= now)
                    .min_by_key(|(node, b)| (**node < 0, b.failures, **node))
                    .map(|(node, _)| *node);
                if let Some(node) = candidate {
                    self.connect(node, now);
                }
            }
            Dest::Any => {}
        }
    }

    /// When the transaction manager has a request to send, if time alone
    /// makes it due (`usable`: when some connection can take a request).
    pub(super) fn transaction_due(&self, usable: Option<Instant>) -> Option<Instant> {
        let pending = !self.acc.is_empty();
        let txn = self.txn.as_ref()?;
        let (_, dest) = txn.due_work(pending)?;
        let at = txn.due_at(pending)?;
        let now = self.last_now;
        let max = self.config.max_in_flight_requests_per_connection();
        match dest {
            Dest::Any => match usable {
                Some(u) => Some(at.max(u)),
                None if self.conns.is_empty() => self
                    .meta
                    .brokers
                    .values()
                    .map(|b| b.reconnect_at)
                    .min()
                    .map(|r| at.max(r).max(now)),
                // A connection is on its way; its setup wakes us.
                None => None,
            },
            Dest::Node(node) => {
                let broker = self.meta.brokers.get(&node)?;
                match broker.conn.and_then(|c| self.conns.get(&c)) {
                    Some(c) if c.is_ready() && c.requests_in_flight() < max => {
                        Some(at.max(c.throttled_until).max(now))
                    }
                    // Busy or still opening: an answer or its setup wakes us.
                    Some(_) => None,
                    None => Some(broker.reconnect_at.max(at).max(now)),
                }
            }
        }
    }

    /// Whether a batch of `(topic, partition)` may be sent: its partition
    /// is in the transaction.
    pub(super) fn transaction_allows(&self, topic: u32, partition: i32) -> bool {
        self.txn
            .as_ref()
            .is_none_or(|t| t.may_drain((topic, partition)))
    }

    /// The Produce version to speak under the transaction's protocol.
    pub(super) fn transaction_produce_version(&self, negotiated: i16) -> i16 {
        match &self.txn {
            Some(t) => t.cap_version(crate::wire::ApiKey::Produce, negotiated),
            None => negotiated,
        }
    }
}
