//! The producer's side of a rebootstrap (see `cluster/rebootstrap.rs`):
//! connections to the brokers metadata named stop taking requests and
//! close once drained, so the next Metadata request can only go to a
//! bootstrap server.

use smallvec::SmallVec;

use super::{CloseCause, Producer};
use crate::event::ConnectionId;
use crate::time::Instant;

impl<T> Producer<T> {
    /// A broker answered REBOOTSTRAP_REQUIRED: forget the cluster and
    /// start again from `bootstrap.servers`.
    pub(super) fn rebootstrap(&mut self, now: Instant) {
        for id in self.meta.rebootstrap(&mut self.acc) {
            if let Some(c) = self.conns.get_mut(&id) {
                c.retired = true;
            }
        }
        self.close_retired(now);
    }

    /// Closes the retired connections that nothing waits on any more.
    /// Answers still due on the others are taken as usual.
    pub(super) fn close_retired(&mut self, now: Instant) {
        let done: SmallVec<[ConnectionId; 4]> = self
            .conns
            .values()
            .filter(|c| c.retired && c.in_flight.is_empty())
            .map(|c| c.id)
            .collect();
        for id in done {
            self.close_connection(id, CloseCause::Done, now);
        }
    }

    /// Whether some connection can still carry requests (or will, once
    /// open): a retired one cannot.
    pub(super) fn has_live_connection(&self) -> bool {
        self.conns.values().any(|c| !c.retired)
    }
}
