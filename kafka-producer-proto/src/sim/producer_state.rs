//! What a simulated broker remembers of each idempotent producer, per
//! partition, and how it judges an incoming batch by it, as Kafka does:
//! the producer's epoch, and the first and last sequence (and base offset)
//! of its last five batches.

use alloc::collections::{BTreeMap, VecDeque};

use crate::kafka_code::KafkaCode;

/// Batches a broker remembers per producer per partition (Kafka's
/// `NUM_BATCHES_TO_RETAIN`), hence at most five requests in flight.
pub(crate) const RETAINED_BATCHES: usize = 5;

#[derive(Debug, Clone, Default)]
pub(crate) struct ProducerEntry {
    epoch: i16,
    /// (first sequence, last sequence, base offset), oldest first.
    recent: VecDeque<(i32, i32, i64)>,
}

impl ProducerEntry {
    /// Forgets all but the last batch (a restart from a snapshot).
    pub(crate) fn keep_last(&mut self) {
        while self.recent.len() > 1 {
            self.recent.pop_front();
        }
    }

    /// The offset of the last record of the last batch remembered.
    pub(crate) fn last_offset(&self) -> Option<i64> {
        self.recent.back().map(|&(first, last, base)| {
            // Sequences wrap at i32::MAX; the batch's length is their
            // distance along the ring.
            let len = (i64::from(last) - i64::from(first)).rem_euclid(i64::from(i32::MAX) + 1);
            base + len
        })
    }
}

/// The broker's verdict on a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judgement {
    /// Append it.
    Append,
    /// Already in the log at this base offset: answer success, append
    /// nothing.
    Duplicate { base_offset: i64 },
    /// Refuse it.
    Refuse(KafkaCode),
}

fn next(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

/// Judges a batch from `producer_id`/`epoch` whose records carry sequences
/// `first..=last`.
pub(crate) fn judge(
    entries: &BTreeMap<i64, ProducerEntry>,
    producer_id: i64,
    epoch: i16,
    first: i32,
    last: i32,
) -> Judgement {
    if producer_id < 0 {
        return Judgement::Append;
    }
    let Some(entry) = entries.get(&producer_id) else {
        // A producer the broker does not know must start at sequence 0.
        return if first == 0 {
            Judgement::Append
        } else {
            Judgement::Refuse(KafkaCode::UnknownProducerId)
        };
    };
    if epoch < entry.epoch {
        return Judgement::Refuse(KafkaCode::InvalidProducerEpoch);
    }
    if epoch > entry.epoch {
        // A new epoch starts its sequences over.
        return if first == 0 {
            Judgement::Append
        } else {
            Judgement::Refuse(KafkaCode::OutOfOrderSequenceNumber)
        };
    }
    if let Some((_, _, offset)) = entry
        .recent
        .iter()
        .find(|(f, l, _)| *f == first && *l == last)
    {
        return Judgement::Duplicate {
            base_offset: *offset,
        };
    }
    match entry.recent.back() {
        Some((_, last_seen, _)) if first == next(*last_seen) => Judgement::Append,
        // Older than what is remembered: a duplicate the broker cannot
        // place.
        Some((oldest, _, _))
            if entry.recent.len() == RETAINED_BATCHES && precedes(first, *oldest) =>
        {
            Judgement::Refuse(KafkaCode::DuplicateSequenceNumber)
        }
        Some(_) => Judgement::Refuse(KafkaCode::OutOfOrderSequenceNumber),
        // A marker moved the producer to this epoch: it starts at 0.
        None if first == 0 => Judgement::Append,
        None => Judgement::Refuse(KafkaCode::OutOfOrderSequenceNumber),
    }
}

/// A transaction marker of `producer_id` at `epoch` was written: a newer
/// epoch becomes the producer's, and its sequences start over (this is
/// how a fence reaches a partition that holds no data of the new epoch).
pub(crate) fn on_marker(entries: &mut BTreeMap<i64, ProducerEntry>, producer_id: i64, epoch: i16) {
    let entry = entries.entry(producer_id).or_default();
    if epoch > entry.epoch || entry.recent.is_empty() {
        entry.epoch = epoch;
        entry.recent.clear();
    }
}

/// Whether `a` comes before `b` on the wrapping sequence circle.
fn precedes(a: i32, b: i32) -> bool {
    let d = (i64::from(b) - i64::from(a)).rem_euclid(i64::from(i32::MAX) + 1);
    d != 0 && d < (1 << 30)
}

/// Remembers an appended batch.
pub(crate) fn remember(
    entries: &mut BTreeMap<i64, ProducerEntry>,
    producer_id: i64,
    epoch: i16,
    first: i32,
    last: i32,
    base_offset: i64,
) {
    if producer_id < 0 {
        return;
    }
    let entry = entries.entry(producer_id).or_default();
    if epoch != entry.epoch {
        entry.epoch = epoch;
        entry.recent.clear();
    }
    entry.recent.push_back((first, last, base_offset));
    while entry.recent.len() > RETAINED_BATCHES {
        entry.recent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_judges_sequences_like_this() {
        let mut e = BTreeMap::new();
        assert_eq!(
            judge(&e, 1, 0, 5, 9),
            Judgement::Refuse(KafkaCode::UnknownProducerId)
        );
        assert_eq!(judge(&e, 1, 0, 0, 4), Judgement::Append);
        remember(&mut e, 1, 0, 0, 4, 100);
        assert_eq!(
            judge(&e, 1, 0, 0, 4),
            Judgement::Duplicate { base_offset: 100 }
        );
        assert_eq!(
            judge(&e, 1, 0, 10, 14),
            Judgement::Refuse(KafkaCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(judge(&e, 1, 0, 5, 9), Judgement::Append);
        assert_eq!(
            judge(&e, 1, 1, 5, 9),
            Judgement::Refuse(KafkaCode::OutOfOrderSequenceNumber),
            "new epoch starts at 0"
        );
        assert_eq!(judge(&e, 1, 1, 0, 3), Judgement::Append);
        remember(&mut e, 1, 1, 0, 3, 105);
        assert_eq!(
            judge(&e, 1, 0, 5, 9),
            Judgement::Refuse(KafkaCode::InvalidProducerEpoch)
        );
        for i in 1..=6 {
            remember(&mut e, 1, 1, i * 4, i * 4 + 3, 105 + i64::from(i) * 4);
        }
        assert_eq!(
            judge(&e, 1, 1, 0, 3),
            Judgement::Refuse(KafkaCode::DuplicateSequenceNumber),
            "forgotten duplicate"
        );
        assert_eq!(
            judge(&e, -1, -1, -1, -1),
            Judgement::Append,
            "not idempotent"
        );
    }
}
