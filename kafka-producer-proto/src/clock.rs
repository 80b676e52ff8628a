//! [`EpochClock`]: the producer's time scale for drivers on `std`
//! (feature `std`), shared by the tokio and blocking drivers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::time::Instant;

/// The producer's time scale for real drivers: nanoseconds since the Unix
/// epoch, so that records sent without a timestamp get a true CreateTime.
///
/// The wall clock is read once, at creation; after that time advances with
/// the monotonic clock, so a wall-clock step (NTP, a suspended laptop) can
/// never move the producer's `now` backwards or make a deadline jump.
#[derive(Debug, Clone, Copy)]
pub struct EpochClock {
    start: std::time::Instant,
    /// Nanoseconds since the epoch at `start`.
    base: u64,
}

impl Default for EpochClock {
    fn default() -> Self {
        EpochClock::new()
    }
}

impl EpochClock {
    /// A clock whose origin is the Unix epoch, read now.
    pub fn new() -> EpochClock {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        EpochClock {
            start: std::time::Instant::now(),
            base: u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// The producer's `now`.
    pub fn now(self) -> Instant {
        self.at(std::time::Instant::now())
    }

    /// The producer instant for a monotonic instant (not before this
    /// clock's creation).
    pub fn at(self, t: std::time::Instant) -> Instant {
        Instant::from_nanos(self.base).saturating_add(t.saturating_duration_since(self.start))
    }

    /// The monotonic instant for a producer instant, for timers. Instants
    /// before the clock's creation map to its creation: they are all past.
    pub fn to_std(self, t: Instant) -> std::time::Instant {
        let after_start = t.saturating_duration_since(Instant::from_nanos(self.base));
        self.start
            .checked_add(after_start)
            // Only a deadline centuries away overflows; a day is as good.
            .unwrap_or_else(|| self.start + Duration::from_secs(86_400))
    }
}
