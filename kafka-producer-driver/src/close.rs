//! [`CloseError`]: how a driver's `close(timeout)` can end.

use std::time::Duration;

/// `close(timeout)` did not finish in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// Records were still pending when the timeout ran out: each failed
    /// with [`kafka_producer_proto::ProduceError::Aborted`] and was handed
    /// back through its delivery future or handle.
    #[error(
        "close timed out after {timeout:?}: {aborted} records still pending were failed and handed back"
    )]
    TimedOut {
        /// How many records were failed.
        aborted: usize,
        /// The timeout.
        timeout: Duration,
    },
}
