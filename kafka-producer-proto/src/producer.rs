//! [`Producer`]: the public API. It takes every input, routes it to the
//! part that owns the concept (accumulator, metadata, connections, sender)
//! and hands out what they produce.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use bytes::BytesMut;
use core::time::Duration;

use crate::accumulator::{Accumulator, Waiting};
use crate::batch::Batch;
use crate::config::Config;
use crate::connection::{Connection, Phase, Purpose};
use crate::error::{FatalError, ProduceError, SendError, SendErrorKind};
use crate::event::{ConnectionId, Event, Transmit};
use crate::idempotence::{IdInput, IdState, Identity};
use crate::kafka_code::KafkaCode;
use crate::metadata::Metadata;
use crate::metrics::{Metrics, MetricsRecorder};
use crate::partitioner::Partitioner;
use crate::record::{Record, RecordId};
use crate::retry::Backoff;
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::record_batch::{BATCH_HEADER_SIZE, record_size};

/// The producer's own lifecycle. Transitions happen only in
/// [`Producer::close`], [`Producer::enter_fatal`] and
/// [`Producer::maintain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    /// `close` was called: no new records; everything accepted drains.
    Closing,
    /// Every record is terminal and `Closed` was emitted.
    Closed,
    /// Unrecoverable: every pending record failed, `send` refuses.
    Fatal(FatalError),
}

/// Why a connection is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseCause {
    /// The driver reported it closed (no `Disconnect` event needed).
    Peer,
    /// A request or the setup timed out.
    Timeout,
    /// The broker sent bytes that break the protocol.
    Protocol,
    /// The producer is done with it.
    Done,
}

/// A sans-IO Kafka producer; see the [crate docs](crate) for the call
/// order.
///
/// `T` is the application's per-record value, handed back in each record's
/// terminal event.
#[derive(Debug)]
pub struct Producer<T = ()> {
    pub(crate) config: Config,
    pub(crate) rng: Rng,
    pub(crate) acc: Accumulator<T>,
    pub(crate) meta: Metadata,
    pub(crate) conns: BTreeMap<ConnectionId, Connection<T>>,
    next_conn: u64,
    pub(crate) events: VecDeque<Event<T>>,
    pub(crate) metrics: MetricsRecorder,
    pub(crate) partitioner: Partitioner,
    pub(crate) retry_backoff: Backoff,
    reconnect_backoff: Backoff,
    next_record_id: u64,
    pub(crate) state: State,
    pub(crate) flushing: bool,
    /// `close` was called (also in the fatal state, which keeps its state).
    pub(crate) close_requested: bool,
    pub(crate) last_now: Instant,
    pub(crate) scratch: BytesMut,
    /// Round-robin start for serving connections, so one busy broker does
    /// not starve the others.
    pub(crate) serve_after: Option<ConnectionId>,
    /// The producer id and epoch (`enable.idempotence`).
    pub(crate) identity: Identity,
    /// `poll_transmit` has nothing to send before this instant, unless an
    /// input changes something (`None`: not known). Inputs clear it; a
    /// `send` that only adds a record to an open batch leaves it, which is
    /// what keeps draining after every `send` cheap.
    quiet_until: Option<Instant>,
}

impl<T> Producer<T> {
    /// A producer with this configuration, starting at `now`. It connects
    /// to nothing until there is something to do.
    pub fn new(config: Config, now: Instant) -> Producer<T> {
        let acc = Accumulator::new(
            config.buffer_memory(),
            config.batch_size(),
            config.delivery_timeout(),
        );
        let meta = Metadata::new(
            config.bootstrap_servers(),
            config.metadata_max_age(),
            config.retry_backoff(),
        );
        Producer {
            rng: Rng::new(config.random_seed()),
            acc,
            meta,
            conns: BTreeMap::new(),
            next_conn: 0,
            events: VecDeque::new(),
            metrics: MetricsRecorder::new(),
            partitioner: Partitioner::new(config.partitioner_ignore_keys()),
            retry_backoff: Backoff::new(config.retry_backoff(), config.retry_backoff_max()),
            reconnect_backoff: Backoff::new(
                config.reconnect_backoff(),
                config.reconnect_backoff_max(),
            ),
            next_record_id: 0,
            state: State::Running,
            flushing: false,
            close_requested: false,
            last_now: now,
            scratch: BytesMut::new(),
            serve_after: None,
            identity: Identity::new(),
            quiet_until: None,
            config,
        }
    }

    /// The configuration the producer runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ---- Application inputs ------------------------------------------------

    /// Accepts a record, or refuses it and hands it back.
    ///
    /// Never blocks: when `buffer.memory` is exhausted the answer is
    /// [`SendErrorKind::BufferFull`] at once. An accepted record ends in
    /// exactly one [`Event::Delivered`] or [`Event::Failed`].
    pub fn send(&mut self, record: Record<T>, now: Instant) -> Result<RecordId, SendError<T>> {
        self.last_now = self.last_now.max(now);
        let refuse = |kind, record| Err(SendError { kind, record });
        match &self.state {
            State::Running => {}
            State::Closing | State::Closed => return refuse(SendErrorKind::Closed, record),
            State::Fatal(e) => return refuse(SendErrorKind::Fatal(e.clone()), record),
        }
        // Only valid names are ever interned, so a known topic needs no
        // second look.
        let known = self.acc.find(&record.topic);
        if known.is_none()
            && let Err(reason) = validate_topic(&record.topic)
        {
            let topic = record.topic.clone();
            return refuse(SendErrorKind::InvalidTopic { topic, reason }, record);
        }
        // Timestamp and offset deltas take at most 10 + 5 bytes where the
        // estimate counted 1 each.
        let reserved = record_size(
            0,
            0,
            record.key.as_deref(),
            record.value.as_deref(),
            record
                .headers
                .iter()
                .map(|h| (h.key.as_str(), h.value.as_deref())),
        )
        .saturating_add(13);
        let size = reserved.saturating_add(BATCH_HEADER_SIZE);
        let max = self
            .config
            .max_request_size()
            .min(self.config.buffer_memory());
        if size > max {
            return refuse(SendErrorKind::RecordTooLarge { size, max }, record);
        }
        if size > self.acc.available() {
            let available = self.acc.available();
            return refuse(
                SendErrorKind::BufferFull {
                    needed: size,
                    available,
                },
                record,
            );
        }
        let topic = match known {
            Some(t) => t,
            None => self.acc.intern(&record.topic),
        };
        let timestamp = record.timestamp.unwrap_or_else(|| unix_millis(now));
        let id = RecordId(self.next_record_id);
        if self.acc.topics[topic as usize].is_known() {
            match self.place(topic, id, timestamp, record, reserved, now) {
                Ok(true) => self.quiet_until = None,
                Ok(false) => {}
                Err((kind, record)) => return refuse(kind, record),
            }
        } else {
            self.acc.park(
                topic,
                Waiting {
                    id,
                    timestamp,
                    record,
                    reserved,
                    accepted: now,
                },
                now,
            );
            self.meta.invalidate();
            self.quiet_until = None;
        }
        self.next_record_id += 1;
        self.metrics.record_sent(1);
        Ok(id)
    }

    /// Sends every buffered record without waiting for `linger.ms`, until
    /// nothing is pending. Drive the producer until
    /// [`Producer::pending_records`] is zero to wait for it.
    pub fn flush(&mut self, now: Instant) {
        self.quiet_until = None;
        self.last_now = self.last_now.max(now);
        self.flushing = true;
        self.maintain(now);
    }

    /// Stops accepting records and drains the rest: each pending record
    /// still ends in `Delivered` or, at its delivery deadline, `Failed`.
    /// Then every connection is closed and [`Event::Closed`] comes last.
    pub fn close(&mut self, now: Instant) {
        self.quiet_until = None;
        self.last_now = self.last_now.max(now);
        if self.state == State::Running {
            self.state = State::Closing;
        }
        self.close_requested = true;
        self.flushing = true;
        self.maintain(now);
    }

    /// Records accepted and not yet terminal.
    pub fn pending_records(&self) -> usize {
        let in_flight: usize = self
            .conns
            .values()
            .flat_map(|c| c.in_flight.iter())
            .map(|f| match &f.purpose {
                Purpose::Produce { batches } => batches.iter().map(|b| b.records.len()).sum(),
                _ => 0,
            })
            .sum();
        let queued: usize = self
            .acc
            .topics
            .iter()
            .map(|t| {
                t.waiting.len()
                    + t.partitions
                        .iter()
                        .flat_map(|p| p.queue.iter())
                        .map(|b| b.records.len())
                        .sum::<usize>()
            })
            .sum();
        in_flight + queued
    }

    /// The producer id and epoch of an idempotent producer, once it has
    /// them: a bump changes the epoch, and a broker that will not bump
    /// gives a new id.
    pub fn producer_id(&self) -> Option<(i64, i16)> {
        (self.identity.id >= 0).then_some((self.identity.id, self.identity.epoch))
    }

    /// Counters and gauges under Kafka's metric names.
    pub fn metrics(&self) -> Metrics {
        let in_flight = self
            .conns
            .values()
            .map(|c| c.requests_in_flight() as u64)
            .sum();
        self.metrics.snapshot(
            in_flight,
            self.acc.available() as u64,
            self.acc.limit as u64,
        )
    }

    // ---- Network inputs ----------------------------------------------------

    /// The driver opened connection `conn`, which an [`Event::Connect`]
    /// asked for.
    pub fn handle_connected(&mut self, conn: ConnectionId, now: Instant) {
        self.quiet_until = None;
        self.last_now = self.last_now.max(now);
        if let Some(c) = self.conns.get_mut(&conn)
            && matches!(c.phase, Phase::Connecting { .. })
        {
            c.phase = Phase::Negotiating {
                version:
                    <crate::wire::messages::ApiVersionsRequest as crate::wire::Message>::MAX_VERSION,
                sent: false,
            };
        }
        self.maintain(now);
    }

    /// Connection `conn` closed, or could not be opened.
    pub fn handle_disconnected(&mut self, conn: ConnectionId, now: Instant) {
        self.quiet_until = None;
        self.last_now = self.last_now.max(now);
        self.close_connection(conn, CloseCause::Peer, now);
        self.maintain(now);
    }

    /// Bytes arrived on `conn`, cut anywhere: one byte at a time works.
    pub fn handle_response(&mut self, conn: ConnectionId, bytes: &[u8], now: Instant) {
        self.quiet_until = None;
        self.last_now = self.last_now.max(now);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.receive(bytes);
        while let Some(c) = self.conns.get_mut(&conn) {
            match c.next_response() {
                Ok(Some((request, frame))) => self.dispatch(conn, request, frame, now),
                Ok(None) => break,
                Err(_) => {
                    self.close_connection(conn, CloseCause::Protocol, now);
                    break;
                }
            }
        }
        self.maintain(now);
    }

    /// Time passed: deadlines, linger, backoffs. Calling it early or often
    /// is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.quiet_until = None;
        self.last_now = self.last_now.max(now);
        self.maintain(now);
    }

    // ---- Outputs -----------------------------------------------------------

    /// The next event, if any. Drain after every input.
    pub fn poll_event(&mut self) -> Option<Event<T>> {
        self.events.pop_front()
    }

    /// The next bytes to write, if any. Drain after every input.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.last_now = self.last_now.max(now);
        if self.quiet_until.is_some_and(|q| now < q) {
            return None;
        }
        self.maintain(now);
        let transmit = self.next_transmit(now);
        if transmit.is_none() {
            self.quiet_until = Some(self.next_due().unwrap_or(Instant::from_nanos(u64::MAX)));
        }
        transmit
    }

    /// When [`Producer::handle_timeout`] must be called next, if ever. It
    /// is the last `now` seen while output is pending, so a driver that
    /// waits until then never sleeps on work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_wakeup()
    }

    // ---- Internals shared by the parts -------------------------------------

    /// Places a record on a partition of a topic whose metadata is known.
    pub(crate) fn place(
        &mut self,
        topic: u32,
        id: RecordId,
        timestamp: i64,
        record: Record<T>,
        reserved: usize,
        now: Instant,
    ) -> Result<bool, (SendErrorKind, Record<T>)> {
        let mut stirred = false;
        let t = &self.acc.topics[topic as usize];
        let count = t.partitions.len() as u32;
        let sticky =
            record.partition.is_none() && (record.key.is_none() || self.partitioner.ignore_keys());
        if sticky
            && let Some(current) = self.partitioner.sticky_mut().current(&t.name)
            && self.acc.fills(topic, current, reserved)
        {
            // Like the Java client (KIP-480), the record that would open a
            // new batch on the sticky partition goes to the next partition
            // instead, so batches fill one at a time.
            self.acc.seal(topic, current);
            stirred = true;
            let t = &self.acc.topics[topic as usize];
            self.partitioner
                .on_batch_full(&t.name, current, &t.available, count, &mut self.rng);
        }
        let t = &self.acc.topics[topic as usize];
        let partition = self.partitioner.choose(
            &t.name,
            record.partition,
            record.key.as_deref(),
            &t.available,
            count,
            &mut self.rng,
        );
        let partition = match partition {
            Some(p) if p >= 0 && (p as u32) < count => p,
            other => {
                let partition = other.unwrap_or(-1);
                return Err((
                    SendErrorKind::InvalidPartition {
                        partition,
                        partitions: count,
                    },
                    record,
                ));
            }
        };
        match self
            .acc
            .append(topic, partition, id, timestamp, record, reserved, now)
        {
            Ok(appended) => {
                stirred |= appended.opened || appended.batch_full;
                if appended.batch_full {
                    let t = &self.acc.topics[topic as usize];
                    self.partitioner.on_batch_full(
                        &t.name,
                        partition,
                        &t.available,
                        count,
                        &mut self.rng,
                    );
                }
                Ok(stirred)
            }
            Err(record) => Err((
                SendErrorKind::InvalidPartition {
                    partition,
                    partitions: count,
                },
                record,
            )),
        }
    }

    /// Fails a whole batch, handing every record back.
    pub(crate) fn fail_batch(&mut self, batch: Batch<T>, error: ProduceError) {
        self.acc.release(batch.reserved);
        let name = self
            .acc
            .topics
            .get(batch.topic as usize)
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let records = batch.into_records(&name);
        self.metrics.records_failed(records.len() as u64);
        for (id, record) in records {
            self.events.push_back(Event::Failed {
                id,
                record: alloc::boxed::Box::new(record),
                error: error.clone(),
            });
        }
    }

    /// Enters the fatal state: everything pending fails, connections close.
    pub(crate) fn enter_fatal(&mut self, error: FatalError, now: Instant) {
        if matches!(self.state, State::Fatal(_) | State::Closed) {
            return;
        }
        self.state = State::Fatal(error.clone());
        let ids: Vec<ConnectionId> = self.conns.keys().copied().collect();
        for id in ids {
            self.close_connection(id, CloseCause::Done, now);
        }
        self.fail_all_pending(ProduceError::Fatal(error));
    }

    /// Fails every record not in flight, handing each back with `failure`.
    pub(crate) fn fail_all_pending(&mut self, failure: ProduceError) {
        for t in 0..self.acc.topics.len() {
            let waiting: Vec<Waiting<T>> = self.acc.topics[t].waiting.drain(..).collect();
            for w in waiting {
                self.fail_waiting(w, failure.clone());
            }
            for p in 0..self.acc.topics[t].partitions.len() {
                let batches: Vec<Batch<T>> =
                    self.acc.topics[t].partitions[p].queue.drain(..).collect();
                for b in batches {
                    self.fail_batch(b, failure.clone());
                }
            }
        }
    }

    pub(crate) fn fail_waiting(&mut self, w: Waiting<T>, error: ProduceError) {
        self.acc.release(w.reserved);
        self.metrics.records_failed(1);
        let mut record = w.record;
        record.timestamp = Some(w.timestamp);
        self.events.push_back(Event::Failed {
            id: w.id,
            record: alloc::boxed::Box::new(record),
            error,
        });
    }

    /// Asks the driver for a connection to `node` unless one exists or
    /// its reconnect backoff is running.
    pub(crate) fn connect(&mut self, node: i32, now: Instant) {
        let Some(b) = self.meta.brokers.get_mut(&node) else {
            return;
        };
        if b.conn.is_some() || b.reconnect_at > now {
            return;
        }
        let id = ConnectionId(self.next_conn);
        self.next_conn += 1;
        b.conn = Some(id);
        let conn = Connection::new(
            id,
            node,
            now,
            self.config.socket_connection_setup_timeout(),
            self.config.receive_message_max_bytes(),
        );
        self.conns.insert(id, conn);
        self.metrics.connection_created();
        self.events.push_back(Event::Connect {
            conn: id,
            host: b.host.clone(),
            port: b.port,
        });
    }

    /// Forgets a connection; its in-flight batches go back for a retry.
    pub(crate) fn close_connection(&mut self, id: ConnectionId, cause: CloseCause, now: Instant) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        self.metrics.connection_closed();
        if cause != CloseCause::Peer {
            self.events.push_back(Event::Disconnect { conn: id });
        }
        if let Some(b) = self.meta.brokers.get_mut(&conn.node)
            && b.conn == Some(id)
        {
            b.conn = None;
            if cause != CloseCause::Done {
                let delay = self.reconnect_backoff.delay(b.failures, &mut self.rng);
                b.failures = b.failures.saturating_add(1);
                b.reconnect_at = now + delay;
            }
        }
        if self.meta.in_flight == Some(id) {
            self.meta.failed(now);
        }
        if cause != CloseCause::Done {
            // The leader may have moved; whatever the reason, look again.
            self.meta.invalidate();
        }
        let code = if cause == CloseCause::Timeout {
            KafkaCode::RequestTimedOut
        } else {
            KafkaCode::NetworkException
        };
        for request in conn.in_flight {
            match request.purpose {
                Purpose::Produce { batches } => {
                    for mut batch in batches {
                        self.finish_in_flight(&batch);
                        // No answer came: the broker may have written it.
                        batch.maybe_written = true;
                        self.retry_or_fail(batch, code, None, now);
                    }
                }
                Purpose::InitProducerId => self.identity.on(IdInput::Retry { retry_at: now }),
                Purpose::ApiVersions | Purpose::Metadata => {}
            }
        }
    }

    /// The earliest instant at which something is due.
    fn next_wakeup(&self) -> Option<Instant> {
        if !self.events.is_empty() {
            return Some(self.last_now);
        }
        self.next_due()
    }

    /// The earliest instant at which time alone makes something due.
    fn next_due(&self) -> Option<Instant> {
        // Mirrors `maintain`: a closed producer does nothing ever again.
        if self.state == State::Closed {
            return None;
        }
        let now = self.last_now;
        let mut at: Option<Instant> = None;
        let mut consider = |t: Instant| at = Some(at.map_or(t, |a| a.min(t)));
        for c in self.conns.values() {
            if let Some(d) = c.deadline() {
                consider(d);
            }
            if matches!(c.phase, Phase::Negotiating { sent: false, .. }) {
                consider(now);
            }
        }
        let linger = self.config.linger();
        let missing = self.acc.topics.iter().any(|t| !t.waiting.is_empty());
        // When some connection can carry a request: now, or when the
        // throttle a broker asked for runs out (which nothing else wakes).
        let max = self.config.max_in_flight_requests_per_connection();
        let usable = self
            .conns
            .values()
            .filter(|c| c.is_ready() && c.requests_in_flight() < max)
            .map(|c| c.throttled_until.max(now))
            .min();
        // A fatal producer opens no connection (`plan_connections`), so
        // metadata coming due wakes nothing.
        let fatal = matches!(self.state, State::Fatal(_));
        if let Some(due) = self
            .meta
            .due_at(missing)
            .filter(|_| !self.acc.topics.is_empty() && !fatal)
        {
            if self.conns.is_empty() {
                // A connection must be opened first, once a broker's
                // reconnect backoff allows.
                let connectable = self.meta.brokers.values().map(|b| b.reconnect_at).min();
                if let Some(at) = connectable {
                    consider(due.max(at).max(now));
                }
            } else if let Some(usable) = usable {
                consider(due.max(usable));
            }
            // Otherwise a connection is on its way; its setup deadline or
            // an input wakes us.
        }
        for t in &self.acc.topics {
            if let Some(w) = t.waiting.front() {
                consider(w.accepted + self.config.max_block().min(self.config.delivery_timeout()));
            }
            for p in &t.partitions {
                let Some(b) = p.queue.front() else { continue };
                consider(b.deadline);
                let ready_at = if b.sealed || self.flushing {
                    b.created
                } else {
                    b.created + linger
                }
                .max(b.retry_at);
                let sendable = self
                    .meta
                    .brokers
                    .get(&p.leader)
                    .and_then(|br| br.conn)
                    .and_then(|c| self.conns.get(&c));
                // An idempotent partition held back by its sequence rules,
                // or a producer without a usable id, waits for an answer,
                // not for time.
                let held = self.config.enable_idempotence()
                    && (!self.identity.ready()
                        || !crate::idempotence::may_send_next(
                            p,
                            p.leader,
                            (self.identity.id, self.identity.epoch),
                        ));
                match sendable {
                    Some(_) if held => {}
                    Some(c) if c.is_ready() => {
                        let capacity = c.requests_in_flight()
                            < self.config.max_in_flight_requests_per_connection();
                        if capacity {
                            consider(ready_at.max(c.throttled_until));
                        }
                    }
                    Some(_) => {}
                    None => {
                        if let Some(br) = self.meta.brokers.get(&p.leader) {
                            consider(br.reconnect_at.max(now));
                        }
                    }
                }
            }
        }
        if self.config.enable_idempotence() && !self.acc.topics.is_empty() {
            // Only a connection that can take a request can carry the
            // InitProducerId; without one an answer will wake us.
            match (self.identity.state, usable) {
                (IdState::Uninitialized { not_before }, Some(at)) => consider(not_before.max(at)),
                (IdState::BumpPending, Some(at)) if self.produce_in_flight() == 0 => consider(at),
                _ => {}
            }
        }
        if self.close_requested && self.state != State::Closed && self.acc.is_empty() {
            consider(now);
        }
        at
    }
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, and not `.`
/// or `..`.
fn validate_topic(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty");
    }
    if name == "." || name == ".." {
        return Err("'.' and '..' are not allowed");
    }
    if name.len() > 249 {
        return Err("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Milliseconds since the origin of the `Instant` scale: a CreateTime when
/// the driver measures time from the Unix epoch, as the provided ones do.
pub(crate) fn unix_millis(now: Instant) -> i64 {
    i64::try_from(now.as_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The duration as whole milliseconds, for request fields.
pub(crate) fn millis_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
