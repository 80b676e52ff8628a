//! A producer batch: records of one partition, encoded once, sent (and
//! re-sent) as a unit.
//!
//! A batch is *open* while records are appended to its [`BatchBuilder`],
//! *sealed* once it takes no more (full, lingered, flushed), and *encoded*
//! when it is first drained into a request: only then are its header fields
//! final, which is where an idempotent producer will stamp its sequence.
//! From then on the same bytes go out on every attempt.
//!
//! The batch keeps, per record, only what the terminal event needs that the
//! bytes do not hold (the id, the application's value). A failed record is
//! rebuilt from the encoded bytes, zero-copy, so the producer never holds a
//! second copy of what it buffers.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};

use super::ORDER_SPAN;
use super::compression_ratio::CompressionRatio;
use crate::idempotence::Numbered;
use crate::kafka_code::KafkaCode;
use crate::record::{Header, Record, RecordId};
use crate::time::Instant;
use crate::wire::compression::{Codec, CompressionError};
use crate::wire::record_batch::{
    BATCH_HEADER_SIZE, BatchBuilder, HeaderRef, ProducerState, RecordBatch, rewrite_producer_state,
};

/// What a batch keeps per record.
#[derive(Debug)]
pub(crate) struct PendingRecord<T> {
    pub id: RecordId,
    pub user: T,
    pub timestamp: i64,
    /// Whether the application chose the partition (handed back as is).
    pub explicit_partition: bool,
}

#[derive(Debug)]
enum Body {
    /// Taking records.
    Open(BatchBuilder),
    /// Closed, uncompressed, not yet stamped with its producer fields.
    Plain(BytesMut),
    /// Closed and compressed, not yet stamped. A `Vec`, which the codec
    /// writes into; it becomes `Bytes` without a copy.
    Compressed(Vec<u8>),
    /// Stamped: the bytes every attempt sends.
    Encoded(Bytes),
}

/// One batch of one partition.
#[derive(Debug)]
pub(crate) struct Batch<T> {
    pub topic: u32,
    pub partition: i32,
    body: Body,
    pub records: Vec<PendingRecord<T>>,
    /// When the first record was appended: linger and delivery timeout
    /// count from here.
    pub created: Instant,
    /// No record of the batch may stay pending past this.
    pub deadline: Instant,
    /// Set when the batch takes no more records.
    pub sealed: bool,
    /// How many times the batch was sent.
    pub attempts: u32,
    /// Not to be sent again before this.
    pub retry_at: Instant,
    /// The last error the batch met.
    pub last_error: Option<KafkaCode>,
    /// Bytes accounted against `buffer.memory` for this batch.
    pub reserved: usize,
    /// Creation order within the partition: retried batches go back in
    /// this order.
    pub order: u64,
    /// Orders `order..order + span` belong to this batch, for the halves
    /// it may be split into.
    pub span: u64,
    /// The first sequence number, once an idempotent producer numbered it.
    pub sequence: Option<i32>,
    /// The producer id and epoch that `sequence` belongs to: a retry goes
    /// out under them even after a bump, as the broker knows it by them.
    pub producer: (i64, i16),
    /// A send of it ended without an answer that rules out its write (no
    /// answer, or REQUEST_TIMED_OUT and its kin): it may be in the log.
    pub maybe_written: bool,
    /// The producer id, epoch and sequence its bytes carry.
    stamp: ProducerState,
    /// Part of a transaction: its attributes say so.
    transactional: bool,
    /// The size it had uncompressed, header included, once it was
    /// compressed: what decompressing it back may take.
    uncompressed: Option<usize>,
}

/// What closing a batch with a codec did.
#[derive(Debug)]
pub(crate) struct Compressed {
    /// The ratio it compressed at.
    pub ratio: CompressionRatio,
    /// The buffer its records were encoded in, spent, for reuse.
    pub spare: BytesMut,
}

impl<T> Batch<T> {
    pub fn new(
        topic: u32,
        partition: i32,
        buf: BytesMut,
        now: Instant,
        deadline: Instant,
        order: u64,
    ) -> Batch<T> {
        Batch {
            topic,
            partition,
            body: Body::Open(BatchBuilder::new(buf, ProducerState::NONE, false)),
            records: Vec::new(),
            created: now,
            deadline,
            sealed: false,
            attempts: 0,
            retry_at: now,
            last_error: None,
            reserved: 0,
            order,
            span: ORDER_SPAN,
            sequence: None,
            producer: (-1, -1),
            maybe_written: false,
            stamp: ProducerState::NONE,
            transactional: false,
            uncompressed: None,
        }
    }

    /// Marks a new batch, before its first record, as part of a
    /// transaction (its attributes carry the transactional bit).
    pub fn transactional(mut self, transactional: bool) -> Batch<T> {
        if transactional != self.transactional
            && self.records.is_empty()
            && let Body::Open(builder) = self.body
        {
            self.body = Body::Open(BatchBuilder::new(
                builder.finish_mut(),
                ProducerState::NONE,
                transactional,
            ));
            self.transactional = transactional;
        }
        self
    }

    /// Its numbering, once an idempotent producer gave it one.
    pub fn numbered(&self) -> Option<Numbered> {
        self.sequence.map(|base| Numbered {
            base,
            count: self.records.len() as u32,
            stamp: self.producer,
            last_error: self.last_error,
        })
    }

    /// The encoded size now: uncompressed while open.
    pub fn size(&self) -> usize {
        match &self.body {
            Body::Open(b) => b.size(),
            Body::Plain(buf) => buf.len(),
            Body::Compressed(buf) => buf.len(),
            Body::Encoded(bytes) => bytes.len(),
        }
    }

    /// The compressed ratio it showed, once compressed.
    pub fn compression_ratio(&self) -> Option<CompressionRatio> {
        let uncompressed = self.uncompressed?;
        Some(CompressionRatio::observed(
            uncompressed.saturating_sub(BATCH_HEADER_SIZE),
            self.size().saturating_sub(BATCH_HEADER_SIZE),
        ))
    }

    /// Its compressed size over its uncompressed size, in ten-thousandths:
    /// 10,000 uncompressed.
    pub fn compression_rate(&self) -> u32 {
        self.compression_ratio()
            .unwrap_or(CompressionRatio::INITIAL)
            .ten_thousandths()
    }

    /// Closes the batch: it takes no more records, its header is final
    /// but for the producer fields, and with a codec its records are
    /// compressed, into `out` (a spare buffer). Closing a closed batch
    /// does nothing.
    ///
    /// When the codec fails, the batch is closed uncompressed, and the
    /// error comes back with `out`.
    #[allow(clippy::type_complexity)]
    pub fn close(
        &mut self,
        codec: Option<&mut dyn Codec>,
        mut out: Vec<u8>,
    ) -> Result<Option<Compressed>, (Vec<u8>, CompressionError)> {
        self.sealed = true;
        let Body::Open(_) = self.body else {
            return Ok(None);
        };
        let Body::Open(builder) = core::mem::replace(&mut self.body, Body::Encoded(Bytes::new()))
        else {
            return Ok(None);
        };
        let Some(codec) = codec else {
            self.body = Body::Plain(builder.finish_mut());
            return Ok(None);
        };
        let uncompressed = builder.size();
        match builder.finish_compressed(codec, &mut out) {
            Ok(spare) => {
                self.body = Body::Compressed(out);
                self.uncompressed = Some(uncompressed);
                let ratio = self
                    .compression_ratio()
                    .unwrap_or(CompressionRatio::INITIAL);
                Ok(Some(Compressed { ratio, spare }))
            }
            Err((plain, e)) => {
                self.body = Body::Plain(plain);
                Err((out, e))
            }
        }
    }

    /// Whether it was closed (see [`Batch::close`]).
    pub fn is_closed(&self) -> bool {
        !matches!(self.body, Body::Open(_))
    }

    pub fn is_open(&self) -> bool {
        matches!(self.body, Body::Open(_)) && !self.sealed
    }

    /// Appends a record. The caller has checked that it fits.
    pub fn append(
        &mut self,
        id: RecordId,
        timestamp: i64,
        record: Record<T>,
    ) -> Result<(), Record<T>> {
        let Body::Open(builder) = &mut self.body else {
            return Err(record);
        };
        if builder
            .append(
                timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                headers(&record),
            )
            .is_err()
        {
            return Err(record);
        }
        self.records.push(PendingRecord {
            id,
            user: record.user,
            timestamp,
            explicit_partition: record.partition.is_some(),
        });
        Ok(())
    }

    /// Fixes the header and CRC the first time the batch is drained, and
    /// returns the bytes every attempt sends.
    pub fn encoded(&mut self) -> Bytes {
        self.encoded_as(self.stamp)
    }

    /// The bytes, carrying these producer fields. The records are encoded
    /// once; new producer fields (an idempotent producer's first drain, or
    /// renumbering after an epoch bump) are written into the header in place
    /// with a fresh CRC.
    ///
    /// A batch still open is closed uncompressed first (the accumulator
    /// closes batches, with the codec, before they are drained).
    pub fn encoded_as(&mut self, producer: ProducerState) -> Bytes {
        self.sealed = true;
        let body = core::mem::replace(&mut self.body, Body::Encoded(Bytes::new()));
        let bytes = match body {
            Body::Encoded(bytes) if producer == self.stamp => bytes,
            Body::Encoded(bytes) => {
                // Shared only when a request still holds it; copy then.
                let mut buf = bytes
                    .try_into_mut()
                    .unwrap_or_else(|b| BytesMut::from(&b[..]));
                self.restamp(&mut buf, producer);
                buf.freeze()
            }
            Body::Open(builder) => {
                let mut buf = builder.finish_mut();
                self.restamp(&mut buf, producer);
                buf.freeze()
            }
            Body::Plain(mut buf) => {
                self.restamp(&mut buf, producer);
                buf.freeze()
            }
            Body::Compressed(mut buf) => {
                self.restamp(&mut buf, producer);
                Bytes::from(buf)
            }
        };
        self.body = Body::Encoded(bytes.clone());
        bytes
    }

    fn restamp(&mut self, buf: &mut [u8], producer: ProducerState) {
        if producer != ProducerState::NONE || self.stamp != ProducerState::NONE {
            // Our own encoder wrote these bytes; the rewrite cannot fail on
            // them, and if it did the old stamp would be left in place and
            // the broker would refuse the batch, not accept a wrong one.
            if rewrite_producer_state(buf, producer).is_ok() {
                self.stamp = producer;
            }
        }
    }

    /// The buffer back, for reuse by the next batch, when nothing else
    /// holds it.
    pub fn into_buffer(self) -> Option<BytesMut> {
        match self.body {
            Body::Open(b) => Some(b.finish_mut()),
            Body::Plain(buf) => Some(buf),
            Body::Compressed(buf) => Some(BytesMut::from(Bytes::from(buf))),
            Body::Encoded(bytes) => bytes.try_into_mut().ok(),
        }
    }

    /// Rebuilds the records from the batch's bytes, for failure events:
    /// `(id, record)` in append order, keys and values sharing the bytes
    /// (or, compressed, the bytes decompressed, by `codec` when it is the
    /// batch's).
    pub fn into_records(
        mut self,
        topic: &str,
        codec: Option<&mut dyn Codec>,
    ) -> Vec<(RecordId, Record<T>)> {
        let bytes = self.encoded();
        let limit = self.uncompressed.unwrap_or(bytes.len());
        let decoded = RecordBatch::decode_all_with(bytes, codec, limit)
            .ok()
            .and_then(|mut v| v.pop());
        let mut decoded = decoded.map(|b| b.records).unwrap_or_default().into_iter();
        let partition = self.partition;
        self.records
            .into_iter()
            .map(|p| {
                // The decoder reads back what our encoder wrote; a missing
                // record would be a bug, and still hands back an empty one
                // rather than losing the terminal event.
                let r = decoded.next();
                let (key, value, hdrs) = match r {
                    Some(r) => (
                        r.key,
                        r.value,
                        r.headers
                            .into_iter()
                            .map(|h| Header {
                                key: String::from(h.key()),
                                value: h.value().cloned(),
                            })
                            .collect(),
                    ),
                    None => (None, None, Vec::new()),
                };
                let record = Record {
                    topic: String::from(topic),
                    partition: p.explicit_partition.then_some(partition),
                    key,
                    value,
                    headers: hdrs,
                    timestamp: Some(p.timestamp),
                    user: p.user,
                };
                (p.id, record)
            })
            .collect()
    }
}

impl<T> Batch<T> {
    /// MESSAGE_TOO_LARGE on a batch of several records: the broker's limit
    /// is below our batch, so each half is sent on its own (as the Java
    /// client splits), halving again if needed until single records are
    /// left. The halves keep the batch's deadline and attempts, and each
    /// owns half of its order range, so that they (and their own halves)
    /// requeue in record order; the first carries the memory reserved.
    /// Records that could not be appended to a half come back apart, to be
    /// failed (it cannot happen: they came out of a valid batch).
    #[allow(clippy::type_complexity)]
    pub fn split(
        self,
        topic: &str,
        now: Instant,
        codec: Option<&mut dyn Codec>,
    ) -> (Vec<Batch<T>>, Vec<(RecordId, Record<T>)>) {
        let (topic_index, partition, order, span, deadline, attempts, reserved) = (
            self.topic,
            self.partition,
            self.order,
            self.span,
            self.deadline,
            self.attempts,
            self.reserved,
        );
        let transactional = self.transactional;
        let mut records = self.into_records(topic, codec);
        let second_half = records.split_off(records.len() / 2);
        let mut halves = Vec::new();
        let mut unplaced = Vec::new();
        for (i, half) in [records, second_half].into_iter().enumerate() {
            let half_span = (span / 2).max(1);
            let mut b = Batch::new(
                topic_index,
                partition,
                BytesMut::new(),
                now,
                deadline,
                order + i as u64 * half_span,
            )
            .transactional(transactional);
            b.span = half_span;
            b.attempts = attempts;
            b.created = now;
            b.sealed = true;
            b.reserved = if i == 0 { reserved } else { 0 };
            for (id, record) in half {
                let ts = record.timestamp.unwrap_or(0);
                if let Err(record) = b.append(id, ts, record) {
                    unplaced.push((id, record));
                }
            }
            halves.push(b);
        }
        (halves, unplaced)
    }
}

fn headers<T>(r: &Record<T>) -> impl Iterator<Item = HeaderRef<'_>> + Clone {
    r.headers
        .iter()
        .map(|h| (h.key.as_str(), h.value.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_records_come_back_from_the_bytes_exactly() {
        let now = Instant::from_millis(1);
        let mut b: Batch<u32> = Batch::new(0, 3, BytesMut::new(), now, now, 0);
        let records = [
            Record::new("t")
                .key("k")
                .value("v")
                .header("h", Some("x"))
                .header("n", None::<Bytes>)
                .user(7u32),
            Record::new("t").partition(3).user(8u32),
        ];
        for (i, r) in records.iter().enumerate() {
            b.append(RecordId(i as u64), 100 + i as i64, r.clone())
                .unwrap();
        }
        let back = b.into_records("t", None);
        assert_eq!(back.len(), 2);
        let mut want0 = records[0].clone();
        want0.timestamp = Some(100);
        assert_eq!(back[0], (RecordId(0), want0));
        let mut want1 = records[1].clone();
        want1.timestamp = Some(101);
        assert_eq!(back[1], (RecordId(1), want1));
    }

    #[test]
    fn restamping_changes_only_the_producer_fields() {
        let now = Instant::ZERO;
        let mut b: Batch<()> = Batch::new(0, 0, BytesMut::new(), now, now, 0);
        b.append(RecordId(0), 5, Record::new("t").value("v"))
            .unwrap();
        let first = b.encoded_as(ProducerState::new(7, 0, 10));
        let again = b.encoded_as(ProducerState::new(7, 0, 10));
        assert_eq!(first, again, "a retry sends the same bytes");
        let bumped = b.encoded_as(ProducerState::new(7, 1, 0));
        let h = crate::wire::record_batch::BatchHeader::peek(&bumped).unwrap();
        assert_eq!(h.producer, ProducerState::new(7, 1, 0));
        let decoded = RecordBatch::decode_all(bumped.clone()).expect("CRC recomputed");
        assert_eq!(decoded[0].records[0].value.as_deref(), Some(&b"v"[..]));
        assert_eq!(first.len(), bumped.len());
        let differing: Vec<usize> = (0..first.len())
            .filter(|i| first[*i] != bumped[*i])
            .collect();
        assert!(
            differing
                .iter()
                .all(|i| (17..21).contains(i) || (43..61).contains(i)),
            "{differing:?}"
        );
    }

    #[test]
    fn encoding_happens_once_and_seals() {
        let now = Instant::ZERO;
        let mut b: Batch<()> = Batch::new(0, 0, BytesMut::new(), now, now, 0);
        b.append(RecordId(0), 5, Record::new("t").value("v"))
            .unwrap();
        assert!(b.is_open());
        let first = b.encoded();
        assert!(!b.is_open());
        assert_eq!(b.encoded(), first);
        assert!(b.append(RecordId(1), 5, Record::new("t")).is_err());
        assert_eq!(b.size(), first.len());
    }

    #[test]
    fn a_split_keeps_every_record_in_order_and_the_order_range_in_halves() {
        let now = Instant::from_millis(5);
        let mut b: Batch<u32> = Batch::new(0, 2, BytesMut::new(), now, now, 4 * ORDER_SPAN);
        for i in 0..5u32 {
            let r = Record::new("t").value(alloc::vec![i as u8; 3]).user(i);
            b.append(RecordId(u64::from(i)), 100, r).unwrap();
        }
        b.reserved = 500;
        b.attempts = 2;
        let (halves, unplaced) = b.split("t", Instant::from_millis(9), None);
        assert!(unplaced.is_empty());
        assert_eq!(halves.len(), 2);
        let users: Vec<u32> = halves
            .iter()
            .flat_map(|h| h.records.iter().map(|r| r.user))
            .collect();
        assert_eq!(users, [0, 1, 2, 3, 4]);
        assert_eq!(
            halves.iter().map(|h| h.order).collect::<Vec<_>>(),
            [4 * ORDER_SPAN, 4 * ORDER_SPAN + ORDER_SPAN / 2]
        );
        assert!(halves.iter().all(|h| h.span == ORDER_SPAN / 2 && h.sealed));
        assert!(halves.iter().all(|h| h.attempts == 2 && h.partition == 2));
        assert_eq!(
            halves.iter().map(|h| h.reserved).collect::<Vec<_>>(),
            [500, 0]
        );
    }
}
