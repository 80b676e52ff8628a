//! The completion slab: one slot per record accepted and not yet claimed,
//! where the driver puts the record's result and the waiting future finds
//! it. Slots are reused (a free list), so steady state allocates nothing
//! per record; a generation in each [`Ticket`] keeps a stale ticket from
//! reading a reused slot.

use std::task::{Context, Poll, Waker};

use crate::delivery::{Delivery, DeliveryError, DeliveryResult};
use crate::ticket::Ticket;

enum State {
    Free {
        next: u32,
    },
    /// Accepted; the waker of whoever waits, if anyone does yet.
    Pending {
        waker: Option<Waker>,
    },
    /// Accepted; nobody will ask (its future was dropped).
    Detached,
    /// The result, not yet taken. Failures are boxed: they are rare, and
    /// every slot is as large as its largest state.
    Delivered(Delivery),
    Failed(Box<DeliveryError>),
}

struct Slot {
    generation: u32,
    state: State,
}

const NONE: u32 = u32::MAX;

/// The slab.
pub(crate) struct Slab {
    slots: Vec<Slot>,
    free: u32,
    /// Slots accepted and without a result yet (detached ones included).
    pending: usize,
}

/// What completing a ticket found.
pub(crate) enum Completed {
    /// Someone will take the result; wake this, if set.
    Waiting(Option<Waker>),
    /// Nobody will: the result was dropped (the failure, if it is one, is
    /// given back for logging).
    Unclaimed(Option<Box<DeliveryError>>),
}

impl Slab {
    pub(crate) fn new() -> Slab {
        Slab {
            slots: Vec::new(),
            free: NONE,
            pending: 0,
        }
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    pub(crate) fn insert(&mut self) -> Ticket {
        self.pending += 1;
        if self.free != NONE {
            let index = self.free;
            let slot = &mut self.slots[index as usize];
            if let State::Free { next } = slot.state {
                self.free = next;
            }
            slot.state = State::Pending { waker: None };
            return Ticket {
                index,
                generation: slot.generation,
            };
        }
        let index = u32::try_from(self.slots.len()).unwrap_or(NONE - 1);
        self.slots.push(Slot {
            generation: 0,
            state: State::Pending { waker: None },
        });
        Ticket {
            index,
            generation: 0,
        }
    }

    fn slot(&mut self, t: Ticket) -> Option<&mut Slot> {
        self.slots
            .get_mut(t.index as usize)
            .filter(|s| s.generation == t.generation)
    }

    fn release(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.state = State::Free { next: self.free };
        self.free = index;
    }

    /// Takes back a ticket whose record the producer refused after all.
    pub(crate) fn cancel(&mut self, t: Ticket) {
        if self.slot(t).is_some() {
            self.pending -= 1;
            self.release(t.index);
        }
    }

    pub(crate) fn complete(&mut self, t: Ticket, result: DeliveryResult) -> Completed {
        let Some(slot) = self.slot(t) else {
            return Completed::Unclaimed(None);
        };
        let done = match result {
            Ok(d) => State::Delivered(d),
            Err(e) => State::Failed(Box::new(e)),
        };
        match std::mem::replace(&mut slot.state, done) {
            State::Pending { waker } => {
                self.pending -= 1;
                Completed::Waiting(waker)
            }
            State::Detached => {
                let failed = match std::mem::replace(&mut slot.state, State::Detached) {
                    State::Failed(e) => Some(e),
                    _ => None,
                };
                self.pending -= 1;
                self.release(t.index);
                Completed::Unclaimed(failed)
            }
            // Completed twice: the producer promises one terminal event
            // per record, so this is unreachable; keep the first.
            other => {
                slot.state = other;
                Completed::Unclaimed(None)
            }
        }
    }

    fn take(&mut self, t: Ticket) -> Option<DeliveryResult> {
        let slot = self.slot(t)?;
        let result = match std::mem::replace(&mut slot.state, State::Detached) {
            State::Delivered(d) => Ok(d),
            State::Failed(e) => Err(*e),
            other => {
                slot.state = other;
                return None;
            }
        };
        self.release(t.index);
        Some(result)
    }

    pub(crate) fn poll(&mut self, t: Ticket, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
        if let Some(result) = self.take(t) {
            return Poll::Ready(result);
        }
        match self.slot(t) {
            Some(Slot {
                state: State::Pending { waker },
                ..
            }) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            // A ticket this slab does not know: nothing will ever come.
            _ => Poll::Pending,
        }
    }

    pub(crate) fn try_take(&mut self, t: Ticket) -> Option<DeliveryResult> {
        self.take(t)
    }

    pub(crate) fn detach(&mut self, t: Ticket) {
        let Some(slot) = self.slot(t) else { return };
        match slot.state {
            State::Pending { .. } => slot.state = State::Detached,
            State::Delivered(_) | State::Failed(_) => self.release(t.index),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_producer_proto::{ProduceError, Record, RecordId};
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn delivered(offset: i64) -> DeliveryResult {
        Ok(Delivery {
            id: RecordId(0),
            partition: 0,
            offset: Some(offset),
            timestamp: 0,
        })
    }

    #[test]
    fn a_waiting_ticket_is_woken_and_its_slot_reused() {
        let mut slab = Slab::new();
        let t = slab.insert();
        let flag = Arc::new(Flag(Default::default()));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        assert!(slab.poll(t, &mut cx).is_pending());
        let Completed::Waiting(Some(w)) = slab.complete(t, delivered(7)) else {
            panic!("the waiter's waker comes back");
        };
        w.wake();
        assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(
            slab.poll(t, &mut cx).map(|r| r.unwrap().offset),
            Poll::Ready(Some(7))
        );
        assert_eq!(slab.pending(), 0);
        // The slot is reused under a new generation: the old ticket is dead.
        let t2 = slab.insert();
        assert_eq!(t2.index, t.index);
        assert!(slab.try_take(t).is_none());
        assert!(slab.poll(t, &mut cx).is_pending());
        assert_eq!(slab.slots.len(), 1);
    }

    #[test]
    fn a_detached_failure_is_given_back_for_logging() {
        let mut slab = Slab::new();
        let t = slab.insert();
        slab.detach(t);
        let failure = Err(DeliveryError {
            error: ProduceError::Aborted {
                possibly_written: false,
            },
            record: Box::new(Record::new("t")),
        });
        let Completed::Unclaimed(Some(e)) = slab.complete(t, failure) else {
            panic!("a detached failure comes back");
        };
        assert_eq!(e.record.topic, "t");
        assert_eq!(slab.pending(), 0);
        // Freed at once.
        assert_eq!(slab.insert().index, t.index);
    }

    #[test]
    fn detaching_after_the_result_frees_the_slot() {
        let mut slab = Slab::new();
        let t = slab.insert();
        assert!(matches!(
            slab.complete(t, delivered(1)),
            Completed::Waiting(None)
        ));
        slab.detach(t);
        assert_eq!(slab.insert().index, t.index);
        assert_eq!(slab.slots.len(), 1);
    }
}
