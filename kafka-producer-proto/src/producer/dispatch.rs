//! Applying responses: each answer goes to what asked for it, and what it
//! means for the batches it answers (delivered, retried, split, failed) is
//! decided here, with the rules of the parts (`idempotence` for an
//! idempotent batch's answer, `cluster` for metadata).

use alloc::vec::Vec;
use bytes::Bytes;

use super::{CloseCause, Producer};
use crate::batch::Batch;
use crate::cluster::{InFlight, Phase, ProduceTopics, Purpose};
use crate::error::{FatalError, ProduceError, SendErrorKind};
use crate::event::{ConnectionId, Event};
use crate::idempotence::{INIT_RETRY, IdInput, written_despite};
use crate::kafka_code::KafkaCode;
use crate::time::Instant;
use crate::wire::header::{decode_response, decode_response_header};
use crate::wire::messages::produce::PartitionProduceResponse;
use crate::wire::messages::{ApiKey, InitProducerIdResponse, MetadataResponse, ProduceResponse};
use crate::wire::version_negotiation::{ApiVersionsOutcome, read_api_versions_response};

impl<T> Producer<T> {
    /// Routes one response to what asked for it.
    pub(super) fn dispatch(
        &mut self,
        id: ConnectionId,
        request: InFlight<T>,
        frame: Bytes,
        now: Instant,
    ) {
        let latency = now.saturating_duration_since(request.sent_at);
        match request.purpose {
            Purpose::ApiVersions => self.on_api_versions(id, request.version, frame, now),
            Purpose::SaslHandshake => self.on_sasl_answer(id, true, request.version, frame, now),
            Purpose::SaslAuthenticate => {
                self.on_sasl_answer(id, false, request.version, frame, now)
            }
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
            Purpose::Transaction(work) => {
                self.metrics.request_completed(latency);
                self.on_transaction_answer(id, work, request.version, frame, now);
            }
            Purpose::Produce { batches, topics } => {
                match decode_response::<ProduceResponse>(frame, request.version) {
                    Ok((_, response)) => {
                        self.metrics.request_completed(latency);
                        let sent = (request.version, &topics);
                        self.on_produce(id, sent, batches, response, now);
                    }
                    Err(_) => {
                        for mut b in batches {
                            self.acc.finish_in_flight(&b);
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
                let level = Self::transaction_version_of(&response.finalized_features);
                self.transaction_features(response.finalized_features_epoch, level);
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
                self.after_negotiation(id, now);
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
        (version, topics): (i16, &ProduceTopics),
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
            self.acc.finish_in_flight(&batch);
            let name = &self.acc.topics[batch.topic as usize].name;
            let answer: Option<&PartitionProduceResponse> =
                topics.answer(&response, version, batch.topic, name, batch.partition);
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

    /// Takes in a Metadata response and places the records that waited for it.
    fn on_metadata(&mut self, response: &MetadataResponse, now: Instant) {
        let applied = self.meta.apply(response, &mut self.acc, now);
        if applied.rebootstrap {
            self.rebootstrap(now);
        }
        self.acc.refresh_available();
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
                        SendErrorKind::InvalidPartition {
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
