//! [`DriverStats`]: what a driver did, counted the same way by every
//! driver so that tests and reports can compare them.

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
