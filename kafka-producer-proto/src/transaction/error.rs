//! The transaction API's errors and their classes: what went wrong, and
//! what the application does about it ([`ErrorClass`]).

use alloc::string::String;
use core::fmt;
use core::time::Duration;

use super::state::{TransactionCall, TransactionState};
use crate::kafka_code::KafkaCode;
use crate::wire::ApiKey;

/// What an error asks of the application.
///
/// | class | meaning | what the application does |
/// | --- | --- | --- |
/// | `Retriable` | a passing condition (a coordinator moving or loading, a transaction of the same id still completing: `CONCURRENT_TRANSACTIONS`, a lost connection) | nothing: the producer finds the coordinator again and retries on its own, with `retry.backoff.ms` (20 ms for `CONCURRENT_TRANSACTIONS` on AddPartitionsToTxn while nothing is added yet) |
/// | `Abortable` | this transaction cannot commit (a record failed, the consumer group moved on, the broker said `TRANSACTION_ABORTABLE`) | call `abort_transaction`, rewind its input to the last committed offsets, and go on with a new transaction |
/// | `Fatal` | this producer cannot go on (fenced by a newer producer with the same `transactional.id`, not authorized, a broker that answers what cannot be) | drop the producer; a new one with the same `transactional.id` fences and aborts whatever this one left open |
/// | `Misuse` | the call is not allowed now (commit without begin, send outside a transaction, a producer without `transactional.id`) | nothing changed: fix the calling code |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Handled inside the producer: retried.
    Retriable,
    /// The transaction must be aborted; the producer goes on afterwards.
    Abortable,
    /// The producer must be dropped.
    Fatal,
    /// The call was refused and nothing changed.
    Misuse,
}

/// Why a transaction call was refused, or why its work failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The producer has no `transactional.id`. Misuse.
    #[error("the producer has no transactional.id")]
    NotTransactional,
    /// The call is not allowed in this state (for example
    /// `commit_transaction` without `begin_transaction`). Misuse: nothing
    /// changed.
    #[error("{call} is not allowed in state {state}")]
    InvalidState {
        /// The call refused.
        call: TransactionCall,
        /// The state it was refused in.
        state: TransactionState,
    },
    /// The consumer group metadata or the offsets given to
    /// `send_offsets_to_transaction` are not valid. Misuse.
    #[error("invalid consumer group metadata or offsets: {reason}")]
    InvalidGroupMetadata {
        /// What is wrong.
        reason: &'static str,
    },
    /// The producer was closed. Misuse.
    #[error("the producer is closed")]
    Closed,
    /// Another producer with this `transactional.id` took over (it called
    /// `init_transactions`), so this one's epoch is stale: PRODUCER_FENCED,
    /// or INVALID_PRODUCER_EPOCH from a coordinator. Fatal.
    #[error("fenced by a newer producer with the same transactional.id: {api:?} answered {code}")]
    Fenced {
        /// The request that was answered so.
        api: ApiKey,
        /// The code.
        code: KafkaCode,
    },
    /// The transaction stayed open past `transaction.timeout.ms`, so the
    /// coordinator aborted it and bumped the epoch; this answer is how the
    /// producer learned of it. Fatal on a coordinator request (the epoch
    /// moved on without us), abortable on a record.
    #[error(
        "the transaction was open for {open_for:?}, past transaction.timeout.ms, and the broker aborted it: {api:?} answered {code}"
    )]
    TransactionTimedOut {
        /// The request that was answered so.
        api: ApiKey,
        /// The code.
        code: KafkaCode,
        /// How long the transaction had been open.
        open_for: Duration,
        /// Fatal or abortable.
        class: ErrorClass,
    },
    /// The consumer group's generation or member changed since the
    /// application read its metadata (UNKNOWN_MEMBER_ID,
    /// ILLEGAL_GENERATION, FENCED_INSTANCE_ID): its offsets cannot commit
    /// (KIP-447). Abortable: abort, rejoin the group, go on.
    #[error("consumer group metadata is stale: TxnOffsetCommit answered {code}")]
    GroupMetadataMismatch {
        /// The code.
        code: KafkaCode,
    },
    /// A broker refused a transaction request with `code`; `class` says
    /// what follows.
    #[error("{api:?} answered {code}{}", message.as_deref().map(|m| alloc::format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The request.
        api: ApiKey,
        /// The code.
        code: KafkaCode,
        /// Abortable or fatal.
        class: ErrorClass,
        /// The broker's message, if it sent one.
        message: Option<String>,
    },
    /// A record of the transaction failed (its batch was refused, or
    /// expired): the transaction cannot commit. Abortable, or fatal for
    /// the codes that fence or forbid the producer.
    #[error("a record of the transaction failed{}", code.map(|c| alloc::format!(" with {c}")).unwrap_or_default())]
    RecordFailed {
        /// The record's last error code, if it had one.
        code: Option<KafkaCode>,
        /// Abortable or fatal.
        class: ErrorClass,
    },
    /// A broker speaks no version of `api` that can do what is needed (a
    /// transaction coordinator older than Kafka 2.5 cannot bump an epoch
    /// after an abortable error; FindCoordinator v0 cannot find a
    /// transaction coordinator; TxnOffsetCommit before v3 cannot carry
    /// group metadata). Fatal.
    #[error("the broker speaks no version of {api:?} that can {what}")]
    UnsupportedVersion {
        /// The API.
        api: ApiKey,
        /// What it would have to do.
        what: &'static str,
    },
    /// The record was not sent, or is not part of a committed transaction,
    /// because its transaction was aborted (carried by records handed back
    /// during an abort). Abortable: the abort is already under way.
    #[error("the transaction was aborted")]
    Aborted,
    /// The producer entered its fatal state for a reason of its own (see
    /// [`crate::FatalError`]). Fatal.
    #[error("the producer is in its fatal state: {reason}")]
    ProducerFatal {
        /// The producer's fatal error, as text.
        reason: String,
    },
}

impl TransactionError {
    /// What the application does about this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            TransactionError::NotTransactional
            | TransactionError::InvalidState { .. }
            | TransactionError::InvalidGroupMetadata { .. }
            | TransactionError::Closed => ErrorClass::Misuse,
            TransactionError::Fenced { .. }
            | TransactionError::UnsupportedVersion { .. }
            | TransactionError::ProducerFatal { .. } => ErrorClass::Fatal,
            TransactionError::GroupMetadataMismatch { .. } | TransactionError::Aborted => {
                ErrorClass::Abortable
            }
            TransactionError::TransactionTimedOut { class, .. }
            | TransactionError::Broker { class, .. }
            | TransactionError::RecordFailed { class, .. } => *class,
        }
    }

    /// The Kafka error code behind this error, if there is one.
    pub fn code(&self) -> Option<KafkaCode> {
        match self {
            TransactionError::Fenced { code, .. }
            | TransactionError::TransactionTimedOut { code, .. }
            | TransactionError::GroupMetadataMismatch { code }
            | TransactionError::Broker { code, .. } => Some(*code),
            TransactionError::RecordFailed { code, .. } => *code,
            _ => None,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Retriable => "retriable",
            ErrorClass::Abortable => "abortable",
            ErrorClass::Fatal => "fatal",
            ErrorClass::Misuse => "misuse",
        })
    }
}
