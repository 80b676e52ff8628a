//! [`MemoryWait`]: a sender waiting for `buffer.memory`, the same for every
//! runtime. A driver's handle polls it next to its own timer for
//! `max.block.ms`; the queue of waiters (first come, first served) lives in
//! the [`Engine`](crate::Engine).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kafka_producer_proto::{Record, SendError, SendErrorKind};

use crate::delivery::DeliveryFuture;
use crate::engine::Transport;
use crate::shared::Shared;

/// One sender's place in the queue for `buffer.memory`, holding its record
/// until the producer takes it. Dropping it before the send succeeded
/// leaves the queue (and drops the record: a cancelled send).
///
/// A driver calls [`MemoryWait::poll`] whenever it is woken, and
/// [`MemoryWait::timed_out`] when its `max.block.ms` timer
/// ([`MemoryWait::max_block`]) fires first.
pub struct MemoryWait<'a, S: Transport> {
    shared: &'a Arc<Shared<S>>,
    id: u64,
    record: Option<Record>,
    started: Instant,
    needed: usize,
    available: usize,
    done: bool,
}

impl<'a, S: Transport> MemoryWait<'a, S> {
    /// Joins the queue with `record`, which `try_send` refused for lack of
    /// memory.
    pub fn new(shared: &'a Arc<Shared<S>>, record: Record) -> MemoryWait<'a, S> {
        let id = shared.with(|e| e.wait_for_memory());
        MemoryWait {
            shared,
            id,
            record: Some(record),
            started: Instant::now(),
            needed: 0,
            available: 0,
            done: false,
        }
    }

    /// How long the sender may wait: `max.block.ms`.
    pub fn max_block(&self) -> Duration {
        self.shared.with(|e| e.max_block())
    }

    /// Tries the send again when it is this sender's turn. Ready with the
    /// delivery's future once the producer took the record, or with the
    /// refusal (the record handed back) when it never will (closed, or a
    /// record the producer refuses for another reason); pending while
    /// memory is short, with `cx` woken when that changes.
    // The error hands the record back, as the producer's does.
    #[allow(clippy::result_large_err)]
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<DeliveryFuture, SendError<()>>> {
        // Twice: memory freed between the refusal and registering the
        // waker would otherwise be missed until the next wake.
        for _ in 0..2 {
            let Some(record) = self.record.take() else {
                return Poll::Ready(Err(self.refuse(SendErrorKind::Closed)));
            };
            let id = self.id;
            let tried = self.shared.with(|e| match e.try_send(record, Some(id)) {
                Ok(ticket) => Ok(Ok(ticket)),
                Err(SendError {
                    kind: SendErrorKind::BufferFull { needed, available },
                    record,
                }) => Err((record, needed, available, e.poll_memory(id, cx))),
                Err(other) => Ok(Err(other)),
            });
            match tried {
                Ok(Ok(ticket)) => {
                    self.done = true;
                    return Poll::Ready(Ok(self.shared.future(ticket)));
                }
                Ok(Err(refused)) => return Poll::Ready(Err(refused)),
                Err((record, needed, available, turn)) => {
                    self.record = Some(record);
                    if needed > 0 {
                        (self.needed, self.available) = (needed, available);
                    }
                    if turn.is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
        Poll::Pending
    }

    /// `max.block.ms` ran out: the refusal, with the record handed back.
    pub fn timed_out(&mut self) -> SendError<()> {
        self.refuse(SendErrorKind::BufferTimeout {
            needed: self.needed,
            available: self.available,
            waited: self.started.elapsed(),
        })
    }

    fn refuse(&mut self, kind: SendErrorKind) -> SendError<()> {
        SendError {
            kind,
            record: self.record.take().unwrap_or_else(|| Record::new("")),
        }
    }
}

impl<S: Transport> Drop for MemoryWait<'_, S> {
    fn drop(&mut self) {
        if !self.done {
            let id = self.id;
            self.shared.with(|e| e.stop_waiting(id));
        }
    }
}
