//! The idempotent producer's state, owned per part and knowing nothing of
//! the producer that composes them: the producer id and epoch
//! ([`Identity`]), each partition's sequence numbers ([`Sequences`]), and
//! the rules for the broker's answers ([`classify`]).
//!
//! A broker keeps, per producer id, epoch and partition, the sequence of the
//! last batches it appended, and refuses a batch whose first sequence does
//! not follow (OUT_OF_ORDER_SEQUENCE_NUMBER) or that it already has
//! (DUPLICATE_SEQUENCE_NUMBER). So the producer:
//!
//! - gets an id and epoch with InitProducerId before sending anything;
//! - numbers each partition's records from 0 when a batch is first drained
//!   (never before: a batch that waits keeps no number), wrapping at
//!   `i32::MAX`, and sends a retried batch with exactly its first number,
//!   epoch and bytes;
//! - when it can no longer tell what the broker has (a batch failed after it
//!   may have been written, a sequence gap, a broker that forgot the
//!   producer), stops sending, waits until nothing is in flight, and bumps
//!   the epoch (KIP-360): a new epoch starts every partition's sequences at
//!   0 again, and the queued batches are renumbered and their bytes
//!   rewritten in place.
//!
//! Each response error's rule is decided in one place, [`classify`], and
//! the producer id's lifecycle in one `match`, [`Identity::on`]. The
//! producer applies the decisions (`producer/idempotent.rs`).

mod answer;
mod identity;
mod sequences;

pub(crate) use answer::{Verdict, classify, proven_unwritten, written_despite};
pub(crate) use identity::{INIT_RETRY, IdInput, IdState, Identity, InitAnswer};
pub(crate) use sequences::{Numbered, Sequences, seq_add};
