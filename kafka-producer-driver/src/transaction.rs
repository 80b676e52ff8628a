//! Waiting for transaction calls: each accepted call of the transaction API
//! ([`Engine::init_transactions`](crate::Engine::init_transactions) and the
//! others) gets a wait id, completed by the producer's
//! `Event::Transaction` for that call.
//!
//! `send_offsets_to_transaction` calls are answered one outcome each, in
//! order. A repeated `init_transactions`, `commit_transaction` or
//! `abort_transaction` joins the work under way: one outcome completes
//! every wait for that call.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use kafka_producer_proto::{TransactionCall, TransactionError};

struct Wait {
    id: u64,
    call: TransactionCall,
    waker: Option<Waker>,
    result: Option<Result<(), TransactionError>>,
}

/// The transaction calls waiting for their outcome.
#[derive(Default)]
pub(crate) struct TransactionWaits {
    waits: VecDeque<Wait>,
    next: u64,
}

impl TransactionWaits {
    /// A wait for the outcome of `call`, just accepted.
    pub(crate) fn start(&mut self, call: TransactionCall) -> u64 {
        let id = self.next;
        self.next += 1;
        self.waits.push_back(Wait {
            id,
            call,
            waker: None,
            result: None,
        });
        id
    }

    /// An outcome for `call` came: the wakers of the waits it completes.
    pub(crate) fn complete(
        &mut self,
        call: TransactionCall,
        result: &Result<(), TransactionError>,
        wakers: &mut Vec<Waker>,
    ) {
        let one = call == TransactionCall::SendOffsets;
        for w in self
            .waits
            .iter_mut()
            .filter(|w| w.call == call && w.result.is_none())
        {
            w.result = Some(result.clone());
            if let Some(waker) = w.waker.take() {
                wakers.push(waker);
            }
            if one {
                break;
            }
        }
    }

    /// Every wait still open gets `error` (the producer closed).
    pub(crate) fn fail_all(&mut self, error: TransactionError, wakers: &mut Vec<Waker>) {
        for w in self.waits.iter_mut().filter(|w| w.result.is_none()) {
            w.result = Some(Err(error.clone()));
            if let Some(waker) = w.waker.take() {
                wakers.push(waker);
            }
        }
    }

    /// The outcome of wait `id`, once it came (then the wait is gone).
    pub(crate) fn poll(
        &mut self,
        id: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), TransactionError>> {
        let Some(at) = self.waits.iter().position(|w| w.id == id) else {
            // Forgotten or never started: nothing will come.
            return Poll::Ready(Err(TransactionError::Closed));
        };
        if self.waits[at].result.is_some() {
            let w = self.waits.remove(at).expect("the position just found");
            return Poll::Ready(w.result.expect("checked above"));
        }
        self.waits[at].waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Nobody waits for `id` any more.
    pub(crate) fn forget(&mut self, id: u64) {
        self.waits.retain(|w| w.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn outcomes_go_to_their_calls() {
        let mut waits = TransactionWaits::default();
        let mut cx = Context::from_waker(Waker::noop());
        let a = waits.start(TransactionCall::SendOffsets);
        let b = waits.start(TransactionCall::SendOffsets);
        let c = waits.start(TransactionCall::CommitTransaction);
        let d = waits.start(TransactionCall::CommitTransaction);
        assert!(waits.poll(a, &mut cx).is_pending());
        let mut wakers = Vec::new();
        waits.complete(TransactionCall::SendOffsets, &Ok(()), &mut wakers);
        assert_eq!(wakers.len(), 1, "the waiting one is woken");
        assert_eq!(waits.poll(a, &mut cx), Poll::Ready(Ok(())));
        assert!(
            waits.poll(b, &mut cx).is_pending(),
            "one outcome per offsets call"
        );
        waits.complete(
            TransactionCall::CommitTransaction,
            &Err(TransactionError::Aborted),
            &mut wakers,
        );
        assert_eq!(
            waits.poll(c, &mut cx),
            Poll::Ready(Err(TransactionError::Aborted))
        );
        assert_eq!(
            waits.poll(d, &mut cx),
            Poll::Ready(Err(TransactionError::Aborted)),
            "a repeated commit shares the outcome"
        );
        waits.fail_all(TransactionError::Closed, &mut wakers);
        assert_eq!(
            waits.poll(b, &mut cx),
            Poll::Ready(Err(TransactionError::Closed))
        );
        assert_eq!(
            waits.poll(b, &mut cx),
            Poll::Ready(Err(TransactionError::Closed))
        );
    }
}
