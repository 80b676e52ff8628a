//! Building requests: which connection sends what now. ApiVersions opens
//! every connection; then Metadata when due, InitProducerId when the
//! idempotent producer needs an id or a bump, and Produce requests carrying
//! the batches the accumulator hands out for the connection's broker.
//!
//! One Produce request per connection carries at most one batch of each
//! partition that connection's broker leads, up to `max.request.size`,
//! while the connection has fewer than
//! `max.in.flight.requests.per.connection` requests waiting. Connections
//! are served round-robin so one busy broker does not starve the others.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use super::Producer;
use crate::batch::{Drain, Drained};
use crate::cluster::{Metadata, Phase, ProduceTopics, Purpose, produce_version};
use crate::config::Acks;
use crate::error::ProduceError;
use crate::event::{ConnectionId, Transmit};
use crate::idempotence::IdInput;
use crate::kafka_code::KafkaCode;
use crate::time::{Instant, millis_i32};
use crate::wire::Request;
use crate::wire::messages::produce::{PartitionProduceData, TopicProduceData};
use crate::wire::messages::{ApiKey, ApiVersionsRequest, InitProducerIdRequest, ProduceRequest};
use crate::wire::record_batch::{Compression, ProducerState};

impl<T> Producer<T> {
    /// Builds the next request frame, if any connection has one to send.
    pub(super) fn next_transmit(&mut self, now: Instant) -> Option<Transmit> {
        // Round robin from the connection after the one served last;
        // collected on the stack, this runs after every input.
        let ids: smallvec::SmallVec<[ConnectionId; 16]> = match self.serve_after {
            Some(after) => {
                let later = self.conns.range((
                    core::ops::Bound::Excluded(after),
                    core::ops::Bound::Unbounded,
                ));
                later
                    .chain(self.conns.range(..=after))
                    .map(|(id, _)| *id)
                    .collect()
            }
            None => self.conns.keys().copied().collect(),
        };
        for id in ids {
            if let Some(t) = self.transmit_for(id, now) {
                self.serve_after = Some(id);
                return Some(t);
            }
        }
        None
    }

    /// Encodes a request that is not a Produce on connection `id` and
    /// records what its answer is for: the frame, or `None` when it cannot
    /// be encoded.
    pub(super) fn control_transmit<R: Request>(
        &mut self,
        id: ConnectionId,
        version: i16,
        request: &R,
        purpose: Purpose<T>,
        now: Instant,
    ) -> Option<Transmit> {
        let timeout = self.config.request_timeout();
        let conn = self.conns.get_mut(&id)?;
        let mut buf = core::mem::take(&mut self.scratch);
        let result = conn
            .encode(&mut buf, self.config.client_id(), version, request)
            .map(|correlation_id| conn.expect(correlation_id, version, now, timeout, purpose));
        let data = buf.split().freeze();
        self.scratch = buf;
        result.ok().map(|()| Transmit { conn: id, data })
    }

    fn transmit_for(&mut self, id: ConnectionId, now: Instant) -> Option<Transmit> {
        let init = self.init_due(now);
        let max_in_flight = self.config.max_in_flight_requests_per_connection();
        let conn = self.conns.get_mut(&id)?;
        match conn.phase {
            Phase::Connecting { .. } => return None,
            Phase::Negotiating { sent: true, .. } => return None,
            Phase::Negotiating {
                version,
                sent: false,
            } => {
                conn.phase = Phase::Negotiating {
                    version,
                    sent: true,
                };
                let request = ApiVersionsRequest::default()
                    .with_client_software_name(String::from("kafka-producer-proto"))
                    .with_client_software_version(String::from(env!("CARGO_PKG_VERSION")));
                return self.control_transmit(id, version, &request, Purpose::ApiVersions, now);
            }
            Phase::Authenticating => return self.authentication_transmit(id, now),
            Phase::Ready if conn.retired => return None,
            Phase::Ready if conn.reauth_at.is_some_and(|at| at <= now) => {
                self.begin_reauthentication(id);
                return self.authentication_transmit(id, now);
            }
            Phase::Ready => {}
        }
        if conn.requests_in_flight() >= max_in_flight || conn.throttled_until > now {
            return None;
        }
        // Metadata first: produce requests depend on it.
        let missing = self.acc.topics.iter().any(|t| !t.waiting.is_empty());
        if self.meta.due_at(missing).is_some_and(|due| due <= now) && !self.acc.topics.is_empty() {
            let version = conn.version(ApiKey::Metadata)?;
            let request = Metadata::request(
                self.acc.topics.iter().map(|t| t.name.clone()),
                self.config.allow_auto_create_topics(),
            );
            if let Some(t) = self.control_transmit(id, version, &request, Purpose::Metadata, now) {
                self.meta.in_flight = Some(id);
                self.metrics.metadata_requested();
                return Some(t);
            }
        }
        if let Some(t) = self.transaction_transmit(id, now) {
            return Some(t);
        }
        if self.config.enable_idempotence() {
            if let Some((producer_id, epoch)) = init {
                let version = self.conns.get(&id)?.version(ApiKey::InitProducerId)?;
                // Before v3 the request cannot name the id to bump: ask
                // for a new one instead.
                let (producer_id, epoch) = if version >= 3 {
                    (producer_id, epoch)
                } else {
                    (-1, -1)
                };
                let request = InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(millis_i32(self.config.transaction_timeout()))
                    .with_producer_id(producer_id)
                    .with_producer_epoch(epoch);
                let purpose = Purpose::InitProducerId;
                if let Some(t) = self.control_transmit(id, version, &request, purpose, now) {
                    self.identity.on(IdInput::Sent);
                    return Some(t);
                }
            }
            if !self.identity.ready() {
                return None;
            }
        }
        self.produce_transmit(id, now)
    }

    /// Drains ready batches led by the connection's broker into one Produce
    /// request.
    fn produce_transmit(&mut self, id: ConnectionId, now: Instant) -> Option<Transmit> {
        let conn = self.conns.get(&id)?;
        let node = conn.node;
        if node < 0 {
            // A bootstrap server leads no partition: its id is negative,
            // and -1 is what a partition without a known leader has.
            return None;
        }
        let negotiated = conn.version(ApiKey::Produce)?;
        let idempotent = self.config.enable_idempotence();
        // KIP-110: zstd batches only travel in Produce v7 and later.
        let compression = self.acc.compression();
        // (Below v13 for want of topic ids, the version stays at 12.)
        let refuse = compression == Some(Compression::Zstd) && negotiated < 7;
        let rules = Drain {
            linger: self.config.linger(),
            eager: self.flushing,
            max_bytes: self.config.max_request_size(),
            idempotent: idempotent.then_some((self.identity.id, self.identity.epoch)),
            refuse,
        };
        let txn = &self.txn;
        let allowed = |t, p| txn.as_ref().is_none_or(|x| x.may_drain((t, p)));
        let Drained {
            mut batches,
            known,
            uncompressible,
            refused,
        } = self.acc.drain(node, now, &rules, allowed);
        for b in known {
            self.deliver(b, -1, -1);
        }
        for (b, e) in uncompressible {
            self.fail_batch(b, ProduceError::Compression(e));
        }
        for b in refused {
            // A retry numbered under an earlier leader may be in the log.
            self.mark_unresolved(&b);
            let error = ProduceError::UnsupportedCompression {
                compression: Compression::Zstd,
                node,
                version: negotiated,
            };
            self.fail_batch(b, error);
        }
        if batches.is_empty() {
            return None;
        }
        let acks = self.config.acks();
        let ids = batches.iter().map(|b| self.acc.topics[b.topic as usize].id);
        let version = self.transaction_produce_version(produce_version(negotiated, ids));
        let mut topics = ProduceTopics::default();
        let mut topic_data: Vec<TopicProduceData> = Vec::new();
        let mut records = 0u64;
        for b in batches.iter_mut() {
            b.attempts += 1;
            records += b.records.len() as u64;
            let bytes: Bytes = match b.sequence {
                Some(sequence) if idempotent => {
                    b.encoded_as(ProducerState::new(b.producer.0, b.producer.1, sequence))
                }
                _ => b.encoded(),
            };
            self.metrics.batch_sent(bytes.len());
            self.metrics.batch_compression_rate(b.compression_rate());
            let topic = &self.acc.topics[b.topic as usize];
            let data = PartitionProduceData::default()
                .with_index(b.partition)
                .with_records(Some(bytes));
            topics.push(
                &mut topic_data,
                version,
                b.topic,
                &topic.name,
                topic.id,
                data,
            );
        }
        let request = ProduceRequest::default()
            .with_transactional_id(self.config.transactional_id().map(String::from))
            .with_acks(acks.as_i16())
            .with_timeout_ms(millis_i32(self.config.request_timeout()))
            .with_topic_data(topic_data);
        self.metrics.request_sent(records);
        let client_id = self.config.client_id();
        let timeout = self.config.request_timeout();
        let mut buf = core::mem::take(&mut self.scratch);
        let result = match self.conns.get_mut(&id) {
            Some(conn) => conn.encode(&mut buf, client_id, version, &request),
            None => Err(crate::wire::EncodeError::TooLong {
                what: "connection",
                length: 0,
            }),
        };
        let data = buf.split().freeze();
        self.scratch = buf;
        drop(request);
        match result {
            Err(_) => {
                // Unreachable in practice (sizes were checked on send); fail
                // rather than loop on a batch that cannot be encoded.
                for b in batches {
                    self.acc.finish_in_flight(&b);
                    self.fail_batch(
                        b,
                        ProduceError::Broker {
                            code: KafkaCode::InvalidRequest,
                            message: None,
                        },
                    );
                }
                None
            }
            Ok(correlation_id) if acks == Acks::None => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.expect_maybe(correlation_id);
                }
                // Nobody will say whether these arrived: handing them out is
                // as far as acks=0 goes.
                for b in batches {
                    self.acc.finish_in_flight(&b);
                    self.deliver(b, -1, -1);
                }
                Some(Transmit { conn: id, data })
            }
            Ok(correlation_id) => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.expect(
                        correlation_id,
                        version,
                        now,
                        timeout,
                        Purpose::Produce { batches, topics },
                    );
                }
                Some(Transmit { conn: id, data })
            }
        }
    }
}
