//! The idempotent producer: producer id and epoch, per-partition sequence
//! numbers, unresolved sequences, and epoch bumps.
//!
//! A broker keeps, per producer id, epoch and partition, the sequence of the
//! last batches it appended, and refuses a batch whose first sequence does
//! not follow (OUT_OF_ORDER_SEQUENCE_NUMBER) or that it already has
//! (DUPLICATE_SEQUENCE_NUMBER). So the producer:
//!
//! - gets an id and epoch with InitProducerId before sending anything;
//! - numbers each partition's records from 0 when a batch is first drained
//!   (never before: a batch that waits keeps no number), wrapping at
//!   `i32::MAX`, and sends a retried batch with exactly its first number,
//!   epoch and bytes;
//! - when it can no longer tell what the broker has (a batch failed after it
//!   may have been written, a sequence gap, a broker that forgot the
//!   producer), stops sending, waits until nothing is in flight, and bumps
//!   the epoch (KIP-360): a new epoch starts every partition's sequences at
//!   0 again, and the queued batches are renumbered and their bytes
//!   rewritten in place.
//!
//! Each response error's rule is decided in one place, [`classify`], and
//! the producer id's lifecycle in one `match`, [`Identity::on`].

use core::time::Duration;

use crate::accumulator::Partition;
use crate::batch::Batch;
use crate::error::{FatalError, ProduceError};
use crate::kafka_code::KafkaCode;
use crate::producer::Producer;
use crate::time::Instant;
use crate::wire::messages::InitProducerIdResponse;
use crate::wire::messages::produce::{NodeEndpoint, PartitionProduceResponse};

/// Where the producer id stands. Named after the Java client's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdState {
    /// No id yet: an InitProducerId is due (at `not_before`).
    Uninitialized { not_before: Instant },
    /// InitProducerId in flight.
    Initializing,
    /// An id and epoch are known; batches may flow.
    Ready,
    /// A bump was asked for: nothing new is sent; once nothing is in flight
    /// InitProducerId with the current id and epoch goes out.
    BumpPending,
    /// The bump's InitProducerId is in flight.
    Bumping,
}

/// What happens to the producer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdInput {
    /// An InitProducerId (first or bump) went out.
    Sent,
    /// InitProducerId answered with an id and epoch.
    Granted { id: i64, epoch: i16 },
    /// InitProducerId failed in a way worth retrying after `retry_at`.
    Retry { retry_at: Instant },
    /// A partition's state can no longer be trusted: bump the epoch.
    BumpRequired,
    /// The broker would not bump this id (librdkafka's mock cluster, or a
    /// broker before KIP-360): get a new id instead, which restarts every
    /// sequence just as a bump does.
    BumpRefused,
}

/// The producer id and epoch, and the state of getting them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub id: i64,
    pub epoch: i16,
    pub state: IdState,
    /// Bumps completed, for metrics and tests.
    pub bumps: u32,
    /// The next bump asks for a new id rather than a new epoch.
    fresh_id: bool,
}

impl Identity {
    pub fn new() -> Identity {
        Identity {
            id: -1,
            epoch: -1,
            state: IdState::Uninitialized {
                not_before: Instant::ZERO,
            },
            bumps: 0,
            fresh_id: false,
        }
    }

    /// Whether new batches may be sent.
    pub fn ready(&self) -> bool {
        self.state == IdState::Ready
    }

    /// The single place where the id's state changes.
    pub fn on(&mut self, input: IdInput) {
        self.state = match (self.state, input) {
            (IdState::Uninitialized { .. }, IdInput::Sent) => IdState::Initializing,
            (IdState::BumpPending, IdInput::Sent) => IdState::Bumping,
            (IdState::Initializing | IdState::Bumping, IdInput::Granted { id, epoch }) => {
                if self.id >= 0 {
                    self.bumps += 1;
                }
                self.id = id;
                self.epoch = epoch;
                self.fresh_id = false;
                IdState::Ready
            }
            // A failed bump is retried as a bump; a failed first request as
            // a first request.
            (IdState::Bumping, IdInput::Retry { .. }) => IdState::BumpPending,
            (IdState::Bumping, IdInput::BumpRefused) => {
                self.fresh_id = true;
                IdState::BumpPending
            }
            (IdState::Initializing, IdInput::Retry { retry_at }) => IdState::Uninitialized {
                not_before: retry_at,
            },
            (IdState::Ready, IdInput::BumpRequired) => IdState::BumpPending,
            // A bump already on its way covers a second reason for one.
            (state @ (IdState::BumpPending | IdState::Bumping), IdInput::BumpRequired) => state,
            // Before any id exists there is nothing to bump.
            (
                state @ (IdState::Uninitialized { .. } | IdState::Initializing),
                IdInput::BumpRequired,
            ) => state,
            (state, _) => state,
        };
    }

    /// The id and epoch to ask InitProducerId to bump: the current ones,
    /// unless the epoch is exhausted, in which case a new id is needed
    /// (-1, -1).
    pub fn bump_request(&self) -> (i64, i16) {
        if self.state == IdState::BumpPending && self.epoch < i16::MAX && !self.fresh_id {
            (self.id, self.epoch)
        } else {
            (-1, -1)
        }
    }
}

/// A partition's sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sequences {
    /// The first sequence of the next batch drained.
    pub next: i32,
    /// The last sequence the broker acknowledged, -1 for none yet.
    pub last_acked: i32,
    /// The offset of the last record acknowledged, -1 for none yet.
    pub last_acked_offset: i64,
    /// A batch expired or failed after it may have been written: its last
    /// sequence. The partition sends nothing until this is resolved.
    pub unresolved: Option<i32>,
    /// A batch of this partition is being retried: nothing newer goes out
    /// until it is resolved.
    pub retrying: bool,
    /// The node the partition's in-flight batches went to; a new leader
    /// gets nothing until they are resolved.
    pub in_flight_node: i32,
    /// The producer id and epoch these numbers count under.
    pub stamp: (i64, i16),
    /// This partition asked for the bump under way: when it comes, its
    /// queued batches are renumbered under the new epoch. Partitions that
    /// did not ask finish their numbered batches under the old epoch and
    /// move to the new one once none is left (as the Java client does), so
    /// a batch that may be in the log is never sent under a second number.
    pub rewrite: bool,
}

impl Default for Sequences {
    fn default() -> Self {
        Sequences {
            next: 0,
            last_acked: -1,
            last_acked_offset: -1,
            unresolved: None,
            retrying: false,
            in_flight_node: -1,
            stamp: (-1, -1),
            rewrite: false,
        }
    }
}

/// `seq + n`, wrapping from `i32::MAX` to 0 as Kafka's sequences do.
pub(crate) fn seq_add(seq: i32, n: u32) -> i32 {
    ((i64::from(seq) + i64::from(n)) % (i64::from(i32::MAX) + 1)) as i32
}

impl Sequences {
    /// Numbers a batch of `records` records: its first sequence.
    pub fn assign(&mut self, records: u32) -> i32 {
        let base = self.next;
        self.next = seq_add(self.next, records);
        base
    }

    /// The broker has a batch ending at `last_seq` (and, if known, its last
    /// record at `last_offset`).
    pub fn acked(&mut self, last_seq: i32, last_offset: Option<i64>) {
        // Never backwards: a retry of an earlier batch can be acknowledged
        // after a later one (a duplicate, or a broker that forgot us), and
        // the sequence it ends at says nothing new.
        if self.last_acked >= 0 && self.covers(last_seq) {
            return;
        }
        self.last_acked = last_seq;
        if let Some(o) = last_offset {
            self.last_acked_offset = o;
        }
        if self.unresolved.is_some_and(|u| self.covers(u)) {
            self.unresolved = None;
        }
    }

    /// Whether a batch numbered under `stamp` and ending at `last` is known
    /// to be in the log: a later batch of the same epoch was acknowledged,
    /// and a broker appends a producer's batches only in sequence order.
    pub fn has(&self, stamp: (i64, i16), last: i32) -> bool {
        self.stamp == stamp && self.covers(last)
    }

    /// Whether the acknowledged sequences reach `seq` (the broker has it).
    pub fn covers(&self, seq: i32) -> bool {
        self.last_acked >= 0 && seq_distance(seq, self.last_acked) < (1 << 30)
    }

    /// Whether `base` is the sequence right after the last acknowledged.
    pub fn is_next(&self, base: i32) -> bool {
        base == seq_add(self.last_acked, 1) || (self.last_acked < 0 && base == 0)
    }

    /// Numbering restarts at 0 under `stamp` (a new epoch or id).
    pub fn reset(&mut self, stamp: (i64, i16)) {
        *self = Sequences {
            in_flight_node: self.in_flight_node,
            stamp,
            ..Sequences::default()
        };
    }
}

/// How far `b` is ahead of `a` on the wrapping sequence circle.
fn seq_distance(a: i32, b: i32) -> i64 {
    (i64::from(b) - i64::from(a)).rem_euclid(i64::from(i32::MAX) + 1)
}

/// What a partition-level answer to an idempotent batch means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// In the log, at this base offset (or unknown).
    Delivered { base_offset: Option<i64> },
    /// Send again as is.
    Retry,
    /// Send again once the epoch is bumped and sequences renumbered.
    RetryAfterBump,
    /// The batch fails with the code; the partition's sequences need a bump.
    FailAndBump,
    /// The producer cannot go on.
    Fatal,
}

/// The rule for each error code an idempotent batch can meet, after the
/// Java client's `TransactionManager` (in our words).
pub(crate) fn classify(
    code: KafkaCode,
    base_seq: i32,
    seqs: &Sequences,
    base_offset: i64,
    log_start_offset: i64,
) -> Verdict {
    match code {
        KafkaCode::None => Verdict::Delivered {
            base_offset: (base_offset >= 0).then_some(base_offset),
        },
        // The broker already has this batch: a retry whose first attempt
        // was written. Delivered, at an offset we do not learn.
        KafkaCode::DuplicateSequenceNumber => Verdict::Delivered { base_offset: None },
        // A gap. If an earlier batch of the partition is still unacknowledged
        // (it failed or is being retried), this batch is just early: send it
        // again once the earlier one is through. At the head of the line the
        // gap is real and only a new epoch closes it.
        KafkaCode::OutOfOrderSequenceNumber => {
            if seqs.unresolved.is_none() && !seqs.is_next(base_seq) {
                Verdict::Retry
            } else {
                Verdict::RetryAfterBump
            }
        }
        // The broker forgot the producer. When the log's start has moved
        // past everything we had acknowledged, retention removed our state:
        // restart the sequences (a bump gives fresh ones). Otherwise the
        // broker lost state it should have kept; a bump is the only safe
        // way on. Without a log start offset, ask again until there is one.
        KafkaCode::UnknownProducerId => {
            if log_start_offset < 0 {
                Verdict::Retry
            } else {
                Verdict::RetryAfterBump
            }
        }
        // Another producer with our id and a newer epoch exists, or ours is
        // stale beyond repair.
        KafkaCode::InvalidProducerEpoch | KafkaCode::ProducerFenced => Verdict::Fatal,
        code if code.is_retriable() => Verdict::Retry,
        // A batch that fails for good leaves a hole in the sequence: the
        // batches after it cannot be accepted until the epoch is bumped.
        _ => Verdict::FailAndBump,
    }
}

/// How long to wait between InitProducerId attempts.
pub(crate) const INIT_RETRY: Duration = Duration::from_millis(100);

impl<T> Producer<T> {
    /// The producer id and epoch an InitProducerId should carry now, if one
    /// is due: a first one, or a bump once nothing is in flight.
    pub(crate) fn init_due(&self, now: Instant) -> Option<(i64, i16)> {
        if !self.config.enable_idempotence() || self.acc.topics.is_empty() {
            return None;
        }
        match self.identity.state {
            IdState::Uninitialized { not_before } if not_before <= now => Some((-1, -1)),
            IdState::BumpPending if self.produce_in_flight() == 0 => {
                Some(self.identity.bump_request())
            }
            _ => None,
        }
    }

    /// An idempotent batch's answer, by the rules of [`classify`].
    pub(crate) fn on_idempotent_answer(
        &mut self,
        mut batch: Batch<T>,
        answer: &PartitionProduceResponse,
        endpoints: &[NodeEndpoint],
        version: i16,
        now: Instant,
    ) {
        let code = KafkaCode::from_i16(answer.error_code);
        let (t, p) = (batch.topic as usize, batch.partition as usize);
        let Some(seqs) = self
            .acc
            .topics
            .get(t)
            .and_then(|t| t.partitions.get(p))
            .map(|p| p.seq)
        else {
            return;
        };
        let base = batch.sequence.unwrap_or(0);
        let n = batch.records.len() as u32;
        batch.maybe_written |= crate::sender::written_despite(code);
        let last = seq_add(base, n.saturating_sub(1));
        if code != KafkaCode::None && seqs.has(batch.producer, last) {
            // A later batch of this epoch was acknowledged, and a broker
            // appends a producer's batches only in sequence order: an
            // earlier send of this one is in the log, whatever this answer
            // says (the broker may have forgotten it since).
            if let Some(part) = self.acc.partition_mut(t, p) {
                part.seq.retrying = false;
            }
            self.metrics.partition_error(code);
            self.deliver(batch, -1, -1);
            return;
        }
        if code == KafkaCode::UnknownProducerId
            && answer.log_start_offset >= 0
            && answer.log_start_offset <= seqs.last_acked_offset + 1
        {
            // The broker forgot us, yet nothing after our last acknowledged
            // record was removed: had an earlier send of this batch been
            // written, it would still be in the log and the broker would
            // know us by it. So none was, and fresh numbers are safe.
            // (An OUT_OF_ORDER answer proves nothing like it: a broker that
            // restarted from its snapshot remembers only each producer's
            // last batch, and refuses a retry of an earlier one it has.)
            batch.maybe_written = false;
        }
        if batch.attempts > 1
            && let Some(part) = self.acc.partition_mut(t, p)
        {
            // Whatever the answer, this retry is no longer in flight.
            part.seq.retrying = false;
        }
        match classify(
            code,
            base,
            &seqs,
            answer.base_offset,
            answer.log_start_offset,
        ) {
            Verdict::Delivered { base_offset } => {
                if let Some(part) = self.acc.partition_mut(t, p) {
                    let last = seq_add(base, n.saturating_sub(1));
                    part.seq
                        .acked(last, base_offset.map(|o| o + i64::from(n) - 1));
                }
                if code != KafkaCode::None {
                    self.metrics.partition_error(code);
                }
                self.deliver(batch, base_offset.unwrap_or(-1), answer.log_append_time_ms);
            }
            Verdict::Retry => {
                if version >= 10 && code == KafkaCode::NotLeaderOrFollower {
                    let leader = &answer.current_leader;
                    let (topic, partition) = (batch.topic, batch.partition);
                    let (id, epoch) = (leader.leader_id, leader.leader_epoch);
                    self.meta
                        .leader_hint(&mut self.acc, topic, partition, id, epoch, endpoints);
                }
                self.retry_or_fail(batch, code, answer.error_message.clone(), now);
            }
            Verdict::RetryAfterBump => {
                self.identity.on(IdInput::BumpRequired);
                self.rewrite_after_bump(t, p);
                self.retry_or_fail(batch, code, answer.error_message.clone(), now);
            }
            Verdict::FailAndBump => {
                self.identity.on(IdInput::BumpRequired);
                self.rewrite_after_bump(t, p);
                self.metrics.partition_error(code);
                if batch.maybe_written {
                    // An earlier send may be in the log: under fresh
                    // numbers (whole or split) it could be written twice.
                    let error = ProduceError::PossiblyWritten {
                        attempts: batch.attempts,
                        last_error: Some(code),
                    };
                    self.fail_batch(batch, error);
                } else if code == KafkaCode::MessageTooLarge && n > 1 {
                    // The halves get fresh numbers after the bump.
                    self.split(batch, now);
                } else {
                    let message = answer.error_message.clone();
                    self.fail_batch(batch, ProduceError::Broker { code, message });
                }
            }
            Verdict::Fatal => {
                self.metrics.partition_error(code);
                // The batch fails with everything else pending.
                if let Some(part) = self.acc.partition_mut(t, p) {
                    part.requeue(batch);
                }
                self.enter_fatal(FatalError::Fenced { code }, now);
            }
        }
    }

    pub(crate) fn on_init_producer_id(&mut self, response: &InitProducerIdResponse, now: Instant) {
        let code = KafkaCode::from_i16(response.error_code);
        match code {
            KafkaCode::None if response.producer_id >= 0 && response.producer_epoch >= 0 => {
                let bump = self.identity.state == IdState::Bumping;
                let (id, epoch) = (response.producer_id, response.producer_epoch);
                self.identity.on(IdInput::Granted { id, epoch });
                if bump {
                    self.renumber_after_bump((id, epoch));
                }
            }
            code if code == KafkaCode::None || code.is_retriable() => {
                self.identity.on(IdInput::Retry {
                    retry_at: now + self.config.retry_backoff(),
                });
            }
            // Authorization is not ours to fix; a fenced bump means another
            // producer took our id.
            KafkaCode::ClusterAuthorizationFailed
            | KafkaCode::TransactionalIdAuthorizationFailed
            | KafkaCode::ProducerFenced => self.enter_fatal(FatalError::ProducerId { code }, now),
            // A broker that will not bump this id: a new id restarts the
            // sequences just as well.
            _ if self.identity.state == IdState::Bumping => self.identity.on(IdInput::BumpRefused),
            code => self.enter_fatal(FatalError::ProducerId { code }, now),
        }
    }

    /// Partition `p` of topic `t` needs the coming bump's fresh numbers.
    fn rewrite_after_bump(&mut self, t: usize, p: usize) {
        if let Some(part) = self.acc.partition_mut(t, p) {
            part.seq.rewrite = true;
        }
    }

    /// A bump came through: each partition that asked for it numbers from
    /// 0 under the new epoch, and its queued batches are renumbered as they
    /// are drained, their bytes rewritten in place. A batch among them that
    /// may already be in the log is handed back instead (it would be a
    /// duplicate under its new number), with [`ProduceError::PossiblyWritten`].
    fn renumber_after_bump(&mut self, stamp: (i64, i16)) {
        let mut unsure = alloc::vec::Vec::new();
        for part in self
            .acc
            .topics
            .iter_mut()
            .flat_map(|t| t.partitions.iter_mut())
            .filter(|p| p.seq.rewrite)
        {
            clear_refused_tail(part);
            part.seq.reset(stamp);
            for mut b in core::mem::take(&mut part.queue) {
                if b.maybe_written {
                    unsure.push(b);
                } else {
                    b.sequence = None;
                    part.queue.push_back(b);
                }
            }
        }
        for b in unsure {
            let error = ProduceError::PossiblyWritten {
                attempts: b.attempts,
                last_error: b.last_error,
            };
            self.fail_batch(b, error);
        }
    }

    /// An idempotent batch given up after it may have reached the broker
    /// leaves its partition's sequence unresolved.
    pub(crate) fn mark_unresolved(&mut self, batch: &Batch<T>) {
        if !self.config.enable_idempotence() || batch.attempts == 0 {
            return;
        }
        let Some(base) = batch.sequence else { return };
        let last = seq_add(base, (batch.records.len() as u32).saturating_sub(1));
        let (t, p) = (batch.topic as usize, batch.partition as usize);
        if let Some(p) = self.acc.partition_mut(t, p) {
            p.seq.unresolved = Some(last);
        }
    }
}

/// Before a partition's batches get new numbers: the batches the broker
/// refused as out of order, counted back from the highest sequence sent,
/// are not in the log, whatever became of their earlier sends.
///
/// Why: had the highest batch sent been written, it would be the broker's
/// last batch for us, which even a broker restarted from its snapshot
/// remembers, so its retry would be answered as a duplicate. An OUT_OF_ORDER
/// answer to it therefore means it was never written. Then the batch below
/// it, had it been written, would be the broker's last batch, and so on
/// down, for as long as each retry was refused as out of order.
fn clear_refused_tail<T>(part: &mut Partition<T>) {
    let highest = seq_add(part.seq.next, u32::MAX);
    let mut numbered = part
        .queue
        .iter_mut()
        .rev()
        .filter(|b| b.sequence.is_some())
        .peekable();
    let Some(top) = numbered.peek() else { return };
    let top_last = seq_add(
        top.sequence.unwrap_or(0),
        (top.records.len() as u32).saturating_sub(1),
    );
    if top_last != highest || top.producer != part.seq.stamp {
        return;
    }
    for b in numbered {
        if b.last_error != Some(KafkaCode::OutOfOrderSequenceNumber) {
            break;
        }
        b.maybe_written = false;
    }
}

/// The idempotent producer's rules for sending a partition's next batch:
/// nothing while its sequence is unresolved; nothing to a new leader while
/// batches to the old one are in flight; a retried batch only once the
/// batches sent before it are resolved; nothing newer while a retry is in
/// flight.
pub(crate) fn may_send_next<T>(p: &Partition<T>, node: i32, current: (i64, i16)) -> bool {
    let Some(front) = p.queue.front() else {
        return false;
    };
    if p.seq.unresolved.is_some() {
        return false;
    }
    // New numbers under a new epoch only once the old epoch's batches are
    // all answered: a batch with sequence 0 must not overtake them.
    if front.sequence.is_none() && p.seq.stamp != current && p.in_flight > 0 {
        return false;
    }
    if p.in_flight > 0 && p.seq.in_flight_node != node {
        return false;
    }
    if front.sequence.is_some() && p.in_flight > 0 {
        return false;
    }
    !(p.seq.retrying && front.sequence.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_at_i32_max() {
        let mut s = Sequences {
            next: i32::MAX - 1,
            ..Sequences::default()
        };
        assert_eq!(s.assign(3), i32::MAX - 1);
        assert_eq!(s.next, 1);
        assert_eq!(seq_add(i32::MAX, 1), 0);
        s.acked(i32::MAX, None);
        assert!(s.is_next(0));
    }

    #[test]
    fn unresolved_sequences_resolve_when_a_later_one_is_acked() {
        let mut s = Sequences {
            unresolved: Some(9),
            ..Sequences::default()
        };
        s.acked(5, Some(5));
        assert_eq!(s.unresolved, Some(9));
        s.acked(14, Some(14));
        assert_eq!(s.unresolved, None);
    }

    #[test]
    fn the_rules() {
        let head = Sequences {
            last_acked: 9,
            ..Sequences::default()
        };
        assert_eq!(
            classify(KafkaCode::DuplicateSequenceNumber, 10, &head, 0, 0),
            Verdict::Delivered { base_offset: None }
        );
        assert_eq!(
            classify(KafkaCode::OutOfOrderSequenceNumber, 10, &head, -1, 0),
            Verdict::RetryAfterBump,
            "at the head"
        );
        assert_eq!(
            classify(KafkaCode::OutOfOrderSequenceNumber, 20, &head, -1, 0),
            Verdict::Retry,
            "behind a failed one"
        );
        let unresolved = Sequences {
            unresolved: Some(12),
            ..head
        };
        assert_eq!(
            classify(KafkaCode::OutOfOrderSequenceNumber, 20, &unresolved, -1, 0),
            Verdict::RetryAfterBump
        );
        assert_eq!(
            classify(KafkaCode::UnknownProducerId, 10, &head, -1, -1),
            Verdict::Retry
        );
        assert_eq!(
            classify(KafkaCode::UnknownProducerId, 10, &head, -1, 100),
            Verdict::RetryAfterBump
        );
        assert_eq!(
            classify(KafkaCode::InvalidProducerEpoch, 10, &head, -1, 0),
            Verdict::Fatal
        );
        assert_eq!(
            classify(KafkaCode::ProducerFenced, 10, &head, -1, 0),
            Verdict::Fatal
        );
        assert_eq!(
            classify(KafkaCode::NotLeaderOrFollower, 10, &head, -1, 0),
            Verdict::Retry
        );
        assert_eq!(
            classify(KafkaCode::InvalidRecord, 10, &head, -1, 0),
            Verdict::FailAndBump
        );
    }

    #[test]
    fn identity_transitions() {
        let mut id = Identity::new();
        assert!(!id.ready());
        id.on(IdInput::BumpRequired);
        assert!(
            matches!(id.state, IdState::Uninitialized { .. }),
            "nothing to bump yet"
        );
        id.on(IdInput::Sent);
        id.on(IdInput::Granted { id: 7, epoch: 0 });
        assert!(id.ready());
        assert_eq!(id.bumps, 0);
        id.on(IdInput::BumpRequired);
        assert_eq!(id.state, IdState::BumpPending);
        assert_eq!(id.bump_request(), (7, 0));
        id.on(IdInput::Sent);
        id.on(IdInput::Retry {
            retry_at: Instant::ZERO,
        });
        assert_eq!(id.state, IdState::BumpPending, "a failed bump stays a bump");
        id.on(IdInput::Sent);
        id.on(IdInput::Granted { id: 7, epoch: 1 });
        assert_eq!((id.id, id.epoch, id.bumps), (7, 1, 1));
        let exhausted = Identity {
            epoch: i16::MAX,
            state: IdState::BumpPending,
            ..id
        };
        assert_eq!(
            exhausted.bump_request(),
            (-1, -1),
            "epoch 32767: a new producer id"
        );
        let mut refused = Identity {
            state: IdState::Bumping,
            ..id
        };
        refused.on(IdInput::BumpRefused);
        assert_eq!(
            (refused.state, refused.bump_request()),
            (IdState::BumpPending, (-1, -1)),
            "no bump: a new id"
        );
    }
}
