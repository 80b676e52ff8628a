//! What the producer put on the wire, read as it left: every batch of every
//! Produce request with its send time, and how many requests each
//! connection had waiting for an answer. The invariant checks judge
//! retries (backoff) and pipelining (`max.in.flight`) from this log, not
//! from the producer's own account of itself.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use crate::event::ConnectionId;
use crate::time::Instant;
use crate::wire::header::{decode_request_header, peek_correlation_id};
use crate::wire::messages::{ApiKey, ProduceRequest};
use crate::wire::record_batch::{Compression, RecordBatch};
use crate::wire::{FrameDecoder, Message, Uuid};

/// One batch as it left the producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// When the producer wrote the request holding it.
    pub at: Instant,
    /// The connection it went out on.
    pub conn: ConnectionId,
    /// The Produce version of the request holding it.
    pub version: i16,
    /// Its topic's name, as the request named it (empty from Produce v13,
    /// which names topics by id only).
    pub topic: String,
    /// Its topic's id, as the request named it (nil below Produce v13).
    pub topic_id: Uuid,
    /// Its partition.
    pub partition: i32,
    /// Its first record's value: with unique values, the batch's identity
    /// across retries.
    pub first_value: Option<Bytes>,
    /// How many records it holds.
    pub records: usize,
    /// Its producer id (-1 without idempotence).
    pub producer_id: i64,
    /// Its producer epoch.
    pub producer_epoch: i16,
    /// Its base sequence (-1 without idempotence).
    pub base_sequence: i32,
    /// The codec its header names.
    pub compression: Option<Compression>,
}

/// Every batch sent, and requests in flight per connection.
#[derive(Debug, Default)]
pub struct AttemptLog {
    /// Batches in send order.
    pub batches: Vec<Attempt>,
    /// The most requests any connection had awaiting an answer at once.
    pub max_in_flight: usize,
    waiting: BTreeMap<ConnectionId, usize>,
    answers: BTreeMap<ConnectionId, FrameDecoder>,
    /// SASL requests awaiting answers, by correlation id: not requests
    /// `max.in.flight` counts (a KIP-368 re-authentication goes out while
    /// requests are in flight, as Kafka's client sends it).
    sasl: BTreeMap<ConnectionId, BTreeSet<i32>>,
}

impl AttemptLog {
    /// Answer bytes reached the producer on `conn`.
    pub(crate) fn answer_bytes(&mut self, conn: ConnectionId, bytes: &[u8], _now: Instant) {
        let d = self.answers.entry(conn).or_default();
        d.push(bytes);
        while let Ok(Some(frame)) = d.next_frame() {
            let id = peek_correlation_id(&frame).ok();
            if let (Some(ids), Some(id)) = (self.sasl.get_mut(&conn), id)
                && ids.remove(&id)
            {
                continue;
            }
            if let Some(n) = self.waiting.get_mut(&conn) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// `conn` is gone; nothing is awaited on it any more.
    pub(crate) fn closed(&mut self, conn: ConnectionId) {
        self.waiting.remove(&conn);
        self.answers.remove(&conn);
        self.sasl.remove(&conn);
    }

    fn request(&mut self, conn: ConnectionId, frame: Bytes, at: Instant) {
        let Ok((header, mut body)) = decode_request_header(frame) else {
            return;
        };
        let mut answered = true;
        let api = ApiKey::from_i16(header.request_api_key);
        if matches!(api, Some(ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)) {
            self.sasl
                .entry(conn)
                .or_default()
                .insert(header.correlation_id);
            return;
        }
        if ApiKey::from_i16(header.request_api_key) == Some(ApiKey::Produce)
            && let Ok(request) = ProduceRequest::decode(&mut body, header.request_api_version)
        {
            answered = request.acks != 0;
            for t in &request.topic_data {
                for p in &t.partition_data {
                    let Some(Ok(batches)) = p.records.clone().map(RecordBatch::decode_all) else {
                        continue;
                    };
                    for b in batches {
                        self.batches.push(Attempt {
                            at,
                            conn,
                            version: header.request_api_version,
                            topic: t.name.clone(),
                            topic_id: t.topic_id,
                            partition: p.index,
                            first_value: b.records.first().and_then(|r| r.value.clone()),
                            records: b.records.len(),
                            producer_id: b.header.producer.producer_id,
                            producer_epoch: b.header.producer.producer_epoch,
                            base_sequence: b.header.producer.base_sequence,
                            compression: b.header.attributes.compression(),
                        });
                    }
                }
            }
        }
        if answered {
            let n = self.waiting.entry(conn).or_default();
            *n += 1;
            self.max_in_flight = self.max_in_flight.max(*n);
        }
    }
}

/// Reads one connection's outgoing bytes into the [`AttemptLog`].
#[derive(Debug, Default)]
pub(crate) struct RequestTap {
    frames: FrameDecoder,
}

impl RequestTap {
    /// The producer wrote `data` on `conn` at `at`.
    pub(crate) fn sent(
        &mut self,
        conn: ConnectionId,
        data: &[u8],
        at: Instant,
        log: &mut AttemptLog,
    ) {
        self.frames.push(data);
        while let Ok(Some(frame)) = self.frames.next_frame() {
            log.request(conn, frame, at);
        }
    }
}
