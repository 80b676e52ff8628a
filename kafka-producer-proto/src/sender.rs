//! The sender: which requests go to which connection now, and what each
//! response means for the batches it answers.
//!
//! One Produce request per connection carries at most one batch of each
//! partition that connection's broker leads, up to `max.request.size`,
//! while the connection has fewer than
//! `max.in.flight.requests.per.connection` requests waiting. Partitions
//! are served round-robin so none is starved by the request size limit.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use crate::batch::Batch;
use crate::config::Acks;
use crate::connection::{InFlight, Phase, Purpose};
use crate::error::{FatalError, ProduceError};
use crate::event::{ConnectionId, Event, Transmit};
use crate::idempotence::{INIT_RETRY, IdInput, may_send_next, seq_add};
use crate::kafka_code::KafkaCode;
use crate::metadata::Metadata;
use crate::producer::{CloseCause, Producer, millis_i32};
use crate::time::Instant;
use crate::wire::Request;
use crate::wire::header::{decode_response, decode_response_header};
use crate::wire::messages::produce::{
    PartitionProduceData, PartitionProduceResponse, TopicProduceData,
};
use crate::wire::messages::{
    ApiKey, ApiVersionsRequest, InitProducerIdRequest, InitProducerIdResponse, MetadataResponse,
    ProduceRequest, ProduceResponse,
};
use crate::wire::record_batch::ProducerState;
use crate::wire::version_negotiation::{ApiVersionsOutcome, read_api_versions_response};

/// Bytes a Produce request spends on each topic and partition besides the
/// batches (names, indexes, lengths, tagged fields), counted generously.
const REQUEST_OVERHEAD: usize = 64;

impl<T> Producer<T> {
    /// Builds the next request frame, if any connection has one to send.
    pub(crate) fn next_transmit(&mut self, now: Instant) -> Option<Transmit> {
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
    fn control_transmit<R: Request>(
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

    /// Batches in flight, over every partition.
    pub(crate) fn produce_in_flight(&self) -> u32 {
        self.acc
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.in_flight)
            .sum()
    }

    /// Drains ready batches led by the connection's broker into one Produce
    /// request.
    fn produce_transmit(&mut self, id: ConnectionId, now: Instant) -> Option<Transmit> {
        let conn = self.conns.get(&id)?;
        let node = conn.node;
        let version = conn.version(ApiKey::Produce)?;
        let max_bytes = self.config.max_request_size();
        let linger = self.config.linger();
        let eager = self.flushing;
        let idempotent = self.config.enable_idempotence();
        let mut batches: Vec<Batch<T>> = Vec::new();
        let mut known: Vec<Batch<T>> = Vec::new();
        let mut size = 0usize;
        for t in self.acc.topics.iter_mut() {
            for p in t.partitions.iter_mut().filter(|p| p.leader == node) {
                let Some(front) = p.queue.front() else {
                    continue;
                };
                let lingered =
                    front.sealed || eager || now >= front.created + linger || p.queue.len() > 1;
                if !lingered || front.retry_at > now {
                    continue;
                }
                let current = (self.identity.id, self.identity.epoch);
                if idempotent && !may_send_next(p, node, current) {
                    continue;
                }
                let extra = front.size() + REQUEST_OVERHEAD + t.name.len();
                if !batches.is_empty() && size + extra > max_bytes {
                    continue;
                }
                let Some(mut batch) = p.queue.pop_front() else {
                    continue;
                };
                if let Some(base) = batch.sequence.filter(|_| idempotent) {
                    let last = seq_add(base, (batch.records.len() as u32).saturating_sub(1));
                    if p.seq.has(batch.producer, last) {
                        // A retry the broker is known to have: sent again
                        // to a broker that has since forgotten us, it would
                        // be written twice.
                        known.push(batch);
                        continue;
                    }
                }
                if idempotent {
                    // Numbered when first drained, in drain order, which is
                    // send order within the partition.
                    if batch.sequence.is_none() {
                        // The first batch after a bump on a partition that
                        // did not need one: its numbering moves to the new
                        // epoch now that nothing of the old is in flight.
                        if p.seq.stamp != current {
                            p.seq.reset(current);
                        }
                        batch.sequence = Some(p.seq.assign(batch.records.len() as u32));
                        batch.producer = current;
                    }
                    if batch.attempts > 0 {
                        p.seq.retrying = true;
                    }
                    p.seq.in_flight_node = node;
                }
                size += extra;
                p.in_flight += 1;
                batches.push(batch);
            }
        }
        for b in known {
            self.deliver(b, -1, -1);
        }
        if batches.is_empty() {
            return None;
        }
        let acks = self.config.acks();
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
            let name = &self.acc.topics[b.topic as usize].name;
            let data = PartitionProduceData::default()
                .with_index(b.partition)
                .with_records(Some(bytes));
            match topic_data.last_mut() {
                Some(td) if td.name == *name => td.partition_data.push(data),
                _ => topic_data.push(
                    TopicProduceData::default()
                        .with_name(name.clone())
                        .with_partition_data(alloc::vec![data]),
                ),
            }
        }
        let request = ProduceRequest::default()
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
                    self.finish_in_flight(&b);
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
                    self.finish_in_flight(&b);
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
                        Purpose::Produce { batches },
                    );
                }
                Some(Transmit { conn: id, data })
            }
        }
    }

    /// A batch leaves flight (answered, failed or acks=0).
    pub(crate) fn finish_in_flight(&mut self, batch: &Batch<T>) {
        if let Some(p) = self
            .acc
            .topics
            .get_mut(batch.topic as usize)
            .and_then(|t| t.partitions.get_mut(batch.partition as usize))
        {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
    }

    /// Routes one response to what asked for it.
    pub(crate) fn dispatch(
        &mut self,
        id: ConnectionId,
        request: InFlight<T>,
        frame: Bytes,
        now: Instant,
    ) {
        let latency = now.saturating_duration_since(request.sent_at);
        match request.purpose {
            Purpose::ApiVersions => self.on_api_versions(id, request.version, frame, now),
            Purpose::Metadata => {
                match decode_response::<MetadataResponse>(frame, request.version) {
                    Ok((_, response)) => {
                        self.metrics.request_completed(latency);
                        self.on_metadata(&response, now);
                    }
                    Err(_) => {
                        self.meta.failed(now);
                        self.close_connection(id, CloseCause::Protocol, now);
                    }
                }
            }
            Purpose::InitProducerId => {
                match decode_response::<InitProducerIdResponse>(frame, request.version) {
                    Ok((_, response)) => {
                        self.metrics.request_completed(latency);
                        self.on_init_producer_id(&response, now);
                    }
                    Err(_) => {
                        self.identity.on(IdInput::Retry {
                            retry_at: now + INIT_RETRY,
                        });
                        self.close_connection(id, CloseCause::Protocol, now);
                    }
                }
            }
            Purpose::Produce { batches } => {
                match decode_response::<ProduceResponse>(frame, request.version) {
                    Ok((_, response)) => {
                        self.metrics.request_completed(latency);
                        self.on_produce(id, request.version, batches, response, now);
                    }
                    Err(_) => {
                        for mut b in batches {
                            self.finish_in_flight(&b);
                            // Whatever the broker said is unreadable.
                            b.maybe_written = true;
                            self.retry_or_fail(b, KafkaCode::CorruptMessage, None, now);
                        }
                        self.close_connection(id, CloseCause::Protocol, now);
                    }
                }
            }
        }
    }

    fn on_api_versions(&mut self, id: ConnectionId, version: i16, frame: Bytes, now: Instant) {
        let Ok((_, mut body)) = decode_response_header(frame, ApiKey::ApiVersions, version) else {
            self.close_connection(id, CloseCause::Protocol, now);
            return;
        };
        let rest = body.remaining();
        let Ok(body) = body.take(rest) else { return };
        match read_api_versions_response(body, version) {
            ApiVersionsOutcome::Supported(response) => {
                let needed: &[ApiKey] = if self.config.enable_idempotence() {
                    &[ApiKey::Metadata, ApiKey::Produce, ApiKey::InitProducerId]
                } else {
                    &[ApiKey::Metadata, ApiKey::Produce]
                };
                let Some(conn) = self.conns.get_mut(&id) else {
                    return;
                };
                let node = conn.node;
                if let Err((api, min, max)) = conn.negotiated(&response, needed) {
                    self.enter_fatal(
                        FatalError::UnsupportedVersion {
                            node,
                            api,
                            min,
                            max,
                        },
                        now,
                    );
                    return;
                }
                if let Some(b) = self.meta.brokers.get_mut(&node) {
                    b.failures = 0;
                }
            }
            ApiVersionsOutcome::Retry { version } => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.phase = Phase::Negotiating {
                        version,
                        sent: false,
                    };
                }
            }
            _ => self.close_connection(id, CloseCause::Protocol, now),
        }
    }

    fn on_produce(
        &mut self,
        id: ConnectionId,
        version: i16,
        batches: Vec<Batch<T>>,
        response: ProduceResponse,
        now: Instant,
    ) {
        let throttle = core::time::Duration::from_millis(
            u64::try_from(response.throttle_time_ms).unwrap_or(0),
        );
        self.metrics.throttled(throttle);
        if !throttle.is_zero()
            && let Some(c) = self.conns.get_mut(&id)
        {
            c.throttled_until = c.throttled_until.max(now + throttle);
        }
        for mut batch in batches {
            self.finish_in_flight(&batch);
            let name = &self.acc.topics[batch.topic as usize].name;
            let answer: Option<&PartitionProduceResponse> = response
                .responses
                .iter()
                .filter(|t| t.name == *name)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == batch.partition);
            let Some(answer) = answer else {
                // The broker skipped a partition we sent: treat it as lost.
                batch.maybe_written = true;
                self.retry_or_fail(batch, KafkaCode::NetworkException, None, now);
                continue;
            };
            let code = KafkaCode::from_i16(answer.error_code);
            if self.config.enable_idempotence() && batch.sequence.is_some() {
                self.on_idempotent_answer(batch, answer, &response.node_endpoints, version, now);
                continue;
            }
            match code {
                KafkaCode::None => {
                    self.deliver(batch, answer.base_offset, answer.log_append_time_ms)
                }
                KafkaCode::MessageTooLarge if batch.records.len() > 1 => {
                    self.metrics.partition_error(code);
                    self.split(batch, now);
                }
                code if code.is_retriable() => {
                    batch.maybe_written |= written_despite(code);
                    if version >= 10 && code == KafkaCode::NotLeaderOrFollower {
                        let leader = &answer.current_leader;
                        let (topic, partition) = (batch.topic, batch.partition);
                        self.meta.leader_hint(
                            &mut self.acc,
                            topic,
                            partition,
                            leader.leader_id,
                            leader.leader_epoch,
                            &response.node_endpoints,
                        );
                    }
                    let message = answer.error_message.clone();
                    self.retry_or_fail(batch, code, message, now);
                }
                code => {
                    self.metrics.partition_error(code);
                    let message = answer.error_message.clone().or_else(|| {
                        answer
                            .record_errors
                            .iter()
                            .find_map(|e| e.batch_index_error_message.clone())
                    });
                    self.fail_batch(batch, ProduceError::Broker { code, message });
                }
            }
        }
    }

    /// Every record of the batch is in the log from `base_offset` on.
    pub(crate) fn deliver(&mut self, batch: Batch<T>, base_offset: i64, log_append_time: i64) {
        let mut batch = batch;
        let partition = batch.partition;
        let mut records = core::mem::take(&mut batch.records);
        for (i, r) in records.drain(..).enumerate() {
            let offset = (base_offset >= 0).then(|| base_offset.saturating_add(i as i64));
            let timestamp = if log_append_time >= 0 {
                log_append_time
            } else {
                r.timestamp
            };
            self.events.push_back(Event::Delivered {
                id: r.id,
                partition,
                offset,
                timestamp,
                user: r.user,
            });
        }
        // Empty, its capacity kept for the next batch.
        batch.records = records;
        self.acc.recycle(batch);
    }

    /// A retriable failure: back in the queue after a backoff, unless
    /// retries or the delivery deadline ran out.
    pub(crate) fn retry_or_fail(
        &mut self,
        mut batch: Batch<T>,
        code: KafkaCode,
        message: Option<String>,
        now: Instant,
    ) {
        self.metrics.partition_error(code);
        if invalidates_metadata(code) {
            self.meta.invalidate();
        }
        let retries = self.config.retries();
        if batch.attempts > retries || now >= batch.deadline {
            // A batch abandoned after it was sent may be in the log: its
            // partition waits until that is known (see `Sequences`).
            self.mark_unresolved(&batch);
        }
        if batch.attempts > retries {
            self.fail_batch(batch, ProduceError::Broker { code, message });
            return;
        }
        if now >= batch.deadline {
            let attempts = batch.attempts;
            self.fail_batch(
                batch,
                ProduceError::DeliveryTimeout {
                    attempts,
                    last_error: Some(code),
                },
            );
            return;
        }
        batch.last_error = Some(code);
        batch.retry_at = now
            + self
                .retry_backoff
                .delay(batch.attempts.saturating_sub(1), &mut self.rng);
        self.metrics.batch_retried();
        self.metrics.records_retried(batch.records.len() as u64);
        let (t, p) = (batch.topic as usize, batch.partition as usize);
        match self.acc.partition_mut(t, p) {
            Some(partition) => partition.requeue(batch),
            None => self.fail_batch(batch, ProduceError::Broker { code, message }),
        }
    }

    /// MESSAGE_TOO_LARGE on a batch of several records: the broker's limit
    /// is below our batch, so send each half on its own (as the Java client
    /// splits), halving again if needed until single records are left.
    pub(crate) fn split(&mut self, batch: Batch<T>, now: Instant) {
        let (topic, partition, order, span, deadline, attempts, reserved) = (
            batch.topic,
            batch.partition,
            batch.order,
            batch.span,
            batch.deadline,
            batch.attempts,
            batch.reserved,
        );
        let name = self.acc.topics[topic as usize].name.clone();
        let mut records = batch.into_records(&name);
        let second_half = records.split_off(records.len() / 2);
        self.metrics.batch_split();
        let mut halves = Vec::new();
        for (i, half) in [records, second_half].into_iter().enumerate() {
            // Each half owns half of the original's order range, so the
            // halves (and their own halves) requeue in record order.
            let half_span = (span / 2).max(1);
            let mut b = Batch::new(
                topic,
                partition,
                bytes::BytesMut::new(),
                now,
                deadline,
                order + i as u64 * half_span,
            );
            b.span = half_span;
            b.attempts = attempts;
            b.created = now;
            b.sealed = true;
            b.reserved = if i == 0 { reserved } else { 0 };
            for (id, record) in half {
                let ts = record.timestamp.unwrap_or(0);
                if let Err(record) = b.append(id, ts, record) {
                    // Cannot happen: the records came out of a valid batch.
                    self.metrics.records_failed(1);
                    self.events.push_back(Event::Failed {
                        id,
                        record: alloc::boxed::Box::new(record),
                        error: ProduceError::Broker {
                            code: KafkaCode::MessageTooLarge,
                            message: None,
                        },
                    });
                }
            }
            halves.push(b);
        }
        if let Some(p) = self
            .acc
            .topics
            .get_mut(topic as usize)
            .and_then(|t| t.partitions.get_mut(partition as usize))
        {
            for b in halves {
                p.requeue(b);
            }
        }
    }

    /// Takes in a Metadata response and places the records that waited for it.
    fn on_metadata(&mut self, response: &MetadataResponse, now: Instant) {
        let applied = self.meta.apply(response, &mut self.acc, now);
        for t in self.acc.topics.iter_mut() {
            t.available = t
                .partitions
                .iter()
                .enumerate()
                .filter(|(_, p)| p.leader >= 0)
                .map(|(i, _)| i as i32)
                .collect();
        }
        for (topic, code) in applied.unusable {
            let name = self.acc.topics[topic as usize].name.clone();
            let waiting: Vec<_> = self.acc.topics[topic as usize].waiting.drain(..).collect();
            self.acc.topics[topic as usize].waiting_since = None;
            for w in waiting {
                self.fail_waiting(
                    w,
                    ProduceError::TopicError {
                        topic: name.clone(),
                        code,
                    },
                );
            }
        }
        for topic in 0..self.acc.topics.len() as u32 {
            if !self.acc.topics[topic as usize].is_known() {
                continue;
            }
            let waiting: Vec<_> = self.acc.topics[topic as usize].waiting.drain(..).collect();
            self.acc.topics[topic as usize].waiting_since = None;
            for w in waiting {
                self.acc.release(w.reserved);
                let reserved = w.reserved;
                // Placed as of when `send` accepted it: its delivery
                // deadline counts from then, not from when metadata came
                // (and its linger has long passed).
                if let Err((kind, record)) =
                    self.place(topic, w.id, w.timestamp, w.record, reserved, w.accepted)
                {
                    let error = match kind {
                        crate::error::SendErrorKind::InvalidPartition {
                            partition,
                            partitions,
                        } => ProduceError::InvalidPartition {
                            partition,
                            partitions,
                        },
                        _ => ProduceError::Broker {
                            code: KafkaCode::InvalidRequest,
                            message: None,
                        },
                    };
                    self.metrics.records_failed(1);
                    self.events.push_back(Event::Failed {
                        id: w.id,
                        record: alloc::boxed::Box::new(record),
                        error,
                    });
                }
            }
        }
    }
}

/// Codes after which the Java client refreshes metadata (its
/// `InvalidMetadataException` family): the partition's leader or the
/// topic itself may be elsewhere now.
fn invalidates_metadata(code: KafkaCode) -> bool {
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

/// Whether a broker's answer `code` for a batch leaves it possibly
/// written: the errors raised after the leader's append (REQUEST_TIMED_OUT
/// is the replication timeout of acks=all), and those that do not say.
/// Any other error code means the broker refused the batch.
pub(crate) fn written_despite(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::RequestTimedOut
            | KafkaCode::NotEnoughReplicasAfterAppend
            | KafkaCode::KafkaStorageError
            | KafkaCode::UnknownServerError
    )
}
