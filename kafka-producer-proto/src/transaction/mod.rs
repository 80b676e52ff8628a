//! Transactions: the state of a transactional producer (one
//! `transactional.id`), knowing nothing of the producer that drives it.
//!
//! A transaction writes records to any partitions and commits consumed
//! offsets, atomically: a `read_committed` consumer sees all of it or none
//! of it. The producer's calls (`init_transactions`, `begin_transaction`,
//! `send`, `send_offsets_to_transaction`, `commit_transaction`,
//! `abort_transaction`) move the [`TransactionState`] and start work whose
//! outcome comes later as an event; the requests that do the work
//! (FindCoordinator, InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn) are decided, built and answered here:
//!
//! - [`TransactionState`] and its transitions, in one `match` (`state.rs`);
//! - the rule for each error code of each request (`rules.rs`), giving
//!   each error its [`ErrorClass`];
//! - the transaction manager (`manager.rs`, `requests.rs`, `answers.rs`):
//!   the producer id and epoch of the transactional id, the coordinators,
//!   the partitions and offsets of the open transaction, and the one
//!   transaction request in flight.
//!
//! Transactions v2 (KIP-890) is used when the cluster has finalized
//! `transaction.version` 2 or more: Produce adds partitions by itself, the
//! offsets need no AddOffsetsToTxn, and every EndTxn bumps the epoch.
//! Otherwise v1: partitions are added with AddPartitionsToTxn before their
//! records are sent, and the epoch is bumped (KIP-360) after an abort whose
//! transaction left sequence numbers in doubt.

mod answers;
mod error;
mod group;
mod manager;
mod requests;
mod rules;
mod state;
#[cfg(test)]
mod tests;

pub use error::{ErrorClass, TransactionError};
pub use group::{ConsumerGroupMetadata, OffsetCommit};
pub use rules::classify;
pub use state::{TransactionCall, TransactionState};

pub(crate) use manager::{Dest, Effect, TransactionManager, Work};
