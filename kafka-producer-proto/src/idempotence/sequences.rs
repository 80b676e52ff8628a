//! A partition's sequence numbers: the next to give, the last the broker
//! acknowledged, and what holds the partition back (an unresolved
//! sequence, a retry in flight, batches in flight to another leader).

use crate::kafka_code::KafkaCode;

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

impl Sequences {
    /// The rules for sending a partition's next batch (`front_numbered`:
    /// whether it already has a sequence; `in_flight`: the partition's
    /// batches in flight) to leader `node` under the producer id and epoch
    /// `current`: nothing while its sequence is unresolved; nothing to a new
    /// leader while batches to the old one are in flight; a retried batch
    /// only once the batches sent before it are resolved; nothing newer
    /// while a retry is in flight.
    pub fn may_send(
        &self,
        front_numbered: bool,
        in_flight: u32,
        node: i32,
        current: (i64, i16),
    ) -> bool {
        if self.unresolved.is_some() {
            return false;
        }
        // New numbers under a new epoch only once the old epoch's batches are
        // all answered: a batch with sequence 0 must not overtake them.
        if !front_numbered && self.stamp != current && in_flight > 0 {
            return false;
        }
        if in_flight > 0 && self.in_flight_node != node {
            return false;
        }
        if front_numbered && in_flight > 0 {
            return false;
        }
        // Nothing newer while a retry is in flight.
        !self.retrying || front_numbered
    }

    /// A batch given up after it may have reached the broker leaves the
    /// sequence unresolved at its last number.
    pub fn mark_unresolved(&mut self, batch: Numbered) {
        self.unresolved = Some(batch.last());
    }

    /// Before a partition's batches get new numbers: how many of its
    /// numbered batches, counted back from the newest (`newest_first`), the
    /// broker refused as out of order and so are not in the log, whatever
    /// became of their earlier sends.
    ///
    /// Why: had the highest batch sent been written, it would be the
    /// broker's last batch for us, which even a broker restarted from its
    /// snapshot remembers, so its retry would be answered as a duplicate. An
    /// OUT_OF_ORDER answer to it therefore means it was never written. Then
    /// the batch below it, had it been written, would be the broker's last
    /// batch, and so on down, for as long as each retry was refused as out
    /// of order.
    pub fn refused_tail(&self, newest_first: impl Iterator<Item = Numbered>) -> usize {
        let highest = seq_add(self.next, u32::MAX);
        let mut numbered = newest_first.peekable();
        let Some(top) = numbered.peek() else {
            return 0;
        };
        if top.last() != highest || top.stamp != self.stamp {
            return 0;
        }
        numbered
            .take_while(|b| b.last_error == Some(KafkaCode::OutOfOrderSequenceNumber))
            .count()
    }
}

/// A numbered batch, as the sequence rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Numbered {
    /// Its first sequence.
    pub base: i32,
    /// Its records.
    pub count: u32,
    /// The producer id and epoch it was numbered under.
    pub stamp: (i64, i16),
    /// The last error it met.
    pub last_error: Option<KafkaCode>,
}

impl Numbered {
    /// Its last sequence.
    pub fn last(&self) -> i32 {
        seq_add(self.base, self.count.saturating_sub(1))
    }
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

    fn numbered(base: i32, count: u32, last_error: Option<KafkaCode>) -> Numbered {
        Numbered {
            base,
            count,
            stamp: (7, 0),
            last_error,
        }
    }

    #[test]
    fn the_refused_tail_counts_back_from_the_highest_sequence_sent() {
        let s = Sequences {
            next: 30,
            stamp: (7, 0),
            ..Sequences::default()
        };
        let ooo = Some(KafkaCode::OutOfOrderSequenceNumber);
        let newest_first = [
            numbered(20, 10, ooo),
            numbered(10, 10, ooo),
            numbered(0, 10, None),
        ];
        assert_eq!(s.refused_tail(newest_first.into_iter()), 2);
        assert_eq!(
            s.refused_tail(newest_first[1..].iter().copied()),
            0,
            "the newest numbered batch is not the highest sent: nothing is proven"
        );
        let other_epoch = Sequences { stamp: (7, 1), ..s };
        assert_eq!(other_epoch.refused_tail(newest_first.into_iter()), 0);
        assert_eq!(s.refused_tail(core::iter::empty()), 0);
    }

    #[test]
    fn sending_rules() {
        let current = (7, 0);
        let s = Sequences {
            stamp: current,
            in_flight_node: 1,
            ..Sequences::default()
        };
        assert!(s.may_send(false, 0, 1, current));
        assert!(s.may_send(false, 3, 1, current), "new batches pipeline");
        assert!(!s.may_send(false, 3, 2, current), "not to a new leader yet");
        assert!(
            !s.may_send(true, 1, 1, current),
            "a retry waits for those before it"
        );
        assert!(
            !s.may_send(false, 1, 1, (7, 1)),
            "a new epoch's numbers wait for the old epoch's batches"
        );
        let retrying = Sequences {
            retrying: true,
            ..s
        };
        assert!(!retrying.may_send(false, 0, 1, current));
        assert!(retrying.may_send(true, 0, 1, current));
        let unresolved = Sequences {
            unresolved: Some(3),
            ..s
        };
        assert!(!unresolved.may_send(true, 0, 1, current));
    }
}
