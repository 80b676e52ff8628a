//! The rules for a broker's answer to an idempotent batch, as pure
//! functions of the answer and the partition's [`Sequences`]: the producer
//! applies the [`Verdict`].

use super::sequences::Sequences;
use crate::kafka_code::KafkaCode;

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

/// Whether an answer proves that no earlier send of the batch was written:
/// the broker forgot us (UNKNOWN_PRODUCER_ID), yet nothing after our last
/// acknowledged record was removed from the log. Had an earlier send been
/// written, it would still be in the log and the broker would know us by
/// it, so fresh numbers are safe. (An OUT_OF_ORDER answer proves nothing
/// like it: a broker that restarted from its snapshot remembers only each
/// producer's last batch, and refuses a retry of an earlier one it has.)
pub(crate) fn proven_unwritten(code: KafkaCode, log_start_offset: i64, seqs: &Sequences) -> bool {
    code == KafkaCode::UnknownProducerId
        && log_start_offset >= 0
        && log_start_offset <= seqs.last_acked_offset + 1
}

/// Whether a broker's answer `code` for a batch leaves it possibly
/// written: the errors raised after the leader's append (REQUEST_TIMED_OUT
/// is the replication timeout of acks=all), and those that do not say.
/// Any other error code means the broker refused the batch.
pub(crate) fn written_despite(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::RequestTimedOut
            | KafkaCode::NotEnoughReplicasAfterAppend
            | KafkaCode::KafkaStorageError
            | KafkaCode::UnknownServerError
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_forgetful_broker_proves_nothing_was_written_only_if_the_log_kept_everything() {
        let s = Sequences {
            last_acked_offset: 41,
            ..Sequences::default()
        };
        assert!(proven_unwritten(KafkaCode::UnknownProducerId, 42, &s));
        assert!(proven_unwritten(KafkaCode::UnknownProducerId, 0, &s));
        assert!(
            !proven_unwritten(KafkaCode::UnknownProducerId, 43, &s),
            "retention removed some"
        );
        assert!(
            !proven_unwritten(KafkaCode::UnknownProducerId, -1, &s),
            "no log start"
        );
        assert!(!proven_unwritten(
            KafkaCode::OutOfOrderSequenceNumber,
            0,
            &s
        ));
    }
}
