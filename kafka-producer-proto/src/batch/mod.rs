//! Batches and where they wait: a producer batch ([`Batch`], encoded once,
//! sent and re-sent as a unit), each partition's queue of them
//! ([`Partition`](partition::Partition), with its sequence numbers), and the accumulator
//! ([`Accumulator`]: all topics' queues, linger, `buffer.memory`, and which
//! batches a broker's next request takes).
//!
//! Knows nothing of connections or of the producer: it is told a leader's
//! node id and the time, and hands batches out and takes them back.

mod accumulator;
mod compression_ratio;
#[cfg(test)]
mod compression_tests;
mod partition;
mod producer_batch;

pub(crate) use accumulator::{Accumulator, Drain, Drained, Waiting};
pub(crate) use producer_batch::Batch;

/// Batch orders are spaced this far apart, so that the halves of a split
/// batch get orders of their own between the original and its successor.
pub(crate) const ORDER_SPAN: u64 = 1 << 32;
