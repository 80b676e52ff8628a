//! [`Shared`]: the [`Engine`] behind one lock, for a driver's handles and
//! its I/O loop. The lock is only ever held inside a synchronous call
//! (never across an `.await`), and wakers are woken after it is released.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use kafka_producer_proto::{Config, TransactionError};

use crate::delivery::{Completions, DeliveryFuture, DeliveryResult};
use crate::engine::{Engine, Transport};
use crate::ticket::Ticket;

/// The engine behind its lock.
pub struct Shared<S> {
    engine: Mutex<Engine<S>>,
}

impl<S: Transport> Shared<S> {
    /// An engine for a new producer with this configuration.
    pub fn new(config: Config) -> Arc<Shared<S>> {
        Arc::new(Shared {
            engine: Mutex::new(Engine::new(config)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Engine<S>> {
        // A panic while the lock was held leaves an engine whose state is
        // still the producer's own: keep going rather than poison every
        // handle.
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the engine under the lock, then wakes what it asked to
    /// wake, outside the lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut Engine<S>) -> R) -> R {
        let (result, wakers) = {
            let mut engine = self.lock();
            let result = f(&mut engine);
            let wakers = if engine.has_wakers() {
                engine.take_wakers()
            } else {
                Vec::new()
            };
            (result, wakers)
        };
        for w in wakers {
            w.wake();
        }
        result
    }

    /// The future for a ticket this engine gave out.
    pub fn future(self: &Arc<Self>, ticket: Ticket) -> DeliveryFuture {
        DeliveryFuture::new(Arc::clone(self) as Arc<dyn Completions>, ticket)
    }

    /// Flushes, and completes when every record accepted before the call
    /// has its result. Needs no timer, so it serves every async runtime;
    /// dropping the future withdraws the flush.
    pub async fn flush(&self) {
        let id = self.with(|e| e.flush());
        let _withdraw = FlushGuard { shared: self, id };
        poll_fn(|cx| self.with(|e| e.poll_flush(id, cx))).await;
    }

    /// Completes once the producer is closed (after
    /// [`Engine::close`] or [`Engine::abort`]).
    pub async fn closed(&self) {
        poll_fn(|cx| self.with(|e| e.poll_closed(cx))).await;
    }

    /// Aborts: every pending record fails with `Aborted`. Returns how many
    /// were pending.
    pub fn abort_pending(&self) -> usize {
        self.with(|e| {
            let pending = e.pending();
            e.abort();
            pending
        })
    }
}

impl<S: Transport> Shared<S> {
    /// Waits for the outcome of transaction wait `id` (from
    /// [`Engine::init_transactions`] and the other transaction calls).
    /// Needs no timer, so it serves every async runtime; dropping the
    /// future forgets the wait, while the work itself goes on.
    pub async fn transaction(&self, id: u64) -> Result<(), TransactionError> {
        let _forget = ForgetTransaction { shared: self, id };
        poll_fn(|cx| self.with(|e| e.poll_transaction(id, cx))).await
    }
}

/// Forgets a transaction wait whose caller stopped waiting.
struct ForgetTransaction<'a, S: Transport> {
    shared: &'a Shared<S>,
    id: u64,
}

impl<S: Transport> Drop for ForgetTransaction<'_, S> {
    fn drop(&mut self) {
        let id = self.id;
        self.shared.with(|e| e.forget_transaction(id));
    }
}

/// Withdraws a flush whose caller stopped waiting.
struct FlushGuard<'a, S: Transport> {
    shared: &'a Shared<S>,
    id: u64,
}

impl<S: Transport> Drop for FlushGuard<'_, S> {
    fn drop(&mut self) {
        let id = self.id;
        self.shared.with(|e| e.cancel_flush(id));
    }
}

impl<S: Transport> Completions for Shared<S> {
    fn poll_ticket(&self, ticket: Ticket, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
        self.lock().poll_delivery(ticket, cx)
    }

    fn try_ticket(&self, ticket: Ticket) -> Option<DeliveryResult> {
        self.lock().try_delivery(ticket)
    }

    fn detach(&self, ticket: Ticket) {
        self.lock().detach(ticket);
    }
}
