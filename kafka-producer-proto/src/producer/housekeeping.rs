//! Housekeeping after every input: what time and state changes make due.
//!
//! Requests and connection attempts that outlived their timeouts are
//! abandoned (their batches go back for a retry); records that outlived
//! `delivery.timeout.ms`, or waited for their topic's metadata past
//! `max.block.ms`, fail with the record handed back; connections are
//! opened to the brokers that lead partitions with records, and to some
//! broker when metadata is due; and a closing producer finishes closing
//! once nothing is pending. The earliest instant at which
//! any of it comes due is what `poll_timeout` reports.

use smallvec::SmallVec;

use super::{CloseCause, Producer, State};
use crate::cluster::Phase;
use crate::error::ProduceError;
use crate::event::{ConnectionId, Event};
use crate::idempotence::{IdInput, IdState};
use crate::time::Instant;

impl<T> Producer<T> {
    /// Brings the state up to `now`. Idempotent; cheap when nothing is due.
    pub(super) fn maintain(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if let State::Fatal(error) = &self.state
            && !self.acc.is_empty()
        {
            // Batches that came back from flight after the producer turned
            // fatal (the rest of a response's partitions, a closing
            // connection's requests) fail like everything else did.
            let failure = ProduceError::Fatal(error.clone());
            self.fail_all_pending(failure);
        }
        self.expire_connections(now);
        self.close_retired(now);
        self.expire_records(now);
        self.resolve_sequences();
        self.maintain_transaction(now);
        self.request_token(now);
        self.fail_unauthenticated(now);
        self.plan_connections(now);
        self.plan_transaction_connections(now);
        if self.acc.is_empty() {
            self.flushing = false;
            if self.close_requested && !self.transaction_ending() {
                self.finish_close(now);
            }
        }
    }

    fn expire_connections(&mut self, now: Instant) {
        let expired: SmallVec<[ConnectionId; 4]> = self
            .conns
            .values()
            .filter(|c| c.deadline().is_some_and(|d| d <= now))
            .map(|c| c.id)
            .collect();
        for id in expired {
            self.close_connection(id, CloseCause::Timeout, now);
        }
    }

    fn expire_records(&mut self, now: Instant) {
        let block = self.config.max_block().min(self.config.delivery_timeout());
        for t in 0..self.acc.topics.len() {
            while let Some(w) = self.acc.topics[t].waiting.front() {
                if w.accepted + block > now {
                    break;
                }
                let waited = now.saturating_duration_since(w.accepted);
                let topic = self.acc.topics[t].name.clone();
                if let Some(w) = self.acc.topics[t].waiting.pop_front() {
                    self.fail_waiting(w, ProduceError::TopicNotFound { topic, waited });
                }
            }
            for p in 0..self.acc.topics[t].partitions.len() {
                loop {
                    let queue = &mut self.acc.topics[t].partitions[p].queue;
                    if queue.front().is_none_or(|b| b.deadline > now) {
                        break;
                    }
                    if let Some(b) = queue.pop_front() {
                        self.mark_unresolved(&b);
                        let error = ProduceError::DeliveryTimeout {
                            attempts: b.attempts,
                            last_error: b.last_error,
                        };
                        self.fail_batch(b, error);
                    }
                }
            }
        }
    }

    /// A partition whose sequence is unresolved, with nothing left in
    /// flight that could resolve it, needs a new epoch (KIP-360).
    fn resolve_sequences(&mut self) {
        // A transactional producer settles doubt with an abort and a bump
        // (the failed batch made its transaction abortable).
        if !self.config.enable_idempotence() || self.txn.is_some() {
            return;
        }
        if self.acc.stuck_sequences() {
            self.identity.on(IdInput::BumpRequired);
        }
    }

    fn plan_connections(&mut self, now: Instant) {
        if matches!(self.state, State::Fatal(_) | State::Closed) {
            return;
        }
        // Leaders of partitions that have records to send.
        let mut leaders: SmallVec<[i32; 8]> = SmallVec::new();
        let mut leaderless = false;
        for t in &self.acc.topics {
            for p in t.partitions.iter().filter(|p| !p.queue.is_empty()) {
                if p.leader < 0 || !self.meta.brokers.contains_key(&p.leader) {
                    leaderless = true;
                } else if !leaders.contains(&p.leader) {
                    leaders.push(p.leader);
                }
            }
        }
        if leaderless {
            self.meta.invalidate();
        }
        for node in leaders {
            self.connect(node, now);
        }
        // Some connection for metadata, when it is due and none is coming.
        if self.acc.topics.is_empty() {
            return;
        }
        let missing = self.acc.topics.iter().any(|t| !t.waiting.is_empty());
        if self.meta.due_at(missing).is_none_or(|due| due > now) || self.has_live_connection() {
            return;
        }
        let candidate = self
            .meta
            .brokers
            .iter()
            .filter(|(_, b)| b.conn.is_none() && b.reconnect_at <= now)
            // Known brokers before bootstrap servers, the least failed first.
            .min_by_key(|(node, b)| (**node < 0, b.failures, **node))
            .map(|(node, _)| *node);
        if let Some(node) = candidate {
            self.connect(node, now);
        }
    }

    fn finish_close(&mut self, now: Instant) {
        self.transaction_abandon(now);
        let ids: SmallVec<[ConnectionId; 8]> = self.conns.keys().copied().collect();
        for id in ids {
            self.close_connection(id, CloseCause::Done, now);
        }
        self.state = State::Closed;
        self.events.push_back(Event::Closed);
    }

    /// The earliest instant at which something is due.
    pub(super) fn next_wakeup(&self) -> Option<Instant> {
        if !self.events.is_empty() {
            return Some(self.last_now);
        }
        self.next_due()
    }

    /// The earliest instant at which time alone makes something due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        // Mirrors `maintain`: a closed producer does nothing ever again.
        if self.state == State::Closed {
            return None;
        }
        let now = self.last_now;
        let mut at: Option<Instant> = None;
        let mut consider = |t: Instant| at = Some(at.map_or(t, |a| a.min(t)));
        for c in self.conns.values() {
            if let Some(d) = c.deadline() {
                consider(d);
            }
            if matches!(c.phase, Phase::Negotiating { sent: false, .. })
                || self.authentication_pending(c.id)
            {
                consider(now);
            }
            if let Some(at) = c.reauth_at.filter(|_| c.is_ready() && !c.retired) {
                consider(at.max(now));
            }
        }
        let linger = self.config.linger();
        let missing = self.acc.topics.iter().any(|t| !t.waiting.is_empty());
        // When some connection can carry a request: now, or when the
        // throttle a broker asked for runs out (which nothing else wakes).
        let max = self.config.max_in_flight_requests_per_connection();
        let usable = self
            .conns
            .values()
            .filter(|c| c.is_ready() && !c.retired && c.requests_in_flight() < max)
            .map(|c| c.throttled_until.max(now))
            .min();
        // A fatal producer opens no connection (`plan_connections`), so
        // metadata coming due wakes nothing.
        let fatal = matches!(self.state, State::Fatal(_));
        if let Some(due) = self
            .meta
            .due_at(missing)
            .filter(|_| !self.acc.topics.is_empty() && !fatal)
        {
            if !self.has_live_connection() {
                // A connection must be opened first, once a broker's
                // reconnect backoff allows.
                let connectable = self.meta.brokers.values().map(|b| b.reconnect_at).min();
                if let Some(at) = connectable {
                    consider(due.max(at).max(now));
                }
            } else if let Some(usable) = usable {
                consider(due.max(usable));
            }
            // Otherwise a connection is on its way; its setup deadline or
            // an input wakes us.
        }
        if !fatal && let Some(at) = self.transaction_due(usable) {
            consider(at);
        }
        for (ti, t) in self.acc.topics.iter().enumerate() {
            if let Some(w) = t.waiting.front() {
                consider(w.accepted + self.config.max_block().min(self.config.delivery_timeout()));
            }
            for (pi, p) in t.partitions.iter().enumerate() {
                let Some(b) = p.queue.front() else { continue };
                consider(b.deadline);
                if p.leader < 0 {
                    // No leader known (-1 is not the first bootstrap
                    // server): metadata, not time, brings one.
                    continue;
                }
                let ready_at = if b.sealed || self.flushing {
                    b.created
                } else {
                    b.created + linger
                }
                .max(b.retry_at);
                let sendable = self
                    .meta
                    .brokers
                    .get(&p.leader)
                    .and_then(|br| br.conn)
                    .and_then(|c| self.conns.get(&c));
                // An idempotent partition held back by its sequence rules,
                // or a producer without a usable id, waits for an answer,
                // not for time.
                let held = (self.config.enable_idempotence()
                    && (!self.identity.ready()
                        || !p.may_send_next(p.leader, (self.identity.id, self.identity.epoch))))
                    || !self.transaction_allows(ti as u32, pi as i32);
                match sendable {
                    Some(_) if held => {}
                    Some(c) if c.is_ready() => {
                        let capacity = c.requests_in_flight()
                            < self.config.max_in_flight_requests_per_connection();
                        if capacity {
                            consider(ready_at.max(c.throttled_until));
                        }
                    }
                    Some(_) => {}
                    None => {
                        if let Some(br) = self.meta.brokers.get(&p.leader) {
                            consider(br.reconnect_at.max(now));
                        }
                    }
                }
            }
        }
        if self.config.enable_idempotence() && !self.acc.topics.is_empty() && self.txn.is_none() {
            // Only a connection that can take a request can carry the
            // InitProducerId; without one an answer will wake us.
            match (self.identity.state, usable) {
                (IdState::Uninitialized { not_before }, Some(at)) => consider(not_before.max(at)),
                (IdState::BumpPending, Some(at)) if self.acc.batches_in_flight() == 0 => {
                    consider(at)
                }
                _ => {}
            }
        }
        if let Some(at) = self.token_due() {
            consider(at.max(now));
        }
        if self.close_requested
            && self.state != State::Closed
            && self.acc.is_empty()
            && !self.transaction_ending()
        {
            consider(now);
        }
        at
    }
}
