//! Exponential backoff with jitter (KIP-580), as the Java client computes it
//! for `retry.backoff.ms` / `retry.backoff.max.ms` and
//! `reconnect.backoff.ms` / `reconnect.backoff.max.ms`.
//!
//! Doubling spreads retries out while a broker is overloaded or a leader is
//! moving; the jitter keeps many producers that failed together from
//! retrying together. The randomness comes from the caller's seeded [`Rng`],
//! so a schedule replays exactly.

use core::time::Duration;

use crate::rng::Rng;

/// Relative spread of the jitter: delays are scaled by a factor uniform in
/// `[1 - JITTER, 1 + JITTER)`, the Java client's
/// `CommonClientConfigs.RETRY_BACKOFF_JITTER`.
pub const JITTER: f64 = 0.2;

// JITTER as exact integer ratios, so bounds and delays agree to the
// nanosecond instead of to a float rounding.
const LOW_NUM: u128 = 4; // 1 - JITTER = 4/5
const HIGH_NUM: u128 = 6; // 1 + JITTER = 6/5
const DEN: u128 = 5;

/// An exponential backoff schedule: `initial` for the first retry, doubling
/// with each further attempt up to `max`, with ±20% jitter.
///
/// Following the Java client's `ExponentialBackoff` (Kafka 3.7 and later):
/// - the jittered value is capped at `max`, so a delay never exceeds `max`,
///   and once doubling reaches the cap delays lie in `[0.8 max, max]`;
/// - when `max` is not above `initial`, the backoff is a constant `max`
///   without jitter (the Java client's "static backoff", what it applies
///   when `retry.backoff.max.ms < retry.backoff.ms`).
///
/// Durations are kept in nanoseconds as a `u64`; anything longer (about 584
/// years) counts as that.
///
/// ```
/// use core::time::Duration;
/// use kafka_producer_proto::{retry::Backoff, rng::Rng};
/// let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// let mut rng = Rng::new(7);
/// let d = b.delay(2, &mut rng); // around 400 ms
/// let (lo, hi) = b.bounds(2);
/// assert!(lo <= d && d <= hi);
/// assert_eq!((lo, hi), (Duration::from_millis(320), Duration::from_millis(480)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Default for Backoff {
    /// The Java producer's defaults: `retry.backoff.ms=100`,
    /// `retry.backoff.max.ms=1000`.
    fn default() -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_millis(1000))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Backoff {
    /// A schedule starting at `initial` and capped at `max`; when `max` is
    /// below `initial`, `initial` is lowered to `max`, as the Java client
    /// does.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let max = Duration::from_nanos(nanos(max));
        let initial = Duration::from_nanos(nanos(initial)).min(max);
        Backoff { initial, max }
    }

    /// The first delay before jitter.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The cap.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Whether jitter and doubling are off (`max` not above `initial`).
    fn is_static(&self) -> bool {
        self.max <= self.initial
    }

    /// `initial * 2^attempt`, capped at `max`, in nanoseconds.
    fn base(&self, attempt: u32) -> u64 {
        let (initial, max) = (nanos(self.initial), nanos(self.max));
        // Past 63 doublings any non-zero initial is beyond u64 anyway;
        // saturating_mul turns every overflow into "at the cap".
        let factor = 1u64 << attempt.min(63);
        initial.saturating_mul(factor).min(max)
    }

    /// The delay before retry number `attempt` (0 for the first retry).
    ///
    /// Always within [`bounds(attempt)`](Backoff::bounds); any `attempt`,
    /// however large, is safe.
    pub fn delay(&self, attempt: u32, rng: &mut Rng) -> Duration {
        if self.is_static() {
            return self.max;
        }
        let base = u128::from(self.base(attempt));
        // 32 random bits r give the factor (4 + 2 r / 2^32) / 5, uniform
        // over [0.8, 1.2) in 2^32 steps; u128 holds base * 6 * 2^32.
        let r = u128::from(rng.next_u64() >> 32);
        let scaled = base * ((LOW_NUM << 32) + 2 * r) / (DEN << 32);
        let capped = scaled.min(u128::from(nanos(self.max)));
        // capped <= max, which fits in u64.
        Duration::from_nanos(u64::try_from(capped).unwrap_or(u64::MAX))
    }

    /// The closed interval `[low, high]` that [`delay`](Backoff::delay)
    /// for `attempt` falls in: `[0.8 b, min(1.2 b, max)]` with
    /// `b = min(initial * 2^attempt, max)`, or `[max, max]` for a static
    /// backoff. Tests and the simulator check delays against it.
    pub fn bounds(&self, attempt: u32) -> (Duration, Duration) {
        if self.is_static() {
            return (self.max, self.max);
        }
        let base = u128::from(self.base(attempt));
        let max = u128::from(nanos(self.max));
        let low = base * LOW_NUM / DEN;
        let high = (base * HIGH_NUM / DEN).min(max);
        let to_duration = |n: u128| Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX));
        (to_duration(low), to_duration(high))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_stay_within_bounds_over_attempts_and_seeds() {
        let schedules = [
            Backoff::new(ms(100), ms(1000)),
            Backoff::new(ms(50), ms(1000)),
            Backoff::new(Duration::from_nanos(1), ms(10)),
            Backoff::new(ms(0), ms(10)),
            Backoff::new(ms(7), ms(7)),
            Backoff::new(ms(500), ms(100)),
        ];
        for b in schedules {
            for seed in 0..50 {
                let mut rng = Rng::new(seed);
                for attempt in 0..70 {
                    let (lo, hi) = b.bounds(attempt);
                    assert!(lo <= hi);
                    assert!(hi <= b.max());
                    let d = b.delay(attempt, &mut rng);
                    assert!(
                        lo <= d && d <= hi,
                        "{b:?} attempt {attempt}: {d:?} not in [{lo:?}, {hi:?}]"
                    );
                }
            }
        }
    }

    #[test]
    fn bounds_follow_doubling_then_the_cap() {
        let b = Backoff::new(ms(100), ms(1000));
        assert_eq!(b.bounds(0), (ms(80), ms(120)));
        assert_eq!(b.bounds(1), (ms(160), ms(240)));
        assert_eq!(b.bounds(2), (ms(320), ms(480)));
        assert_eq!(b.bounds(3), (ms(640), ms(960)));
        assert_eq!(b.bounds(4), (ms(800), ms(1000)));
        assert_eq!(b.bounds(40), (ms(800), ms(1000)));
    }

    #[test]
    fn median_doubles_until_the_cap() {
        let b = Backoff::new(ms(10), ms(1000));
        let mut rng = Rng::new(99);
        for attempt in 0..10u32 {
            let mut ds: Vec<Duration> = (0..2001).map(|_| b.delay(attempt, &mut rng)).collect();
            ds.sort();
            let median = ds[1000].as_secs_f64();
            let expected = (0.010 * f64::from(1u32 << attempt)).min(1.0);
            assert!(
                (median - expected).abs() <= 0.03 * expected,
                "attempt {attempt}: median {median} expected {expected}"
            );
        }
    }

    #[test]
    fn jitter_spreads_delays_over_the_interval() {
        let b = Backoff::new(ms(100), ms(10_000));
        let mut rng = Rng::new(5);
        let ds: Vec<Duration> = (0..1000).map(|_| b.delay(0, &mut rng)).collect();
        let below = ds.iter().filter(|d| **d < ms(90)).count();
        let above = ds.iter().filter(|d| **d > ms(110)).count();
        // A quarter of the mass lies in each outer band.
        assert!((180..320).contains(&below), "{below}");
        assert!((180..320).contains(&above), "{above}");
    }

    #[test]
    fn deterministic_for_a_seed() {
        let b = Backoff::default();
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..20).map(|a| b.delay(a, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn huge_attempts_and_durations_do_not_overflow() {
        let mut rng = Rng::new(0);
        let b = Backoff::new(ms(100), ms(1000));
        for attempt in [31, 32, 33, 63, 64, 65, 1000, u32::MAX] {
            let d = b.delay(attempt, &mut rng);
            assert!(ms(800) <= d && d <= ms(1000));
            assert_eq!(b.bounds(attempt), (ms(800), ms(1000)));
        }
        let b = Backoff::new(Duration::from_secs(1), Duration::MAX);
        let (lo, hi) = b.bounds(u32::MAX);
        let d = b.delay(u32::MAX, &mut rng);
        assert!(lo <= d && d <= hi);
        assert_eq!(hi, Duration::from_nanos(u64::MAX));
        let b = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(b.delay(u32::MAX, &mut rng), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn max_below_initial_gives_a_static_backoff() {
        let b = Backoff::new(ms(500), ms(100));
        assert_eq!(b.initial(), ms(100));
        let mut rng = Rng::new(3);
        for attempt in 0..10 {
            assert_eq!(b.delay(attempt, &mut rng), ms(100));
            assert_eq!(b.bounds(attempt), (ms(100), ms(100)));
        }
        let zero = Backoff::new(ms(0), ms(0));
        assert_eq!(zero.delay(3, &mut rng), Duration::ZERO);
    }
}
