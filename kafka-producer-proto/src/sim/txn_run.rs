//! Runs one [`TxnSchedule`]: a consume-transform-produce application on the
//! real [`Producer`], against a [`SimCluster`] with its transaction and
//! group coordinators, in virtual time; then checks exactly-once
//! (`txn_checks`).
//!
//! The application processes input records 0, 1, 2, ... (their index is
//! the input offset): inside each transaction it sends one output record
//! per input (value `"{index}-{instance}"`), then the input offset with
//! `send_offsets_to_transaction`, then commits. It aborts on an abortable
//! error and rewinds to the group's committed offset; on a fatal error it
//! drops its producer and starts again with a new one under the same
//! `transactional.id`, from the committed offset, as a restarted process
//! would. Crashes drop the producer without `close`; a zombie is an old
//! instance left running after a new one started.
//!
//! Each instance has its own network ([`SimNet`]); the one cluster moves
//! into whichever network has the next thing to do, so that every
//! instance, the cluster's clock and the schedule's faults happen in one
//! time order.
//!
//! ```
//! use kafka_producer_proto::sim::run_transactional_seed;
//!
//! let report = run_transactional_seed(7);
//! assert!(report.violations.is_empty(), "{report}");
//! ```

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::cluster::SimCluster;
use super::entropy::Entropy;
use super::faults::FaultTally;
use super::invariants::Violation;
use super::network::SimNet;
use super::schedule::ClusterFault;
use super::txn_checks::{TxnChecks, check_transactions};
use super::txn_schedule::{TxnFault, TxnSchedule};
use crate::config::Config;
use crate::error::SendErrorKind;
use crate::event::Event;
use crate::producer::Producer;
use crate::record::Record;
use crate::time::Instant;
use crate::transaction::{
    ConsumerGroupMetadata, ErrorClass, OffsetCommit, TransactionCall, TransactionError,
    TransactionState,
};

/// The output topic.
pub const OUTPUT: &str = "sim";
/// The input topic (its partition 0), whose offsets are committed.
pub const INPUT: &str = "input";
/// The consumer group.
pub const GROUP: &str = "sim-group";
/// The transactional id every instance shares.
pub const TRANSACTIONAL_ID: &str = "sim-app";

/// Instances started, at most, before a run gives up (non-calm runs can
/// meet a fatal error at every start).
const MAX_INSTANCES: usize = 60;

/// What happened in a transactional run, for tallies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnTally {
    /// Transactions the application committed.
    pub committed: u64,
    /// Transactions the application aborted on its own.
    pub voluntary_aborts: u64,
    /// Aborts after an abortable error.
    pub abortable_errors: u64,
    /// Producers dropped after a fatal error.
    pub fatal_errors: u64,
    /// Crashes (producers dropped without close).
    pub crashes: u64,
    /// Zombies started (old instances left running).
    pub zombies: u64,
    /// Zombies that ended fenced.
    pub zombies_fenced: u64,
    /// Transactions the coordinator aborted for their timeout.
    pub timeouts: u64,
    /// Coordinator moves.
    pub coordinator_moves: u64,
    /// Group rebalances.
    pub rebalances: u64,
    /// Epoch bumps and fences the coordinator made.
    pub fences: u64,
    /// Transactions ended under transactions v2.
    pub v2_transactions: u64,
    /// Clusters moved to transactions v2 during a run.
    pub upgrades: u64,
}

impl TxnTally {
    /// Adds another run's tally.
    pub fn add(&mut self, o: &TxnTally) {
        for (mine, theirs) in self.counts_mut().into_iter().zip(o.counts()) {
            *mine += theirs.1;
        }
    }

    /// Every count with its name.
    pub fn counts(&self) -> [(&'static str, u64); 13] {
        [
            ("transactions committed", self.committed),
            ("voluntary aborts", self.voluntary_aborts),
            ("aborts after an abortable error", self.abortable_errors),
            ("producers dropped after a fatal error", self.fatal_errors),
            ("crashes (dropped without close)", self.crashes),
            ("zombies started", self.zombies),
            ("zombies fenced", self.zombies_fenced),
            ("transactions timed out on the broker", self.timeouts),
            ("coordinator moves", self.coordinator_moves),
            ("group rebalances", self.rebalances),
            ("epoch bumps and fences", self.fences),
            ("transactions ended under v2", self.v2_transactions),
            ("clusters upgraded to v2 mid-run", self.upgrades),
        ]
    }

    fn counts_mut(&mut self) -> [&mut u64; 13] {
        [
            &mut self.committed,
            &mut self.voluntary_aborts,
            &mut self.abortable_errors,
            &mut self.fatal_errors,
            &mut self.crashes,
            &mut self.zombies,
            &mut self.zombies_fenced,
            &mut self.timeouts,
            &mut self.coordinator_moves,
            &mut self.rebalances,
            &mut self.fences,
            &mut self.v2_transactions,
            &mut self.upgrades,
        ]
    }
}

/// What one transactional run did and whether it held every guarantee.
#[derive(Debug, Clone, Default)]
pub struct TxnReport {
    /// The seed, when the run came from one.
    pub seed: Option<u64>,
    /// The schedule, printed.
    pub schedule: String,
    /// Inputs processed (the group's final committed offset).
    pub processed: u64,
    /// Virtual time the run took.
    pub virtual_time: Duration,
    /// Network faults injected.
    pub faults: FaultTally,
    /// What the transactions went through.
    pub tally: TxnTally,
    /// Checks made.
    pub checks: TxnChecks,
    /// Guarantees broken.
    pub violations: Vec<Violation>,
    /// When a guarantee broke: the logs with their markers, the
    /// coordinator's decisions and fences, and what each instance did.
    pub trace: Vec<String>,
}

impl fmt::Display for TxnReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(seed) = self.seed {
            writeln!(f, "transactional seed {seed}")?;
        }
        write!(f, "{}", self.schedule)?;
        writeln!(
            f,
            "outcome: {} inputs processed in {:?} of virtual time",
            self.processed, self.virtual_time
        )?;
        let tally: Vec<String> = self
            .tally
            .counts()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        writeln!(f, "transactions: {}", tally.join(", "))?;
        for v in &self.violations {
            writeln!(f, "VIOLATION {v}")?;
        }
        Ok(())
    }
}

/// Draws a transactional schedule from `seed` and runs it.
pub fn run_transactional_seed(seed: u64) -> TxnReport {
    let mut entropy = Entropy::seeded(seed);
    let schedule = TxnSchedule::generate(&mut entropy);
    let mut report = run_transactional(&schedule, entropy);
    report.seed = Some(seed);
    report
}

/// Draws a transactional schedule from a fuzzer's bytes and runs it.
pub fn run_transactional_bytes(data: &[u8]) -> TxnReport {
    let mut entropy = Entropy::from_bytes(data);
    let schedule = TxnSchedule::generate(&mut entropy);
    run_transactional(&schedule, entropy)
}

/// Where an instance's application is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `init_transactions` under way.
    Init,
    /// Reading the group's committed offset, waiting until it is stable.
    Fetch,
    /// Between transactions.
    Idle,
    /// Sending the transaction's records.
    Sending,
    /// `send_offsets_to_transaction` under way.
    Offsets,
    Committing,
    Aborting,
    /// `close` under way.
    Closing,
    /// Closed after processing everything.
    Done,
    /// Its producer is fatal, or it crashed: it does nothing more.
    Dead,
}

/// One application instance and its producer's network.
#[derive(Debug)]
pub(super) struct Instance {
    pub number: usize,
    pub net: SimNet<u64>,
    phase: Phase,
    /// Events handled so far.
    seen: usize,
    /// The transaction's inputs: `[start, end)`, the next to send.
    start: u64,
    end: u64,
    next: u64,
    next_send_at: Instant,
    /// The group generation this instance believes in.
    generation: i32,
    transactions: u64,
    /// Left running after a newer instance started.
    pub zombie: bool,
    /// When its `init_transactions` succeeded, and the epoch it got.
    pub initialized: Option<(Instant, i16)>,
    /// Dropped without close: its records may have no terminal event.
    pub crashed: bool,
    /// Records `send` accepted, by user value (the input index).
    pub accepted: Vec<u64>,
    /// Transaction calls accepted, and outcome events seen.
    pub calls: u64,
    pub outcomes: u64,
    /// `close` was called.
    pub closed: bool,
}

struct Run<'s> {
    s: &'s TxnSchedule,
    cluster: SimCluster,
    instances: Vec<Instance>,
    now: Instant,
    start: Instant,
    entropy: Entropy,
    seed: u64,
    tally: TxnTally,
    faults: FaultTally,
    down: BTreeSet<i32>,
    mute: BTreeSet<i32>,
    violations: Vec<Violation>,
}

/// Runs `schedule`, drawing its faults from `entropy`.
pub fn run_transactional(schedule: &TxnSchedule, mut entropy: Entropy) -> TxnReport {
    let s = schedule;
    let start = Instant::from_millis(1_700_000_000_000);
    let mut cluster = SimCluster::new(s.brokers);
    cluster.create_topic(OUTPUT, s.partitions);
    cluster.set_marker_delay(s.marker_delay);
    if s.transaction_version > 0 {
        cluster.finalize_transaction_version(s.transaction_version);
    }
    cluster.advance(start);
    let seed = entropy.next_u64();
    let mut run = Run {
        s,
        cluster,
        instances: Vec::new(),
        now: start,
        start,
        entropy,
        seed,
        tally: TxnTally::default(),
        faults: FaultTally::default(),
        down: BTreeSet::new(),
        mute: BTreeSet::new(),
        violations: Vec::new(),
    };
    let mut report = TxnReport {
        schedule: format!("{s}"),
        ..TxnReport::default()
    };
    if let Err(e) = run.start_instance() {
        report.violations.push(Violation::new("schedule", e));
        return report;
    }
    let mut timeline: Vec<(Instant, TxnFault)> =
        s.faults.iter().map(|(at, f)| (start + *at, *f)).collect();
    timeline.reverse();
    let mut ups: Vec<(Instant, i32, bool)> = Vec::new();
    // Calm runs have an hour to finish; others ten minutes.
    let limit = start
        + if s.calm {
            Duration::from_secs(3_600)
        } else {
            Duration::from_secs(600)
        };
    run.drive(&mut timeline, &mut ups, limit);
    if !run.finished() {
        // Out of time: every instance still running closes (aborting its
        // open transaction) and gets the time to finish, so that its
        // records and calls can be checked.
        run.close_all();
        let grace = s.delivery_timeout + s.request_timeout * 2 + Duration::from_secs(60);
        run.drive(&mut timeline, &mut ups, limit + grace);
    }
    run.finish(report)
}

impl Run<'_> {
    /// Runs everything in time order until the run is finished or `limit`.
    fn drive(
        &mut self,
        timeline: &mut Vec<(Instant, TxnFault)>,
        ups: &mut Vec<(Instant, i32, bool)>,
        limit: Instant,
    ) {
        loop {
            self.react_all();
            if self.finished() {
                break;
            }
            let next_fault = timeline.last().map(|(at, _)| *at);
            let next_up = ups.iter().map(|(at, _, _)| *at).min();
            let (next_net, who) = self
                .instances
                .iter()
                .enumerate()
                .filter(|(_, i)| !i.crashed)
                .filter_map(|(k, i)| {
                    let app =
                        matches!(i.phase, Phase::Sending | Phase::Fetch).then_some(i.next_send_at);
                    let t = match (i.net.next_at(), app) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    t.map(|t| (t, k))
                })
                .min()
                .map_or((None, 0), |(t, k)| (Some(t), k));
            let next_cluster = self.cluster.next_due();
            let candidates = [next_fault, next_up, next_net, next_cluster];
            let Some(t) = candidates.iter().flatten().min().copied() else {
                break;
            };
            if t > limit {
                break;
            }
            self.now = self.now.max(t);
            if next_fault == Some(t) {
                if let Some((_, fault)) = timeline.pop() {
                    self.apply(fault, ups);
                }
            } else if next_up == Some(t) {
                ups.retain(|(at, node, mute)| {
                    if *at != t {
                        return true;
                    }
                    if *mute {
                        self.mute.remove(node);
                    } else {
                        self.down.remove(node);
                    }
                    false
                });
                let (down, mute) = (self.down.clone(), self.mute.clone());
                for i in self.instances.iter_mut().filter(|i| !i.crashed) {
                    i.net.down.retain(|n| down.contains(n));
                    i.net.mute.retain(|n| mute.contains(n));
                }
            } else if next_net == Some(t) {
                let cluster = &mut self.cluster;
                let i = &mut self.instances[who];
                core::mem::swap(&mut i.net.cluster, cluster);
                // Nothing anywhere is due before `t`: this network's clock may
                // move to it (an application timer), or its next thing is due.
                i.net.now = i.net.now.max(t);
                i.net.step_before(t);
                core::mem::swap(&mut i.net.cluster, cluster);
            } else {
                self.cluster.advance(t);
            }
        }
    }

    /// Closes every instance still running.
    fn close_all(&mut self) {
        let now = self.now;
        for i in self.instances.iter_mut() {
            if i.crashed || matches!(i.phase, Phase::Done | Phase::Dead | Phase::Closing) {
                continue;
            }
            i.phase = Phase::Closing;
            i.closed = true;
            i.net.producer.close(now);
        }
    }

    fn config(&self) -> Result<Config, String> {
        let s = self.s;
        let mut b = Config::builder();
        b.bootstrap_servers(&self.cluster.bootstrap_servers())
            .transactional_id(TRANSACTIONAL_ID)
            .transaction_timeout(s.transaction_timeout)
            .max_in_flight_requests_per_connection(s.max_in_flight)
            .linger(s.linger)
            .batch_size(s.batch_size)
            .request_timeout(s.request_timeout)
            .delivery_timeout(s.delivery_timeout)
            .retry_backoff(s.retry_backoff)
            .retry_backoff_max(s.retry_backoff_max)
            .reconnect_backoff(s.reconnect_backoff)
            .reconnect_backoff_max(s.reconnect_backoff * 10)
            .max_block(s.delivery_timeout)
            .random_seed(self.seed.wrapping_add(self.instances.len() as u64));
        b.build()
            .map_err(|e| format!("the schedule's config is refused: {e}"))
    }

    /// Starts a new instance: a new producer, `init_transactions`.
    fn start_instance(&mut self) -> Result<(), String> {
        let config = self.config()?;
        let number = self.instances.len();
        let mut net = SimNet::new(
            Producer::new(config, self.now),
            SimCluster::new(0),
            self.now,
        );
        net.faults = self.s.net.clone();
        net.entropy = Entropy::seeded(self.entropy.next_u64());
        net.down = self.down.clone();
        net.mute = self.mute.clone();
        let mut i = Instance {
            number,
            net,
            phase: Phase::Init,
            seen: 0,
            start: 0,
            end: 0,
            next: 0,
            next_send_at: self.now,
            generation: -1,
            transactions: 0,
            zombie: false,
            initialized: None,
            crashed: false,
            accepted: Vec::new(),
            calls: 0,
            outcomes: 0,
            closed: false,
        };
        let now = self.now;
        match i.net.producer.init_transactions(now) {
            Ok(()) => i.calls += 1,
            Err(e) => {
                self.violations.push(Violation::new(
                    "transaction calls",
                    format!("init_transactions of a new producer refused: {e}"),
                ));
                i.phase = Phase::Dead;
            }
        }
        self.instances.push(i);
        Ok(())
    }

    /// The instance that is not a zombie, if it lives.
    fn current(&self) -> Option<usize> {
        self.instances.iter().rposition(|i| !i.zombie && !i.crashed)
    }

    fn finished(&self) -> bool {
        let current_done = self
            .current()
            .is_none_or(|k| self.instances[k].phase == Phase::Done);
        let others_quiet = self
            .instances
            .iter()
            .all(|i| i.crashed || !i.zombie || matches!(i.phase, Phase::Dead | Phase::Done));
        current_done && others_quiet
    }

    fn committed_position(&self) -> u64 {
        self.cluster
            .committed_offsets(GROUP)
            .get(&(String::from(INPUT), 0))
            .map_or(0, |o| u64::try_from(*o).unwrap_or(0))
    }

    fn group(&self, i: &Instance) -> ConsumerGroupMetadata {
        let g = ConsumerGroupMetadata::new(GROUP);
        if self.s.member {
            g.with_member(i.generation, format!("member-{}", i.number))
        } else {
            g
        }
    }

    fn apply(&mut self, fault: TxnFault, ups: &mut Vec<(Instant, i32, bool)>) {
        let now = self.now;
        match fault {
            TxnFault::Cluster(c) => match c {
                ClusterFault::MoveLeader { partition, to } => {
                    self.cluster.set_leader(OUTPUT, partition, to);
                    self.faults.leader_moves += 1;
                }
                ClusterFault::Restart { node, down_for }
                | ClusterFault::Outage { node, down_for } => {
                    let restart = matches!(c, ClusterFault::Restart { .. });
                    self.down.insert(node);
                    ups.push((now + down_for, node, false));
                    for k in 0..self.instances.len() {
                        if self.instances[k].crashed {
                            continue;
                        }
                        let cluster = &mut self.cluster;
                        let i = &mut self.instances[k];
                        core::mem::swap(&mut i.net.cluster, cluster);
                        i.net.now = i.net.now.max(now);
                        if restart {
                            i.net.broker_restart(node);
                        } else {
                            i.net.broker_down(node);
                        }
                        core::mem::swap(&mut i.net.cluster, cluster);
                    }
                    if restart {
                        self.faults.restarts += 1;
                    } else {
                        self.faults.outages += 1;
                    }
                }
                ClusterFault::Hang { node, mute_for } => {
                    self.mute.insert(node);
                    ups.push((now + mute_for, node, true));
                    for i in self.instances.iter_mut().filter(|i| !i.crashed) {
                        i.net.mute.insert(node);
                    }
                    self.faults.hangs += 1;
                }
                ClusterFault::Truncate { .. } => {}
            },
            TxnFault::MoveCoordinator { kind, to } => {
                self.cluster
                    .move_coordinator(kind, to, self.s.coordinator_load);
                self.tally.coordinator_moves += 1;
            }
            TxnFault::Rebalance => {
                self.cluster.rebalance(GROUP);
                self.tally.rebalances += 1;
            }
            TxnFault::UpgradeTransactions => {
                self.cluster.finalize_transaction_version(2);
                self.tally.upgrades += 1;
            }
            TxnFault::Crash | TxnFault::Zombie => {
                let Some(k) = self.current() else { return };
                if matches!(self.instances[k].phase, Phase::Done | Phase::Closing) {
                    return;
                }
                if fault == TxnFault::Crash {
                    self.crash(k);
                    self.tally.crashes += 1;
                } else {
                    self.instances[k].zombie = true;
                    self.tally.zombies += 1;
                }
                self.restart();
            }
        }
    }

    /// Drops an instance without close.
    fn crash(&mut self, k: usize) {
        let i = &mut self.instances[k];
        i.crashed = true;
        i.phase = Phase::Dead;
    }

    /// A new instance takes over.
    fn restart(&mut self) {
        if self.instances.len() >= MAX_INSTANCES {
            return;
        }
        if let Err(e) = self.start_instance() {
            self.violations.push(Violation::new("schedule", e));
        }
    }

    fn react_all(&mut self) {
        let mut k = 0;
        while k < self.instances.len() {
            if !self.instances[k].crashed {
                self.react(k);
            }
            k += 1;
        }
    }

    /// The application's reaction to what its producer said, and its next
    /// step.
    fn react(&mut self, k: usize) {
        loop {
            let i = &mut self.instances[k];
            let Some(e) = i.net.events.get(i.seen).cloned() else {
                break;
            };
            i.seen += 1;
            match e {
                Event::Transaction { call, result } => {
                    i.outcomes += 1;
                    self.on_outcome(k, call, result);
                }
                Event::Closed => {
                    let i = &mut self.instances[k];
                    if i.phase == Phase::Closing {
                        i.phase = Phase::Done;
                    }
                }
                _ => {}
            }
        }
        self.act(k);
    }

    fn on_outcome(
        &mut self,
        k: usize,
        call: TransactionCall,
        result: Result<(), TransactionError>,
    ) {
        let position = self.committed_position();
        let generation = self.cluster.generation(GROUP);
        let s = self.s;
        let i = &mut self.instances[k];
        let expected = match i.phase {
            Phase::Init => TransactionCall::InitTransactions,
            Phase::Offsets => TransactionCall::SendOffsets,
            Phase::Committing => TransactionCall::CommitTransaction,
            Phase::Aborting => TransactionCall::AbortTransaction,
            // Closing aborts what was open: whatever outcome comes is fine.
            Phase::Dead | Phase::Closing | Phase::Done => return,
            _ => {
                self.violations.push(Violation::new(
                    "transaction calls",
                    format!("instance {k}: outcome of {call} while {:?}", i.phase),
                ));
                return;
            }
        };
        if call != expected {
            self.violations.push(Violation::new(
                "transaction calls",
                format!("instance {k}: outcome of {call} while waiting for {expected}"),
            ));
            return;
        }
        match result {
            Ok(()) => match call {
                TransactionCall::InitTransactions | TransactionCall::AbortTransaction => {
                    if call == TransactionCall::InitTransactions {
                        let epoch = i.net.producer.producer_id().map_or(-1, |p| p.1);
                        i.initialized = Some((self.now, epoch));
                    }
                    // A restarted consumer reads the committed offsets, and
                    // rejoins the group after an abort.
                    let _ = (position, generation);
                    i.phase = Phase::Fetch;
                    i.next_send_at = self.now;
                }
                TransactionCall::SendOffsets => {
                    let voluntary =
                        s.abort_every > 0 && i.transactions.is_multiple_of(s.abort_every);
                    let now = self.now;
                    let r = if voluntary {
                        self.tally.voluntary_aborts += 1;
                        i.phase = Phase::Aborting;
                        i.net.producer.abort_transaction(now)
                    } else {
                        i.phase = Phase::Committing;
                        i.net.producer.commit_transaction(now)
                    };
                    self.after_call(k, r);
                }
                TransactionCall::CommitTransaction => {
                    self.tally.committed += 1;
                    i.start = i.end;
                    i.phase = Phase::Idle;
                }
                _ => {}
            },
            Err(e) => self.on_error(k, e),
        }
    }

    /// What the application does about an error its producer reported.
    fn on_error(&mut self, k: usize, e: TransactionError) {
        let now = self.now;
        let i = &mut self.instances[k];
        match e.class() {
            // Abort, also when the abort itself met an abortable error
            // (its epoch bump did): the state allows it again.
            ErrorClass::Abortable => {
                self.tally.abortable_errors += 1;
                i.phase = Phase::Aborting;
                let r = i.net.producer.abort_transaction(now);
                self.after_call(k, r);
            }
            ErrorClass::Fatal => self.die(k),
            ErrorClass::Retriable | ErrorClass::Misuse => {
                self.violations.push(Violation::new(
                    "transaction calls",
                    format!(
                        "instance {k}: a {} error reached the application: {e}",
                        e.class()
                    ),
                ));
                self.die(k);
            }
        }
    }

    /// A call's immediate answer: accepted, or refused with an error.
    fn after_call(&mut self, k: usize, r: Result<(), TransactionError>) {
        match r {
            Ok(()) => self.instances[k].calls += 1,
            Err(e) => self.on_error(k, e),
        }
    }

    /// The instance's producer is fatal: drop it; a new one takes over
    /// unless this was a zombie.
    fn die(&mut self, k: usize) {
        let i = &mut self.instances[k];
        if i.phase == Phase::Dead {
            return;
        }
        i.phase = Phase::Dead;
        if i.zombie {
            self.tally.zombies_fenced += 1;
            return;
        }
        self.tally.fatal_errors += 1;
        self.restart();
    }

    /// The application's next step, if it has one now.
    fn act(&mut self, k: usize) {
        let now = self.now;
        let s = self.s;
        let fatal = self.instances[k].net.producer.transaction_state()
            == Some(TransactionState::FatalError);
        if fatal
            && !matches!(
                self.instances[k].phase,
                Phase::Dead | Phase::Done | Phase::Closing
            )
        {
            // Fatal without an outcome owed: the next call would say so.
            self.die(k);
            return;
        }
        let group = self.group(&self.instances[k]);
        let stable = self.cluster.stable_offsets(GROUP).map(|o| {
            o.get(&(String::from(INPUT), 0))
                .map_or(0, |o| u64::try_from(*o).unwrap_or(0))
        });
        let generation = self.cluster.generation(GROUP);
        let i = &mut self.instances[k];
        match i.phase {
            // Offsets a transaction holds become committed or dropped with
            // its markers; until then the position is unknown (KIP-447).
            Phase::Fetch if now >= i.next_send_at => match stable {
                Some(position) => {
                    i.start = position;
                    i.generation = generation;
                    i.phase = Phase::Idle;
                    self.act(k);
                }
                None => i.next_send_at = now + Duration::from_millis(5),
            },
            Phase::Idle if i.start >= s.inputs => {
                i.phase = Phase::Closing;
                i.closed = true;
                i.net.producer.close(now);
            }
            Phase::Idle => {
                if let Err(e) = i.net.producer.begin_transaction() {
                    self.on_error(k, e);
                    return;
                }
                i.transactions += 1;
                i.end = (i.start + s.per_transaction).min(s.inputs);
                i.next = i.start;
                i.next_send_at = now;
                i.phase = Phase::Sending;
                self.act(k);
            }
            Phase::Sending if now >= i.next_send_at => {
                while i.next < i.end && now >= i.next_send_at {
                    let value = format!("{}-{}", i.next, i.number);
                    let record = Record::new(OUTPUT)
                        .key(format!("key-{}", i.next % 13))
                        .value(value)
                        .user(i.next);
                    match i.net.producer.send(record, now) {
                        Ok(_) => {
                            i.accepted.push(i.next);
                            i.next += 1;
                            if !s.send_gap.is_zero() {
                                i.next_send_at = now + s.send_gap;
                            }
                        }
                        Err(refused) => match refused.kind {
                            SendErrorKind::BufferFull { .. } => {
                                i.next_send_at = now + Duration::from_millis(1);
                                return;
                            }
                            SendErrorKind::Transaction(e) => {
                                self.on_error(k, e);
                                return;
                            }
                            _ => {
                                self.die(k);
                                return;
                            }
                        },
                    }
                }
                if i.next == i.end {
                    let offsets = [OffsetCommit::new(INPUT, 0, i.end as i64)];
                    i.phase = Phase::Offsets;
                    let r = i
                        .net
                        .producer
                        .send_offsets_to_transaction(offsets, &group, now);
                    self.after_call(k, r);
                }
            }
            _ => {}
        }
    }

    fn trace(&self) -> Vec<String> {
        let ms = |t: Instant| (t - self.start).as_secs_f64() * 1e3;
        let mut out = Vec::new();
        for p in 0..self.cluster.partitions(OUTPUT) {
            let entries: Vec<String> = self
                .cluster
                .log(OUTPUT, p)
                .iter()
                .map(|r| match r.control {
                    Some(m) => format!(
                        "[{m:?} {}e{}]@{}",
                        r.producer_id, r.producer_epoch, r.offset
                    ),
                    None => format!(
                        "{}@{}({}e{}s{})",
                        String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()),
                        r.offset,
                        r.producer_id,
                        r.producer_epoch,
                        r.sequence
                    ),
                })
                .collect();
            out.push(format!("log p{p}: {}", entries.join(" ")));
        }
        for d in self.cluster.transaction_decisions() {
            out.push(format!(
                "decision {:.3} ms: {:?} producer {} epoch {} partitions {:?} offsets {:?}{}",
                ms(d.at),
                d.marker,
                d.producer_id,
                d.epoch,
                d.partitions,
                d.offsets,
                if d.timed_out { " (timed out)" } else { "" }
            ));
        }
        for f in self.cluster.fences() {
            out.push(format!(
                "fence {:.3} ms: producer {} below epoch {}",
                ms(f.at),
                f.producer_id,
                f.below
            ));
        }
        for i in &self.instances {
            for (e, at) in i.net.events.iter().zip(&i.net.event_times) {
                let line = match e {
                    Event::Transaction { call, result } => format!("{call} -> {result:?}"),
                    Event::Failed { record, error, .. } => {
                        format!("record {} failed: {error}", record.user)
                    }
                    Event::Delivered {
                        user,
                        partition,
                        offset,
                        ..
                    } => format!("record {user} delivered p{partition}@{offset:?}"),
                    other => format!("{other:?}"),
                };
                out.push(format!("instance {} {:.3} ms: {line}", i.number, ms(*at)));
            }
        }
        out
    }

    fn finish(mut self, mut report: TxnReport) -> TxnReport {
        // Let markers still due be written, and every instance settle.
        let end = self.now + Duration::from_secs(1);
        while let Some(t) = self.cluster.next_due().filter(|t| *t <= end) {
            self.cluster.advance(t);
        }
        let current_done = self
            .current()
            .is_some_and(|k| self.instances[k].phase == Phase::Done);
        let processed = self.committed_position();
        if self.s.calm && (!current_done || processed != self.s.inputs) {
            self.violations.push(Violation::new(
                "calm runs process every input",
                format!(
                    "{processed} of {} inputs committed; the current instance is {:?}",
                    self.s.inputs,
                    self.current().map(|k| self.instances[k].phase)
                ),
            ));
        }
        self.tally.timeouts = self
            .cluster
            .transaction_decisions()
            .iter()
            .filter(|d| d.timed_out)
            .count() as u64;
        self.tally.fences = self.cluster.fences().len() as u64;
        self.tally.v2_transactions = self
            .cluster
            .transaction_decisions()
            .iter()
            .filter(|d| d.v2)
            .count() as u64;
        for i in &self.instances {
            self.faults.add(&i.net.tally);
        }
        let (checks, mut violations) = check_transactions(&self.cluster, &self.instances, self.s);
        violations.extend(core::mem::take(&mut self.violations));
        if !violations.is_empty() {
            report.trace = self.trace();
        }
        report.processed = processed;
        report.virtual_time = self.now - self.start;
        report.faults = self.faults;
        report.tally = self.tally;
        report.checks = checks;
        report.violations = violations;
        report
    }
}
