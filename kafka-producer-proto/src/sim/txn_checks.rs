//! The guarantees of transactions, checked after every transactional run
//! against what it left: the logs with their markers, the `read_committed`
//! view, the coordinator's decisions and fences, the group's committed
//! offsets, and each producer instance's events.
//!
//! - **Each transaction is atomic with its offsets:** the records a
//!   committed transaction wrote are exactly the inputs between the offset
//!   committed before it and the offset it committed.
//! - **Exactly once:** the `read_committed` view holds every input below
//!   the final committed offset once, and nothing else.
//! - **Aborted never visible:** the view holds exactly the records closed by
//!   a commit marker; aborted and open transactions' records are in the
//!   log but not in the view.
//! - **Fenced writes never visible:** a visible record's epoch is the epoch
//!   its transaction committed under, so nothing written under an epoch
//!   fenced before that commit shows.
//! - **The producer's own promises:** every record accepted by an instance
//!   that was not dropped ends in exactly one event; each accepted
//!   transaction call gets one outcome; `Closed` comes last.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::cluster::SimCluster;
use super::invariants::Violation;
use super::markers::Marker;
use super::observed::index_of;
use super::txn_run::{GROUP, INPUT, Instance, OUTPUT};
use super::txn_schedule::TxnSchedule;
use crate::event::Event;

/// How many things each transactional check looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnChecks {
    /// Committed transactions checked against their offsets.
    pub atomic: u64,
    /// Inputs checked to be in the view exactly once.
    pub exactly_once: u64,
    /// Records of aborted or open transactions checked to be hidden.
    pub hidden: u64,
    /// Records of committed transactions checked to be visible.
    pub visible: u64,
    /// Records written under an epoch that was later fenced, checked.
    pub fenced_epoch_records: u64,
    /// Records of an instance a newer one superseded, checked to be
    /// visible only if committed before the newer one's epoch existed.
    pub zombie_records: u64,
    /// Accepted records checked for exactly one terminal event.
    pub terminal_events: u64,
    /// Transaction calls checked for exactly one outcome.
    pub outcomes: u64,
}

impl TxnChecks {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &TxnChecks) {
        self.atomic += o.atomic;
        self.exactly_once += o.exactly_once;
        self.hidden += o.hidden;
        self.visible += o.visible;
        self.fenced_epoch_records += o.fenced_epoch_records;
        self.zombie_records += o.zombie_records;
        self.terminal_events += o.terminal_events;
        self.outcomes += o.outcomes;
    }

    /// Every count with its guarantee's name.
    pub fn counts(&self) -> [(&'static str, u64); 8] {
        [
            ("committed transactions atomic with offsets", self.atomic),
            ("inputs read_committed exactly once", self.exactly_once),
            ("aborted or open records hidden", self.hidden),
            ("committed records visible", self.visible),
            (
                "records of fenced epochs checked",
                self.fenced_epoch_records,
            ),
            (
                "records of superseded instances checked",
                self.zombie_records,
            ),
            ("one terminal event per record", self.terminal_events),
            ("one outcome per transaction call", self.outcomes),
        ]
    }
}

struct Checker {
    checks: TxnChecks,
    violations: Vec<Violation>,
}

impl Checker {
    fn fail(&mut self, invariant: &'static str, detail: String) {
        if self
            .violations
            .iter()
            .filter(|v| v.invariant == invariant)
            .count()
            < 5
        {
            self.violations.push(Violation::new(invariant, detail));
        }
    }
}

/// A data record and the decision that closed its transaction.
struct Written {
    partition: usize,
    offset: i64,
    input: Option<u64>,
    /// The instance that wrote it (values are `"{input}-{instance}"`).
    instance: Option<usize>,
    epoch: i16,
    /// Index into the coordinator's decisions, if its transaction ended.
    decision: Option<usize>,
}

/// Checks every transactional guarantee against what a run left.
pub(super) fn check_transactions(
    cluster: &SimCluster,
    instances: &[Instance],
    s: &TxnSchedule,
) -> (TxnChecks, Vec<Violation>) {
    let mut c = Checker {
        checks: TxnChecks::default(),
        violations: Vec::new(),
    };
    let decisions = cluster.transaction_decisions();
    // Each partition's markers of a producer close its transactions in the
    // order the coordinator decided them.
    let mut written: Vec<Written> = Vec::new();
    for p in 0..cluster.partitions(OUTPUT) {
        let tp = (String::from(OUTPUT), p as i32);
        let mut by_pid: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (k, d) in decisions.iter().enumerate() {
            if d.partitions.contains(&tp) {
                by_pid.entry(d.producer_id).or_default().push(k);
            }
        }
        let mut markers_seen: BTreeMap<i64, usize> = BTreeMap::new();
        let mut open: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for r in cluster.log(OUTPUT, p) {
            if let Some(marker) = r.control {
                let n = markers_seen.entry(r.producer_id).or_default();
                let decision = by_pid.get(&r.producer_id).and_then(|v| v.get(*n)).copied();
                *n += 1;
                match decision {
                    Some(k) if decisions[k].marker == marker && decisions[k].epoch == r.producer_epoch => {
                        for w in open.remove(&r.producer_id).unwrap_or_default() {
                            written[w].decision = Some(k);
                        }
                    }
                    _ => c.fail(
                        "markers follow decisions",
                        format!("partition {p}: marker {marker:?} of producer {} epoch {} at {} matches no decision", r.producer_id, r.producer_epoch, r.offset),
                    ),
                }
                continue;
            }
            open.entry(r.producer_id).or_default().push(written.len());
            written.push(Written {
                partition: p,
                offset: r.offset,
                input: index_of(r.value.as_ref()),
                instance: r.value.as_ref().and_then(|v| {
                    let text = core::str::from_utf8(v).ok()?;
                    text.split('-').nth(1)?.parse().ok()
                }),
                epoch: r.producer_epoch,
                decision: None,
            });
        }
    }

    // The view holds exactly the records committed.
    let mut view: BTreeSet<(usize, i64)> = BTreeSet::new();
    let mut view_inputs: BTreeMap<u64, u32> = BTreeMap::new();
    for p in 0..cluster.partitions(OUTPUT) {
        for r in cluster.read_committed(OUTPUT, p) {
            view.insert((p, r.offset));
            if let Some(i) = index_of(r.value.as_ref()) {
                *view_inputs.entry(i).or_default() += 1;
            }
        }
    }
    let fenced: BTreeMap<i64, i16> = cluster.fences().iter().fold(BTreeMap::new(), |mut m, f| {
        let e = m.entry(f.producer_id).or_insert(f.below);
        *e = (*e).max(f.below);
        m
    });
    for w in &written {
        let committed = w
            .decision
            .is_some_and(|k| decisions[k].marker == Marker::Commit);
        let seen = view.contains(&(w.partition, w.offset));
        if committed {
            c.checks.visible += 1;
            if !seen {
                c.fail(
                    "committed records visible",
                    format!("partition {} offset {} (input {:?}) was committed but read_committed skips it", w.partition, w.offset, w.input),
                );
            }
        } else {
            c.checks.hidden += 1;
            if seen {
                c.fail(
                    "aborted records hidden",
                    format!(
                        "partition {} offset {} (input {:?}) is visible but its transaction {}",
                        w.partition,
                        w.offset,
                        w.input,
                        if w.decision.is_some() {
                            "aborted"
                        } else {
                            "never ended"
                        }
                    ),
                );
            }
        }
        // Once a newer instance got a newer epoch, nothing written under
        // an older one may commit: the coordinator fenced it before it
        // answered that instance.
        if let Some(writer) = w.instance {
            let superseded = instances
                .iter()
                .filter(|i| i.number > writer)
                .filter_map(|i| i.initialized)
                .filter(|(_, epoch)| *epoch > w.epoch)
                .map(|(at, _)| at)
                .min();
            if let Some(superseded) = superseded {
                c.checks.zombie_records += 1;
                if let Some(k) = w.decision.filter(|_| committed)
                    && decisions[k].at > superseded
                {
                    c.fail(
                        "fenced writes never visible",
                        format!("partition {} offset {} (input {:?}) of instance {writer} (epoch {}) committed at {:?}, after a newer instance got a newer epoch at {superseded:?}", w.partition, w.offset, w.input, w.epoch, decisions[k].at),
                    );
                }
            }
        }
        if let Some(k) = w.decision.filter(|_| committed) {
            if fenced
                .get(&decisions[k].producer_id)
                .is_some_and(|below| w.epoch < *below)
            {
                c.checks.fenced_epoch_records += 1;
            }
            if w.epoch != decisions[k].txn_epoch {
                c.fail(
                    "fenced writes never visible",
                    format!("partition {} offset {} (input {:?}) was written under epoch {} and committed as a transaction of epoch {}", w.partition, w.offset, w.input, w.epoch, decisions[k].txn_epoch),
                );
            }
        }
    }

    // Each committed transaction wrote exactly the inputs its offsets cover.
    let mut committed_before: i64 = 0;
    let input = (String::from(INPUT), 0);
    for (k, d) in decisions.iter().enumerate() {
        if d.marker != Marker::Commit {
            continue;
        }
        let mut inputs: Vec<u64> = written
            .iter()
            .filter(|w| w.decision == Some(k))
            .filter_map(|w| w.input)
            .collect();
        inputs.sort_unstable();
        let offset = d
            .offsets
            .iter()
            .find(|(g, tp, _)| g == GROUP && *tp == input)
            .map(|(_, _, o)| *o);
        c.checks.atomic += 1;
        let expected: Vec<u64> = match offset {
            Some(o) => (u64::try_from(committed_before).unwrap_or(0)
                ..u64::try_from(o).unwrap_or(0))
                .collect(),
            None => Vec::new(),
        };
        if inputs != expected {
            c.fail(
                "transactions atomic with their offsets",
                format!("the commit of producer {} epoch {} wrote inputs {inputs:?} and moved the offset from {committed_before} to {offset:?}", d.producer_id, d.epoch),
            );
        }
        if let Some(o) = offset {
            committed_before = o;
        }
    }

    // Exactly once over the whole run.
    let final_offset = cluster
        .committed_offsets(GROUP)
        .get(&input)
        .copied()
        .unwrap_or(0);
    if final_offset != committed_before {
        c.fail(
            "exactly once",
            format!("the group's offset is {final_offset}, its commits say {committed_before}"),
        );
    }
    let below = u64::try_from(final_offset).unwrap_or(0);
    for i in 0..below {
        c.checks.exactly_once += 1;
        match view_inputs.get(&i).copied().unwrap_or(0) {
            1 => {}
            n => c.fail(
                "exactly once",
                format!("input {i} is read_committed {n} times (committed offset {final_offset})"),
            ),
        }
    }
    if let Some((i, _)) = view_inputs.range(below..).next() {
        c.fail(
            "exactly once",
            format!("input {i} is read_committed but the committed offset is only {final_offset}"),
        );
    }

    producers(&mut c, instances, s);
    (c.checks, c.violations)
}

/// Each instance that was not dropped: one terminal event per accepted
/// record, one outcome per accepted call, `Closed` last if it closed.
fn producers(c: &mut Checker, instances: &[Instance], _s: &TxnSchedule) {
    for inst in instances.iter().filter(|i| !i.crashed) {
        let k = inst.number;
        let mut ended: BTreeMap<u64, u32> = BTreeMap::new();
        for e in &inst.net.events {
            match e {
                Event::Delivered { user, .. } => *ended.entry(*user).or_default() += 1,
                Event::Failed { record, .. } => *ended.entry(record.user).or_default() += 1,
                _ => {}
            }
        }
        // An input may be sent in several transactions (after aborts).
        let mut accepted: BTreeMap<u64, u32> = BTreeMap::new();
        for i in &inst.accepted {
            *accepted.entry(*i).or_default() += 1;
        }
        for (i, n) in &accepted {
            c.checks.terminal_events += u64::from(*n);
            let got = ended.get(i).copied().unwrap_or(0);
            if got != *n {
                c.fail(
                    "one terminal event per record",
                    format!("instance {k}: input {i} was accepted {n} times and ended {got} times"),
                );
            }
        }
        if let Some((i, _)) = ended.iter().find(|(i, _)| !accepted.contains_key(i)) {
            c.fail(
                "one terminal event per record",
                format!("instance {k}: input {i} ended but was never accepted"),
            );
        }
        c.checks.outcomes += inst.calls;
        if inst.outcomes != inst.calls {
            let pending = inst.net.producer.transaction_state();
            c.fail(
                "one outcome per transaction call",
                format!(
                    "instance {k}: {} calls accepted, {} outcomes (state {pending:?})",
                    inst.calls, inst.outcomes
                ),
            );
        }
        let closed = inst.net.events.iter().position(|e| *e == Event::Closed);
        if let Some(at) = closed
            && at + 1 != inst.net.events.len()
        {
            c.fail(
                "one terminal event per record",
                format!("instance {k}: an event came after Closed"),
            );
        }
        if inst.closed
            && closed.is_none()
            && inst.net.producer.transaction_state()
                != Some(crate::transaction::TransactionState::FatalError)
        {
            c.fail(
                "one terminal event per record",
                format!("instance {k}: close did not finish"),
            );
        }
    }
}
