//! [`Producer`]: the public API, and the one place that sees every part.
//! It takes every input, routes it to the part that owns the concept (the
//! accumulator in `batch`, metadata and connections in `cluster`, the
//! producer id and sequences in `idempotence`, the partitioner) and hands
//! out what they produce. The files of this module are its glue: building
//! requests (`drain`), applying responses (`dispatch`, `idempotent`), the
//! fate of batches (`outcome`), connections (`connections`) and deadlines
//! (`housekeeping`).

mod abort;
mod authentication;
mod connections;
mod dispatch;
mod drain;
mod housekeeping;
mod idempotent;
mod negotiated;
mod oauthbearer;
mod outcome;
mod rebootstrap;
mod transactional;

use alloc::collections::{BTreeMap, VecDeque};
use bytes::BytesMut;

use crate::batch::{Accumulator, Waiting};
use crate::cluster::{Connection, Metadata};
use crate::config::Config;
use crate::error::{FatalError, SendError, SendErrorKind};
use crate::event::{ConnectionId, Event, Transmit};
use crate::idempotence::Identity;
use crate::metrics::{Metrics, MetricsRecorder};
use crate::partitioner::Partitioner;
use crate::record::{Record, RecordId};
use crate::retry::Backoff;
use crate::rng::Rng;
use crate::time::{Instant, unix_millis};
use crate::transaction::TransactionManager;
use crate::wire::record_batch::{BATCH_HEADER_SIZE, record_size};

/// The producer's own lifecycle. Transitions happen only in
/// [`Producer::close`], [`Producer::enter_fatal`] and
/// [`Producer::maintain`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
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
enum CloseCause {
    /// The driver reported it closed (no `Disconnect` event needed).
    Peer,
    /// A request or the setup timed out.
    Timeout,
    /// The broker sent bytes that break the protocol.
    Protocol,
    /// The producer is done with it.
    Done,
    /// The broker would not authenticate us (SASL).
    Authentication,
}

/// A sans-IO Kafka producer; see the [crate docs](crate) for the call
/// order.
///
/// `T` is the application's per-record value, handed back in each record's
/// terminal event.
#[derive(Debug)]
pub struct Producer<T = ()> {
    config: Config,
    rng: Rng,
    acc: Accumulator<T>,
    meta: Metadata,
    conns: BTreeMap<ConnectionId, Connection<T>>,
    next_conn: u64,
    events: VecDeque<Event<T>>,
    metrics: MetricsRecorder,
    /// Keyed by topic index: no name compared per record.
    partitioner: Partitioner<u32>,
    retry_backoff: Backoff,
    reconnect_backoff: Backoff,
    next_record_id: u64,
    state: State,
    flushing: bool,
    /// `close` was called (also in the fatal state, which keeps its state).
    close_requested: bool,
    last_now: Instant,
    scratch: BytesMut,
    /// Round-robin start for serving connections, so one busy broker does
    /// not starve the others.
    serve_after: Option<ConnectionId>,
    /// The producer id and epoch (`enable.idempotence`).
    identity: Identity,
    /// `poll_transmit` has nothing to send before this instant, unless an
    /// input changes something (`None`: not known). Inputs clear it; a
    /// `send` that only adds a record to an open batch leaves it, which is
    /// what keeps draining after every `send` cheap.
    quiet_until: Option<Instant>,
    /// The transaction manager, for a producer with a `transactional.id`.
    txn: Option<TransactionManager>,
    /// SASL beyond single connections: tokens, failures, SCRAM's cache.
    sasl: authentication::SaslState,
}

impl<T> Producer<T> {
    /// A producer with this configuration, starting at `now`. It connects
    /// to nothing until there is something to do.
    pub fn new(config: Config, now: Instant) -> Producer<T> {
        let mut acc = Accumulator::new(
            config.buffer_memory(),
            config.batch_size(),
            config.delivery_timeout(),
        )
        .with_codec(config.make_codec());
        acc.transactional = config.transactional_id().is_some();
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
            txn: config.transactional_id().map(|id| {
                TransactionManager::new(id, config.transaction_timeout(), config.retry_backoff())
            }),
            sasl: authentication::SaslState::default(),
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
        if let Some(e) = self.transaction_refuses_send() {
            return refuse(SendErrorKind::Transaction(e), record);
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
                Ok(Placed::Appended) => {}
                Ok(Placed::Opened { partition }) => self.batch_opened(topic, partition, now),
                Ok(Placed::Ready) => self.quiet_until = None,
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
        self.transaction_close(now);
        self.flushing = true;
        self.maintain(now);
    }

    /// Records accepted and not yet terminal.
    pub fn pending_records(&self) -> usize {
        let in_flight: usize = self.conns.values().map(|c| c.records_in_flight()).sum();
        in_flight + self.acc.queued_records()
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
        if let Some(c) = self.conns.get_mut(&conn) {
            c.opened();
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
        // After a drain found nothing to send, `quiet_until` is what
        // `next_due` said then, and stays true until an input changes
        // something (which clears it): no need to walk every partition
        // again, as drivers ask after each send.
        match self.quiet_until {
            Some(q) if self.events.is_empty() => (q != Instant::from_nanos(u64::MAX)).then_some(q),
            _ => self.next_wakeup(),
        }
    }
    // ---- Glue shared by the files of this module --------------------------

    /// A record opened a batch that is not ready yet. When its leader has
    /// a connection, nothing is due before the batch's linger runs out, so
    /// `quiet_until` moves no later than that instead of being cleared:
    /// clearing it walked every partition on the next `poll_transmit` (at
    /// 1,000 partitions and keyed records, most of the cost of a `send`).
    /// Otherwise (a connection to open, a flush, a transaction's partition
    /// to add) the next poll looks at everything.
    fn batch_opened(&mut self, topic: u32, partition: i32, now: Instant) {
        let leader = self
            .acc
            .topics
            .get(topic as usize)
            .and_then(|t| t.partitions.get(partition as usize))
            .map_or(-1, |p| p.leader);
        let connected = self
            .meta
            .brokers
            .get(&leader)
            .is_some_and(|b| b.conn.is_some());
        self.quiet_until = match self.quiet_until {
            Some(q) if connected && !self.flushing && self.txn.is_none() => {
                Some(q.min(now + self.config.linger()))
            }
            _ => None,
        };
    }

    /// Places a record on a partition of a topic whose metadata is known.
    fn place(
        &mut self,
        topic: u32,
        id: RecordId,
        timestamp: i64,
        record: Record<T>,
        reserved: usize,
        now: Instant,
    ) -> Result<Placed, (SendErrorKind, Record<T>)> {
        let mut stirred = false;
        let t = &self.acc.topics[topic as usize];
        let count = t.partitions.len() as u32;
        let sticky =
            record.partition.is_none() && (record.key.is_none() || self.partitioner.ignore_keys());
        if sticky
            && let Some(current) = self.partitioner.sticky_mut().current(&topic)
            && self.acc.fills(topic, current, reserved)
        {
            // Like the Java client (KIP-480), the record that would open a
            // new batch on the sticky partition goes to the next partition
            // instead, so batches fill one at a time.
            self.acc.seal(topic, current);
            stirred = true;
            let t = &self.acc.topics[topic as usize];
            self.partitioner
                .on_batch_full(&topic, current, &t.available, count, &mut self.rng);
        }
        let t = &self.acc.topics[topic as usize];
        let partition = self.partitioner.choose(
            &topic,
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
                self.transaction_placed(topic, partition, now);
                stirred |= appended.batch_full;
                if appended.batch_full {
                    let t = &self.acc.topics[topic as usize];
                    self.partitioner.on_batch_full(
                        &topic,
                        partition,
                        &t.available,
                        count,
                        &mut self.rng,
                    );
                }
                Ok(if stirred {
                    Placed::Ready
                } else if appended.opened {
                    Placed::Opened { partition }
                } else {
                    Placed::Appended
                })
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
}

/// What placing a record changed for [`Producer::poll_transmit`].
enum Placed {
    /// The record joined an open batch: nothing is due sooner.
    Appended,
    /// The record opened a batch on `partition`, due after its linger.
    Opened { partition: i32 },
    /// A batch became ready to send now (full, or sealed by the sticky
    /// partitioner moving on).
    Ready,
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
