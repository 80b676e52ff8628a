//! A driver that runs a real [`Producer`] against a [`SimCluster`] over a
//! simulated network in virtual time: the producer's bytes go to the
//! cluster's request handler, its answers come back after a latency, and
//! time jumps straight to the next thing due, so minutes of producer life
//! take milliseconds and replay exactly.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use bytes::Bytes;
use core::time::Duration;

use super::cluster::SimCluster;
use crate::event::{ConnectionId, Event};
use crate::producer::Producer;
use crate::time::Instant;
use crate::wire::{ApiKey, FrameDecoder};

#[derive(Debug)]
struct SimConn {
    node: i32,
    requests: FrameDecoder,
}

/// What happens on the simulated network, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Delivery {
    Connected(ConnectionId),
    Refused(ConnectionId),
    Bytes(ConnectionId, Bytes),
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
    /// One-way latency of every delivery.
    pub latency: Duration,
    /// Brokers that refuse connections (and whose connections drop).
    pub down: BTreeSet<i32>,
    /// Brokers that take requests but never answer (a hung broker).
    pub mute: BTreeSet<i32>,
    /// This many of the next answers are lost after the cluster applied
    /// their requests ("possibly persisted").
    pub lose_answers: usize,
    /// Terminal events seen so far (`Delivered`, `Failed`, `Closed`).
    pub events: Vec<Event<T>>,
    /// Connections the producer asked for, with when.
    pub connects: Vec<(Instant, i32)>,
    /// Every request the cluster received: when, which broker, which API.
    pub requests: Vec<(Instant, i32, ApiKey)>,
    conns: BTreeMap<ConnectionId, SimConn>,
    queue: VecDeque<(Instant, Delivery)>,
    /// Steps in a row in which time did not move and nothing happened.
    idle_steps: u32,
}

impl<T> SimNet<T> {
    /// Starts the simulation at `now`.
    pub fn new(producer: Producer<T>, cluster: SimCluster, now: Instant) -> SimNet<T> {
        SimNet {
            producer,
            cluster,
            now,
            latency: Duration::from_millis(1),
            down: BTreeSet::new(),
            mute: BTreeSet::new(),
            lose_answers: 0,
            events: Vec::new(),
            connects: Vec::new(),
            requests: Vec::new(),
            conns: BTreeMap::new(),
            queue: VecDeque::new(),
            idle_steps: 0,
        }
    }

    fn schedule(&mut self, at: Instant, what: Delivery) {
        let pos = self
            .queue
            .iter()
            .position(|(t, _)| *t > at)
            .unwrap_or(self.queue.len());
        self.queue.insert(pos, (at, what));
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
                        let at = self.now + self.latency;
                        self.connects
                            .push((self.now, self.cluster.node_at(&host, port).unwrap_or(-1)));
                        match self
                            .cluster
                            .node_at(&host, port)
                            .filter(|n| !self.down.contains(n))
                        {
                            Some(node) => {
                                self.conns.insert(
                                    conn,
                                    SimConn {
                                        node,
                                        requests: FrameDecoder::default(),
                                    },
                                );
                                self.schedule(at, Delivery::Connected(conn));
                            }
                            None => self.schedule(at, Delivery::Refused(conn)),
                        }
                    }
                    Event::Disconnect { conn } => {
                        self.conns.remove(&conn);
                        self.queue
                            .retain(|(_, d)| !matches!(d, Delivery::Bytes(c, _) if *c == conn));
                    }
                    other => self.events.push(other),
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn on_transmit(&mut self, conn: ConnectionId, data: Bytes) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let node = c.node;
        c.requests.push(&data);
        let mut answers = Vec::new();
        while let Ok(Some(frame)) = c.requests.next_frame() {
            if let Some(api) = super::cluster::request_api(&frame) {
                self.requests.push((self.now, node, api));
            }
            if self.mute.contains(&node) {
                continue;
            }
            if let Some(answer) = self.cluster.handle(node, frame) {
                if self.lose_answers > 0 {
                    self.lose_answers -= 1;
                    continue;
                }
                answers.push(answer);
            }
        }
        let at = self.now + self.latency + self.latency;
        for a in answers {
            self.schedule(at, Delivery::Bytes(conn, a));
        }
    }

    /// Takes down a broker: its connections drop, new ones are refused.
    pub fn broker_down(&mut self, node: i32) {
        self.down.insert(node);
        let dropped: Vec<ConnectionId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.node == node)
            .map(|(id, _)| *id)
            .collect();
        for conn in dropped {
            self.conns.remove(&conn);
            self.queue
                .retain(|(_, d)| !matches!(d, Delivery::Bytes(c, _) if *c == conn));
            self.producer.handle_disconnected(conn, self.now);
        }
        self.drain();
    }

    /// Brings a broker back.
    pub fn broker_up(&mut self, node: i32) {
        self.down.remove(&node);
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
        self.drain();
        let next_net = self.queue.front().map(|(t, _)| *t);
        let next_timer = self.producer.poll_timeout();
        let next = match (next_net, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        if next <= self.now && self.queue.front().is_none_or(|(t, _)| *t > self.now) {
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
        while self.queue.front().is_some_and(|(t, _)| *t <= self.now) {
            let Some((_, d)) = self.queue.pop_front() else {
                break;
            };
            match d {
                Delivery::Connected(c) => self.producer.handle_connected(c, self.now),
                Delivery::Refused(c) => {
                    self.conns.remove(&c);
                    self.producer.handle_disconnected(c, self.now);
                }
                Delivery::Bytes(c, b) => {
                    if self.conns.contains_key(&c) {
                        self.producer.handle_response(c, &b, self.now);
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

    /// Steps for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(d, |s| s.now >= end);
    }
}
