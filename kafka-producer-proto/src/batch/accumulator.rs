//! The record accumulator: per-partition queues of batches, the records
//! still waiting for their topic's metadata, and the `buffer.memory`
//! account.
//!
//! Invariants:
//! - A partition's queue holds its batches that are not in flight, in the
//!   order they were created (`Batch::order`); only the last may be open.
//!   A batch coming back for a retry is put back in that order, ahead of
//!   younger ones, so a partition's records leave in `send` order.
//! - `used` is the sum of `reserved` over every batch and waiting record,
//!   wherever it is (queued or in flight), and never exceeds `limit`.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use bytes::BytesMut;
use core::time::Duration;

use super::ORDER_SPAN;
use super::compression_ratio::CompressionRatio;
use super::partition::Partition;
use super::producer_batch::{Batch, PendingRecord};
use crate::record::{Record, RecordId};
use crate::time::Instant;
use crate::wire::Uuid;
use crate::wire::compression::{Codec, Compression, CompressionError};
use crate::wire::record_batch::BATCH_HEADER_SIZE;

/// A record accepted before its topic's partitions were known.
#[derive(Debug)]
pub(crate) struct Waiting<T> {
    pub id: RecordId,
    pub timestamp: i64,
    pub record: Record<T>,
    pub reserved: usize,
    /// When `send` accepted it: `max.block.ms` counts from here.
    pub accepted: Instant,
}

/// A topic the producer has been asked to write to.
#[derive(Debug)]
pub(crate) struct Topic<T> {
    pub name: String,
    /// The topic's id as metadata last gave it (Metadata v10+); the nil
    /// uuid while unknown. Produce v13 names the topic by it.
    pub id: Uuid,
    /// Empty until metadata names the topic's partitions.
    pub partitions: Vec<Partition<T>>,
    pub waiting: VecDeque<Waiting<T>>,
    /// When the oldest waiting record arrived; bounded by `max.block.ms`.
    pub waiting_since: Option<Instant>,
    /// Partitions with a known leader, where sticky records may go.
    pub available: Vec<i32>,
    /// How well its batches compress, when the producer compresses.
    pub ratio: CompressionRatio,
}

impl<T> Topic<T> {
    pub fn is_known(&self) -> bool {
        !self.partitions.is_empty()
    }

    /// Resizes to `count` partitions; Kafka only ever adds partitions.
    pub fn ensure_partitions(&mut self, count: usize) {
        while self.partitions.len() < count {
            self.partitions.push(Partition::new());
        }
    }
}

/// What appending a record did.
pub(crate) struct Appended {
    /// The batch the record went to is now full: the sticky partitioner
    /// moves on.
    pub batch_full: bool,
    /// The record opened a new batch (whose linger starts now).
    pub opened: bool,
}

/// All topics' queues and the memory account.
#[derive(Debug)]
pub(crate) struct Accumulator<T> {
    pub topics: Vec<Topic<T>>,
    by_name: BTreeMap<String, u32>,
    pub used: usize,
    pub limit: usize,
    batch_size: usize,
    delivery_timeout: Duration,
    pool: Vec<BytesMut>,
    /// Spent batches' record lists, emptied: a batch grows its list a
    /// record at a time, and reallocating it was a visible share of `send`.
    record_pool: Vec<Vec<PendingRecord<T>>>,
    /// New batches are part of a transaction (a transactional producer).
    pub transactional: bool,
    /// The codec of `compression.type`, if batches are compressed.
    codec: BatchCodec,
}

/// The producer's codec, if it compresses.
pub(crate) struct BatchCodec(Option<Box<dyn Codec>>);

impl core::fmt::Debug for BatchCodec {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("BatchCodec")
            .field(&self.0.as_ref().map(|c| c.compression()))
            .finish()
    }
}

/// Spare batch buffers kept for reuse, so steady state allocates none.
const POOL_LIMIT: usize = 64;

impl<T> Accumulator<T> {
    pub fn new(limit: usize, batch_size: usize, delivery_timeout: Duration) -> Self {
        Accumulator {
            codec: BatchCodec(None),
            topics: Vec::new(),
            by_name: BTreeMap::new(),
            used: 0,
            limit,
            batch_size,
            delivery_timeout,
            pool: Vec::new(),
            record_pool: Vec::new(),
            transactional: false,
        }
    }

    /// Batches will be compressed with `codec` (`compression.type`), or
    /// not, for `None`.
    pub fn with_codec(mut self, codec: Option<Box<dyn Codec>>) -> Self {
        self.codec = BatchCodec(codec);
        self
    }

    pub fn find(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The topic's index, creating its entry on first use.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(i) = self.by_name.get(name) {
            return *i;
        }
        let i = self.topics.len() as u32;
        self.topics.push(Topic {
            name: String::from(name),
            id: Uuid::default(),
            partitions: Vec::new(),
            waiting: VecDeque::new(),
            waiting_since: None,
            available: Vec::new(),
            ratio: CompressionRatio::INITIAL,
        });
        self.by_name.insert(String::from(name), i);
        i
    }

    pub fn available(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    pub fn release(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes);
    }

    /// Partition `p` of topic `t`, when both exist.
    pub fn partition_mut(&mut self, t: usize, p: usize) -> Option<&mut Partition<T>> {
        self.topics.get_mut(t).and_then(|t| t.partitions.get_mut(p))
    }

    /// Takes a spent batch's buffer back for reuse.
    pub fn recycle(&mut self, mut batch: Batch<T>) {
        self.release(batch.reserved);
        let mut records = core::mem::take(&mut batch.records);
        if self.record_pool.len() < POOL_LIMIT && records.capacity() > 0 {
            records.clear();
            self.record_pool.push(records);
        }
        if self.pool.len() < POOL_LIMIT
            && let Some(buf) = batch.into_buffer()
        {
            give_back(&mut self.pool, buf);
        }
    }

    /// The codec batches are compressed with, if any: decompressing a
    /// batch to hand its records back needs it.
    pub fn codec_mut(&mut self) -> Option<&mut dyn Codec> {
        self.codec.0.as_mut().map(|c| &mut **c as &mut dyn Codec)
    }

    /// The codec batches are compressed with, if any.
    pub fn compression(&self) -> Option<Compression> {
        self.codec.0.as_ref().map(|c| c.compression())
    }

    /// A batch of the topic with this ratio was split after
    /// MESSAGE_TOO_LARGE: the topic's batches fill more cautiously.
    pub fn split_at_ratio(&mut self, topic: u32, ratio: CompressionRatio) {
        if let Some(t) = self.topics.get_mut(topic as usize) {
            t.ratio.reset_after_split(ratio);
        }
    }

    /// Parks a record until its topic's partitions are known.
    pub fn park(&mut self, topic: u32, waiting: Waiting<T>, now: Instant) {
        self.used += waiting.reserved;
        if let Some(t) = self.topics.get_mut(topic as usize) {
            t.waiting_since.get_or_insert(now);
            t.waiting.push_back(waiting);
        }
    }

    /// Appends a record to the partition's open batch, opening a new batch
    /// when there is none or the record does not fit. `reserved` is the
    /// record's share of `buffer.memory`, already checked to be available.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        topic: u32,
        partition: i32,
        id: RecordId,
        timestamp: i64,
        record: Record<T>,
        reserved: usize,
        now: Instant,
    ) -> Result<Appended, Record<T>> {
        let batch_size = self.batch_size;
        let deadline = now + self.delivery_timeout;
        let compressing = self.codec.0.is_some();
        let Some((p, ratio)) = self.topics.get_mut(topic as usize).and_then(|t| {
            let ratio = t.ratio;
            t.partitions.get_mut(partition as usize).map(|p| (p, ratio))
        }) else {
            return Err(record);
        };
        // `reserved` bounds the record's encoded size from above (deltas at
        // their widest), so the fit costs no second encoding pass; a batch
        // may close up to 13 bytes early per record, never late. Compressed,
        // the batch counts at its estimated compressed size and the record
        // at its full size, as in Java.
        let fits = p.queue.back().is_some_and(|b| {
            b.is_open()
                && (b.records.is_empty()
                    || estimate(b, compressing, ratio) + reserved <= batch_size)
        });
        let mut opened = 0;
        if !fits {
            if let Some(b) = p.queue.back_mut() {
                b.sealed = true;
            }
            let buf = self
                .pool
                .pop()
                .unwrap_or_else(|| BytesMut::with_capacity(batch_size));
            let order = p.next_order.saturating_mul(ORDER_SPAN);
            p.next_order += 1;
            let mut batch = Batch::new(topic, partition, buf, now, deadline, order)
                .transactional(self.transactional);
            if let Some(records) = self.record_pool.pop() {
                batch.records = records;
            }
            p.queue.push_back(batch);
            opened = BATCH_HEADER_SIZE;
        }
        let Some(batch) = p.queue.back_mut() else {
            return Err(record);
        };
        batch.append(id, timestamp, record)?;
        // A record accepted earlier (it waited for metadata) brings its
        // earlier deadline into the batch.
        batch.deadline = batch.deadline.min(deadline);
        batch.reserved += reserved + opened;
        self.used += reserved + opened;
        let batch_full = estimate(batch, compressing, ratio) >= batch_size;
        if batch_full {
            batch.sealed = true;
        }
        Ok(Appended {
            batch_full,
            opened: opened > 0,
        })
    }

    /// Whether the partition's open batch has records and cannot take a
    /// record of `reserved` bytes (see `append`): appending it would open a
    /// new batch.
    pub fn fills(&self, topic: u32, partition: i32, reserved: usize) -> bool {
        let Some(t) = self.topics.get(topic as usize) else {
            return false;
        };
        let batch = usize::try_from(partition)
            .ok()
            .and_then(|p| t.partitions.get(p))
            .and_then(|p| p.queue.back());
        let compressing = self.codec.0.is_some();
        batch.is_some_and(|b| {
            b.is_open()
                && !b.records.is_empty()
                && estimate(b, compressing, t.ratio) + reserved > self.batch_size
        })
    }

    /// Seals the partition's open batch.
    pub fn seal(&mut self, topic: u32, partition: i32) {
        if let Some(b) = self
            .topics
            .get_mut(topic as usize)
            .and_then(|t| t.partitions.get_mut(usize::try_from(partition).ok()?))
            .and_then(|p| p.queue.back_mut())
        {
            b.sealed = true;
        }
    }

    /// Every batch and waiting record, for close and fatal errors.
    pub fn is_empty(&self) -> bool {
        self.topics.iter().all(|t| {
            t.waiting.is_empty()
                && t.partitions
                    .iter()
                    .all(|p| p.queue.is_empty() && p.in_flight == 0)
        })
    }

    /// Records accepted and still here: waiting for metadata or queued in
    /// a batch (not those in flight).
    pub fn queued_records(&self) -> usize {
        self.topics
            .iter()
            .map(|t| {
                t.waiting.len()
                    + t.partitions
                        .iter()
                        .flat_map(|p| p.queue.iter())
                        .map(|b| b.records.len())
                        .sum::<usize>()
            })
            .sum()
    }

    /// Batches in flight, over every partition.
    pub fn batches_in_flight(&self) -> u32 {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.in_flight)
            .sum()
    }

    /// A batch leaves flight (answered, failed or acks=0).
    pub fn finish_in_flight(&mut self, batch: &Batch<T>) {
        if let Some(p) = self
            .topics
            .get_mut(batch.topic as usize)
            .and_then(|t| t.partitions.get_mut(batch.partition as usize))
        {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
    }

    /// After metadata changed leaders: the partitions with a known leader,
    /// where sticky records may go.
    pub fn refresh_available(&mut self) {
        for t in self.topics.iter_mut() {
            t.available = t
                .partitions
                .iter()
                .enumerate()
                .filter(|(_, p)| p.leader >= 0)
                .map(|(i, _)| i as i32)
                .collect();
        }
    }

    /// Takes the batches that one Produce request to leader `node` carries
    /// now: at most one per partition it leads, each lingered and out of
    /// its retry backoff, allowed by the partition's sequence rules when
    /// idempotent, up to `max.request.size`. Partitions are visited in
    /// order, so one that does not fit waits for the next request.
    ///
    /// An idempotent batch is numbered here, the first time it is drained,
    /// in drain order, which is send order within the partition. A retry
    /// the broker is known to have already comes back in `known`: sent
    /// again to a broker that has since forgotten us, it would be written
    /// twice.
    ///
    /// `allowed` says whether a (topic index, partition) may send at all (a
    /// transactional producer's partition must be in its transaction).
    pub fn drain(
        &mut self,
        node: i32,
        now: Instant,
        rules: &Drain,
        allowed: impl Fn(u32, i32) -> bool,
    ) -> Drained<T> {
        let mut drained = Drained {
            batches: Vec::new(),
            known: Vec::new(),
            uncompressible: Vec::new(),
            refused: Vec::new(),
        };
        let mut size = 0usize;
        let Accumulator {
            topics,
            pool,
            codec,
            ..
        } = self;
        for (ti, t) in topics.iter_mut().enumerate() {
            for (pi, p) in t.partitions.iter_mut().enumerate() {
                if p.leader != node {
                    continue;
                }
                let Some(front) = p.queue.front() else {
                    continue;
                };
                if !allowed(ti as u32, pi as i32) {
                    continue;
                }
                let lingered = front.sealed
                    || rules.eager
                    || now >= front.created + rules.linger
                    || p.queue.len() > 1;
                if !lingered || front.retry_at > now {
                    continue;
                }
                if let Some(current) = rules.idempotent
                    && !p.may_send_next(node, current)
                {
                    continue;
                }
                if rules.refuse {
                    if let Some(batch) = p.queue.pop_front() {
                        drained.refused.push(batch);
                    }
                    continue;
                }
                // Closed (compressed) now, so that its size is the one sent.
                let Some(front) = p.queue.front_mut() else {
                    continue;
                };
                if let Err(e) = close(front, codec, pool, &mut t.ratio) {
                    if let Some(batch) = p.queue.pop_front() {
                        drained.uncompressible.push((batch, e));
                    }
                    continue;
                }
                let extra = front.size() + REQUEST_OVERHEAD + t.name.len();
                if !drained.batches.is_empty() && size + extra > rules.max_bytes {
                    continue;
                }
                let Some(mut batch) = p.queue.pop_front() else {
                    continue;
                };
                if let Some(current) = rules.idempotent {
                    if let Some(numbered) = batch.numbered()
                        && p.seq.has(numbered.stamp, numbered.last())
                    {
                        drained.known.push(batch);
                        continue;
                    }
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
                drained.batches.push(batch);
            }
        }
        drained
    }

    /// An idempotent batch given up after it may have reached the broker
    /// leaves its partition's sequence unresolved.
    pub fn mark_unresolved(&mut self, batch: &Batch<T>) {
        if batch.attempts == 0 {
            return;
        }
        let Some(numbered) = batch.numbered() else {
            return;
        };
        let (t, p) = (batch.topic as usize, batch.partition as usize);
        if let Some(p) = self.partition_mut(t, p) {
            p.seq.mark_unresolved(numbered);
        }
    }

    /// Partitions whose sequence is unresolved with nothing left in flight
    /// that could resolve it ask for the coming bump's fresh numbers;
    /// whether there was any, in which case a bump is needed (KIP-360).
    pub fn stuck_sequences(&mut self) -> bool {
        let mut stuck = false;
        for p in self.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            if p.seq.unresolved.is_some() && p.in_flight == 0 {
                p.seq.rewrite = true;
                stuck = true;
            }
        }
        stuck
    }

    /// A new producer id or epoch for every partition (a transactional
    /// producer's, between transactions): each numbers from 0 under
    /// `stamp`, and nothing stays in doubt.
    pub fn restart_all_sequences(&mut self, stamp: (i64, i16)) {
        for p in self.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            p.seq.reset(stamp);
            for b in p.queue.iter_mut() {
                b.sequence = None;
            }
        }
    }

    /// A bump came through: each partition that asked for it numbers from
    /// 0 under `stamp` (see [`Partition::restart_sequences`]). Returns the
    /// batches that may already be in the log, to be handed back.
    pub fn renumber_after_bump(&mut self, stamp: (i64, i16)) -> Vec<Batch<T>> {
        let mut unsure = Vec::new();
        for part in self
            .topics
            .iter_mut()
            .flat_map(|t| t.partitions.iter_mut())
            .filter(|p| p.seq.rewrite)
        {
            part.restart_sequences(stamp, &mut unsure);
        }
        unsure
    }
}

/// The size a batch counts at against `batch.size`: compressing, an open
/// batch counts at its estimated compressed size.
fn estimate<T>(batch: &Batch<T>, compressing: bool, ratio: CompressionRatio) -> usize {
    if compressing && !batch.is_closed() {
        ratio.estimate(batch.size())
    } else {
        batch.size()
    }
}

/// Closes a batch (see [`Batch::close`]), with the codec when there is
/// one, into a pooled buffer; the topic's ratio learns from it.
fn close<T>(
    batch: &mut Batch<T>,
    codec: &mut BatchCodec,
    pool: &mut Vec<BytesMut>,
    ratio: &mut CompressionRatio,
) -> Result<(), CompressionError> {
    if batch.is_closed() {
        return Ok(());
    }
    let Some(codec) = codec.0.as_deref_mut() else {
        let _ = batch.close(None, Vec::new());
        return Ok(());
    };
    let out = pool.pop().map(Vec::from).unwrap_or_default();
    match batch.close(Some(codec), out) {
        Ok(Some(compressed)) => {
            ratio.update(compressed.ratio);
            give_back(pool, compressed.spare);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err((out, e)) => {
            give_back(pool, BytesMut::from(bytes::Bytes::from(out)));
            Err(e)
        }
    }
}

/// Keeps a spare buffer for reuse, up to the pool's limit.
fn give_back(pool: &mut Vec<BytesMut>, mut buf: BytesMut) {
    if pool.len() < POOL_LIMIT {
        buf.clear();
        pool.push(buf);
    }
}

/// Bytes a Produce request spends on each topic and partition besides the
/// batches (names, indexes, lengths, tagged fields), counted generously.
const REQUEST_OVERHEAD: usize = 64;

/// How [`Accumulator::drain`] chooses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drain {
    /// `linger.ms`.
    pub linger: Duration,
    /// Flushing: no batch waits for its linger.
    pub eager: bool,
    /// `max.request.size`.
    pub max_bytes: usize,
    /// The producer id and epoch to number batches under, for an
    /// idempotent producer.
    pub idempotent: Option<(i64, i16)>,
    /// The request cannot carry this producer's batches (zstd below
    /// Produce v7): the ones ready come back in `refused`, unnumbered.
    pub refuse: bool,
}

/// What [`Accumulator::drain`] took.
#[derive(Debug)]
pub(crate) struct Drained<T> {
    /// For the request, in partition order, each counted in flight.
    pub batches: Vec<Batch<T>>,
    /// Retries the broker is known to have: delivered, not sent.
    pub known: Vec<Batch<T>>,
    /// Batches the codec failed on: to fail, not sent.
    pub uncompressible: Vec<(Batch<T>, CompressionError)>,
    /// Batches the request could not carry (see [`Drain::refuse`]).
    pub refused: Vec<Batch<T>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc() -> Accumulator<()> {
        Accumulator::new(1 << 20, 200, Duration::from_secs(1))
    }

    #[test]
    fn records_fill_a_batch_then_open_the_next() {
        let mut a = acc();
        let t = a.intern("t");
        a.topics[0].ensure_partitions(2);
        let now = Instant::ZERO;
        for i in 0..10u64 {
            let r = Record::new("t").value(alloc::vec![0u8; 40]);
            assert!(a.append(t, 1, RecordId(i), 0, r, 50, now).is_ok());
        }
        let q = &a.topics[0].partitions[1].queue;
        assert!(
            q.len() >= 2,
            "a 200-byte batch cannot hold ten 40-byte values"
        );
        // The open batch has records: a record that does not fit would
        // open another one, which is when sticky partitioning moves on.
        assert!(a.fills(t, 1, 160));
        assert!(!a.fills(t, 1, 10), "a small record still fits");
        assert!(
            !a.fills(t, 0, 160),
            "an empty partition opens its first batch"
        );
        assert!(
            q.iter()
                .take(q.len() - 1)
                .all(|b| b.sealed && b.size() <= 200)
        );
        assert_eq!(q.iter().map(|b| b.records.len()).sum::<usize>(), 10);
        assert_eq!(a.used, 10 * 50 + q.len() * BATCH_HEADER_SIZE);
        assert!(a.topics[0].partitions[0].queue.is_empty());
    }

    #[test]
    fn requeue_restores_creation_order() {
        let mut a = acc();
        let t = a.intern("t");
        a.topics[0].ensure_partitions(1);
        for i in 0..3u64 {
            let r = Record::new("t").value(alloc::vec![0u8; 150]);
            assert!(a.append(t, 0, RecordId(i), 0, r, 1, Instant::ZERO).is_ok());
        }
        let p = &mut a.topics[0].partitions[0];
        let first = p.queue.pop_front().unwrap();
        let second = p.queue.pop_front().unwrap();
        p.requeue(second);
        p.requeue(first);
        let orders: Vec<u64> = p.queue.iter().map(|b| b.order).collect();
        assert_eq!(orders, [0, ORDER_SPAN, 2 * ORDER_SPAN]);
    }
}
