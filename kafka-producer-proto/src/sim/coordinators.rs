//! The simulated cluster's transaction coordinator and group coordinator,
//! after Kafka's (`TransactionCoordinator`, `TransactionMetadata`, the
//! group coordinator's transactional offset commits), in our words.
//!
//! The transaction coordinator keeps, per `transactional.id`, the producer
//! id and epoch, the phase of its transaction (Empty, Ongoing,
//! PrepareCommit/PrepareAbort while its markers are being written,
//! CompleteCommit/CompleteAbort) and what the transaction holds. It answers
//! InitProducerId (fencing earlier producers, aborting what they left
//! open), AddPartitionsToTxn, AddOffsetsToTxn and EndTxn; it answers EndTxn
//! as soon as the decision is taken and writes the markers
//! `marker_delay` later, as Kafka does, so a new request from the same id
//! meanwhile gets CONCURRENT_TRANSACTIONS. It aborts a transaction left open
//! past its `transaction.timeout.ms`, bumping the epoch (a fence). It
//! remembers every decision and every fence, for the checks.
//!
//! The group coordinator holds each group's committed offsets and, per
//! producer id, the offsets of its open transaction, which the transaction's
//! marker commits or drops.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use super::markers::Marker;
use crate::kafka_code::KafkaCode;
use crate::time::Instant;

/// Where a transaction stands on its coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Empty,
    Ongoing,
    Prepare(Marker),
    Complete(Marker),
}

/// A `transactional.id` as its coordinator keeps it.
#[derive(Debug, Clone)]
pub(crate) struct TxnMeta {
    pub producer_id: i64,
    pub epoch: i16,
    /// The epoch before the last bump, to recognise a retried bump
    /// (KIP-360); -1 after a fence, which no retry may undo.
    pub last_epoch: i16,
    pub phase: Phase,
    pub partitions: BTreeSet<(String, i32)>,
    pub groups: BTreeSet<String>,
    pub started_at: Instant,
    pub timeout: Duration,
    /// When the markers of the decision taken are written.
    pub markers_at: Instant,
    /// The epoch the open (or last) transaction runs under; the markers of
    /// a transactions v2 end carry the next one.
    pub txn_epoch: i16,
    /// The decision being written came from a transactions v2 EndTxn.
    pub ended_v2: bool,
}

/// A decision whose markers are due.
#[derive(Debug, Clone)]
pub(crate) struct MarkerWrite {
    pub producer_id: i64,
    pub epoch: i16,
    pub marker: Marker,
    pub partitions: Vec<(String, i32)>,
}

/// A transaction's end, as the coordinator decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnDecision {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// The epoch of the markers.
    pub epoch: i16,
    /// Commit or abort.
    pub marker: Marker,
    /// The epoch the transaction's records were written under (the
    /// markers' epoch under transactions v1, the one before it under v2).
    pub txn_epoch: i16,
    /// When the markers were written.
    pub at: Instant,
    /// Ended by a transactions v2 EndTxn (which bumped the epoch).
    pub v2: bool,
    /// Aborted because it outlived its timeout.
    pub timed_out: bool,
    /// The partitions it wrote markers to.
    pub partitions: Vec<(String, i32)>,
    /// The offsets it committed, per group (none for an abort).
    pub offsets: Vec<(String, (String, i32), i64)>,
}

/// An epoch that became stale: from `at` on, nothing written by
/// `producer_id` with an epoch below `below` may become visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    /// The producer id.
    pub producer_id: i64,
    /// Every epoch below this is fenced.
    pub below: i16,
    /// When.
    pub at: Instant,
    /// By a new producer's InitProducerId (rather than a bump of the
    /// current producer's own epoch, or a timeout).
    pub by_new_producer: bool,
}

/// A consumer group, as far as transactional commits go.
#[derive(Debug, Clone, Default)]
pub(crate) struct Group {
    pub committed: BTreeMap<(String, i32), i64>,
    /// Offsets of open transactions, per producer id.
    pub pending: BTreeMap<i64, BTreeMap<(String, i32), i64>>,
    /// The group's generation; a request carrying another one is refused.
    pub generation: i32,
}

/// The two coordinators.
#[derive(Debug, Clone)]
pub(crate) struct Coordinators {
    pub txns: BTreeMap<String, TxnMeta>,
    pub by_producer: BTreeMap<i64, String>,
    pub groups: BTreeMap<String, Group>,
    /// The node each coordinator is on, and until when it is loading.
    pub txn_node: i32,
    pub group_node: i32,
    pub txn_loading_until: Instant,
    pub group_loading_until: Instant,
    pub marker_delay: Duration,
    /// `transaction.max.timeout.ms`.
    pub max_timeout: Duration,
    pub decisions: Vec<TxnDecision>,
    pub fences: Vec<Fence>,
    /// The finalized `transaction.version` brokers report (0: none
    /// reported, as librdkafka's mock does), and the epoch of that report.
    pub transaction_version: i16,
    pub features_epoch: i64,
    /// Timed-out aborts whose markers are not yet written.
    timing_out: BTreeSet<String>,
}

impl Default for Coordinators {
    fn default() -> Self {
        Coordinators {
            txns: BTreeMap::new(),
            by_producer: BTreeMap::new(),
            groups: BTreeMap::new(),
            txn_node: 0,
            group_node: 0,
            txn_loading_until: Instant::ZERO,
            group_loading_until: Instant::ZERO,
            marker_delay: Duration::from_millis(5),
            max_timeout: Duration::from_millis(900_000),
            decisions: Vec::new(),
            fences: Vec::new(),
            transaction_version: 0,
            features_epoch: -1,
            timing_out: BTreeSet::new(),
        }
    }
}

impl Coordinators {
    /// Whether `node` may answer for the transaction coordinator now.
    pub fn txn_check(&self, node: i32, now: Instant) -> Result<(), KafkaCode> {
        if node != self.txn_node {
            Err(KafkaCode::NotCoordinator)
        } else if now < self.txn_loading_until {
            Err(KafkaCode::CoordinatorLoadInProgress)
        } else {
            Ok(())
        }
    }

    /// Whether `node` may answer for the group coordinator now.
    pub fn group_check(&self, node: i32, now: Instant) -> Result<(), KafkaCode> {
        if node != self.group_node {
            Err(KafkaCode::NotCoordinator)
        } else if now < self.group_loading_until {
            Err(KafkaCode::CoordinatorLoadInProgress)
        } else {
            Ok(())
        }
    }

    fn fence(&mut self, producer_id: i64, below: i16, at: Instant, by_new_producer: bool) {
        self.fences.push(Fence {
            producer_id,
            below,
            at,
            by_new_producer,
        });
    }

    /// InitProducerId for `id`; `new_id` hands out fresh producer ids.
    pub fn init_producer_id(
        &mut self,
        id: &str,
        timeout_ms: i32,
        expected: (i64, i16),
        now: Instant,
        new_id: &mut dyn FnMut() -> i64,
    ) -> Result<(i64, i16), KafkaCode> {
        if id.is_empty() {
            return Err(KafkaCode::InvalidRequest);
        }
        let timeout = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
        if timeout.is_zero() || timeout > self.max_timeout {
            return Err(KafkaCode::InvalidTransactionTimeout);
        }
        let delay = self.marker_delay;
        let Some(m) = self.txns.get_mut(id) else {
            let producer_id = new_id();
            self.by_producer.insert(producer_id, String::from(id));
            self.txns.insert(
                String::from(id),
                TxnMeta {
                    producer_id,
                    epoch: 0,
                    last_epoch: -1,
                    phase: Phase::Empty,
                    partitions: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    started_at: now,
                    timeout,
                    markers_at: now,
                    txn_epoch: 0,
                    ended_v2: false,
                },
            );
            return Ok((producer_id, 0));
        };
        match m.phase {
            Phase::Prepare(_) => return Err(KafkaCode::ConcurrentTransactions),
            Phase::Ongoing => {
                // A new producer of this id: the old one's transaction is
                // aborted under a fenced epoch; the retry gets the id.
                let (pid, epoch) = (m.producer_id, m.epoch.saturating_add(1));
                m.epoch = epoch;
                m.last_epoch = -1;
                m.phase = Phase::Prepare(Marker::Abort);
                m.markers_at = now + delay;
                self.fence(pid, epoch, now, true);
                return Err(KafkaCode::ConcurrentTransactions);
            }
            Phase::Empty | Phase::Complete(_) => {}
        }
        let (req_id, req_epoch) = expected;
        if req_id >= 0 {
            if req_id != m.producer_id {
                return Err(KafkaCode::ProducerFenced);
            }
            if req_epoch != m.epoch {
                if req_epoch == m.last_epoch && m.last_epoch >= 0 {
                    // The bump's answer was lost: the same answer again.
                    return Ok((m.producer_id, m.epoch));
                }
                return Err(KafkaCode::ProducerFenced);
            }
        }
        let old = m.producer_id;
        let new_producer = req_id < 0;
        if m.epoch >= i16::MAX - 1 {
            let fresh = new_id();
            m.producer_id = fresh;
            m.epoch = 0;
            m.last_epoch = -1;
        } else {
            // Only a bump the producer asked for with its own epoch can be
            // retried (KIP-360); a new producer's epoch leaves nothing for a
            // zombie to claim as its retry.
            m.last_epoch = if new_producer { -1 } else { m.epoch };
            m.epoch += 1;
        }
        m.phase = Phase::Empty;
        m.timeout = timeout;
        let (pid, epoch) = (m.producer_id, m.epoch);
        if pid != old {
            self.by_producer.insert(pid, String::from(id));
            self.fence(old, i16::MAX, now, new_producer);
        } else {
            self.fence(pid, epoch, now, new_producer);
        }
        Ok((pid, epoch))
    }

    /// The transaction of `id`, if `producer_id` and `epoch` are its own.
    fn current(
        &mut self,
        id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<&mut TxnMeta, KafkaCode> {
        let m = self
            .txns
            .get_mut(id)
            .ok_or(KafkaCode::InvalidProducerIdMapping)?;
        if m.producer_id != producer_id {
            return Err(KafkaCode::InvalidProducerIdMapping);
        }
        if m.epoch != epoch {
            return Err(KafkaCode::ProducerFenced);
        }
        Ok(m)
    }

    /// Adds partitions (or, with `group`, a group's offsets) to the
    /// transaction of `id`, opening it if none is open.
    pub fn add(
        &mut self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        group: Option<&str>,
        now: Instant,
    ) -> Result<(), KafkaCode> {
        let m = self.current(id, producer_id, epoch)?;
        match m.phase {
            Phase::Prepare(_) => return Err(KafkaCode::ConcurrentTransactions),
            Phase::Ongoing => {}
            Phase::Empty | Phase::Complete(_) => {
                m.phase = Phase::Ongoing;
                m.partitions.clear();
                m.groups.clear();
                m.started_at = now;
                m.txn_epoch = m.epoch;
            }
        }
        m.partitions.extend(partitions.iter().cloned());
        if let Some(g) = group {
            m.groups.insert(String::from(g));
        }
        Ok(())
    }

    /// Transactions v2: a Produce (v12+) or TxnOffsetCommit (v5+) adds
    /// its partition, or `group`, to the open transaction of `producer_id`
    /// itself, as the broker does on the producer's behalf. The coordinator's
    /// PRODUCER_FENCED comes back as INVALID_PRODUCER_EPOCH.
    pub fn add_implicitly(
        &mut self,
        producer_id: i64,
        epoch: i16,
        partition: &(String, i32),
        now: Instant,
    ) -> Result<(), KafkaCode> {
        self.add_for(producer_id, epoch, Some(partition), None, now)
    }

    /// As [`Coordinators::add_implicitly`], for a group's offsets.
    pub fn add_group_implicitly(
        &mut self,
        producer_id: i64,
        epoch: i16,
        group: &str,
        now: Instant,
    ) -> Result<(), KafkaCode> {
        self.add_for(producer_id, epoch, None, Some(group), now)
    }

    fn add_for(
        &mut self,
        producer_id: i64,
        epoch: i16,
        partition: Option<&(String, i32)>,
        group: Option<&str>,
        now: Instant,
    ) -> Result<(), KafkaCode> {
        let id = self
            .by_producer
            .get(&producer_id)
            .cloned()
            .ok_or(KafkaCode::InvalidProducerIdMapping)?;
        let partitions: &[(String, i32)] = match partition {
            Some(p) => core::slice::from_ref(p),
            None => &[],
        };
        match self.add(&id, producer_id, epoch, partitions, group, now) {
            Err(KafkaCode::ProducerFenced) => Err(KafkaCode::InvalidProducerEpoch),
            other => other,
        }
    }

    /// EndTxn under transactions v2 (v5): every end bumps the epoch, and
    /// the answer carries the producer id and epoch to go on with. A retry
    /// of an end already decided (the request's epoch is the one before)
    /// gets the same answer.
    pub fn end_v2(
        &mut self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now: Instant,
    ) -> Result<(i64, i16), KafkaCode> {
        let delay = self.marker_delay;
        let wanted = if commit {
            Marker::Commit
        } else {
            Marker::Abort
        };
        let m = self
            .txns
            .get_mut(id)
            .filter(|m| m.producer_id == producer_id)
            .ok_or(KafkaCode::InvalidProducerIdMapping)?;
        let current = epoch == m.epoch;
        let retry = epoch.checked_add(1) == Some(m.epoch);
        if !current && !retry {
            return Err(KafkaCode::ProducerFenced);
        }
        let (pid, next) = (m.producer_id, m.epoch.saturating_add(1));
        match (m.phase, current) {
            (Phase::Ongoing, true) => {
                m.last_epoch = m.epoch;
                m.epoch = next;
                m.ended_v2 = true;
                m.phase = Phase::Prepare(wanted);
                m.markers_at = now + delay;
                self.fences.push(Fence {
                    producer_id: pid,
                    below: next,
                    at: now,
                    by_new_producer: false,
                });
                Ok((pid, next))
            }
            // An abort of nothing is allowed, and bumps the epoch too.
            (Phase::Empty | Phase::Complete(_), true) if !commit => {
                m.last_epoch = m.epoch;
                m.epoch = next;
                m.phase = Phase::Complete(Marker::Abort);
                self.fences.push(Fence {
                    producer_id: pid,
                    below: next,
                    at: now,
                    by_new_producer: false,
                });
                Ok((pid, next))
            }
            (Phase::Prepare(m2), false) if m2 == wanted => Err(KafkaCode::ConcurrentTransactions),
            (Phase::Complete(m2), false) if m2 == wanted => Ok((pid, m.epoch)),
            (Phase::Empty, false) => Err(KafkaCode::ProducerFenced),
            _ => Err(KafkaCode::InvalidTxnState),
        }
    }

    /// EndTxn under transactions v1.
    pub fn end(
        &mut self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now: Instant,
    ) -> Result<(), KafkaCode> {
        let delay = self.marker_delay;
        let wanted = if commit {
            Marker::Commit
        } else {
            Marker::Abort
        };
        let m = self.current(id, producer_id, epoch)?;
        match m.phase {
            Phase::Empty => Err(KafkaCode::InvalidTxnState),
            Phase::Ongoing => {
                m.phase = Phase::Prepare(wanted);
                m.markers_at = now + delay;
                Ok(())
            }
            Phase::Prepare(m) if m == wanted => Err(KafkaCode::ConcurrentTransactions),
            // A retry of an end already written.
            Phase::Complete(m) if m == wanted => Ok(()),
            Phase::Prepare(_) | Phase::Complete(_) => Err(KafkaCode::InvalidTxnState),
        }
    }

    /// Whether a transactional batch of `producer_id` at `epoch` for
    /// `partition` belongs to its open transaction (KIP-890 part 1: the
    /// partition leader asks the coordinator before the first batch).
    /// `abortable`: the request version knows TRANSACTION_ABORTABLE.
    pub fn verify(
        &self,
        producer_id: i64,
        epoch: i16,
        partition: &(String, i32),
        abortable: bool,
    ) -> Result<(), KafkaCode> {
        let not_in = if abortable {
            KafkaCode::TransactionAbortable
        } else {
            KafkaCode::InvalidTxnState
        };
        let Some(m) = self
            .by_producer
            .get(&producer_id)
            .and_then(|id| self.txns.get(id))
        else {
            return Err(not_in);
        };
        if m.producer_id != producer_id || epoch < m.epoch {
            return Err(KafkaCode::InvalidProducerEpoch);
        }
        if m.phase != Phase::Ongoing || epoch != m.epoch || !m.partitions.contains(partition) {
            return Err(not_in);
        }
        Ok(())
    }

    /// TxnOffsetCommit: the offsets wait in the group until the
    /// transaction's marker.
    #[allow(clippy::too_many_arguments)]
    pub fn txn_offset_commit(
        &mut self,
        id: &str,
        group_id: &str,
        producer_id: i64,
        epoch: i16,
        generation: i32,
        member: &str,
        offsets: &[((String, i32), i64)],
    ) -> Result<(), KafkaCode> {
        let m = self
            .txns
            .get(id)
            .filter(|m| m.producer_id == producer_id)
            .ok_or(KafkaCode::InvalidProducerIdMapping)?;
        if epoch != m.epoch {
            return Err(KafkaCode::InvalidProducerEpoch);
        }
        if m.phase != Phase::Ongoing || !m.groups.contains(group_id) {
            return Err(KafkaCode::InvalidTxnState);
        }
        let group = self.groups.entry(String::from(group_id)).or_default();
        if (generation >= 0 || !member.is_empty()) && generation != group.generation {
            return Err(KafkaCode::IllegalGeneration);
        }
        let pending = group.pending.entry(producer_id).or_default();
        for (tp, offset) in offsets {
            pending.insert(tp.clone(), *offset);
        }
        Ok(())
    }

    /// Aborts transactions left open past their timeout, fencing their
    /// epoch.
    pub fn expire(&mut self, now: Instant) {
        let delay = self.marker_delay;
        let mut fenced = Vec::new();
        for (id, m) in self.txns.iter_mut() {
            if m.phase == Phase::Ongoing && now >= m.started_at + m.timeout {
                m.epoch = m.epoch.saturating_add(1);
                m.last_epoch = -1;
                m.phase = Phase::Prepare(Marker::Abort);
                m.markers_at = now + delay;
                fenced.push((m.producer_id, m.epoch));
                self.timing_out.insert(id.clone());
            }
        }
        for (pid, epoch) in fenced {
            self.fence(pid, epoch, now, false);
        }
    }

    /// The decisions whose markers are due at `now`: the transactions move
    /// to Complete, and the groups commit or drop their offsets.
    pub fn due_markers(&mut self, now: Instant) -> Vec<MarkerWrite> {
        let mut out = Vec::new();
        for (id, m) in self.txns.iter_mut() {
            let Phase::Prepare(marker) = m.phase else {
                continue;
            };
            if m.markers_at > now {
                continue;
            }
            m.phase = Phase::Complete(marker);
            let timed_out = self.timing_out.remove(id);
            let partitions: Vec<(String, i32)> = m.partitions.iter().cloned().collect();
            let mut offsets = Vec::new();
            for g in &m.groups {
                let group = self.groups.entry(g.clone()).or_default();
                if let Some(pending) = group.pending.remove(&m.producer_id)
                    && marker == Marker::Commit
                {
                    offsets.extend(pending.iter().map(|(tp, o)| (g.clone(), tp.clone(), *o)));
                    group.committed.extend(pending);
                }
            }
            self.decisions.push(TxnDecision {
                transactional_id: id.clone(),
                producer_id: m.producer_id,
                epoch: m.epoch,
                marker,
                txn_epoch: m.txn_epoch,
                at: now,
                v2: core::mem::take(&mut m.ended_v2),
                timed_out,
                partitions: partitions.clone(),
                offsets,
            });
            out.push(MarkerWrite {
                producer_id: m.producer_id,
                epoch: m.epoch,
                marker,
                partitions,
            });
        }
        out
    }

    /// When a marker write or a timeout comes due, if ever.
    pub fn next_due(&self) -> Option<Instant> {
        self.txns
            .values()
            .filter_map(|m| match m.phase {
                Phase::Prepare(_) => Some(m.markers_at),
                Phase::Ongoing => Some(m.started_at + m.timeout),
                _ => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl FnMut() -> i64 {
        let mut n = 100;
        move || {
            n += 1;
            n
        }
    }

    #[test]
    fn a_transaction_commits_and_a_new_producer_fences_the_old() {
        let mut c = Coordinators::default();
        let mut new_id = ids();
        let t0 = Instant::from_millis(1_000);
        let (pid, e0) = c
            .init_producer_id("t", 60_000, (-1, -1), t0, &mut new_id)
            .unwrap();
        assert_eq!((pid, e0), (101, 0));
        let tp = (String::from("out"), 0);
        assert_eq!(
            c.verify(pid, 0, &tp, false),
            Err(KafkaCode::InvalidTxnState),
            "not added yet"
        );
        c.add("t", pid, 0, core::slice::from_ref(&tp), None, t0)
            .unwrap();
        c.verify(pid, 0, &tp, false).unwrap();
        c.end("t", pid, 0, true, t0).unwrap();
        assert_eq!(
            c.end("t", pid, 0, true, t0),
            Err(KafkaCode::ConcurrentTransactions),
            "markers not written yet"
        );
        assert!(c.due_markers(t0).is_empty());
        let due = c.due_markers(t0 + Duration::from_millis(5));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].marker, Marker::Commit);
        c.end("t", pid, 0, true, t0).unwrap(); // a retry of a written end
        // The next transaction, then a second producer arrives.
        c.add("t", pid, 0, core::slice::from_ref(&tp), None, t0)
            .unwrap();
        assert_eq!(
            c.init_producer_id("t", 60_000, (-1, -1), t0, &mut new_id),
            Err(KafkaCode::ConcurrentTransactions),
            "the open transaction is aborted first"
        );
        assert_eq!(
            c.fences.last().map(|f| (f.producer_id, f.below)),
            Some((pid, 1))
        );
        let due = c.due_markers(t0 + Duration::from_millis(10));
        assert_eq!((due[0].marker, due[0].epoch), (Marker::Abort, 1));
        let (pid2, e2) = c
            .init_producer_id("t", 60_000, (-1, -1), t0, &mut new_id)
            .unwrap();
        assert_eq!((pid2, e2), (pid, 2));
        assert_eq!(
            c.add("t", pid, 0, core::slice::from_ref(&tp), None, t0),
            Err(KafkaCode::ProducerFenced),
            "the old producer is fenced"
        );
        assert_eq!(
            c.verify(pid, 0, &tp, true),
            Err(KafkaCode::InvalidProducerEpoch)
        );
        // KIP-360: a bump with the current epoch, and its retry.
        assert_eq!(
            c.init_producer_id("t", 60_000, (pid, 2), t0, &mut new_id),
            Ok((pid, 3))
        );
        assert_eq!(
            c.init_producer_id("t", 60_000, (pid, 2), t0, &mut new_id),
            Ok((pid, 3)),
            "a retried bump gets the same answer"
        );
        assert_eq!(
            c.init_producer_id("t", 60_000, (pid, 1), t0, &mut new_id),
            Err(KafkaCode::ProducerFenced)
        );
        // Found by the transactional schedules: a new producer's epoch must
        // not count as a bump its fenced predecessor could retry.
        assert_eq!(
            c.init_producer_id("t", 60_000, (-1, -1), t0, &mut new_id),
            Ok((pid, 4))
        );
        assert_eq!(
            c.init_producer_id("t", 60_000, (pid, 3), t0, &mut new_id),
            Err(KafkaCode::ProducerFenced),
            "the zombie's bump with its old epoch is fenced"
        );
    }

    #[test]
    fn a_transaction_left_open_past_its_timeout_is_aborted() {
        let mut c = Coordinators::default();
        let mut new_id = ids();
        let t0 = Instant::from_millis(1_000);
        let (pid, _) = c
            .init_producer_id("t", 100, (-1, -1), t0, &mut new_id)
            .unwrap();
        c.add("t", pid, 0, &[(String::from("out"), 0)], Some("g"), t0)
            .unwrap();
        c.txn_offset_commit("t", "g", pid, 0, -1, "", &[((String::from("in"), 0), 7)])
            .unwrap();
        assert_eq!(c.next_due(), Some(t0 + Duration::from_millis(100)));
        c.expire(t0 + Duration::from_millis(99));
        assert!(c.fences.is_empty());
        c.expire(t0 + Duration::from_millis(100));
        let due = c.due_markers(t0 + Duration::from_millis(200));
        assert_eq!((due[0].marker, due[0].epoch), (Marker::Abort, 1));
        assert!(c.decisions[0].timed_out);
        assert!(
            c.groups["g"].committed.is_empty(),
            "its offsets are dropped"
        );
        assert_eq!(
            c.end("t", pid, 0, false, t0),
            Err(KafkaCode::ProducerFenced),
            "transactions v1: the abort of a timed-out transaction is fenced"
        );
        assert_eq!(
            c.init_producer_id("t", 100, (pid, 0), t0, &mut new_id),
            Err(KafkaCode::ProducerFenced),
            "no bump after a fence"
        );
    }
}
