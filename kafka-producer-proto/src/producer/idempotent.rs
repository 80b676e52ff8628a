//! The idempotent producer's glue: when an InitProducerId is due, and what
//! the answers mean, decided by the rules of `idempotence` and applied to
//! the accumulator, the identity and the events here.

use super::Producer;
use crate::batch::Batch;
use crate::error::{FatalError, ProduceError};
use crate::idempotence::{
    IdInput, IdState, InitAnswer, Verdict, classify, proven_unwritten, seq_add, written_despite,
};
use crate::kafka_code::KafkaCode;
use crate::time::Instant;
use crate::wire::messages::InitProducerIdResponse;
use crate::wire::messages::produce::{NodeEndpoint, PartitionProduceResponse};

impl<T> Producer<T> {
    /// The producer id and epoch an InitProducerId should carry now, if one
    /// is due: a first one, or a bump once nothing is in flight.
    pub(super) fn init_due(&self, now: Instant) -> Option<(i64, i16)> {
        // A transactional producer's id comes from its transaction manager.
        if !self.config.enable_idempotence() || self.acc.topics.is_empty() || self.txn.is_some() {
            return None;
        }
        match self.identity.state {
            IdState::Uninitialized { not_before } if not_before <= now => Some((-1, -1)),
            IdState::BumpPending if self.acc.batches_in_flight() == 0 => {
                Some(self.identity.bump_request())
            }
            _ => None,
        }
    }

    /// An idempotent batch's answer, by the rules of [`classify`].
    pub(super) fn on_idempotent_answer(
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
        batch.maybe_written |= written_despite(code);
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
        if proven_unwritten(code, answer.log_start_offset, &seqs) {
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
            // Inside a transaction a sequence in doubt is the
            // transaction's to settle: the batch fails, the transaction
            // aborts and the epoch is bumped after it.
            Verdict::RetryAfterBump | Verdict::FailAndBump if self.txn.is_some() => {
                self.metrics.partition_error(code);
                let error = if batch.maybe_written {
                    ProduceError::PossiblyWritten {
                        attempts: batch.attempts,
                        last_error: Some(code),
                    }
                } else {
                    ProduceError::Broker {
                        code,
                        message: answer.error_message.clone(),
                    }
                };
                self.fail_batch(batch, error);
            }
            // INVALID_PRODUCER_EPOCH is abortable in a transaction
            // (KIP-588); PRODUCER_FENCED makes the transaction fatal.
            Verdict::Fatal if self.txn.is_some() => {
                self.metrics.partition_error(code);
                let message = answer.error_message.clone();
                self.fail_batch(batch, ProduceError::Broker { code, message });
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

    pub(super) fn on_init_producer_id(&mut self, response: &InitProducerIdResponse, now: Instant) {
        let code = KafkaCode::from_i16(response.error_code);
        let (id, epoch) = (response.producer_id, response.producer_epoch);
        match self.identity.judge_init(code, id, epoch) {
            InitAnswer::Granted { id, epoch } => {
                let bump = self.identity.state == IdState::Bumping;
                self.identity.on(IdInput::Granted { id, epoch });
                if bump {
                    self.renumber_after_bump((id, epoch));
                }
            }
            InitAnswer::Retry => self.identity.on(IdInput::Retry {
                retry_at: now + self.config.retry_backoff(),
            }),
            InitAnswer::BumpRefused => self.identity.on(IdInput::BumpRefused),
            InitAnswer::Fatal(code) => self.enter_fatal(FatalError::ProducerId { code }, now),
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
        for b in self.acc.renumber_after_bump(stamp) {
            let error = ProduceError::PossiblyWritten {
                attempts: b.attempts,
                last_error: b.last_error,
            };
            self.fail_batch(b, error);
        }
    }

    /// An idempotent batch given up after it may have reached the broker
    /// leaves its partition's sequence unresolved.
    pub(super) fn mark_unresolved(&mut self, batch: &Batch<T>) {
        if self.config.enable_idempotence() {
            self.acc.mark_unresolved(batch);
        }
    }
}
