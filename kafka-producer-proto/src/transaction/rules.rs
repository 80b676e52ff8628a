//! The rule for every error code each transaction request can meet, after
//! the Java client's `TransactionManager` handlers (in our words), as pure
//! functions: the manager applies the [`Reaction`].

use super::error::ErrorClass;
use crate::kafka_code::KafkaCode;
use crate::wire::ApiKey;

/// What the producer does with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reaction {
    /// It worked.
    Done,
    /// Send the same request again after `retry.backoff.ms`.
    Retry,
    /// Send it again after 20 ms: CONCURRENT_TRANSACTIONS on
    /// AddPartitionsToTxn before anything was added, which means the
    /// previous transaction of this id is still writing its markers.
    RetrySoon,
    /// The coordinator moved or is gone: find it again, then retry.
    Rediscover,
    /// The transaction must be aborted; `bump`: the producer's sequence
    /// state is in doubt, so the epoch is bumped after the abort (KIP-360).
    Abortable { bump: bool },
    /// Nothing can go on.
    Fatal,
}

impl Reaction {
    /// The class of an error with this reaction.
    pub(crate) fn class(self) -> Option<ErrorClass> {
        match self {
            Reaction::Done => None,
            Reaction::Retry | Reaction::RetrySoon | Reaction::Rediscover => {
                Some(ErrorClass::Retriable)
            }
            Reaction::Abortable { .. } => Some(ErrorClass::Abortable),
            Reaction::Fatal => Some(ErrorClass::Fatal),
        }
    }
}

/// Codes that mean this producer's epoch is stale.
pub(crate) fn fences(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::InvalidProducerEpoch | KafkaCode::ProducerFenced
    )
}

fn coordinator_gone(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::NotCoordinator | KafkaCode::CoordinatorNotAvailable
    )
}

/// FindCoordinator, for either kind of coordinator.
pub(crate) fn find_coordinator(code: KafkaCode) -> Reaction {
    use KafkaCode::*;
    match code {
        None => Reaction::Done,
        // COORDINATOR_NOT_AVAILABLE while the state topic is being
        // created, loading, NOT_COORDINATOR: ask again.
        code if code.is_retriable() => Reaction::Retry,
        TransactionalIdAuthorizationFailed => Reaction::Fatal,
        GroupAuthorizationFailed | TransactionAbortable => Reaction::Abortable { bump: false },
        _ => Reaction::Fatal,
    }
}

/// InitProducerId with the transactional id (a first one or a bump).
pub(crate) fn init_producer_id(code: KafkaCode) -> Reaction {
    use KafkaCode::*;
    match code {
        None => Reaction::Done,
        code if coordinator_gone(code) => Reaction::Rediscover,
        // CONCURRENT_TRANSACTIONS: the coordinator is still ending (or,
        // for a producer that fences its predecessor, aborting) the
        // previous transaction of this id.
        code if code.is_retriable() => Reaction::Retry,
        TransactionAbortable => Reaction::Abortable { bump: false },
        // Fenced, not authorized, a timeout above the broker's
        // transaction.max.timeout.ms, an empty id: nothing to retry.
        _ => Reaction::Fatal,
    }
}

/// AddPartitionsToTxn (v0-3, transactions v1). `added_any`: some partition
/// is already in this transaction.
pub(crate) fn add_partitions(code: KafkaCode, added_any: bool) -> Reaction {
    use KafkaCode::*;
    match code {
        None => Reaction::Done,
        code if coordinator_gone(code) => Reaction::Rediscover,
        ConcurrentTransactions if !added_any => Reaction::RetrySoon,
        code if code.is_retriable() => Reaction::Retry,
        code if fences(code) => Reaction::Fatal,
        TransactionalIdAuthorizationFailed | InvalidTxnState | InvalidProducerIdMapping => {
            Reaction::Fatal
        }
        UnknownProducerId => Reaction::Abortable { bump: true },
        // TOPIC_AUTHORIZATION_FAILED, OPERATION_NOT_ATTEMPTED (another
        // partition of the request failed), TRANSACTION_ABORTABLE, and
        // anything else: this transaction cannot go on, the producer can.
        _ => Reaction::Abortable { bump: false },
    }
}

/// AddOffsetsToTxn (transactions v1).
pub(crate) fn add_offsets(code: KafkaCode) -> Reaction {
    use KafkaCode::*;
    match code {
        None => Reaction::Done,
        code if coordinator_gone(code) => Reaction::Rediscover,
        code if code.is_retriable() => Reaction::Retry,
        UnknownProducerId => Reaction::Abortable { bump: true },
        GroupAuthorizationFailed | TransactionAbortable => Reaction::Abortable { bump: false },
        _ => Reaction::Fatal,
    }
}

/// TxnOffsetCommit, one partition's code.
pub(crate) fn txn_offset_commit(code: KafkaCode) -> Reaction {
    use KafkaCode::*;
    match code {
        None => Reaction::Done,
        // The group coordinator times out its own writes: look again.
        code if coordinator_gone(code) || code == RequestTimedOut => Reaction::Rediscover,
        code if code.is_retriable() => Reaction::Retry,
        GroupAuthorizationFailed
        | FencedInstanceId
        | TransactionAbortable
        | UnknownMemberId
        | IllegalGeneration => Reaction::Abortable { bump: false },
        // REBALANCE_IN_PROGRESS is not retriable and lands here, as in
        // the Java client.
        _ => Reaction::Fatal,
    }
}

/// EndTxn. `aborting`: the request aborts.
pub(crate) fn end_txn(code: KafkaCode, aborting: bool) -> Reaction {
    use KafkaCode::*;
    match code {
        None => Reaction::Done,
        code if coordinator_gone(code) => Reaction::Rediscover,
        // CONCURRENT_TRANSACTIONS: the previous EndTxn is still writing.
        code if code.is_retriable() => Reaction::Retry,
        UnknownProducerId => Reaction::Abortable { bump: true },
        // Abortable while committing; while aborting it would loop.
        TransactionAbortable if !aborting => Reaction::Abortable { bump: false },
        _ => Reaction::Fatal,
    }
}

/// A record's batch failed for good inside a transaction (`code`: its
/// last error, `None` for a local timeout). Its sequence may have left a
/// gap, so the epoch is bumped after the abort.
pub(crate) fn record_failed(code: Option<KafkaCode>) -> Reaction {
    use KafkaCode::*;
    match code {
        Some(
            ClusterAuthorizationFailed
            | TransactionalIdAuthorizationFailed
            | ProducerFenced
            | UnsupportedVersion
            | InvalidProducerIdMapping,
        ) => Reaction::Fatal,
        // INVALID_PRODUCER_EPOCH on Produce is abortable since KIP-588:
        // the transaction timed out, or a newer epoch wrote a marker.
        _ => Reaction::Abortable { bump: true },
    }
}

/// The class of `code` as an answer to `api` in the usual context (EndTxn
/// committing, AddPartitionsToTxn with partitions already added, Produce
/// after its retries): the table the crate documentation prints.
/// `None` for `KafkaCode::None`, and for APIs that are not part of
/// transactions.
pub fn classify(api: ApiKey, code: KafkaCode) -> Option<ErrorClass> {
    let reaction = match api {
        ApiKey::FindCoordinator => find_coordinator(code),
        ApiKey::InitProducerId => init_producer_id(code),
        ApiKey::AddPartitionsToTxn => add_partitions(code, true),
        ApiKey::AddOffsetsToTxn => add_offsets(code),
        ApiKey::TxnOffsetCommit => txn_offset_commit(code),
        ApiKey::EndTxn => end_txn(code, false),
        ApiKey::Produce if code == KafkaCode::None => Reaction::Done,
        ApiKey::Produce if code.is_retriable() => Reaction::Retry,
        ApiKey::Produce => record_failed(Some(code)),
        _ => return None,
    };
    reaction.class()
}

#[cfg(test)]
mod tests {
    use super::*;
    use KafkaCode::*;

    #[test]
    fn the_issue_lists() {
        // Fatal: fenced, not authorized.
        for api in [
            ApiKey::InitProducerId,
            ApiKey::AddPartitionsToTxn,
            ApiKey::AddOffsetsToTxn,
            ApiKey::TxnOffsetCommit,
            ApiKey::EndTxn,
        ] {
            assert_eq!(
                classify(api, ProducerFenced),
                Some(ErrorClass::Fatal),
                "{api:?}"
            );
            assert_eq!(
                classify(api, TransactionalIdAuthorizationFailed),
                Some(ErrorClass::Fatal),
                "{api:?}"
            );
            assert_eq!(
                classify(api, InvalidProducerEpoch),
                Some(ErrorClass::Fatal),
                "{api:?}: INVALID_PRODUCER_EPOCH from a coordinator"
            );
            for retriable in [
                CoordinatorLoadInProgress,
                NotCoordinator,
                ConcurrentTransactions,
            ] {
                assert_eq!(
                    classify(api, retriable),
                    Some(ErrorClass::Retriable),
                    "{api:?} {retriable}"
                );
            }
        }
        // INVALID_PRODUCER_EPOCH on a record is abortable (KIP-588).
        assert_eq!(
            classify(ApiKey::Produce, InvalidProducerEpoch),
            Some(ErrorClass::Abortable)
        );
        assert_eq!(
            classify(ApiKey::Produce, ProducerFenced),
            Some(ErrorClass::Fatal)
        );
        assert_eq!(
            classify(ApiKey::TxnOffsetCommit, IllegalGeneration),
            Some(ErrorClass::Abortable)
        );
        assert_eq!(
            classify(ApiKey::EndTxn, TransactionAbortable),
            Some(ErrorClass::Abortable)
        );
        assert_eq!(end_txn(TransactionAbortable, true), Reaction::Fatal);
        assert_eq!(classify(ApiKey::Metadata, NotCoordinator), Option::None);
    }

    #[test]
    fn concurrent_transactions_retries_soon_only_before_the_first_add() {
        assert_eq!(
            add_partitions(ConcurrentTransactions, false),
            Reaction::RetrySoon
        );
        assert_eq!(
            add_partitions(ConcurrentTransactions, true),
            Reaction::Retry
        );
        assert_eq!(add_partitions(NotCoordinator, false), Reaction::Rediscover);
        assert_eq!(
            txn_offset_commit(RequestTimedOut),
            Reaction::Rediscover,
            "the group coordinator's own timeout"
        );
    }
}
