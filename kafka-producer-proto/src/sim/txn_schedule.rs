//! A transactional schedule: one consume-transform-produce run drawn from
//! an [`Entropy`]. An application reads input records (by index), writes
//! one output record per input inside transactions of a few records each,
//! commits the input offsets with them, and restarts under the same
//! `transactional.id` when its producer dies. The schedule says how big
//! the run is, how the producer is configured, how often the application
//! aborts on its own, and which faults strike: those of the network and
//! the cluster, and those of transactions (coordinators moving and
//! loading, slow markers, producers crashing and coming back, zombies, a
//! group rebalancing, transactions outliving their timeout).

use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::entropy::{Chance, Entropy};
use super::faults::{Latency, NetFaults};
use super::schedule::ClusterFault;
use super::txn_handlers::CoordinatorKind;

/// A fault of a transactional run, at a set time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnFault {
    /// A cluster fault (leader moves, restarts, outages, hangs).
    Cluster(ClusterFault),
    /// A coordinator moves to `to` and loads its state there.
    MoveCoordinator {
        /// Which.
        kind: CoordinatorKind,
        /// Its new node.
        to: i32,
    },
    /// The application crashes: its producer is dropped without `close`,
    /// and a new one starts with the same `transactional.id`.
    Crash,
    /// A new instance starts with the same `transactional.id` while the
    /// old one runs on, unaware, until it is fenced: a zombie.
    Zombie,
    /// The consumer group rebalances: its generation moves on.
    Rebalance,
    /// The cluster finalizes `transaction.version=2` (transactions v2,
    /// KIP-890): the producer moves to it at its next transaction.
    UpgradeTransactions,
}

/// One transactional run, fully described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnSchedule {
    /// Brokers in the cluster.
    pub brokers: usize,
    /// The `transaction.version` the cluster finalized at the start (0:
    /// none reported, transactions v1; 2: transactions v2).
    pub transaction_version: i16,
    /// Partitions of the output topic.
    pub partitions: usize,
    /// Input records to process.
    pub inputs: u64,
    /// Input records per transaction.
    pub per_transaction: u64,
    /// Time between two sends within a transaction.
    pub send_gap: Duration,
    /// Every how many transactions the application aborts on its own (0:
    /// never).
    pub abort_every: u64,
    /// The application sends its group generation and member (KIP-447).
    pub member: bool,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: usize,
    /// `linger.ms`.
    pub linger: Duration,
    /// `batch.size`.
    pub batch_size: usize,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `transaction.timeout.ms`.
    pub transaction_timeout: Duration,
    /// How long the coordinator takes from a decision to its markers.
    pub marker_delay: Duration,
    /// How long a moved coordinator loads.
    pub coordinator_load: Duration,
    /// The network's faults.
    pub net: NetFaults,
    /// Faults, in time order, as offsets from the start.
    pub faults: Vec<(Duration, TxnFault)>,
    /// Only faults the application gets past on its own (retriable codes;
    /// crashes, zombies, timeouts and aborts included): every input must be
    /// processed, exactly once.
    pub calm: bool,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl TxnSchedule {
    /// Draws a schedule. An exhausted byte source draws the smallest,
    /// calmest run.
    pub fn generate(e: &mut Entropy) -> TxnSchedule {
        let brokers = e.between(1, 4) as usize;
        let transaction_version = *e.pick(&[0i16, 2]).unwrap_or(&0);
        let partitions = e.between(1, 5) as usize;
        let inputs = *e.pick(&[20u64, 5, 60, 200]).unwrap_or(&20);
        let per_transaction = *e.pick(&[5u64, 1, 3, 20]).unwrap_or(&5);
        let send_gap = Duration::from_micros(*e.pick(&[0u64, 100, 2_000]).unwrap_or(&0));
        let calm = e.below(3) != 2;
        let abort_every = *e.pick(&[0u64, 0, 3, 7]).unwrap_or(&0);
        let member = e.below(2) == 1;
        let max_in_flight = *e.pick(&[5usize, 1, 2]).unwrap_or(&5);
        let linger = ms(*e.pick(&[5u64, 0, 20]).unwrap_or(&5));
        let batch_size = *e.pick(&[16_384usize, 100, 1_000]).unwrap_or(&16_384);
        let timeouts: &[u64] = if calm {
            &[30_000, 10_000]
        } else {
            &[30_000, 300, 2_000]
        };
        let request_timeout = ms(*e.pick(timeouts).unwrap_or(&30_000));
        let retry_backoff = ms(*e.pick(&[100u64, 5, 30]).unwrap_or(&100));
        let retry_backoff_max =
            retry_backoff.max(ms(*e.pick(&[1_000u64, 50, 300]).unwrap_or(&1_000)));
        let reconnect_backoff = ms(*e.pick(&[50u64, 1, 200]).unwrap_or(&50));
        // A run whose transactions cannot finish within their timeout never
        // ends: calm runs leave room for the slowest network they draw.
        let txn_timeouts: &[u64] = if calm {
            &[60_000, 3_000, 5_000]
        } else {
            &[60_000, 3_000, 400]
        };
        let transaction_timeout = ms(*e.pick(txn_timeouts).unwrap_or(&60_000));
        let marker_delay = ms(*e.pick(&[5u64, 0, 50]).unwrap_or(&5));
        let coordinator_load = ms(*e.pick(&[100u64, 0, 1_500]).unwrap_or(&100));

        let mut net = NetFaults {
            latency: Latency {
                base: Duration::from_micros(*e.pick(&[1_000u64, 0, 100, 10_000]).unwrap_or(&1_000)),
                jitter: Duration::from_micros(*e.pick(&[0u64, 500, 5_000]).unwrap_or(&0)),
                spike: Chance(e.below(20_000) as u32),
                spike_extra: ms(*e.pick(&[0u64, 50, 500]).unwrap_or(&0)),
            },
            ..NetFaults::default()
        };
        let rate = |e: &mut Entropy, max_ppm: u64| {
            if e.below(2) == 0 {
                Chance::NEVER
            } else {
                Chance(e.below(max_ppm) as u32)
            }
        };
        net.drop_before_apply = rate(e, 20_000);
        net.drop_after_apply = rate(e, 20_000);
        net.lose_answer = rate(e, 10_000);
        net.error = rate(e, 50_000);
        net.chunk = *e.pick(&[0usize, 0, 1, 7]).unwrap_or(&0);
        net.recoverable_only = calm;
        net.sequence_errors = true;
        net.transactional = true;

        // Faults strike while the run goes: about 20 ms per transaction.
        let transactions = inputs.div_ceil(per_transaction);
        let window = ms(transactions * 20 + 200);
        let mut faults = Vec::new();
        for _ in 0..e.below(5) {
            let at = Duration::from_micros(e.below(window.as_micros() as u64 + 1));
            let node = e.below(brokers as u64) as i32;
            let span = ms(*e.pick(&[50u64, 500, 2_000]).unwrap_or(&50));
            let fault = match e.below(9) {
                0 => TxnFault::Cluster(ClusterFault::MoveLeader {
                    partition: e.below(partitions as u64) as usize,
                    to: node,
                }),
                1 => TxnFault::Cluster(ClusterFault::Outage {
                    node,
                    down_for: span,
                }),
                2 => TxnFault::Cluster(ClusterFault::Hang {
                    node,
                    mute_for: span,
                }),
                3 if !calm => TxnFault::Cluster(ClusterFault::Restart {
                    node,
                    down_for: span,
                }),
                3 | 4 => TxnFault::MoveCoordinator {
                    kind: if e.below(2) == 0 {
                        CoordinatorKind::Transaction
                    } else {
                        CoordinatorKind::Group
                    },
                    to: node,
                },
                5 => TxnFault::Crash,
                6 => TxnFault::Zombie,
                7 if transaction_version < 2 && e.below(2) == 0 => TxnFault::UpgradeTransactions,
                7 => TxnFault::Rebalance,
                _ => TxnFault::MoveCoordinator {
                    kind: CoordinatorKind::Transaction,
                    to: node,
                },
            };
            faults.push((at, fault));
        }
        faults.sort_by_key(|(at, _)| *at);
        let floor = linger + request_timeout;
        let delivery_timeout = if calm {
            floor + ms(600_000)
        } else {
            floor + ms(*e.pick(&[1_000u64, 100, 10_000]).unwrap_or(&1_000))
        };
        TxnSchedule {
            brokers,
            transaction_version,
            partitions,
            inputs,
            per_transaction,
            send_gap,
            abort_every,
            member,
            max_in_flight,
            linger,
            batch_size,
            request_timeout,
            delivery_timeout,
            retry_backoff,
            retry_backoff_max,
            reconnect_backoff,
            transaction_timeout,
            marker_delay,
            coordinator_load,
            net,
            faults,
            calm,
        }
    }
}

impl fmt::Display for TxnSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "transactional (transaction.version {}): {} brokers, output topic of {} partitions; {} inputs, {} per transaction, {:?} apart, abort every {}, member {}",
            self.transaction_version,
            self.brokers,
            self.partitions,
            self.inputs,
            self.per_transaction,
            self.send_gap,
            self.abort_every,
            self.member
        )?;
        writeln!(
            f,
            "config: max.in.flight={} linger={:?} batch.size={} request.timeout={:?} delivery.timeout={:?} \
             retry.backoff={:?}..{:?} reconnect.backoff={:?} transaction.timeout={:?}",
            self.max_in_flight,
            self.linger,
            self.batch_size,
            self.request_timeout,
            self.delivery_timeout,
            self.retry_backoff,
            self.retry_backoff_max,
            self.reconnect_backoff,
            self.transaction_timeout
        )?;
        writeln!(
            f,
            "coordinators: markers {:?} after the decision, {:?} to load after a move",
            self.marker_delay, self.coordinator_load
        )?;
        writeln!(f, "network: {:?}", self.net)?;
        writeln!(f, "calm (every input processed): {}", self.calm)?;
        for (at, fault) in &self.faults {
            writeln!(f, "at {at:?}: {fault:?}")?;
        }
        Ok(())
    }
}
