//! The faults a [`super::SimNet`] injects on its own, at set rates: what
//! can go wrong between a producer and a broker, and how often it did.
//!
//! Timed, cluster-wide faults (leader moves, restarts, truncation) are not
//! here; they are steps of a [`super::Schedule`], applied at their time.

use core::time::Duration;

use super::entropy::{Chance, Entropy};
use crate::kafka_code::KafkaCode;
use crate::wire::ApiKey;

/// How long a delivery takes, one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Every delivery takes at least this long.
    pub base: Duration,
    /// Plus a uniform share of this.
    pub jitter: Duration,
    /// Now and then (a long tail: GC pauses, retransmits) ...
    pub spike: Chance,
    /// ... plus this much.
    pub spike_extra: Duration,
}

impl Latency {
    /// Always `d`.
    pub const fn fixed(d: Duration) -> Latency {
        Latency {
            base: d,
            jitter: Duration::ZERO,
            spike: Chance::NEVER,
            spike_extra: Duration::ZERO,
        }
    }

    /// One draw.
    pub fn sample(&self, e: &mut Entropy) -> Duration {
        let mut d = self.base;
        let jitter = u64::try_from(self.jitter.as_micros()).unwrap_or(u64::MAX);
        if jitter > 0 {
            d += Duration::from_micros(e.below(jitter + 1));
        }
        if e.chance(self.spike) {
            d += self.spike_extra;
        }
        d
    }

    /// The longest a draw can be.
    pub fn max(&self) -> Duration {
        self.base + self.jitter + self.spike_extra
    }
}

/// Per-request and per-delivery fault rates. The default is a perfect
/// network: no fault ever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetFaults {
    /// How long deliveries take.
    pub latency: Latency,
    /// A connection breaks as a request reaches the broker, before the
    /// broker applies it.
    pub drop_before_apply: Chance,
    /// A connection breaks after the broker applied a request, before its
    /// answer leaves ("possibly persisted").
    pub drop_after_apply: Chance,
    /// An answer is lost while the connection stays up: the producer sees
    /// nothing until its request timeout.
    pub lose_answer: Chance,
    /// A request is answered with an error code, one of those its API can
    /// return ([`error_codes`]).
    pub error: Chance,
    /// A Produce answer asks the producer to back off (KIP-219).
    pub throttle: Chance,
    /// For how long, at most.
    pub max_throttle: Duration,
    /// Inject only codes a producer must get past on its own
    /// ([`recoverable`]).
    pub recoverable_only: bool,
    /// Inject the idempotence codes (45, 46, 47, 59, 90) too; brokers send
    /// them only to producers that carry a producer id.
    pub sequence_errors: bool,
    /// Answers reach the producer this many bytes at a time (1: byte at a
    /// time; 0: whole).
    pub chunk: usize,
    /// The producer's side reads slowly: each chunk after the first
    /// arrives this much later than the one before.
    pub slow_read: Duration,
    /// The producer is transactional: Produce may also be refused with the
    /// transaction codes ([`transactional_produce_codes`]).
    pub transactional: bool,
}

impl Default for NetFaults {
    fn default() -> NetFaults {
        NetFaults {
            latency: Latency::fixed(Duration::from_millis(1)),
            drop_before_apply: Chance::NEVER,
            drop_after_apply: Chance::NEVER,
            lose_answer: Chance::NEVER,
            error: Chance::NEVER,
            throttle: Chance::NEVER,
            max_throttle: Duration::ZERO,
            recoverable_only: false,
            sequence_errors: false,
            chunk: 0,
            slow_read: Duration::ZERO,
            transactional: false,
        }
    }
}

/// How many faults of each kind a run injected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultTally {
    /// Connections broken before the broker applied a request.
    pub dropped_before_apply: u64,
    /// Connections broken after the broker applied a request.
    pub dropped_after_apply: u64,
    /// Answers lost on a live connection.
    pub answers_lost: u64,
    /// Error codes injected into answers.
    pub errors: u64,
    /// Produce answers carrying a throttle.
    pub throttled: u64,
    /// Answers delivered in pieces.
    pub chunked: u64,
    /// Deliveries delayed by a latency spike.
    pub spikes: u64,
    /// Leader moves.
    pub leader_moves: u64,
    /// Broker restarts that forgot producer state.
    pub restarts: u64,
    /// Broker outages (refusing connections, state kept).
    pub outages: u64,
    /// Brokers gone mute (taking requests, never answering).
    pub hangs: u64,
    /// Log truncations past the producer's acknowledged records.
    pub truncations: u64,
    /// SASL exchanges refused by an injected error.
    pub auth_refused: u64,
    /// SASL answers held back (a slow handshake).
    pub slow_handshakes: u64,
    /// Connections broken as a SASL request reached the broker.
    pub handshakes_dropped: u64,
}

impl FaultTally {
    /// Adds another run's tally.
    pub fn add(&mut self, o: &FaultTally) {
        for (mine, theirs) in self.counts_mut().into_iter().zip(o.counts()) {
            *mine += theirs.1;
        }
    }

    /// Every count with its name, for summaries.
    pub fn counts(&self) -> [(&'static str, u64); 15] {
        [
            ("connection dropped before apply", self.dropped_before_apply),
            ("connection dropped after apply", self.dropped_after_apply),
            ("answer lost", self.answers_lost),
            ("error code injected", self.errors),
            ("throttle", self.throttled),
            ("answer delivered in pieces", self.chunked),
            ("latency spike", self.spikes),
            ("leader move", self.leader_moves),
            ("broker restart (state lost)", self.restarts),
            ("broker outage", self.outages),
            ("broker hang", self.hangs),
            ("log truncation", self.truncations),
            ("authentication refused", self.auth_refused),
            ("slow SASL handshake", self.slow_handshakes),
            ("connection dropped mid-handshake", self.handshakes_dropped),
        ]
    }

    fn counts_mut(&mut self) -> [&mut u64; 15] {
        [
            &mut self.dropped_before_apply,
            &mut self.dropped_after_apply,
            &mut self.answers_lost,
            &mut self.errors,
            &mut self.throttled,
            &mut self.chunked,
            &mut self.spikes,
            &mut self.leader_moves,
            &mut self.restarts,
            &mut self.outages,
            &mut self.hangs,
            &mut self.truncations,
            &mut self.auth_refused,
            &mut self.slow_handshakes,
            &mut self.handshakes_dropped,
        ]
    }
}

/// The error codes a broker can answer `api` with, after Kafka's request
/// documentation; the simulator injects only these, so that each reaction
/// it tests is one a real cluster can provoke.
pub fn error_codes(api: ApiKey) -> &'static [KafkaCode] {
    use KafkaCode::*;
    match api {
        ApiKey::Produce => &[
            UnknownServerError,
            CorruptMessage,
            UnknownTopicOrPartition,
            NotLeaderOrFollower,
            RequestTimedOut,
            MessageTooLarge,
            InvalidTopicException,
            RecordListTooLarge,
            NotEnoughReplicas,
            NotEnoughReplicasAfterAppend,
            InvalidRequiredAcks,
            TopicAuthorizationFailed,
            ClusterAuthorizationFailed,
            InvalidTimestamp,
            UnsupportedForMessageFormat,
            OutOfOrderSequenceNumber,
            DuplicateSequenceNumber,
            InvalidProducerEpoch,
            TransactionalIdAuthorizationFailed,
            KafkaStorageError,
            UnknownProducerId,
            InvalidRecord,
            ProducerFenced,
            // Only to a request by id (v13); the cluster answers a request
            // by name UNKNOWN_TOPIC_OR_PARTITION instead.
            UnknownTopicId,
        ],
        ApiKey::Metadata => &[
            UnknownServerError,
            UnknownTopicOrPartition,
            LeaderNotAvailable,
            InvalidTopicException,
            TopicAuthorizationFailed,
            // Top-level, v13+: start again from the bootstrap servers.
            RebootstrapRequired,
        ],
        ApiKey::InitProducerId => &[
            UnknownServerError,
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            ClusterAuthorizationFailed,
            InvalidProducerEpoch,
            InvalidProducerIdMapping,
            InvalidTransactionTimeout,
            ConcurrentTransactions,
            TransactionalIdAuthorizationFailed,
            ProducerFenced,
        ],
        ApiKey::ApiVersions => &[UnknownServerError, UnsupportedVersion],
        ApiKey::FindCoordinator => &[
            CoordinatorNotAvailable,
            CoordinatorLoadInProgress,
            NotCoordinator,
            GroupAuthorizationFailed,
            TransactionalIdAuthorizationFailed,
            InvalidRequest,
        ],
        ApiKey::AddPartitionsToTxn => &[
            NotCoordinator,
            CoordinatorNotAvailable,
            CoordinatorLoadInProgress,
            ConcurrentTransactions,
            InvalidProducerIdMapping,
            InvalidProducerEpoch,
            ProducerFenced,
            InvalidTxnState,
            TransactionalIdAuthorizationFailed,
            TopicAuthorizationFailed,
            OperationNotAttempted,
            UnknownTopicOrPartition,
        ],
        ApiKey::AddOffsetsToTxn => &[
            NotCoordinator,
            CoordinatorNotAvailable,
            CoordinatorLoadInProgress,
            ConcurrentTransactions,
            InvalidProducerIdMapping,
            InvalidProducerEpoch,
            ProducerFenced,
            InvalidTxnState,
            TransactionalIdAuthorizationFailed,
            GroupAuthorizationFailed,
        ],
        ApiKey::TxnOffsetCommit => &[
            NotCoordinator,
            CoordinatorNotAvailable,
            CoordinatorLoadInProgress,
            RequestTimedOut,
            UnknownTopicOrPartition,
            IllegalGeneration,
            UnknownMemberId,
            FencedInstanceId,
            GroupAuthorizationFailed,
            InvalidProducerEpoch,
            ProducerFenced,
            TransactionalIdAuthorizationFailed,
            RebalanceInProgress,
        ],
        ApiKey::EndTxn => &[
            NotCoordinator,
            CoordinatorNotAvailable,
            CoordinatorLoadInProgress,
            ConcurrentTransactions,
            InvalidProducerIdMapping,
            InvalidProducerEpoch,
            ProducerFenced,
            InvalidTxnState,
            TransactionalIdAuthorizationFailed,
            TransactionAbortable,
        ],
        // Asked only of a SASL listener.
        ApiKey::SaslHandshake => &[UnsupportedSaslMechanism, IllegalSaslState],
        ApiKey::SaslAuthenticate => &[SaslAuthenticationFailed],
    }
}

/// The codes a partition leader answers a transactional producer's Produce
/// with besides [`error_codes`]: a batch outside its transaction, a
/// transaction that can no longer complete.
pub fn transactional_produce_codes() -> &'static [KafkaCode] {
    &[KafkaCode::InvalidTxnState, KafkaCode::TransactionAbortable]
}

/// The error codes that leave a run able to deliver everything: those a
/// producer must get past on its own, by retrying or by resolving its
/// sequences. Calm schedules inject only these.
pub fn recoverable(code: KafkaCode) -> bool {
    use KafkaCode::*;
    code.is_retriable()
        || matches!(
            code,
            OutOfOrderSequenceNumber
                | DuplicateSequenceNumber
                | UnknownProducerId
                | UnsupportedVersion
                | RebootstrapRequired
        )
}

/// Whether `code` is one of the idempotence codes.
pub fn is_sequence_error(code: KafkaCode) -> bool {
    use KafkaCode::*;
    matches!(
        code,
        OutOfOrderSequenceNumber
            | DuplicateSequenceNumber
            | InvalidProducerEpoch
            | UnknownProducerId
            | ProducerFenced
    )
}

impl NetFaults {
    /// An error code for a request of `api`, as this network's rules allow.
    pub fn pick_error(&self, api: ApiKey, e: &mut Entropy) -> Option<KafkaCode> {
        let allowed = |c: &&KafkaCode| {
            (!self.recoverable_only || recoverable(**c))
                && (self.sequence_errors || !is_sequence_error(**c))
        };
        let extra: &[KafkaCode] = if self.transactional && api == ApiKey::Produce {
            transactional_produce_codes()
        } else {
            &[]
        };
        let codes = || error_codes(api).iter().chain(extra).filter(allowed);
        let n = codes().count();
        codes().nth(e.below(n as u64) as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_draws_stay_within_their_bounds() {
        let l = Latency {
            base: Duration::from_millis(2),
            jitter: Duration::from_millis(3),
            spike: Chance::percent(10),
            spike_extra: Duration::from_millis(100),
        };
        let mut e = Entropy::seeded(7);
        let draws: alloc::vec::Vec<Duration> = (0..1000).map(|_| l.sample(&mut e)).collect();
        assert!(draws.iter().all(|d| *d >= l.base && *d <= l.max()));
        assert!(draws.iter().any(|d| *d >= Duration::from_millis(100)));
        assert!(draws.iter().any(|d| *d < Duration::from_millis(5)));
    }

    #[test]
    fn tallies_add_field_by_field() {
        let mut a = FaultTally {
            errors: 2,
            restarts: 1,
            ..FaultTally::default()
        };
        a.add(&FaultTally {
            errors: 3,
            truncations: 4,
            ..FaultTally::default()
        });
        assert_eq!((a.errors, a.restarts, a.truncations), (5, 1, 4));
        assert_eq!(a.counts().iter().map(|c| c.1).sum::<u64>(), 10);
    }

    #[test]
    fn every_api_the_producer_uses_has_error_codes() {
        for api in [
            ApiKey::Produce,
            ApiKey::Metadata,
            ApiKey::InitProducerId,
            ApiKey::ApiVersions,
            ApiKey::FindCoordinator,
            ApiKey::AddPartitionsToTxn,
            ApiKey::AddOffsetsToTxn,
            ApiKey::TxnOffsetCommit,
            ApiKey::EndTxn,
            ApiKey::SaslHandshake,
            ApiKey::SaslAuthenticate,
        ] {
            assert!(!error_codes(api).is_empty(), "{api:?}");
            assert!(error_codes(api).iter().all(|c| c.is_error()));
        }
    }
}
