//! A fault schedule: one simulated producer run, drawn from an
//! [`Entropy`]: the cluster's shape, the producer's configuration, the
//! records sent and when, the network's fault rates, and the timed faults
//! that strike the cluster. Printing a schedule says everything about the
//! run; its seed replays it.

use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::entropy::{Chance, Entropy};
use super::faults::{Latency, NetFaults};
use super::sasl::SaslFaults;
use crate::config::Acks;
use crate::sasl::Mechanism;
use crate::wire::record_batch::Compression;

/// A fault that strikes the cluster at a set time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterFault {
    /// The partition's leadership moves to `to`.
    MoveLeader {
        /// The partition.
        partition: usize,
        /// Its new leader.
        to: i32,
    },
    /// The broker restarts: its connections drop, it refuses new ones for
    /// `down_for`, and it comes back without producer state.
    Restart {
        /// The broker.
        node: i32,
        /// How long it stays down.
        down_for: Duration,
    },
    /// The broker is unreachable for `down_for`, then back with its state.
    Outage {
        /// The broker.
        node: i32,
        /// How long.
        down_for: Duration,
    },
    /// The broker takes requests and answers none for `mute_for`.
    Hang {
        /// The broker.
        node: i32,
        /// How long.
        mute_for: Duration,
    },
    /// Retention removes everything in the partition's log so far, past
    /// the producer's last acknowledged offset.
    Truncate {
        /// The partition.
        partition: usize,
    },
}

/// One run, fully described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Brokers in the cluster.
    pub brokers: usize,
    /// Partitions of the one topic.
    pub partitions: usize,
    /// Records sent.
    pub records: u64,
    /// Time between one send and the next.
    pub send_gap: Duration,
    /// Every how many records a record carries a key (0: never).
    pub key_every: u64,
    /// Every how many records a record names its partition (0: never).
    pub partition_every: u64,
    /// Bytes added to each value, so batches fill at different rates.
    pub padding: usize,
    /// `acks`.
    pub acks: Acks,
    /// `enable.idempotence`.
    pub idempotence: bool,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: usize,
    /// `linger.ms`.
    pub linger: Duration,
    /// `batch.size`.
    pub batch_size: usize,
    /// `retries`.
    pub retries: u32,
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
    /// `buffer.memory`.
    pub buffer_memory: usize,
    /// `max.block.ms`: how long a record may wait for its topic's metadata.
    pub max_block: Duration,
    /// The network's faults.
    pub net: NetFaults,
    /// Cluster faults, in time order, as offsets from the start.
    pub faults: Vec<(Duration, ClusterFault)>,
    /// Only recoverable faults, retries without limit and a delivery
    /// timeout well past the last fault: every record must be delivered.
    pub calm: bool,
    /// `compression.type`, at each codec's default level.
    pub compression: Compression,
    /// A SASL listener, and how the producer authenticates to it.
    pub sasl: Option<SaslSchedule>,
}

/// SASL in a run: the mechanism, how long sessions and OAUTHBEARER tokens
/// last, and the faults of the exchange. Refusals come from the network's
/// error injection (SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM,
/// ILLEGAL_SASL_STATE), which calm runs do not draw: they are not
/// recoverable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSchedule {
    /// `sasl.mechanism`.
    pub mechanism: Mechanism,
    /// `connections.max.reauth.ms` on the brokers (`None`: 0, sessions
    /// without end).
    pub session_lifetime: Option<Duration>,
    /// How long each OAUTHBEARER token lasts.
    pub token_lifetime: Duration,
    /// Slow handshakes, connections dropped mid-handshake and (not in
    /// calm runs) refusals.
    pub faults: SaslFaults,
}

/// Tells the SASL draw's source from other sources aside.
const SASL_SALT: u64 = 0x5a51_5a51_5a51_5a51;

impl SaslSchedule {
    /// A quarter of the runs authenticate, with each mechanism this build
    /// has.
    fn generate(e: &mut Entropy, calm: bool) -> Option<SaslSchedule> {
        if e.below(4) != 3 {
            return None;
        }
        let mechanisms: &[Mechanism] = if cfg!(feature = "scram") {
            &Mechanism::ALL
        } else {
            &[Mechanism::Plain, Mechanism::OAuthBearer]
        };
        let mechanism = *e.pick(mechanisms).unwrap_or(&Mechanism::Plain);
        let session_lifetime = match e.below(4) {
            0 => None,
            1 => Some(ms(300)),
            2 => Some(ms(2_000)),
            _ => Some(ms(20_000)),
        };
        let token_lifetime = ms(*e.pick(&[3_600_000u64, 2_000, 10_000]).unwrap_or(&3_600_000));
        let slow_extra = ms(*e.pick(&[50u64, 1_000]).unwrap_or(&50));
        // Short tokens stay in calm runs too: one that runs out on its way
        // to the broker (a latency spike, a slow handshake) is refused, and
        // the producer must take a fresh one and try again, not fail the
        // records.
        let faults = SaslFaults {
            slow: *e
                .pick(&[Chance::NEVER, Chance::percent(5), Chance::percent(30)])
                .unwrap_or(&Chance::NEVER),
            slow_extra,
            drop: *e
                .pick(&[Chance::NEVER, Chance::percent(2), Chance::percent(10)])
                .unwrap_or(&Chance::NEVER),
            refuse: if calm {
                Chance::NEVER
            } else {
                *e.pick(&[Chance::NEVER, Chance::percent(5), Chance::percent(30)])
                    .unwrap_or(&Chance::NEVER)
            },
        };
        Some(SaslSchedule {
            mechanism,
            session_lifetime,
            token_lifetime,
            faults,
        })
    }
}

/// Tells the compression draw's source from other sources aside.
const COMPRESSION_SALT: u64 = 0xc0de_c0de_c0de_c0de;

/// Kafka's "retry without limit": `retries` is an int.
const MAX_RETRIES: u32 = i32::MAX as u32;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Schedule {
    /// Draws a schedule. An exhausted byte source draws the smallest,
    /// calmest run: one broker, one partition, one record, no fault.
    pub fn generate(e: &mut Entropy) -> Schedule {
        let brokers = e.between(1, 4) as usize;
        let partitions = e.between(1, 6) as usize;
        let records = *e.pick(&[1u64, 20, 100, 300, 1000]).unwrap_or(&1);
        let send_gap = Duration::from_micros(*e.pick(&[0u64, 100, 1_000, 10_000]).unwrap_or(&0));
        // Calm runs are the majority: their stronger check (everything
        // delivered) finds lost-record bugs that Failed events would hide.
        let calm = e.below(3) != 2;
        let idempotence = e.below(4) != 3;
        let acks = if idempotence {
            Acks::All
        } else {
            *e.pick(&[Acks::All, Acks::Leader, Acks::None])
                .unwrap_or(&Acks::All)
        };
        let max_in_flight = *e.pick(&[5usize, 1, 2]).unwrap_or(&5);
        let linger = ms(*e.pick(&[0u64, 1, 5, 20]).unwrap_or(&0));
        let batch_size = *e.pick(&[16_384usize, 200, 1_000, 4_000]).unwrap_or(&16_384);
        let retries = if calm {
            MAX_RETRIES
        } else {
            *e.pick(&[MAX_RETRIES, 0, 1, 3]).unwrap_or(&MAX_RETRIES)
        };
        let retries = if idempotence { retries.max(1) } else { retries };
        // A calm run must be able to finish a request: its timeout is at
        // least the network's slowest delivery (3 s spikes, slow reads).
        let timeouts: &[u64] = if calm {
            &[30_000, 10_000]
        } else {
            &[30_000, 200, 1_000, 5_000]
        };
        let request_timeout = ms(*e.pick(timeouts).unwrap_or(&30_000));
        let retry_backoff = ms(*e.pick(&[100u64, 1, 10, 50]).unwrap_or(&100));
        let retry_backoff_max =
            retry_backoff.max(ms(*e.pick(&[1_000u64, 10, 200]).unwrap_or(&1_000)));
        let reconnect_backoff = ms(*e.pick(&[50u64, 1, 10, 200]).unwrap_or(&50));
        let buffer_memory = *e
            .pick(&[32 << 20, 8_192usize, 65_536])
            .unwrap_or(&(32 << 20));
        let send_span = send_gap * u32::try_from(records).unwrap_or(u32::MAX);
        // Faults strike while records are being sent and a little after.
        let fault_window = send_span + ms(500);

        let mut net = NetFaults {
            latency: Latency {
                base: Duration::from_micros(*e.pick(&[1_000u64, 0, 100, 20_000]).unwrap_or(&1_000)),
                jitter: Duration::from_micros(*e.pick(&[0u64, 500, 5_000]).unwrap_or(&0)),
                spike: Chance(e.below(50_000) as u32),
                spike_extra: ms(*e.pick(&[0u64, 50, 500, 3_000]).unwrap_or(&0)),
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
        net.drop_before_apply = rate(e, 30_000);
        net.drop_after_apply = rate(e, 30_000);
        net.lose_answer = rate(e, 20_000);
        net.error = rate(e, 60_000);
        net.throttle = rate(e, 100_000);
        net.max_throttle = ms(*e.pick(&[0u64, 10, 300]).unwrap_or(&0));
        net.chunk = *e.pick(&[0usize, 0, 1, 7]).unwrap_or(&0);
        // A slow reader takes this long per piece; byte by byte it reads
        // at most a few kilobytes a second.
        let slow: &[u64] = if net.chunk == 1 {
            &[0, 0, 50, 200]
        } else {
            &[0, 0, 50, 2_000]
        };
        net.slow_read = Duration::from_micros(*e.pick(slow).unwrap_or(&0));
        net.recoverable_only = calm;
        net.sequence_errors = idempotence;

        let mut faults = Vec::new();
        for _ in 0..e.below(6) {
            let at = Duration::from_micros(e.below(fault_window.as_micros() as u64 + 1));
            let node = e.below(brokers as u64) as i32;
            let partition = e.below(partitions as u64) as usize;
            let span = ms(*e.pick(&[50u64, 500, 2_000]).unwrap_or(&50));
            let fault = match e.below(5) {
                0 => ClusterFault::MoveLeader {
                    partition,
                    to: e.below(brokers as u64) as i32,
                },
                // A restart forgets older batches (see
                // `SimCluster::forget_producers_on`), which can leave a
                // batch's fate unknowable: calm runs get an outage instead.
                1 if !calm => ClusterFault::Restart {
                    node,
                    down_for: span,
                },
                1 => ClusterFault::Outage {
                    node,
                    down_for: span,
                },
                2 => ClusterFault::Outage {
                    node,
                    down_for: span,
                },
                3 => ClusterFault::Hang {
                    node,
                    mute_for: span,
                },
                _ => ClusterFault::Truncate { partition },
            };
            faults.push((at, fault));
        }
        faults.sort_by_key(|(at, _)| *at);

        // Calm runs must outlast every fault: a generous delivery timeout.
        // The worst calm run found (seed 248247: 1,000 requests one at a
        // time, 2% of answers lost at 30 s each, 3 s latency spikes) needed
        // more than 630 s; an hour covers it several times over.
        let floor = linger + request_timeout;
        let delivery_timeout = if calm {
            floor + ms(3_600_000)
        } else {
            floor + ms(*e.pick(&[1_000u64, 0, 100, 10_000]).unwrap_or(&1_000))
        };
        // From a source aside, so that every other choice a seed made
        // before compression existed stays the same. Half the runs
        // compress, with each codec compiled in.
        let compression = *e
            .aside(COMPRESSION_SALT)
            .pick(&[
                Compression::None,
                Compression::Gzip,
                Compression::None,
                Compression::Snappy,
                Compression::None,
                Compression::Lz4,
                Compression::None,
                Compression::Zstd,
            ])
            .unwrap_or(&Compression::None);
        // A codec this build lacks (its feature is off) is not drawn.
        let compression = if crate::wire::compression::is_available(compression) {
            compression
        } else {
            Compression::None
        };
        // From a source aside, so that every choice a seed made before SASL
        // existed stays the same.
        let sasl = SaslSchedule::generate(&mut e.aside(SASL_SALT), calm);
        Schedule {
            compression,
            sasl,
            brokers,
            partitions,
            records,
            send_gap,
            key_every: *e.pick(&[0u64, 1, 3]).unwrap_or(&0),
            partition_every: *e.pick(&[0u64, 0, 5]).unwrap_or(&0),
            padding: *e.pick(&[0usize, 20, 300]).unwrap_or(&0),
            acks,
            idempotence,
            max_in_flight,
            linger,
            batch_size,
            retries,
            request_timeout,
            delivery_timeout,
            retry_backoff,
            retry_backoff_max,
            reconnect_backoff,
            buffer_memory,
            // A calm run may lose a metadata answer or two, each costing a
            // request timeout: it waits for metadata as long as it may for
            // delivery.
            max_block: if calm {
                delivery_timeout
            } else {
                ms(*e.pick(&[60_000u64, 1_000]).unwrap_or(&60_000))
            },
            net,
            faults,
            calm,
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "cluster: {} brokers, 1 topic of {} partitions",
            self.brokers, self.partitions
        )?;
        writeln!(
            f,
            "records: {} sent {:?} apart, key every {}, partition named every {}, {} B padding",
            self.records, self.send_gap, self.key_every, self.partition_every, self.padding
        )?;
        writeln!(
            f,
            "config: acks={:?} idempotence={} max.in.flight={} linger={:?} batch.size={} \
             retries={} request.timeout={:?} delivery.timeout={:?} retry.backoff={:?}..{:?} \
             reconnect.backoff={:?} buffer.memory={} max.block={:?} compression.type={}",
            self.acks,
            self.idempotence,
            self.max_in_flight,
            self.linger,
            self.batch_size,
            self.retries,
            self.request_timeout,
            self.delivery_timeout,
            self.retry_backoff,
            self.retry_backoff_max,
            self.reconnect_backoff,
            self.buffer_memory,
            self.max_block,
            self.compression
        )?;
        writeln!(f, "network: {:?}", self.net)?;
        writeln!(f, "calm (everything must be delivered): {}", self.calm)?;
        if let Some(sasl) = &self.sasl {
            writeln!(f, "sasl: {sasl:?}")?;
        }
        for (at, fault) in &self.faults {
            writeln!(f, "at {at:?}: {fault:?}")?;
        }
        Ok(())
    }
}
