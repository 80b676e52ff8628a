//! [`TransactionManager`]: a transactional producer's state between its
//! calls and the coordinators' answers. It owns the transaction state, the
//! producer id and epoch it got for the `transactional.id`, the
//! coordinators, the partitions and offsets of the open transaction, and
//! the one transaction request in flight. It decides which request is due
//! ([`TransactionManager::next_work`]), builds it (`requests.rs`) and
//! applies its answer (`answers.rs`); what the producer must do about it
//! comes out as [`Effect`]s.
//!
//! It knows nothing of the producer: partitions are the producer's
//! `(topic index, partition)` pairs, and the producer tells it when records
//! fail and whether batches are still pending.

use alloc::collections::{BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use super::error::{ErrorClass, TransactionError};
use super::group::{ConsumerGroupMetadata, OffsetCommit};
use super::rules::{Reaction, fences};
use super::state::{Input, Refused, Step, TransactionCall, TransactionState, next};
use crate::kafka_code::KafkaCode;
use crate::time::Instant;
use crate::wire::ApiKey;

/// A partition, as the producer numbers it: (topic index, partition).
pub(crate) type TopicPartition = (u32, i32);

/// Which coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CoordinatorType {
    /// The transaction coordinator of the `transactional.id` (key type 1).
    Transaction,
    /// The group coordinator of a consumer group (key type 0).
    Group,
}

/// A transaction request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    FindCoordinator(CoordinatorType),
    InitProducerId,
    AddPartitions,
    AddOffsets,
    TxnOffsetCommit,
    EndTxn,
}

impl Work {
    /// The API it is a request of.
    pub(crate) fn api(self) -> ApiKey {
        match self {
            Work::FindCoordinator(_) => ApiKey::FindCoordinator,
            Work::InitProducerId => ApiKey::InitProducerId,
            Work::AddPartitions => ApiKey::AddPartitionsToTxn,
            Work::AddOffsets => ApiKey::AddOffsetsToTxn,
            Work::TxnOffsetCommit => ApiKey::TxnOffsetCommit,
            Work::EndTxn => ApiKey::EndTxn,
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dest {
    /// Any broker (FindCoordinator).
    Any,
    /// This broker: a coordinator.
    Node(i32),
}

/// What the producer must do after the manager changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// A call's work ended: tell the application.
    Outcome {
        call: TransactionCall,
        result: Result<(), TransactionError>,
    },
    /// A new producer id or epoch: every partition's sequence restarts.
    Identity { producer_id: i64, epoch: i16 },
    /// A coordinator is at this address.
    Coordinator { node: i32, host: String, port: u16 },
    /// Nothing can go on: the producer enters its fatal state.
    Fatal(TransactionError),
    /// A transaction request was answered with this error code (for the
    /// metrics).
    Error(KafkaCode),
}

/// A `send_offsets_to_transaction` call not yet done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingOffsets {
    pub group: ConsumerGroupMetadata,
    /// The offsets not yet committed by the group coordinator.
    pub offsets: Vec<OffsetCommit>,
    /// AddOffsetsToTxn succeeded (transactions v1), or is not needed (v2).
    pub added: bool,
}

/// Backoff for CONCURRENT_TRANSACTIONS on AddPartitionsToTxn while nothing
/// is added yet (the Java client's `ADD_PARTITIONS_RETRY_BACKOFF_MS`).
const RETRY_SOON: Duration = Duration::from_millis(20);

/// The transaction manager; see the module docs.
#[derive(Debug)]
pub(crate) struct TransactionManager {
    pub(super) transactional_id: String,
    pub(super) timeout: Duration,
    retry_backoff: Duration,
    state: TransactionState,
    /// The error that put the state in `AbortableError` or `FatalError`.
    error: Option<TransactionError>,
    /// The id and epoch the coordinator granted (-1 before).
    pub(super) producer_id: i64,
    pub(super) epoch: i16,
    /// The next InitProducerId bumps the current epoch (KIP-360).
    pub(super) bump_next: bool,
    /// Sequences are in doubt: bump the epoch after the abort (v1).
    bump_required: bool,
    /// This transaction runs the transactions v2 protocol (KIP-890).
    pub(super) v2: bool,
    /// The cluster's finalized `transaction.version` is 2 or more, and the
    /// epoch of the finalized features that said so.
    v2_cluster: bool,
    features_epoch: i64,
    pub(super) coordinator: Option<i32>,
    pub(super) group_coordinator: Option<(String, i32)>,
    /// Partitions in the transaction, waiting to be added, and being added.
    pub(super) added: BTreeSet<TopicPartition>,
    pub(super) pending: BTreeSet<TopicPartition>,
    pub(super) adding: Vec<TopicPartition>,
    pub(super) offsets: VecDeque<PendingOffsets>,
    /// The coordinator knows of this transaction (v1: a partition or the
    /// offsets were added; v2: something was sent): EndTxn is needed.
    pub(super) started: bool,
    /// When the transaction's first record or offsets were sent.
    opened_at: Option<Instant>,
    pub(super) in_flight: Option<Work>,
    pub(super) retry_at: Instant,
    /// The call whose outcome the application is owed.
    owed: Option<TransactionCall>,
    /// The producer is closing: no epoch bump after the last abort.
    closing: bool,
    /// The producer closed or gave up: nothing more is done.
    abandoned: bool,
    effects: VecDeque<Effect>,
}

impl TransactionManager {
    pub(crate) fn new(
        transactional_id: &str,
        timeout: Duration,
        retry_backoff: Duration,
    ) -> TransactionManager {
        TransactionManager {
            transactional_id: String::from(transactional_id),
            timeout,
            retry_backoff,
            state: TransactionState::Uninitialized,
            error: None,
            producer_id: -1,
            epoch: -1,
            bump_next: false,
            bump_required: false,
            v2: false,
            v2_cluster: false,
            features_epoch: -1,
            coordinator: None,
            group_coordinator: None,
            added: BTreeSet::new(),
            pending: BTreeSet::new(),
            adding: Vec::new(),
            offsets: VecDeque::new(),
            started: false,
            opened_at: None,
            in_flight: None,
            retry_at: Instant::ZERO,
            owed: None,
            closing: false,
            abandoned: false,
            effects: VecDeque::new(),
        }
    }

    pub(crate) fn state(&self) -> TransactionState {
        self.state
    }

    /// The next thing the producer must do, if any.
    pub(crate) fn take_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    pub(super) fn outcome(&mut self, call: TransactionCall, result: Result<(), TransactionError>) {
        self.effects.push_back(Effect::Outcome { call, result });
    }

    pub(super) fn push_effect(&mut self, effect: Effect) {
        self.effects.push_back(effect);
    }

    fn settle_owed(&mut self, result: Result<(), TransactionError>) {
        if let Some(call) = self.owed.take() {
            self.outcome(call, result);
        }
    }

    // ---- Application calls -------------------------------------------------

    /// The error a refused call gets.
    fn refusal(&self, call: TransactionCall, why: Refused) -> TransactionError {
        match (why, &self.error) {
            (Refused::InError, Some(e)) => e.clone(),
            _ => TransactionError::InvalidState {
                call,
                state: self.state,
            },
        }
    }

    /// Moves the state for an application call, or refuses it (nothing
    /// changes then). The work the call starts follows from the new state.
    pub(crate) fn call(
        &mut self,
        call: TransactionCall,
        now: Instant,
    ) -> Result<Step, TransactionError> {
        if self.closing {
            return Err(TransactionError::Closed);
        }
        let step = next(self.state, Input::Call(call)).map_err(|why| self.refusal(call, why))?;
        let Step::To(to) = step else {
            return Ok(step);
        };
        let from = core::mem::replace(&mut self.state, to);
        match call {
            TransactionCall::InitTransactions => {
                self.bump_next = false;
                self.owed = Some(call);
            }
            TransactionCall::BeginTransaction => {
                self.added.clear();
                self.pending.clear();
                self.started = false;
                self.opened_at = None;
            }
            TransactionCall::Send | TransactionCall::SendOffsets => {
                self.opened_at.get_or_insert(now);
            }
            TransactionCall::CommitTransaction => self.owed = Some(call),
            TransactionCall::AbortTransaction => {
                self.owed = Some(call);
                self.begin_abort(from);
            }
        }
        Ok(step)
    }

    /// Whether a record may be sent now (inside a transaction).
    pub(crate) fn check_send(&self) -> Result<(), TransactionError> {
        match next(self.state, Input::Call(TransactionCall::Send)) {
            Ok(_) if !self.closing => Ok(()),
            Ok(_) => Err(TransactionError::Closed),
            Err(why) => Err(self.refusal(TransactionCall::Send, why)),
        }
    }

    /// A record of the transaction was placed on a partition.
    pub(crate) fn add_partition(&mut self, tp: TopicPartition, now: Instant) {
        self.opened_at.get_or_insert(now);
        if self.v2 {
            // Produce v12+ adds the partition itself.
            self.added.insert(tp);
            self.started = true;
        } else if !self.added.contains(&tp) && !self.adding.contains(&tp) {
            self.pending.insert(tp);
        }
    }

    /// Whether a batch of `tp` may be sent: its partition is in the
    /// transaction (always, with transactions v2).
    pub(crate) fn may_drain(&self, tp: TopicPartition) -> bool {
        self.v2 || self.added.contains(&tp)
    }

    /// `send_offsets_to_transaction`: queues the offsets (checked already).
    pub(crate) fn send_offsets(
        &mut self,
        offsets: Vec<OffsetCommit>,
        group: ConsumerGroupMetadata,
        now: Instant,
    ) -> Result<(), TransactionError> {
        self.call(TransactionCall::SendOffsets, now)?;
        if offsets.is_empty() {
            self.outcome(TransactionCall::SendOffsets, Ok(()));
            return Ok(());
        }
        if self.v2 {
            self.started = true;
        }
        self.offsets.push_back(PendingOffsets {
            group,
            offsets,
            added: self.v2,
        });
        Ok(())
    }

    /// Entering `AbortingTransaction`: partitions not yet added will not
    /// be, and offsets not yet sent will not be.
    fn begin_abort(&mut self, _from: TransactionState) {
        self.pending.clear();
        let in_flight = matches!(
            self.in_flight,
            Some(Work::AddOffsets | Work::TxnOffsetCommit)
        );
        let keep = usize::from(in_flight && !self.offsets.is_empty());
        while self.offsets.len() > keep {
            self.offsets.pop_back();
            self.outcome(TransactionCall::SendOffsets, Err(TransactionError::Aborted));
        }
    }

    /// The producer is closing: an open transaction is aborted, with no
    /// outcome owed (nobody asked) and no epoch bump after it. Whether a
    /// transaction must still end before the producer is closed.
    pub(crate) fn close(&mut self) -> bool {
        if matches!(
            self.state,
            TransactionState::InTransaction | TransactionState::AbortableError
        ) && let Ok(Step::To(to)) =
            next(self.state, Input::Call(TransactionCall::AbortTransaction))
        {
            let from = core::mem::replace(&mut self.state, to);
            self.begin_abort(from);
        }
        self.closing = true;
        self.ending()
    }

    /// Whether a commit or abort is under way.
    pub(crate) fn ending(&self) -> bool {
        !self.abandoned
            && matches!(
                self.state,
                TransactionState::CommittingTransaction | TransactionState::AbortingTransaction
            )
    }

    /// The producer closed, or gave up on everything (`Producer::abort`):
    /// no request is sent any more, and every call still owed an outcome
    /// gets [`TransactionError::Closed`]. A transaction left open is
    /// aborted by its coordinator after `transaction.timeout.ms`, or by the
    /// next producer with the same `transactional.id`.
    pub(crate) fn abandon(&mut self) {
        self.closing = true;
        self.abandoned = true;
        self.pending.clear();
        while self.offsets.pop_front().is_some() {
            self.outcome(TransactionCall::SendOffsets, Err(TransactionError::Closed));
        }
        self.settle_owed(Err(TransactionError::Closed));
    }

    /// The error records not yet sent fail with, while the transaction
    /// cannot commit: its abortable error, or [`TransactionError::Aborted`]
    /// once the abort has begun.
    pub(crate) fn failing_unsent(&self) -> Option<TransactionError> {
        match self.state {
            TransactionState::AbortableError => {
                Some(self.error.clone().unwrap_or(TransactionError::Aborted))
            }
            TransactionState::AbortingTransaction => Some(TransactionError::Aborted),
            _ => None,
        }
    }

    // ---- What the protocol did ---------------------------------------------

    /// How long the open transaction has been open, if it has been open
    /// past `transaction.timeout.ms` (so a fence is the broker's abort).
    fn timed_out(&self, now: Instant) -> Option<Duration> {
        let open_for = now.saturating_duration_since(self.opened_at?);
        (open_for >= self.timeout).then_some(open_for)
    }

    /// The error for a code that ends a transaction request, of `class`.
    pub(super) fn error_for(
        &self,
        api: ApiKey,
        code: KafkaCode,
        class: ErrorClass,
        message: Option<String>,
        now: Instant,
    ) -> TransactionError {
        let broker_abort = fences(code) || code == KafkaCode::InvalidTxnState;
        if broker_abort && let Some(open_for) = self.timed_out(now) {
            return TransactionError::TransactionTimedOut {
                api,
                code,
                open_for,
                class,
            };
        }
        match code {
            code if fences(code) && class == ErrorClass::Fatal => {
                TransactionError::Fenced { api, code }
            }
            KafkaCode::UnknownMemberId
            | KafkaCode::IllegalGeneration
            | KafkaCode::FencedInstanceId
                if api == ApiKey::TxnOffsetCommit =>
            {
                TransactionError::GroupMetadataMismatch { code }
            }
            code => TransactionError::Broker {
                api,
                code,
                class,
                message,
            },
        }
    }

    /// An error the application must answer with an abort.
    pub(crate) fn abortable(&mut self, error: TransactionError, bump: bool) {
        if bump && !self.v2 {
            self.bump_required = true;
        }
        match next(self.state, Input::Abortable) {
            Ok(Step::To(TransactionState::AbortableError)) => {
                let first = self.state != TransactionState::AbortableError;
                self.state = TransactionState::AbortableError;
                if first {
                    self.error = Some(error.clone());
                }
                // Work queued for this transaction will not be done.
                self.pending.clear();
                let in_flight = matches!(
                    self.in_flight,
                    Some(Work::AddOffsets | Work::TxnOffsetCommit)
                );
                let keep = usize::from(in_flight && !self.offsets.is_empty());
                while self.offsets.len() > keep {
                    self.offsets.pop_back();
                    self.outcome(TransactionCall::SendOffsets, Err(error.clone()));
                }
                self.settle_owed(Err(error));
            }
            Ok(_) => {}
            Err(_) => self.fatal(error),
        }
    }

    /// Nothing can go on.
    pub(crate) fn fatal(&mut self, error: TransactionError) {
        if self.state == TransactionState::FatalError {
            return;
        }
        self.enter_fatal_state();
        self.error = Some(error.clone());
        self.pending.clear();
        while self.offsets.pop_front().is_some() {
            self.outcome(TransactionCall::SendOffsets, Err(error.clone()));
        }
        self.settle_owed(Err(error.clone()));
        self.effects.push_back(Effect::Fatal(error));
    }

    fn enter_fatal_state(&mut self) {
        if let Ok(Step::To(to)) = next(self.state, Input::Fatal) {
            self.state = to;
        }
    }

    /// The producer entered its fatal state for a reason of its own.
    pub(crate) fn producer_fatal(&mut self, reason: String) {
        if self.state == TransactionState::FatalError {
            return;
        }
        let error = TransactionError::ProducerFatal { reason };
        self.enter_fatal_state();
        self.error = Some(error.clone());
        while self.offsets.pop_front().is_some() {
            self.outcome(TransactionCall::SendOffsets, Err(error.clone()));
        }
        self.settle_owed(Err(error));
    }

    /// A record of the transaction failed for good with `code` (its last
    /// error; `None` for a local timeout or refusal).
    pub(crate) fn record_failed(&mut self, code: Option<KafkaCode>, now: Instant) {
        let reaction = super::rules::record_failed(code);
        let class = reaction.class().unwrap_or(ErrorClass::Abortable);
        let error = match code {
            Some(code) if code == KafkaCode::InvalidProducerEpoch => match self.timed_out(now) {
                Some(open_for) => TransactionError::TransactionTimedOut {
                    api: ApiKey::Produce,
                    code,
                    open_for,
                    class,
                },
                None => TransactionError::RecordFailed {
                    code: Some(code),
                    class,
                },
            },
            Some(code) if code == KafkaCode::ProducerFenced => TransactionError::Fenced {
                api: ApiKey::Produce,
                code,
            },
            code => TransactionError::RecordFailed { code, class },
        };
        match reaction {
            Reaction::Fatal => self.fatal(error),
            _ => self.abortable(error, true),
        }
    }

    /// A new producer id and epoch.
    pub(super) fn granted(&mut self, producer_id: i64, epoch: i16) {
        self.producer_id = producer_id;
        self.epoch = epoch;
        self.effects
            .push_back(Effect::Identity { producer_id, epoch });
    }

    /// InitProducerId succeeded.
    pub(super) fn initialized(&mut self) {
        match next(self.state, Input::Initialized) {
            Ok(Step::To(to)) => {
                self.state = to;
                self.bump_next = false;
                self.error = None;
                self.v2 = self.v2_cluster;
                self.settle_owed(Ok(()));
            }
            _ => self.fatal(TransactionError::Broker {
                api: ApiKey::InitProducerId,
                code: KafkaCode::None,
                class: ErrorClass::Fatal,
                message: Some(String::from("answered while no InitProducerId was due")),
            }),
        }
    }

    /// The transaction ended (EndTxn answered, or not needed).
    pub(super) fn ended(&mut self) {
        let upgrade = self.v2_cluster && !self.v2;
        if !self.v2_cluster {
            self.v2 = false;
        }
        let bump = (self.bump_required || upgrade) && !self.closing;
        self.bump_required = false;
        self.added.clear();
        self.pending.clear();
        self.offsets.clear();
        self.started = false;
        self.opened_at = None;
        let input = if bump {
            Input::EndedBumpNext
        } else {
            Input::Ended
        };
        match next(self.state, input) {
            Ok(Step::To(to)) => {
                self.state = to;
                if bump {
                    // Transactions v1 only; a bump needs the v1 request
                    // even when the cluster moves to v2 (KIP-890).
                    self.bump_next = true;
                    self.v2 = false;
                } else {
                    self.error = None;
                    self.settle_owed(Ok(()));
                }
            }
            _ => self.fatal(TransactionError::Broker {
                api: ApiKey::EndTxn,
                code: KafkaCode::None,
                class: ErrorClass::Fatal,
                message: Some(String::from("answered while no EndTxn was due")),
            }),
        }
    }

    /// A broker reported its finalized features (ApiVersions v3+): the
    /// newest report decides whether transactions v2 is on. It takes
    /// effect at the next transaction boundary.
    pub(crate) fn features(&mut self, epoch: i64, transaction_version: Option<i16>) {
        if epoch < 0 || epoch < self.features_epoch {
            return;
        }
        self.features_epoch = epoch;
        self.v2_cluster = transaction_version.is_some_and(|v| v >= 2);
    }

    // ---- What is due -------------------------------------------------------

    /// Ends a transaction the coordinator never heard of without a request,
    /// once nothing of it is pending (`batches_pending`: records of it not
    /// yet terminal).
    pub(crate) fn settle(&mut self, batches_pending: bool) {
        // Offsets whose request was in flight when the transaction turned
        // abortable (or began to abort) end with it once it answered.
        if self.in_flight.is_none() && !self.offsets.is_empty() {
            let error = match self.state {
                TransactionState::AbortableError => self.error.clone(),
                TransactionState::AbortingTransaction => Some(TransactionError::Aborted),
                _ => None,
            };
            if let Some(error) = error {
                while self.offsets.pop_front().is_some() {
                    self.outcome(TransactionCall::SendOffsets, Err(error.clone()));
                }
            }
        }
        if self.ending()
            && !self.started
            && self.in_flight.is_none()
            && self.pending.is_empty()
            && self.offsets.is_empty()
            && !batches_pending
        {
            self.ended();
        }
    }

    /// The request due next and where it goes, if one is due at `now`.
    pub(crate) fn next_work(&self, now: Instant, batches_pending: bool) -> Option<(Work, Dest)> {
        if now < self.retry_at {
            return None;
        }
        self.due_work(batches_pending)
    }

    /// The request due once the backoff allows (see [`Self::next_work`]).
    pub(crate) fn due_work(&self, batches_pending: bool) -> Option<(Work, Dest)> {
        if self.in_flight.is_some() || self.abandoned {
            return None;
        }
        let to_coordinator = |work| match self.coordinator {
            Some(node) => Some((work, Dest::Node(node))),
            None => Some((
                Work::FindCoordinator(CoordinatorType::Transaction),
                Dest::Any,
            )),
        };
        match self.state {
            TransactionState::Initializing => to_coordinator(Work::InitProducerId),
            TransactionState::InTransaction
            | TransactionState::CommittingTransaction
            | TransactionState::AbortingTransaction => {
                if !self.pending.is_empty() && !self.v2 {
                    return to_coordinator(Work::AddPartitions);
                }
                if let Some(front) = self.offsets.front() {
                    if !front.added {
                        return to_coordinator(Work::AddOffsets);
                    }
                    return match &self.group_coordinator {
                        Some((group, node)) if *group == front.group.group_id => {
                            Some((Work::TxnOffsetCommit, Dest::Node(*node)))
                        }
                        _ => Some((Work::FindCoordinator(CoordinatorType::Group), Dest::Any)),
                    };
                }
                if self.ending() && self.started && !batches_pending {
                    return to_coordinator(Work::EndTxn);
                }
                None
            }
            _ => None,
        }
    }

    /// The request `work` was sent.
    pub(super) fn sent(&mut self, work: Work) {
        self.in_flight = Some(work);
    }

    /// The answer to `work` is lost (its connection closed or timed out, or
    /// it did not decode): the coordinator may be gone; ask again.
    pub(crate) fn lost(&mut self, work: Work, now: Instant) {
        if self.in_flight != Some(work) {
            return;
        }
        self.in_flight = None;
        match work {
            Work::AddPartitions => {
                let adding = core::mem::take(&mut self.adding);
                if !matches!(
                    self.state,
                    TransactionState::AbortingTransaction | TransactionState::AbortableError
                ) {
                    self.pending.extend(adding);
                }
            }
            Work::TxnOffsetCommit => self.group_coordinator = None,
            Work::InitProducerId | Work::AddOffsets | Work::EndTxn => self.coordinator = None,
            Work::FindCoordinator(_) => {}
        }
        self.retry_at = now + self.retry_backoff;
    }

    /// Applies a reaction that is not `Done` for `work`: retry, rediscover,
    /// abort or give up. `error` is what the application sees if it comes
    /// to that.
    pub(super) fn react(
        &mut self,
        work: Work,
        reaction: Reaction,
        error: TransactionError,
        now: Instant,
    ) {
        match reaction {
            Reaction::Done => {}
            Reaction::Retry => self.retry_at = now + self.retry_backoff,
            Reaction::RetrySoon => self.retry_at = now + self.retry_backoff.min(RETRY_SOON),
            Reaction::Rediscover => {
                match work {
                    Work::TxnOffsetCommit | Work::FindCoordinator(CoordinatorType::Group) => {
                        self.group_coordinator = None
                    }
                    _ => self.coordinator = None,
                }
                self.retry_at = now + self.retry_backoff;
            }
            Reaction::Abortable { bump } => {
                self.retry_at = now;
                self.abortable(error, bump)
            }
            Reaction::Fatal => self.fatal(error),
        }
    }

    /// When [`Self::next_work`] will have something, if it will without an
    /// answer arriving first.
    pub(crate) fn due_at(&self, batches_pending: bool) -> Option<Instant> {
        self.due_work(batches_pending).map(|_| self.retry_at)
    }
}
