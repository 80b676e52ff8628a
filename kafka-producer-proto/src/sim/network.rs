//! A driver that runs a real [`Producer`] against a [`SimCluster`] over a
//! simulated network in virtual time: the producer's bytes travel to the
//! cluster's request handler, its answers travel back, each after a
//! latency, and time jumps straight to the next thing due, so minutes of
//! producer life take milliseconds and replay exactly.
//!
//! Invariants the network keeps, as TCP would:
//! - bytes on one connection arrive in the order they were sent, in each
//!   direction, whatever latency each delivery drew;
//! - nothing arrives on a connection after it closed, from either side;
//! - the producer hears of a connection the network broke exactly once,
//!   and not at all if it closed that connection first.
//!
//! Faults come from [`NetFaults`] at set rates, drawn from one
//! [`Entropy`], and are counted in [`SimNet::tally`].

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use bytes::Bytes;
use core::time::Duration;

use super::attempts::{AttemptLog, RequestTap};
use super::cluster::SimCluster;
use super::entropy::Entropy;
use super::faults::{FaultTally, NetFaults};
use super::sasl::{SaslFaults, SimReply, SimSession};
use crate::event::{ConnectionId, Event};
use crate::kafka_code::KafkaCode;
use crate::producer::Producer;
use crate::time::Instant;
use crate::wire::{ApiKey, FrameDecoder};

#[derive(Debug)]
struct SimConn {
    node: i32,
    /// The broker's side: request bytes arrive here.
    requests: FrameDecoder,
    /// What the producer sent, read as it leaves (for the attempt log).
    tap: RequestTap,
    /// The last delivery time scheduled towards the broker and towards
    /// the producer: later deliveries never overtake them.
    last_to_broker: Instant,
    last_to_client: Instant,
    /// The broker's SASL state for it.
    session: SimSession,
}

/// What happens on the simulated network, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Delivery {
    Connected(ConnectionId),
    Refused(ConnectionId),
    /// Request bytes reach the broker.
    ToBroker(ConnectionId, Bytes),
    /// Answer bytes reach the producer.
    ToClient(ConnectionId, Bytes),
    /// The producer learns that the network broke the connection.
    Broken(ConnectionId),
}

/// The producer, the cluster and the network between them.
#[derive(Debug)]
pub struct SimNet<T> {
    /// The producer under test.
    pub producer: Producer<T>,
    /// The cluster it talks to.
    pub cluster: SimCluster,
    /// Virtual time.
    pub now: Instant,
    /// Fault rates and latencies (a perfect network with 1 ms latency by
    /// default).
    pub faults: NetFaults,
    /// Where fault decisions come from.
    pub entropy: Entropy,
    /// Faults injected so far.
    pub tally: FaultTally,
    /// Faults of SASL exchanges (on a cluster with [`SimCluster::sasl`]).
    pub sasl_faults: SaslFaults,
    /// Answer the producer's `OAuthBearerTokenRequired` with a token the
    /// SASL cluster issues (default); otherwise the event is kept in
    /// `events` for the test to answer.
    pub issue_tokens: bool,
    /// Brokers that refuse connections (and whose connections drop).
    pub down: BTreeSet<i32>,
    /// Brokers that take requests but never answer (a hung broker).
    pub mute: BTreeSet<i32>,
    /// This many of the next answers are lost after the cluster applied
    /// their requests ("possibly persisted").
    pub lose_answers: usize,
    /// Terminal events seen so far (`Delivered`, `Failed`, `Closed`).
    pub events: Vec<Event<T>>,
    /// When each of `events` came, index for index.
    pub event_times: Vec<Instant>,
    /// Connections the producer asked for, with when.
    pub connects: Vec<(Instant, i32)>,
    /// Every request the cluster received: when, which broker, which API.
    pub requests: Vec<(Instant, i32, ApiKey)>,
    /// Every batch the producer sent, as it left.
    pub attempts: AttemptLog,
    conns: BTreeMap<ConnectionId, SimConn>,
    /// Connections the network broke whose notice is still on its way.
    breaking: BTreeSet<ConnectionId>,
    queue: BTreeMap<(Instant, u64), Delivery>,
    next_seq: u64,
    /// Steps in a row in which time did not move and nothing happened.
    idle_steps: u32,
}

impl<T> SimNet<T> {
    /// Starts the simulation at `now`, on a perfect network with 1 ms
    /// latency and seed 0.
    pub fn new(producer: Producer<T>, cluster: SimCluster, now: Instant) -> SimNet<T> {
        SimNet {
            producer,
            cluster,
            now,
            faults: NetFaults::default(),
            entropy: Entropy::seeded(0),
            tally: FaultTally::default(),
            sasl_faults: SaslFaults::default(),
            issue_tokens: true,
            down: BTreeSet::new(),
            mute: BTreeSet::new(),
            lose_answers: 0,
            events: Vec::new(),
            event_times: Vec::new(),
            connects: Vec::new(),
            requests: Vec::new(),
            attempts: AttemptLog::default(),
            conns: BTreeMap::new(),
            breaking: BTreeSet::new(),
            queue: BTreeMap::new(),
            next_seq: 0,
            idle_steps: 0,
        }
    }

    fn schedule(&mut self, at: Instant, what: Delivery) {
        self.next_seq += 1;
        self.queue.insert((at, self.next_seq), what);
    }

    fn latency(&mut self) -> Duration {
        let l = self.faults.latency;
        let d = l.sample(&mut self.entropy);
        if d > l.base + l.jitter {
            self.tally.spikes += 1;
        }
        d
    }

    /// Forgets a connection and everything still travelling on it.
    fn forget(&mut self, conn: ConnectionId) {
        self.conns.remove(&conn);
        self.queue.retain(|_, d| match d {
            Delivery::ToBroker(c, _) | Delivery::ToClient(c, _) => *c != conn,
            _ => true,
        });
    }

    /// The network breaks `conn`; the producer hears of it after a latency.
    fn break_conn(&mut self, conn: ConnectionId) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.forget(conn);
        self.breaking.insert(conn);
        let at = self.now + self.latency();
        self.schedule(at, Delivery::Broken(conn));
    }

    /// Drains the producer's output at the current time.
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.producer.poll_transmit(self.now) {
                progressed = true;
                self.on_transmit(t.conn, t.data);
            }
            while let Some(e) = self.producer.poll_event() {
                progressed = true;
                match e {
                    Event::Connect { conn, host, port } => {
                        let at = self.now + self.latency();
                        let node = self.cluster.node_at(&host, port);
                        self.connects.push((self.now, node.unwrap_or(-1)));
                        match node.filter(|n| !self.down.contains(n)) {
                            Some(node) => {
                                self.conns.insert(
                                    conn,
                                    SimConn {
                                        node,
                                        requests: FrameDecoder::default(),
                                        tap: RequestTap::default(),
                                        last_to_broker: at,
                                        last_to_client: at,
                                        session: SimSession::default(),
                                    },
                                );
                                self.schedule(at, Delivery::Connected(conn));
                            }
                            None => self.schedule(at, Delivery::Refused(conn)),
                        }
                    }
                    Event::Disconnect { conn } => {
                        self.forget(conn);
                        self.breaking.remove(&conn);
                        self.attempts.closed(conn);
                    }
                    Event::OAuthBearerTokenRequired
                        if self.issue_tokens && self.cluster.sasl.is_some() =>
                    {
                        // The application's part: a fresh token from the
                        // cluster's identity provider, at once.
                        if let Some(sasl) = self.cluster.sasl.as_mut() {
                            let token = sasl.issue_token(self.now);
                            let _ = self.producer.set_oauthbearer_token(token, self.now);
                        }
                    }
                    other => {
                        self.events.push(other);
                        self.event_times.push(self.now);
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// The producer wrote `data` on `conn`: it travels to the broker.
    fn on_transmit(&mut self, conn: ConnectionId, data: Bytes) {
        let now = self.now;
        let latency = self.latency();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.tap.sent(conn, &data, now, &mut self.attempts);
        let at = (now + latency).max(c.last_to_broker);
        c.last_to_broker = at;
        self.schedule(at, Delivery::ToBroker(conn, data));
    }

    /// Request bytes reached the broker: it applies each whole request,
    /// unless a fault strikes first, and sends its answers back.
    fn on_request_bytes(&mut self, conn: ConnectionId, data: Bytes) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let node = c.node;
        c.requests.push(&data);
        let mut frames = Vec::new();
        while let Ok(Some(frame)) = c.requests.next_frame() {
            frames.push(frame);
        }
        for frame in frames {
            if !self.conns.contains_key(&conn) {
                return;
            }
            let api = super::cluster::request_api(&frame);
            if let Some(api) = api {
                self.requests.push((self.now, node, api));
            }
            if self.mute.contains(&node) {
                continue;
            }
            let sasl = matches!(api, Some(ApiKey::SaslHandshake | ApiKey::SaslAuthenticate));
            if sasl && self.entropy.chance(self.sasl_faults.drop) {
                self.tally.handshakes_dropped += 1;
                self.break_conn(conn);
                return;
            }
            if api == Some(ApiKey::SaslAuthenticate) && self.entropy.chance(self.sasl_faults.refuse)
            {
                self.tally.auth_refused += 1;
                self.cluster.inject_next(
                    ApiKey::SaslAuthenticate,
                    KafkaCode::SaslAuthenticationFailed,
                );
            }
            if self.entropy.chance(self.faults.drop_before_apply) {
                self.tally.dropped_before_apply += 1;
                self.break_conn(conn);
                return;
            }
            if let Some(api) = api
                && self.entropy.chance(self.faults.error)
                && let Some(code) = self.faults.pick_error(api, &mut self.entropy)
            {
                self.tally.errors += 1;
                if sasl {
                    self.tally.auth_refused += 1;
                }
                self.cluster.inject_next(api, code);
            }
            let throttled = api == Some(ApiKey::Produce)
                && !self.faults.max_throttle.is_zero()
                && self.entropy.chance(self.faults.throttle);
            let plain_throttle = self.cluster.throttle_ms;
            if throttled {
                let max = u64::try_from(self.faults.max_throttle.as_millis()).unwrap_or(0);
                self.cluster.throttle_ms = i32::try_from(self.entropy.between(1, max)).unwrap_or(0);
                self.tally.throttled += 1;
            }
            let now = self.now;
            let Some(session) = self.conns.get_mut(&conn).map(|c| &mut c.session) else {
                return;
            };
            let answer = self.cluster.handle_session(node, session, frame, now);
            self.cluster.throttle_ms = plain_throttle;
            if self.entropy.chance(self.faults.drop_after_apply) {
                self.tally.dropped_after_apply += 1;
                self.break_conn(conn);
                return;
            }
            let answer = match answer {
                SimReply::Answer(answer) => answer,
                SimReply::Nothing => continue,
                SimReply::Close => {
                    self.break_conn(conn);
                    return;
                }
            };
            if self.lose_answers > 0 {
                self.lose_answers -= 1;
                continue;
            }
            if self.entropy.chance(self.faults.lose_answer) {
                self.tally.answers_lost += 1;
                continue;
            }
            let extra = if sasl {
                self.sasl_faults.delay(&mut self.entropy)
            } else {
                None
            };
            if extra.is_some() {
                self.tally.slow_handshakes += 1;
            }
            self.send_answer(conn, answer, extra.unwrap_or_default());
        }
    }

    /// Schedules an answer towards the producer, whole or in pieces.
    fn send_answer(&mut self, conn: ConnectionId, answer: Bytes, extra: Duration) {
        let latency = self.latency() + extra;
        let (chunk, gap) = (self.faults.chunk, self.faults.slow_read);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut at = (self.now + latency).max(c.last_to_client);
        let pieces: Vec<Bytes> = if chunk == 0 || chunk >= answer.len() {
            alloc::vec![answer]
        } else {
            self.tally.chunked += 1;
            (0..answer.len())
                .step_by(chunk)
                .map(|i| answer.slice(i..(i + chunk).min(answer.len())))
                .collect()
        };
        let last = pieces.len() - 1;
        let mut times = Vec::with_capacity(pieces.len());
        for i in 0..=last {
            times.push(at);
            if i < last {
                at += gap;
            }
        }
        c.last_to_client = at;
        for (piece, t) in pieces.into_iter().zip(times) {
            self.schedule(t, Delivery::ToClient(conn, piece));
        }
    }

    /// Takes down a broker: its connections drop, new ones are refused.
    /// It keeps its state (an outage, not a restart).
    pub fn broker_down(&mut self, node: i32) {
        self.down.insert(node);
        let dropped: Vec<ConnectionId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.node == node)
            .map(|(id, _)| *id)
            .collect();
        for conn in dropped {
            self.break_conn(conn);
        }
        self.drain();
    }

    /// Restarts a broker that loses its producer state on the way (no
    /// snapshot survived): its connections drop now, it is down until
    /// [`broker_up`](SimNet::broker_up).
    pub fn broker_restart(&mut self, node: i32) {
        self.broker_down(node);
        self.cluster.forget_producers_on(node);
    }

    /// Brings a broker back.
    pub fn broker_up(&mut self, node: i32) {
        self.down.remove(&node);
    }

    /// When this network next has something to do (a delivery, the
    /// producer's timer), not counting the cluster's own clock: for a
    /// driver that runs several networks against one cluster in time order.
    pub fn next_at(&self) -> Option<Instant> {
        let next_net = self.queue.first_key_value().map(|((t, _), _)| *t);
        match (next_net, self.producer.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How many deliveries are on their way (bounded-memory checks).
    pub fn in_transit(&self) -> usize {
        self.queue.len()
    }

    /// Advances to the next thing due and handles it. Returns `false` when
    /// nothing is left to happen, ever.
    ///
    /// # Panics
    ///
    /// When the producer busy-loops: its `poll_timeout` keeps asking to be
    /// woken now while waking it changes nothing. A driver would spin a
    /// core; that is a producer bug, reported here with the time it began.
    pub fn step(&mut self) -> bool {
        self.step_within(None)
    }

    /// As [`step`](SimNet::step), but only if the next thing due comes by
    /// `limit`: never past it, so that several networks sharing one
    /// cluster keep one time order. Returns whether it stepped.
    pub fn step_before(&mut self, limit: Instant) -> bool {
        self.step_within(Some(limit))
    }

    fn step_within(&mut self, limit: Option<Instant>) -> bool {
        self.drain();
        // The cluster's own clock (markers, transaction timeouts) counts
        // as network work: it happens whether or not the producer waits.
        let next_net = self.queue.first_key_value().map(|((t, _), _)| *t);
        let next_net = match (next_net, self.cluster.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let next_timer = self.producer.poll_timeout();
        let next = match (next_net, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        if limit.is_some_and(|l| next > l) {
            return false;
        }
        if next <= self.now && next_net.is_none_or(|t| t > self.now) {
            self.idle_steps += 1;
            assert!(
                self.idle_steps < 10_000,
                "producer busy-loops at {:?}: poll_timeout is now, nothing is due",
                self.now
            );
        } else {
            self.idle_steps = 0;
        }
        self.now = self.now.max(next);
        self.cluster.advance(self.now);
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            match entry.remove() {
                Delivery::Connected(c) => self.producer.handle_connected(c, self.now),
                Delivery::Refused(c) => {
                    self.conns.remove(&c);
                    self.producer.handle_disconnected(c, self.now);
                }
                Delivery::ToBroker(c, b) => self.on_request_bytes(c, b),
                Delivery::ToClient(c, b) => {
                    if self.conns.contains_key(&c) {
                        self.attempts.answer_bytes(c, &b, self.now);
                        self.producer.handle_response(c, &b, self.now);
                    }
                }
                Delivery::Broken(c) => {
                    if self.breaking.remove(&c) {
                        self.attempts.closed(c);
                        self.producer.handle_disconnected(c, self.now);
                    }
                }
            }
            self.drain();
        }
        self.producer.handle_timeout(self.now);
        self.drain();
        true
    }

    /// Steps until `done` holds or virtual time passes `limit`; returns
    /// whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.drain();
            if done(self) {
                return true;
            }
            if self.now >= end || !self.step() {
                return done(self);
            }
        }
    }

    /// Runs everything due up to `t`, then sets the clock to `t` (never
    /// past it, unlike [`run_until`](SimNet::run_until), which stops after
    /// the step that crossed its limit).
    pub fn advance_to(&mut self, t: Instant) {
        loop {
            self.drain();
            let next_net = self.queue.first_key_value().map(|((at, _), _)| *at);
            let next_net = match (next_net, self.cluster.next_due()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let next = match (next_net, self.producer.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if next.is_none_or(|n| n > t) || !self.step() {
                break;
            }
        }
        if self.now < t {
            self.now = t;
            self.cluster.advance(t);
            self.producer.handle_timeout(t);
            self.drain();
        }
    }

    /// Runs `d` of virtual time: everything due in it happens, and the
    /// clock ends exactly `d` later.
    pub fn run_for(&mut self, d: Duration) {
        self.advance_to(self.now + d);
    }
}
