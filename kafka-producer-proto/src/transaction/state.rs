//! The transaction states, named after the Java client's, and every legal
//! transition between them, in one `match` ([`next`]).
//!
//! | state | the application may call | what leaves it |
//! | --- | --- | --- |
//! | `Uninitialized` | `init_transactions` | `init_transactions` → `Initializing` |
//! | `Initializing` | `init_transactions` again (no new work) | InitProducerId answered → `Ready` |
//! | `Ready` | `begin_transaction` | `begin_transaction` → `InTransaction` |
//! | `InTransaction` | `send`, `send_offsets_to_transaction`, `commit_transaction`, `abort_transaction` | commit → `CommittingTransaction`; abort → `AbortingTransaction` |
//! | `CommittingTransaction` | `commit_transaction` again (no new work) | EndTxn done → `Ready` (or `Initializing` when an epoch bump follows) |
//! | `AbortingTransaction` | `abort_transaction` again (no new work) | EndTxn done → `Ready` (or `Initializing` for the epoch bump) |
//! | `AbortableError` | `abort_transaction` | abort → `AbortingTransaction` |
//! | `FatalError` | nothing | nothing: drop the producer and make a new one |
//!
//! An abortable error moves `InTransaction`, `CommittingTransaction`,
//! `Initializing` and `AbortableError` to `AbortableError`; while aborting it
//! changes nothing (the abort under way is already the remedy). A fatal
//! error moves every state to `FatalError`.
//!
//! A call the table does not allow is refused and changes nothing. A
//! transition the table does not allow that a broker's answer would cause
//! (an answer that cannot happen in the current state) leads to
//! `FatalError`, never to a panic.

use core::fmt;

/// Where a transactional producer stands. The names are the Java client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionState {
    /// `init_transactions` has not been called.
    Uninitialized,
    /// `init_transactions` is under way: finding the transaction
    /// coordinator and getting a producer id and epoch for the
    /// `transactional.id` (which fences earlier producers with it), or an
    /// epoch bump after an abort.
    Initializing,
    /// No transaction is open; `begin_transaction` may start one.
    Ready,
    /// A transaction is open: records and offsets may be sent.
    InTransaction,
    /// `commit_transaction` is under way.
    CommittingTransaction,
    /// `abort_transaction` is under way.
    AbortingTransaction,
    /// The open transaction cannot commit; the application must call
    /// `abort_transaction`, after which the producer goes on.
    AbortableError,
    /// The producer cannot go on; drop it (a new producer with the same
    /// `transactional.id` fences whatever this one left open).
    FatalError,
}

impl fmt::Display for TransactionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransactionState::Uninitialized => "Uninitialized",
            TransactionState::Initializing => "Initializing",
            TransactionState::Ready => "Ready",
            TransactionState::InTransaction => "InTransaction",
            TransactionState::CommittingTransaction => "CommittingTransaction",
            TransactionState::AbortingTransaction => "AbortingTransaction",
            TransactionState::AbortableError => "AbortableError",
            TransactionState::FatalError => "FatalError",
        })
    }
}

/// A call of the transaction API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionCall {
    /// `init_transactions`.
    InitTransactions,
    /// `begin_transaction`.
    BeginTransaction,
    /// `send` of a record, inside a transaction.
    Send,
    /// `send_offsets_to_transaction`.
    SendOffsets,
    /// `commit_transaction`.
    CommitTransaction,
    /// `abort_transaction`.
    AbortTransaction,
}

impl fmt::Display for TransactionCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransactionCall::InitTransactions => "init_transactions",
            TransactionCall::BeginTransaction => "begin_transaction",
            TransactionCall::Send => "send",
            TransactionCall::SendOffsets => "send_offsets_to_transaction",
            TransactionCall::CommitTransaction => "commit_transaction",
            TransactionCall::AbortTransaction => "abort_transaction",
        })
    }
}

/// What moves the state: an application call, or what the protocol did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    /// The application called this.
    Call(TransactionCall),
    /// InitProducerId granted a producer id and epoch.
    Initialized,
    /// The transaction ended (EndTxn answered, or skipped because nothing
    /// was added), and nothing else is due.
    Ended,
    /// The transaction ended and the epoch must be bumped before the next
    /// one (InitProducerId with the current id and epoch).
    EndedBumpNext,
    /// An error the application must answer with `abort_transaction`.
    Abortable,
    /// An error after which nothing can go on.
    Fatal,
}

/// What a legal transition means beyond its target state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Moved (or stayed) in the target state; work may be due.
    To(TransactionState),
    /// The same call again while its work is under way: nothing changes,
    /// and the one outcome event still comes.
    AlreadyUnderWay,
}

/// Why a transition was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The call is not allowed in this state.
    Illegal,
    /// The state holds an error: the call fails with it.
    InError,
}

/// The single place where the transaction state changes: where `input`
/// takes `state`, or why it may not.
///
/// A refused call changes nothing. A protocol input that cannot happen in
/// `state` is answered with `Err(Refused::Illegal)` too; the caller turns
/// that into [`TransactionState::FatalError`].
pub(crate) fn next(state: TransactionState, input: Input) -> Result<Step, Refused> {
    use Input::*;
    use TransactionCall::*;
    use TransactionState::*;
    let to = |s| Ok(Step::To(s));
    match (state, input) {
        // Nothing leaves the fatal state; every call fails with its error.
        (FatalError, Call(_)) => Err(Refused::InError),
        (_, Fatal) => to(FatalError),
        (FatalError, _) => to(FatalError),

        (Uninitialized, Call(InitTransactions)) => to(Initializing),
        (Initializing, Call(InitTransactions)) => Ok(Step::AlreadyUnderWay),
        (Initializing, Initialized) => to(Ready),
        (Initializing, Abortable) => to(AbortableError),

        (Ready, Call(BeginTransaction)) => to(InTransaction),

        (InTransaction, Call(Send | SendOffsets)) => to(InTransaction),
        (InTransaction, Call(CommitTransaction)) => to(CommittingTransaction),
        (InTransaction, Call(AbortTransaction)) => to(AbortingTransaction),
        (InTransaction, Abortable) => to(AbortableError),

        (CommittingTransaction, Call(CommitTransaction)) => Ok(Step::AlreadyUnderWay),
        (CommittingTransaction, Abortable) => to(AbortableError),
        (AbortingTransaction, Call(AbortTransaction)) => Ok(Step::AlreadyUnderWay),
        // The abort under way is already the answer to any error.
        (AbortingTransaction, Abortable) => to(AbortingTransaction),
        (CommittingTransaction | AbortingTransaction, Ended) => to(Ready),
        (CommittingTransaction | AbortingTransaction, EndedBumpNext) => to(Initializing),

        (AbortableError, Call(AbortTransaction)) => to(AbortingTransaction),
        (AbortableError, Abortable) => to(AbortableError),
        (AbortableError, Call(_)) => Err(Refused::InError),

        (
            Uninitialized
            | Initializing
            | Ready
            | InTransaction
            | CommittingTransaction
            | AbortingTransaction,
            Call(_),
        ) => Err(Refused::Illegal),
        (
            Uninitialized | Ready | InTransaction | AbortableError,
            Initialized | Ended | EndedBumpNext,
        )
        | (Initializing, Ended | EndedBumpNext)
        | (CommittingTransaction | AbortingTransaction, Initialized)
        | (Uninitialized | Ready, Abortable) => Err(Refused::Illegal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransactionCall::*;
    use TransactionState::*;

    const STATES: [TransactionState; 8] = [
        Uninitialized,
        Initializing,
        Ready,
        InTransaction,
        CommittingTransaction,
        AbortingTransaction,
        AbortableError,
        FatalError,
    ];
    const CALLS: [TransactionCall; 6] = [
        InitTransactions,
        BeginTransaction,
        Send,
        SendOffsets,
        CommitTransaction,
        AbortTransaction,
    ];

    /// Every (state, call) pair, spelled out: what the Java client allows
    /// is allowed, everything else refused.
    #[test]
    fn calls_in_every_state() {
        let allowed: &[(TransactionState, TransactionCall, Step)] = &[
            (Uninitialized, InitTransactions, Step::To(Initializing)),
            (Initializing, InitTransactions, Step::AlreadyUnderWay),
            (Ready, BeginTransaction, Step::To(InTransaction)),
            (InTransaction, Send, Step::To(InTransaction)),
            (InTransaction, SendOffsets, Step::To(InTransaction)),
            (
                InTransaction,
                CommitTransaction,
                Step::To(CommittingTransaction),
            ),
            (
                InTransaction,
                AbortTransaction,
                Step::To(AbortingTransaction),
            ),
            (
                CommittingTransaction,
                CommitTransaction,
                Step::AlreadyUnderWay,
            ),
            (AbortingTransaction, AbortTransaction, Step::AlreadyUnderWay),
            (
                AbortableError,
                AbortTransaction,
                Step::To(AbortingTransaction),
            ),
        ];
        for s in STATES {
            for c in CALLS {
                let got = next(s, Input::Call(c));
                match allowed.iter().find(|(s2, c2, _)| *s2 == s && *c2 == c) {
                    Some((_, _, step)) => assert_eq!(got, Ok(*step), "{s} {c}"),
                    None if matches!(s, AbortableError | FatalError) => {
                        assert_eq!(got, Err(Refused::InError), "{s} {c}")
                    }
                    None => assert_eq!(got, Err(Refused::Illegal), "{s} {c}"),
                }
            }
        }
    }

    #[test]
    fn protocol_inputs() {
        assert_eq!(next(Initializing, Input::Initialized), Ok(Step::To(Ready)));
        for s in [CommittingTransaction, AbortingTransaction] {
            assert_eq!(next(s, Input::Ended), Ok(Step::To(Ready)));
            assert_eq!(next(s, Input::EndedBumpNext), Ok(Step::To(Initializing)));
        }
        for s in [
            InTransaction,
            CommittingTransaction,
            Initializing,
            AbortableError,
        ] {
            assert_eq!(
                next(s, Input::Abortable),
                Ok(Step::To(AbortableError)),
                "{s}"
            );
        }
        assert_eq!(
            next(AbortingTransaction, Input::Abortable),
            Ok(Step::To(AbortingTransaction)),
            "an error while aborting changes nothing"
        );
        for s in STATES {
            assert_eq!(next(s, Input::Fatal), Ok(Step::To(FatalError)));
        }
        // Answers that cannot come in these states.
        assert_eq!(next(Ready, Input::Initialized), Err(Refused::Illegal));
        assert_eq!(next(InTransaction, Input::Ended), Err(Refused::Illegal));
        assert_eq!(next(Ready, Input::Abortable), Err(Refused::Illegal));
        assert_eq!(
            next(CommittingTransaction, Input::Initialized),
            Err(Refused::Illegal)
        );
    }
}
