//! What becomes of a batch or a record once its fate is known: delivered
//! (events with offsets), retried (back in its queue after a backoff),
//! split, or failed with every record handed back; and the fatal state,
//! which fails everything pending.

use alloc::string::String;
use alloc::vec::Vec;

use super::{CloseCause, Producer, State};
use crate::batch::{Batch, Waiting};
use crate::cluster::invalidates_metadata;
use crate::error::{FatalError, ProduceError};
use crate::event::{ConnectionId, Event};
use crate::kafka_code::KafkaCode;
use crate::time::Instant;

impl<T> Producer<T> {
    /// Every record of the batch is in the log from `base_offset` on.
    pub(super) fn deliver(&mut self, batch: Batch<T>, base_offset: i64, log_append_time: i64) {
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
    pub(super) fn retry_or_fail(
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

    /// MESSAGE_TOO_LARGE on a batch of several records: its halves go
    /// back to the partition's queue (see [`Batch::split`]).
    pub(super) fn split(&mut self, batch: Batch<T>, now: Instant) {
        let (topic, partition) = (batch.topic as usize, batch.partition as usize);
        let name = self.acc.topics[topic].name.clone();
        // As Java: the topic's batches fill more cautiously from now on.
        if let Some(ratio) = batch.compression_ratio() {
            self.acc.split_at_ratio(batch.topic, ratio);
        }
        let (halves, unplaced) = batch.split(&name, now, self.acc.codec_mut());
        self.metrics.batch_split();
        for (id, record) in unplaced {
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
        if let Some(p) = self.acc.partition_mut(topic, partition) {
            for b in halves {
                p.requeue(b);
            }
        }
    }

    /// Fails a whole batch, handing every record back.
    pub(super) fn fail_batch(&mut self, batch: Batch<T>, error: ProduceError) {
        self.transaction_records_failed(batch.sequence.is_some(), &error);
        self.acc.release(batch.reserved);
        let name = self
            .acc
            .topics
            .get(batch.topic as usize)
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let records = batch.into_records(&name, self.acc.codec_mut());
        self.metrics.records_failed(records.len() as u64);
        for (id, record) in records {
            self.events.push_back(Event::Failed {
                id,
                record: alloc::boxed::Box::new(record),
                error: error.clone(),
            });
        }
    }

    pub(super) fn fail_waiting(&mut self, w: Waiting<T>, error: ProduceError) {
        self.transaction_records_failed(false, &error);
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

    /// Fails every record not in flight, handing each back with `failure`.
    pub(super) fn fail_all_pending(&mut self, failure: ProduceError) {
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

    /// Enters the fatal state: everything pending fails, connections close.
    pub(super) fn enter_fatal(&mut self, error: FatalError, now: Instant) {
        if matches!(self.state, State::Fatal(_) | State::Closed) {
            return;
        }
        self.state = State::Fatal(error.clone());
        self.transaction_producer_fatal(&error);
        let ids: Vec<ConnectionId> = self.conns.keys().copied().collect();
        for id in ids {
            self.close_connection(id, CloseCause::Done, now);
        }
        self.fail_all_pending(ProduceError::Fatal(error));
    }
}
