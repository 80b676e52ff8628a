//! [`Engine`]: the sans-IO [`Producer`] with everything a driver adds
//! around it that does not depend on the runtime: the connections' write
//! queues, the completion slab, the senders waiting for `buffer.memory`,
//! flushes, close and abort, and the `tracing` events. A driver keeps it
//! behind one lock, calls it from the application's side (`try_send`,
//! `flush`, `close`) and from its I/O loop (`connected`, `read_from`,
//! `write_to`, `timeout`), and after each call wakes what
//! [`Engine::take_wakers`] returns, outside the lock.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, IoSlice};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_producer_proto::{
    Config, ConnectionId, ConsumerGroupMetadata, DriverStats, EpochClock, Event, Metrics,
    OffsetCommit, Producer, Record, SendError, SendErrorKind, TransactionCall, TransactionError,
    TransactionState,
};

use crate::delivery::{Delivery, DeliveryError};
use crate::slab::{Completed, Slab};
use crate::ticket::Ticket;
use crate::transaction::TransactionWaits;

/// Reads per connection per call of [`Engine::read_from`]: enough to empty
/// a busy socket's buffer, few enough that one broker cannot starve others.
const READS_PER_TURN: usize = 8;
/// Buffers handed to one vectored write.
const SLICES_PER_WRITE: usize = 64;

/// A connection's byte stream, as the driver's runtime provides it.
pub trait Transport: Send + 'static {
    /// Reads what is there without waiting (`WouldBlock` when nothing
    /// is); `Ok(0)` is the end of the stream.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes what the socket takes now (`WouldBlock` when nothing).
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// The producer is done with the connection; dropping it follows.
    fn close(&mut self) {}
}

/// Something only the driver can do, asked by [`Engine::take_actions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection, then call [`Engine::connected`] or
    /// [`Engine::connect_failed`].
    Connect {
        /// The connection's id.
        conn: ConnectionId,
        /// Where to.
        host: String,
        /// The port.
        port: u16,
    },
    /// Stop opening this connection; its outcome is no longer wanted.
    Cancel {
        /// The connection's id.
        conn: ConnectionId,
    },
}

/// What [`Engine::read_from`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadState {
    /// The socket is empty: wait for it to turn readable.
    Drained,
    /// It may hold more: read again soon, without waiting.
    More,
    /// The connection is gone (closed by the peer, broken, or unknown).
    Gone,
}

struct Conn<S> {
    stream: S,
    /// Request frames not yet written; the front one may be partly written.
    out: VecDeque<Bytes>,
}

struct Flush {
    id: u64,
    /// Records accepted before the flush and not yet terminal.
    remaining: usize,
    /// Only records with a lower id count.
    below: u64,
    waker: Option<Waker>,
}

/// The producer and its driver-independent surroundings.
pub struct Engine<S> {
    producer: Producer<Ticket>,
    clock: EpochClock,
    slab: Slab,
    conns: BTreeMap<ConnectionId, Conn<S>>,
    /// Connections the producer is done with that still have bytes to
    /// write (acks=0 records count as delivered once handed over): closed
    /// once written, or at their deadline.
    draining: BTreeMap<ConnectionId, (Conn<S>, std::time::Instant)>,
    connecting: BTreeMap<ConnectionId, (String, u16)>,
    actions: Vec<Action>,
    wakers: Vec<Waker>,
    /// Senders waiting for `buffer.memory`, first come first served.
    memory_waiters: VecDeque<(u64, Option<Waker>)>,
    next_waiter: u64,
    flushes: Vec<Flush>,
    next_flush: u64,
    /// Records accepted so far: the next record's id.
    accepted: u64,
    close_requested: bool,
    closed: bool,
    close_wakers: Vec<Waker>,
    stats: DriverStats,
    buf: Box<[u8]>,
    /// The driver's task or thread, and whether it was already woken since
    /// it last looked.
    driver: Option<Waker>,
    driver_woken: bool,
    /// When the driver's timer will fire (set by [`Engine::next_deadline`]).
    armed: Option<std::time::Instant>,
    /// Bytes were queued and no write tried for them yet.
    unwritten: bool,
    sends_since_yield: u32,
    /// Transaction calls waiting for their outcome.
    transactions: TransactionWaits,
}

impl<S: Transport> Engine<S> {
    /// An engine for a new producer with this configuration, on a clock
    /// from the Unix epoch.
    pub fn new(config: Config) -> Engine<S> {
        let clock = EpochClock::new();
        Engine {
            producer: Producer::new(config, clock.now()),
            clock,
            slab: Slab::new(),
            conns: BTreeMap::new(),
            draining: BTreeMap::new(),
            connecting: BTreeMap::new(),
            actions: Vec::new(),
            wakers: Vec::new(),
            memory_waiters: VecDeque::new(),
            next_waiter: 0,
            flushes: Vec::new(),
            next_flush: 0,
            accepted: 0,
            close_requested: false,
            closed: false,
            close_wakers: Vec::new(),
            stats: DriverStats::default(),
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            driver: None,
            driver_woken: false,
            armed: None,
            unwritten: false,
            sends_since_yield: 0,
            transactions: TransactionWaits::default(),
        }
    }

    /// The producer (read-only: inputs go through the engine).
    pub fn producer(&self) -> &Producer<Ticket> {
        &self.producer
    }

    /// The clock the producer runs on.
    pub fn clock(&self) -> EpochClock {
        self.clock
    }

    /// The producer's metrics, under Kafka's names.
    pub fn metrics(&self) -> Metrics {
        self.producer.metrics()
    }

    /// What the driver did so far.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// `max.block.ms`: how long a sender waits for `buffer.memory`.
    pub fn max_block(&self) -> Duration {
        self.producer.config().max_block()
    }

    /// Records accepted and without a result yet.
    pub fn pending(&self) -> usize {
        self.slab.pending()
    }

    // ---- The application's side -------------------------------------------

    /// Gives a record to the producer. `waiter` is the caller's place in
    /// the queue of senders waiting for memory, if it has one: while
    /// anyone waits, only the first in line may try, so that memory goes
    /// to senders in the order they came. `BufferFull` means: wait
    /// ([`Engine::wait_for_memory`]) and try again.
    // The error hands the record back, as the producer's does.
    #[allow(clippy::result_large_err)]
    pub fn try_send(
        &mut self,
        record: Record,
        waiter: Option<u64>,
    ) -> Result<Ticket, SendError<()>> {
        if self.close_requested {
            return Err(SendError {
                kind: SendErrorKind::Closed,
                record,
            });
        }
        let front = self.memory_waiters.front().map(|(id, _)| *id);
        if front.is_some() && front != waiter {
            // Someone came first: wait in line behind it.
            return Err(SendError {
                kind: SendErrorKind::BufferFull {
                    needed: 0,
                    available: 0,
                },
                record,
            });
        }
        let ticket = self.slab.insert();
        let stamp = std::time::Instant::now();
        match self
            .producer
            .send(record.user(ticket), self.clock.at(stamp))
        {
            Ok(_) => {
                self.accepted += 1;
                if waiter.is_some() {
                    self.memory_waiters.pop_front();
                    self.wake_memory_waiter();
                }
                self.settle_at(stamp);
                Ok(ticket)
            }
            Err(SendError { kind, record }) => {
                self.slab.cancel(ticket);
                Err(SendError {
                    kind,
                    record: record.user(()),
                })
            }
        }
    }

    /// Counts one accepted send and says whether the caller should yield
    /// to its runtime now (every `every` sends), so that a sender that
    /// never waits still lets the driver read answers.
    pub fn should_yield(&mut self, every: u32) -> bool {
        self.sends_since_yield += 1;
        if self.sends_since_yield >= every {
            self.sends_since_yield = 0;
            true
        } else {
            false
        }
    }

    /// Takes a place in the queue of senders waiting for memory.
    pub fn wait_for_memory(&mut self) -> u64 {
        let id = self.next_waiter;
        self.next_waiter += 1;
        self.memory_waiters.push_back((id, None));
        id
    }

    /// Whether waiter `id` should try again now (it is first in line and
    /// memory may have been freed, or the producer is closing); otherwise
    /// keeps `cx`'s waker to wake it when that changes.
    pub fn poll_memory(&mut self, id: u64, cx: &mut Context<'_>) -> Poll<()> {
        if self.close_requested {
            return Poll::Ready(());
        }
        match self.memory_waiters.iter_mut().find(|(w, _)| *w == id) {
            Some((_, waker)) => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }

    /// Leaves the queue of senders waiting for memory (gave up, or was
    /// cancelled).
    pub fn stop_waiting(&mut self, id: u64) {
        let was_front = self.memory_waiters.front().is_some_and(|(w, _)| *w == id);
        self.memory_waiters.retain(|(w, _)| *w != id);
        if was_front {
            self.wake_memory_waiter();
        }
    }

    /// Wakes the first sender in line, which then tries again. Its entry
    /// stays, so that nobody overtakes it; its waker is taken so that it
    /// is woken once per change.
    fn wake_memory_waiter(&mut self) {
        if let Some((_, waker)) = self.memory_waiters.front_mut()
            && let Some(w) = waker.take()
        {
            self.wakers.push(w);
        }
    }

    /// The result of `ticket`, or `Pending` with the waker kept.
    pub fn poll_delivery(
        &mut self,
        ticket: Ticket,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Delivery, DeliveryError>> {
        self.slab.poll(ticket, cx)
    }

    /// The result of `ticket` if it is there.
    pub fn try_delivery(&mut self, ticket: Ticket) -> Option<Result<Delivery, DeliveryError>> {
        self.slab.try_take(ticket)
    }

    /// Nobody will ask for `ticket`'s result.
    pub fn detach(&mut self, ticket: Ticket) {
        self.slab.detach(ticket);
    }

    /// Sends everything buffered now; returns a flush to wait on with
    /// [`Engine::poll_flush`]: it completes when every record accepted
    /// before it has its result.
    pub fn flush(&mut self) -> u64 {
        let id = self.next_flush;
        self.next_flush += 1;
        let stamp = std::time::Instant::now();
        self.producer.flush(self.clock.at(stamp));
        let remaining = self.slab.pending();
        if remaining > 0 {
            self.flushes.push(Flush {
                id,
                remaining,
                below: self.accepted,
                waker: None,
            });
        }
        self.settle_at(stamp);
        id
    }

    /// Whether flush `id` is done.
    pub fn poll_flush(&mut self, id: u64, cx: &mut Context<'_>) -> Poll<()> {
        match self.flushes.iter_mut().find(|f| f.id == id) {
            Some(f) => {
                f.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }

    /// Forgets flush `id` (its waiter went away).
    pub fn cancel_flush(&mut self, id: u64) {
        self.flushes.retain(|f| f.id != id);
    }

    /// Stops accepting records and drains the rest; waiting senders are
    /// refused. [`Engine::poll_closed`] tells when it is done.
    pub fn close(&mut self) {
        if !self.close_requested {
            tracing::debug!("producer closing");
        }
        self.close_requested = true;
        for (_, waker) in self.memory_waiters.iter_mut() {
            if let Some(w) = waker.take() {
                self.wakers.push(w);
            }
        }
        let stamp = std::time::Instant::now();
        self.producer.close(self.clock.at(stamp));
        self.settle_at(stamp);
    }

    /// Gives up on every pending record: each fails with
    /// [`kafka_producer_proto::ProduceError::Aborted`] and is handed back; then the producer is
    /// closed.
    pub fn abort(&mut self) {
        self.close_requested = true;
        let pending = self.slab.pending();
        if !self.closed {
            tracing::warn!(
                pending,
                "close timed out: failing the records still pending"
            );
        }
        let stamp = std::time::Instant::now();
        self.producer.abort(self.clock.at(stamp));
        self.settle_at(stamp);
    }

    // ---- Transactions ----------------------------------------------------

    /// `init_transactions`: the wait for its outcome
    /// ([`Engine::poll_transaction`]), or why it was refused.
    pub fn init_transactions(&mut self) -> Result<u64, TransactionError> {
        self.transaction_call(TransactionCall::InitTransactions)
    }

    /// `begin_transaction`: local, done at once.
    pub fn begin_transaction(&mut self) -> Result<(), TransactionError> {
        self.producer.begin_transaction()
    }

    /// `send_offsets_to_transaction`: the wait for its outcome, or why it
    /// was refused.
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: Vec<OffsetCommit>,
        group: &ConsumerGroupMetadata,
    ) -> Result<u64, TransactionError> {
        let stamp = std::time::Instant::now();
        self.producer
            .send_offsets_to_transaction(offsets, group, self.clock.at(stamp))?;
        let id = self.transactions.start(TransactionCall::SendOffsets);
        self.settle_at(stamp);
        Ok(id)
    }

    /// `commit_transaction`: the wait for its outcome, or why it was
    /// refused.
    pub fn commit_transaction(&mut self) -> Result<u64, TransactionError> {
        self.transaction_call(TransactionCall::CommitTransaction)
    }

    /// `abort_transaction`: the wait for its outcome, or why it was
    /// refused.
    pub fn abort_transaction(&mut self) -> Result<u64, TransactionError> {
        self.transaction_call(TransactionCall::AbortTransaction)
    }

    fn transaction_call(&mut self, call: TransactionCall) -> Result<u64, TransactionError> {
        let stamp = std::time::Instant::now();
        let now = self.clock.at(stamp);
        match call {
            TransactionCall::InitTransactions => self.producer.init_transactions(now),
            TransactionCall::CommitTransaction => self.producer.commit_transaction(now),
            TransactionCall::AbortTransaction => self.producer.abort_transaction(now),
            _ => self.producer.begin_transaction(),
        }?;
        // The wait starts before the producer's events are read: an
        // outcome that came at once (nothing to do) completes it.
        let id = self.transactions.start(call);
        self.settle_at(stamp);
        Ok(id)
    }

    /// The outcome of transaction wait `id`, once it came.
    pub fn poll_transaction(
        &mut self,
        id: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), TransactionError>> {
        self.transactions.poll(id, cx)
    }

    /// Nobody waits for transaction wait `id` any more (its work goes on).
    pub fn forget_transaction(&mut self, id: u64) {
        self.transactions.forget(id);
    }

    /// The producer's transaction state, with a `transactional.id`.
    pub fn transaction_state(&self) -> Option<TransactionState> {
        self.producer.transaction_state()
    }

    /// Whether the producer has closed (every record has its result).
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.closed {
            Poll::Ready(())
        } else {
            if !self.close_wakers.iter().any(|w| w.will_wake(cx.waker())) {
                self.close_wakers.push(cx.waker().clone());
            }
            Poll::Pending
        }
    }

    /// Whether the producer has closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the driver may stop: closed, and no connection left.
    pub fn is_finished(&self) -> bool {
        self.closed
            && self.conns.is_empty()
            && self.connecting.is_empty()
            && self.draining.is_empty()
    }

    // ---- The driver's side --------------------------------------------------

    /// The waker of the driver's task or thread, woken whenever it has
    /// something new to do (a connection to open, bytes left to write, an
    /// earlier deadline). Call at the start of each of its turns.
    pub fn set_driver(&mut self, waker: &Waker) {
        match &self.driver {
            Some(w) if w.will_wake(waker) => {}
            _ => self.driver = Some(waker.clone()),
        }
        self.driver_woken = false;
    }

    /// What only the driver can do, to be done now.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Wakers to wake, outside the lock.
    pub fn take_wakers(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.wakers)
    }

    /// Whether any waker is due.
    pub fn has_wakers(&self) -> bool {
        !self.wakers.is_empty()
    }

    /// Connection `conn` is open.
    pub fn connected(&mut self, conn: ConnectionId, stream: S) {
        let Some((host, port)) = self.connecting.remove(&conn) else {
            // Cancelled meanwhile: the producer no longer wants it.
            let mut stream = stream;
            stream.close();
            return;
        };
        tracing::debug!(conn = conn.0, %host, port, "connection opened");
        self.conns.insert(
            conn,
            Conn {
                stream,
                out: VecDeque::new(),
            },
        );
        let stamp = std::time::Instant::now();
        self.producer.handle_connected(conn, self.clock.at(stamp));
        self.settle_at(stamp);
    }

    /// Connection `conn` could not be opened.
    pub fn connect_failed(&mut self, conn: ConnectionId, error: &io::Error) {
        let Some((host, port)) = self.connecting.remove(&conn) else {
            return;
        };
        tracing::warn!(conn = conn.0, %host, port, %error, "connection failed");
        self.stats.connect_failures += 1;
        let stamp = std::time::Instant::now();
        self.producer
            .handle_disconnected(conn, self.clock.at(stamp));
        self.settle_at(stamp);
    }

    /// The open connections, for the driver to watch.
    pub fn connections(&self) -> impl Iterator<Item = (ConnectionId, &S, bool)> {
        self.conns
            .iter()
            .map(|(id, c)| (*id, &c.stream, !c.out.is_empty()))
            .chain(
                self.draining
                    .iter()
                    .map(|(id, (c, _))| (*id, &c.stream, true)),
            )
    }

    /// Connections being opened.
    pub fn connecting(&self) -> usize {
        self.connecting.len()
    }

    /// Reads what `conn` has, up to a few reads.
    pub fn read_from(&mut self, conn: ConnectionId) -> ReadState {
        if let Some((c, _)) = self.draining.get_mut(&conn) {
            // Nothing is expected any more: an answer is dropped, and the
            // end of the stream ends the connection.
            return match c.stream.read(&mut self.buf) {
                Ok(n) if n > 0 => ReadState::More,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadState::Drained,
                _ => {
                    self.end_draining(conn);
                    ReadState::Gone
                }
            };
        }
        for _ in 0..READS_PER_TURN {
            let Some(c) = self.conns.get_mut(&conn) else {
                return ReadState::Gone;
            };
            match c.stream.read(&mut self.buf) {
                Ok(0) => {
                    self.lost(conn, None);
                    return ReadState::Gone;
                }
                Ok(n) => {
                    self.stats.bytes_read += n as u64;
                    let stamp = std::time::Instant::now();
                    self.handle_bytes(conn, n, stamp);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadState::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.lost(conn, Some(&e));
                    return ReadState::Gone;
                }
            }
        }
        ReadState::More
    }

    /// Bytes that arrived on `conn` by other means (a reader thread).
    pub fn received(&mut self, conn: ConnectionId, bytes: &[u8]) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.stats.bytes_read += bytes.len() as u64;
        let stamp = std::time::Instant::now();
        let retries = self.retries_if_traced();
        self.producer
            .handle_response(conn, bytes, self.clock.at(stamp));
        self.trace_retries(retries);
        self.settle_at(stamp);
    }

    fn handle_bytes(&mut self, conn: ConnectionId, n: usize, stamp: std::time::Instant) {
        let retries = self.retries_if_traced();
        self.producer
            .handle_response(conn, &self.buf[..n], self.clock.at(stamp));
        self.trace_retries(retries);
        self.settle_at(stamp);
    }

    fn retries_if_traced(&self) -> Option<u64> {
        tracing::enabled!(tracing::Level::DEBUG).then(|| self.producer.metrics().batch_retry_total)
    }

    fn trace_retries(&self, before: Option<u64>) {
        if let Some(before) = before {
            let m = self.producer.metrics();
            if m.batch_retry_total > before {
                tracing::debug!(
                    batches = m.batch_retry_total - before,
                    record_retry_total = m.record_retry_total,
                    "batches retried"
                );
            }
        }
    }

    /// `conn` closed under the driver (end of stream, an error).
    pub fn closed_by_peer(&mut self, conn: ConnectionId, error: Option<&io::Error>) {
        self.lost(conn, error);
    }

    fn lost(&mut self, conn: ConnectionId, error: Option<&io::Error>) {
        if let Some(mut c) = self.conns.remove(&conn) {
            match error {
                Some(e) => tracing::warn!(conn = conn.0, error = %e, "connection broke"),
                None => tracing::info!(conn = conn.0, "connection closed by the broker"),
            }
            c.stream.close();
            self.stats.peer_closes += 1;
            let stamp = std::time::Instant::now();
            self.producer
                .handle_disconnected(conn, self.clock.at(stamp));
            self.settle_at(stamp);
        }
    }

    /// Writes what `conn`'s socket takes now.
    pub fn write_to(&mut self, conn: ConnectionId) {
        if let Some((c, _)) = self.draining.get_mut(&conn) {
            if write_some(c, &mut self.stats).is_err() || c.out.is_empty() {
                self.end_draining(conn);
            }
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Err(e) = write_some(c, &mut self.stats) {
            self.lost(conn, Some(&e));
        }
    }

    /// Cuts every connection and stops every connect, as a network
    /// failure would (tests).
    pub fn kill_connections(&mut self) {
        let ids: Vec<ConnectionId> = self.conns.keys().copied().collect();
        for id in ids {
            let e = io::Error::new(io::ErrorKind::ConnectionReset, "killed");
            self.lost(id, Some(&e));
        }
    }

    fn end_draining(&mut self, conn: ConnectionId) {
        if let Some((mut c, _)) = self.draining.remove(&conn) {
            tracing::debug!(
                conn = conn.0,
                unwritten = c.out.len(),
                "connection closed by the producer"
            );
            c.stream.close();
            self.kick_driver_if_needed();
        }
    }

    /// Calls the producer's timer if it is due.
    pub fn timeout(&mut self) {
        let stamp = std::time::Instant::now();
        let overdue: Vec<ConnectionId> = self
            .draining
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= stamp)
            .map(|(id, _)| *id)
            .collect();
        for id in overdue {
            self.end_draining(id);
        }
        let now = self.clock.at(stamp);
        if self.producer.poll_timeout().is_some_and(|t| t <= now) {
            self.stats.immediate_timeouts += 1;
        }
        self.producer.handle_timeout(now);
        self.settle_at(stamp);
    }

    /// When the driver must call [`Engine::timeout`] next; remembered, so
    /// that an earlier deadline set by a send wakes the driver.
    pub fn next_deadline(&mut self) -> Option<std::time::Instant> {
        self.stats.turns += 1;
        let mut at = self.producer.poll_timeout().map(|t| self.clock.to_std(t));
        for (_, deadline) in self.draining.values() {
            at = Some(at.map_or(*deadline, |a| a.min(*deadline)));
        }
        self.armed = at;
        at
    }

    // ---- Output --------------------------------------------------------------

    /// Drains the producer's output (the run-loop contract after every
    /// input), writes what the sockets take, and wakes the driver when it
    /// has something new to do.
    fn settle_at(&mut self, stamp: std::time::Instant) {
        self.drain(stamp);
        if std::mem::take(&mut self.unwritten) {
            // What the socket does not take now goes out when it turns
            // writable (the driver's turn).
            let mut broken: Option<(ConnectionId, io::Error)> = None;
            for (id, c) in self.conns.iter_mut().filter(|(_, c)| !c.out.is_empty()) {
                if let Err(e) = write_some(c, &mut self.stats) {
                    broken = Some((*id, e));
                    break;
                }
            }
            if let Some((id, e)) = broken {
                // `lost` drains and settles again.
                self.lost(id, Some(&e));
            }
        }
        self.kick_driver_if_needed();
    }

    fn kick_driver_if_needed(&mut self) {
        if self.driver_woken {
            return;
        }
        let needed = !self.actions.is_empty()
            || self.conns.values().any(|c| !c.out.is_empty())
            || !self.draining.is_empty()
            || self.closed
            || match self.producer.poll_timeout() {
                Some(t) => self.armed.is_none_or(|a| self.clock.to_std(t) < a),
                None => false,
            };
        if needed && let Some(w) = &self.driver {
            self.wakers.push(w.clone());
            self.driver_woken = true;
        }
    }

    fn drain(&mut self, stamp: std::time::Instant) {
        let now = self.clock.at(stamp);
        while let Some(t) = self.producer.poll_transmit(now) {
            if let Some(c) = self.conns.get_mut(&t.conn) {
                c.out.push_back(t.data);
                self.unwritten = true;
            }
        }
        while let Some(event) = self.producer.poll_event() {
            match event {
                Event::Connect { conn, host, port } => {
                    tracing::debug!(conn = conn.0, %host, port, "connecting");
                    self.stats.connects += 1;
                    self.connecting.insert(conn, (host.clone(), port));
                    self.actions.push(Action::Connect { conn, host, port });
                }
                Event::Disconnect { conn } => {
                    self.stats.disconnects += 1;
                    if let Some(mut c) = self.conns.remove(&conn) {
                        if c.out.is_empty() {
                            tracing::debug!(conn = conn.0, "connection closed by the producer");
                            c.stream.close();
                        } else {
                            // Written first, within a request timeout.
                            let deadline = stamp + self.producer.config().request_timeout();
                            self.draining.insert(conn, (c, deadline));
                        }
                    }
                    if self.connecting.remove(&conn).is_some() {
                        self.actions.push(Action::Cancel { conn });
                    }
                }
                Event::Delivered {
                    id,
                    partition,
                    offset,
                    timestamp,
                    user,
                } => {
                    let d = Delivery {
                        id,
                        partition,
                        offset,
                        timestamp,
                    };
                    self.complete(id.0, user, Ok(d));
                }
                Event::Failed { id, record, error } => {
                    tracing::debug!(topic = %record.topic, %error, "record failed");
                    let ticket = record.user;
                    let record = Box::new(record.user(()));
                    self.complete(id.0, ticket, Err(DeliveryError { error, record }));
                }
                Event::Transaction { call, result } => {
                    match &result {
                        Ok(()) => tracing::debug!(%call, "transaction call done"),
                        Err(error) => tracing::debug!(%call, %error, "transaction call failed"),
                    }
                    self.transactions.complete(call, &result, &mut self.wakers);
                }
                Event::Closed => {
                    tracing::debug!("producer closed");
                    self.closed = true;
                    self.transactions
                        .fail_all(TransactionError::Closed, &mut self.wakers);
                    self.wakers.append(&mut self.close_wakers);
                    // Anyone still waiting for memory learns it is over.
                    for (_, waker) in self.memory_waiters.iter_mut() {
                        if let Some(w) = waker.take() {
                            self.wakers.push(w);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn complete(&mut self, id: u64, ticket: Ticket, result: Result<Delivery, DeliveryError>) {
        match self.slab.complete(ticket, result) {
            Completed::Waiting(Some(w)) => self.wakers.push(w),
            Completed::Waiting(None) => {}
            Completed::Unclaimed(Some(e)) => {
                tracing::warn!(
                    topic = %e.record.topic,
                    error = %e.error,
                    "record failed, and its DeliveryFuture was dropped"
                );
            }
            Completed::Unclaimed(None) => {}
        }
        if !self.flushes.is_empty() {
            let wakers = &mut self.wakers;
            self.flushes.retain_mut(|f| {
                if id < f.below {
                    f.remaining = f.remaining.saturating_sub(1);
                }
                if f.remaining == 0 {
                    if let Some(w) = f.waker.take() {
                        wakers.push(w);
                    }
                    false
                } else {
                    true
                }
            });
        }
        // Memory came back: the first waiting sender may now fit.
        if !self.memory_waiters.is_empty() {
            self.wake_memory_waiter();
        }
    }
}

/// Writes as much of `c`'s queue as the socket takes now. `Err` means the
/// connection is broken.
fn write_some<S: Transport>(c: &mut Conn<S>, stats: &mut DriverStats) -> io::Result<()> {
    while !c.out.is_empty() {
        let written = {
            let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
            let n = c
                .out
                .iter()
                .zip(slices.iter_mut())
                .map(|(bytes, slice)| *slice = IoSlice::new(bytes))
                .count();
            c.stream.write_vectored(&slices[..n])
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(mut n) => {
                stats.bytes_written += n as u64;
                while n > 0 {
                    let Some(front) = c.out.front_mut() else {
                        break;
                    };
                    if n >= front.len() {
                        n -= front.len();
                        c.out.pop_front();
                    } else {
                        front.advance(n);
                        n = 0;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
