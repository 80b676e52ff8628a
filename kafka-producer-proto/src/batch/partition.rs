//! One partition's queue of batches, what metadata says of it (its leader),
//! and its sequence numbers for an idempotent producer.
//!
//! Invariant: the queue holds the partition's batches that are not in
//! flight, in the order they were created (`Batch::order`); only the last
//! may be open. A batch coming back for a retry is put back in that order,
//! ahead of younger ones, so a partition's records leave in `send` order.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::producer_batch::Batch;
use crate::idempotence::Sequences;

/// A partition's queue and what metadata says of it.
#[derive(Debug)]
pub(crate) struct Partition<T> {
    pub queue: VecDeque<Batch<T>>,
    pub in_flight: u32,
    /// The leader's node id, or -1 when unknown.
    pub leader: i32,
    pub leader_epoch: i32,
    pub(super) next_order: u64,
    /// Sequence numbers, for an idempotent producer.
    pub seq: Sequences,
}

impl<T> Partition<T> {
    pub fn new() -> Self {
        Partition {
            queue: VecDeque::new(),
            in_flight: 0,
            leader: -1,
            leader_epoch: -1,
            next_order: 0,
            seq: Sequences::default(),
        }
    }

    /// Puts a batch back for a retry, in creation order.
    pub fn requeue(&mut self, batch: Batch<T>) {
        let at = self
            .queue
            .iter()
            .position(|b| b.order > batch.order)
            .unwrap_or(self.queue.len());
        self.queue.insert(at, batch);
    }

    /// Whether the idempotent producer's rules let the front batch go to
    /// leader `node` now, under the producer id and epoch `current` (see
    /// [`Sequences::may_send`]).
    pub fn may_send_next(&self, node: i32, current: (i64, i16)) -> bool {
        let Some(front) = self.queue.front() else {
            return false;
        };
        self.seq
            .may_send(front.sequence.is_some(), self.in_flight, node, current)
    }

    /// A new epoch (or id) came for this partition's bump: its sequences
    /// restart at 0 under `stamp` and its queued batches lose their numbers
    /// (they are renumbered as they are drained, their bytes rewritten in
    /// place), except those that may already be in the log, which go to
    /// `unsure`: under a new number they could be written twice.
    pub fn restart_sequences(&mut self, stamp: (i64, i16), unsure: &mut Vec<Batch<T>>) {
        let proven = self
            .seq
            .refused_tail(self.queue.iter().rev().filter_map(Batch::numbered));
        for b in self
            .queue
            .iter_mut()
            .rev()
            .filter(|b| b.sequence.is_some())
            .take(proven)
        {
            b.maybe_written = false;
        }
        self.seq.reset(stamp);
        for mut b in core::mem::take(&mut self.queue) {
            if b.maybe_written {
                unsure.push(b);
            } else {
                b.sequence = None;
                self.queue.push_back(b);
            }
        }
    }
}
