//! The cluster view: brokers and their addresses, partition leaders, and
//! when to ask for fresh metadata.
//!
//! Metadata is refreshed when a topic is first used, when an error says
//! the view is stale (NOT_LEADER_OR_FOLLOWER and the other
//! `InvalidMetadataException` codes, a lost connection), and at least every
//! `metadata.max.age.ms`. At most one Metadata request is in flight. A
//! refresh that fails, or that leaves a wanted topic unknown, waits
//! `retry.backoff.ms` before the next.
//!
//! Leaders only move forward: an answer that names a partition's leader
//! with an older leader epoch than one already seen is ignored, as the Java
//! client does, so a lagging broker cannot send batches back to a deposed
//! leader.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::batch::Accumulator;
use crate::event::ConnectionId;
use crate::kafka_code::KafkaCode;
use crate::time::Instant;
use crate::wire::messages::metadata::MetadataRequestTopic;
use crate::wire::messages::produce::NodeEndpoint;
use crate::wire::messages::{MetadataRequest, MetadataResponse};

/// A broker (or, with a negative id, a bootstrap server) and the state of
/// the producer's connection to it.
#[derive(Debug)]
pub(crate) struct Broker {
    pub host: String,
    pub port: u16,
    pub conn: Option<ConnectionId>,
    /// No new connection before this (reconnect backoff).
    pub reconnect_at: Instant,
    /// Consecutive failed connections, for the backoff.
    pub failures: u32,
}

/// The cluster as last described, and the refresh policy.
#[derive(Debug)]
pub(crate) struct Metadata {
    pub brokers: BTreeMap<i32, Broker>,
    /// The connection carrying the Metadata request in flight.
    pub in_flight: Option<ConnectionId>,
    /// A refresh was asked for.
    pub wanted: bool,
    pub last_refresh: Option<Instant>,
    /// No refresh before this (after a failed or unhelpful one).
    pub not_before: Instant,
    max_age: Duration,
    backoff: Duration,
}

/// What a Metadata response changed.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Topics the cluster refused outright, with the reason.
    pub unusable: Vec<(u32, KafkaCode)>,
    /// Topics that became known.
    pub discovered: Vec<u32>,
    /// The broker asked the client to start again from its bootstrap
    /// servers (Metadata v13's top-level REBOOTSTRAP_REQUIRED, KIP-1102).
    pub rebootstrap: bool,
}

impl Metadata {
    pub fn new(bootstrap: &[(String, u16)], max_age: Duration, backoff: Duration) -> Metadata {
        let brokers = bootstrap
            .iter()
            .enumerate()
            .map(|(i, (host, port))| {
                let broker = Broker {
                    host: host.clone(),
                    port: *port,
                    conn: None,
                    reconnect_at: Instant::ZERO,
                    failures: 0,
                };
                (-1 - i as i32, broker)
            })
            .collect();
        Metadata {
            brokers,
            in_flight: None,
            wanted: true,
            last_refresh: None,
            not_before: Instant::ZERO,
            max_age,
            backoff,
        }
    }

    /// When a refresh is due, given whether any topic in use lacks
    /// metadata; `None` when nothing calls for one.
    pub fn due_at(&self, topics_missing: bool) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        // Not before the backoff either: a refresh that came due by age and
        // failed waits like any other.
        let by_age = self
            .last_refresh
            .map(|t| (t + self.max_age).max(self.not_before));
        let wanted = (self.wanted || topics_missing).then_some(self.not_before);
        match (by_age, wanted) {
            (Some(a), Some(w)) => Some(a.min(w)),
            (a, w) => a.or(w),
        }
    }

    /// Asks for a refresh as soon as the backoff allows.
    pub fn invalidate(&mut self) {
        self.wanted = true;
    }

    /// A refresh failed (its connection died or timed out): try again
    /// after the backoff.
    pub fn failed(&mut self, now: Instant) {
        self.in_flight = None;
        self.wanted = true;
        self.not_before = now + self.backoff;
    }

    /// The request for these topics.
    pub fn request(
        names: impl Iterator<Item = String>,
        allow_auto_create: bool,
    ) -> MetadataRequest {
        MetadataRequest::default()
            .with_topics(Some(
                names
                    .map(|n| MetadataRequestTopic::default().with_name(Some(n)))
                    .collect(),
            ))
            .with_allow_auto_topic_creation(allow_auto_create)
    }

    /// Takes in a response: brokers, partitions, leaders.
    pub fn apply<T>(
        &mut self,
        response: &MetadataResponse,
        acc: &mut Accumulator<T>,
        now: Instant,
    ) -> Applied {
        let mut applied = Applied::default();
        // Metadata v13's top-level code: nothing else in such an answer is
        // to be believed.
        match KafkaCode::from_i16(response.error_code) {
            KafkaCode::None => {}
            KafkaCode::RebootstrapRequired => {
                self.failed(now);
                applied.rebootstrap = true;
                return applied;
            }
            _ => {
                self.failed(now);
                return applied;
            }
        }
        self.in_flight = None;
        self.last_refresh = Some(now);
        self.wanted = false;
        for b in &response.brokers {
            let Ok(port) = u16::try_from(b.port) else {
                continue;
            };
            self.learn_broker(b.node_id, &b.host, port);
        }
        let mut incomplete = false;
        for t in &response.topics {
            let Some(name) = t.name.as_deref() else {
                continue;
            };
            let Some(index) = acc.find(name) else {
                continue;
            };
            let Some(topic) = acc.topics.get_mut(index as usize) else {
                continue;
            };
            match KafkaCode::from_i16(t.error_code) {
                KafkaCode::None => {}
                // Not there yet (auto-creation, propagation): keep waiting.
                code if code.is_retriable() => {
                    incomplete = true;
                    continue;
                }
                code => {
                    applied.unusable.push((index, code));
                    continue;
                }
            }
            let count = t
                .partitions
                .iter()
                .map(|p| p.partition_index.saturating_add(1))
                .max()
                .unwrap_or(0);
            let Ok(count) = usize::try_from(count) else {
                continue;
            };
            // A partition count beyond what any cluster holds is a hostile
            // answer; refuse to size queues by it.
            if count == 0 || count > MAX_PARTITIONS {
                incomplete = true;
                continue;
            }
            let was_known = topic.is_known();
            if !t.topic_id.is_nil() && !topic.id.is_nil() && t.topic_id != topic.id {
                // Deleted and created again under the same name: the new
                // topic's leader epochs start afresh, so the old ones must
                // not make its leaders look stale (the Java client does the
                // same).
                for p in topic.partitions.iter_mut() {
                    p.leader_epoch = -1;
                }
            }
            topic.id = t.topic_id;
            topic.ensure_partitions(count);
            for p in &t.partitions {
                let Some(part) = usize::try_from(p.partition_index)
                    .ok()
                    .and_then(|i| topic.partitions.get_mut(i))
                else {
                    continue;
                };
                if p.leader_epoch >= 0 && part.leader_epoch > p.leader_epoch {
                    continue;
                }
                part.leader_epoch = p.leader_epoch;
                part.leader = if KafkaCode::from_i16(p.error_code) == KafkaCode::LeaderNotAvailable
                {
                    -1
                } else {
                    p.leader_id
                };
                if part.leader < 0 {
                    incomplete = true;
                }
            }
            if !was_known {
                applied.discovered.push(index);
            }
        }
        if incomplete {
            self.wanted = true;
            self.not_before = now + self.backoff;
        }
        applied
    }

    /// KIP-951: a Produce response names a partition's new leader (and how
    /// to reach it), saving a Metadata round trip.
    pub fn leader_hint<T>(
        &mut self,
        acc: &mut Accumulator<T>,
        topic: u32,
        partition: i32,
        leader: i32,
        epoch: i32,
        endpoints: &[NodeEndpoint],
    ) -> bool {
        if leader < 0 || epoch < 0 {
            return false;
        }
        for e in endpoints.iter().filter(|e| e.node_id == leader) {
            if let Ok(port) = u16::try_from(e.port) {
                self.learn_broker(e.node_id, &e.host, port);
            }
        }
        if !self.brokers.contains_key(&leader) {
            return false;
        }
        let Some(part) = acc
            .topics
            .get_mut(topic as usize)
            .and_then(|t| t.partitions.get_mut(partition as usize))
        else {
            return false;
        };
        if part.leader_epoch >= epoch {
            return false;
        }
        part.leader = leader;
        part.leader_epoch = epoch;
        true
    }

    pub fn learn_broker(&mut self, node: i32, host: &str, port: u16) {
        if node < 0 {
            return;
        }
        match self.brokers.get_mut(&node) {
            Some(b) if b.host == host && b.port == port => {}
            Some(b) => {
                // Moved: the next connection goes to the new address.
                b.host = String::from(host);
                b.port = port;
            }
            None => {
                if self.brokers.len() < MAX_BROKERS {
                    self.brokers.insert(
                        node,
                        Broker {
                            host: String::from(host),
                            port,
                            conn: None,
                            reconnect_at: Instant::ZERO,
                            failures: 0,
                        },
                    );
                }
            }
        }
    }
}

/// Codes after which the Java client refreshes metadata (its
/// `InvalidMetadataException` family): the partition's leader or the
/// topic itself may be elsewhere now.
pub(crate) fn invalidates_metadata(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::UnknownTopicOrPartition
            | KafkaCode::LeaderNotAvailable
            | KafkaCode::NotLeaderOrFollower
            | KafkaCode::NetworkException
            | KafkaCode::KafkaStorageError
            | KafkaCode::FencedLeaderEpoch
            | KafkaCode::UnknownLeaderEpoch
            | KafkaCode::ListenerNotFound
            | KafkaCode::UnknownTopicId
            | KafkaCode::InconsistentTopicId
            | KafkaCode::ReplicaNotAvailable
    )
}

/// Bounds on what a Metadata answer may make the producer allocate.
const MAX_PARTITIONS: usize = 1 << 16;
const MAX_BROKERS: usize = 1 << 12;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::messages::metadata::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use alloc::vec;

    fn response(leader: i32, epoch: i32) -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(1)
                    .with_host("b1".into())
                    .with_port(9092),
            ])
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some("t".into()))
                    .with_partitions(vec![
                        MetadataResponsePartition::default()
                            .with_partition_index(0)
                            .with_leader_id(leader)
                            .with_leader_epoch(epoch),
                        MetadataResponsePartition::default()
                            .with_partition_index(1)
                            .with_leader_id(1)
                            .with_leader_epoch(epoch),
                    ]),
            ])
    }

    #[test]
    fn stale_leader_epochs_are_ignored() {
        let mut m = Metadata::new(
            &[("boot".into(), 9092)],
            Duration::from_secs(300),
            Duration::from_millis(100),
        );
        let mut acc: Accumulator<()> = Accumulator::new(1 << 20, 1024, Duration::from_secs(1));
        let t = acc.intern("t");
        let applied = m.apply(&response(1, 5), &mut acc, Instant::ZERO);
        assert_eq!(applied.discovered, [t]);
        assert_eq!(acc.topics[0].partitions.len(), 2);
        assert_eq!(m.brokers[&1].host, "b1");
        m.apply(&response(2, 4), &mut acc, Instant::ZERO);
        assert_eq!(acc.topics[0].partitions[0].leader, 1, "epoch 4 < 5: stale");
        m.apply(&response(2, 6), &mut acc, Instant::ZERO);
        assert_eq!(acc.topics[0].partitions[0].leader, 2);
    }

    #[test]
    fn refresh_policy() {
        let mut m = Metadata::new(
            &[("boot".into(), 9092)],
            Duration::from_secs(300),
            Duration::from_millis(100),
        );
        assert_eq!(
            m.due_at(false),
            Some(Instant::ZERO),
            "first metadata is wanted at once"
        );
        let mut acc: Accumulator<()> = Accumulator::new(1 << 20, 1024, Duration::from_secs(1));
        acc.intern("t");
        let now = Instant::from_millis(10);
        m.apply(&response(1, 1), &mut acc, now);
        assert_eq!(
            m.due_at(false),
            Some(now + Duration::from_secs(300)),
            "then by age"
        );
        m.failed(now);
        assert_eq!(
            m.due_at(false),
            Some(now + Duration::from_millis(100)),
            "after a failure, after the backoff"
        );
        let later = now + Duration::from_secs(300);
        m.failed(later);
        assert_eq!(
            m.due_at(false),
            Some(later + Duration::from_millis(100)),
            "a refresh due by age that failed waits for the backoff too"
        );
        m.in_flight = Some(ConnectionId(1));
        assert_eq!(m.due_at(true), None, "one at a time");
    }

    #[test]
    fn leader_hints_move_leaders_forward_only() {
        let mut m = Metadata::new(&[], Duration::from_secs(300), Duration::from_millis(100));
        let mut acc: Accumulator<()> = Accumulator::new(1 << 20, 1024, Duration::from_secs(1));
        let t = acc.intern("t");
        m.apply(&response(1, 5), &mut acc, Instant::ZERO);
        let ep = [NodeEndpoint::default()
            .with_node_id(3)
            .with_host("b3".into())
            .with_port(9093)];
        assert!(m.leader_hint(&mut acc, t, 0, 3, 6, &ep));
        assert_eq!(acc.topics[0].partitions[0].leader, 3);
        assert_eq!(m.brokers[&3].port, 9093);
        assert!(
            !m.leader_hint(&mut acc, t, 0, 1, 6, &[]),
            "same epoch: no change"
        );
        assert!(
            !m.leader_hint(&mut acc, t, 0, 9, 7, &[]),
            "unknown broker without an endpoint"
        );
    }
}
