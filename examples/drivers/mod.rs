//! Drivers that move bytes and time between sockets and a sans-IO
//! [`Producer`](kafka_producer_proto::Producer): one for tokio, one for
//! blocking `std::net`.
//!
//! The examples and the integration tests share this code. Include the whole
//! directory, not a single file, since both drivers use the clock below:
//!
//! ```ignore
//! #[path = "../examples/drivers/mod.rs"]
//! mod drivers;
//! use drivers::{EpochClock, TokioDriver};
//! ```

// Each example or test that includes these modules uses only part of them;
// without this every unused driver method would be a warning, and CI denies
// warnings.
#![allow(dead_code, unused_imports)]

pub mod blocking_driver;
pub mod tokio_driver;

pub use blocking_driver::BlockingDriver;
pub use tokio_driver::TokioDriver;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_producer_proto::Instant;

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

/// What a driver did, for tests and reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DriverStats {
    /// `Event::Connect`s received (connection attempts started).
    pub connects: u64,
    /// `Event::Disconnect`s received (connections the producer closed).
    pub disconnects: u64,
    /// Bytes written to sockets.
    pub bytes_written: u64,
    /// Bytes read from sockets and handed to the producer.
    pub bytes_read: u64,
    /// Attempts that failed to connect (reported with `handle_disconnected`).
    pub connect_failures: u64,
    /// Connections that closed under the driver (EOF, read or write error,
    /// `kill_connections`), reported with `handle_disconnected`.
    pub peer_closes: u64,
    /// Times the producer's timer was already due when the driver went to
    /// wait. A few are normal; one per turn for long means the producer
    /// asks to be woken for work it then does not do (a busy loop).
    pub immediate_timeouts: u64,
    /// Times the driver waited for I/O or time.
    pub turns: u64,
}
