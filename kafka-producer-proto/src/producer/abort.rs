//! Giving up: [`Producer::abort`] ends the producer at once, handing every
//! record still pending back with [`ProduceError::Aborted`]. It is what a
//! driver's `close(timeout)` does when the timeout runs out.

use alloc::vec::Vec;
use smallvec::SmallVec;

use super::{CloseCause, Producer, State};
use crate::batch::{Batch, Waiting};
use crate::error::ProduceError;
use crate::event::ConnectionId;
use crate::time::Instant;

impl<T> Producer<T> {
    /// Stops now: every record still pending fails with
    /// [`ProduceError::Aborted`] (its `possibly_written` set when a send
    /// of it got no answer, so the broker may have it), every connection
    /// is closed, and [`crate::Event::Closed`] comes last. `send` refuses
    /// from then on. Does nothing on a closed producer.
    pub fn abort(&mut self, now: Instant) {
        self.quiet_until = None;
        self.last_now = self.last_now.max(now);
        if self.state == State::Closed {
            return;
        }
        if self.state == State::Running {
            self.state = State::Closing;
        }
        self.close_requested = true;
        self.transaction_abandon(now);
        // Requests in flight come back to their queues, marked as possibly
        // written, when their connection goes.
        let ids: SmallVec<[ConnectionId; 8]> = self.conns.keys().copied().collect();
        for id in ids {
            self.close_connection(id, CloseCause::Done, now);
        }
        for t in 0..self.acc.topics.len() {
            let waiting: Vec<Waiting<T>> = self.acc.topics[t].waiting.drain(..).collect();
            for w in waiting {
                let error = ProduceError::Aborted {
                    possibly_written: false,
                };
                self.fail_waiting(w, error);
            }
            for p in 0..self.acc.topics[t].partitions.len() {
                let batches: Vec<Batch<T>> =
                    self.acc.topics[t].partitions[p].queue.drain(..).collect();
                for b in batches {
                    let error = ProduceError::Aborted {
                        possibly_written: b.maybe_written,
                    };
                    self.fail_batch(b, error);
                }
            }
        }
        self.maintain(now);
    }
}
