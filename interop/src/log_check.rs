//! Reads a topic back from a real broker with the rdkafka consumer and
//! checks it against what the producer reported, record by record.
//!
//! The producer's word is checked against an independent client: every
//! record the producer reported delivered must be in the log exactly once,
//! field for field (key, value, headers, timestamp), in the partition and
//! at the offset the producer reported, and each partition must hold its
//! records in the order they were sent. Nothing else may be in the log.
//!
//! Kafka's high watermarks are exact, so [`read_topic`] reads every
//! partition up to its high watermark: duplicates, which would sit past
//! the records the producer knows of, are read too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use kafka_producer_proto::Record;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use crate::roundtrip::Sent;

/// What the producer said became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered: where, and with which timestamp.
    Delivered {
        partition: i32,
        /// `None` when the broker did not say (acks=0).
        offset: Option<i64>,
        timestamp: i64,
    },
    /// Failed and handed back; the log must not hold it.
    Failed,
}

/// A record as sent (its index in `sent` is its send order) with what the
/// producer reported for it.
pub struct Expected<'a> {
    pub sent: &'a [Record],
    pub outcomes: &'a [Outcome],
    /// Delivered records, by (partition, offset), whose reported timestamp
    /// may be this broker-given time instead of their CreateTime: Kafka
    /// answers a retried batch it already has with the original batch's
    /// max timestamp as `log_append_time_ms`, even on a CreateTime topic,
    /// and the producer (like the Java client) reports that. Only for
    /// records sent with an explicit timestamp, so that the log is still
    /// checked against the CreateTime they were sent with.
    pub broker_times: Option<&'a dyn Fn(i32, i64) -> Option<i64>>,
}

/// One record as the consumer read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub offset: i64,
    pub record: Sent,
}

/// Per partition, every record of the topic in offset order.
pub type Log = BTreeMap<i32, Vec<Read>>;

/// The rdkafka consumer the checks read with: CRCs verified by librdkafka
/// (an independent CRC-32C), no group coordination.
fn consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "kpp-log-check")
        .set("enable.auto.commit", "false")
        .set("check.crcs", "true")
        // A 1,000,000-byte record must fit in one fetch.
        .set("fetch.message.max.bytes", "2000000")
        .create()
        .expect("rdkafka consumer")
}

/// Reads `topic` from offset 0 to the high watermark of each of its
/// `partitions`, once the watermarks add up to `at_least` records (or
/// `limit` has passed): with acks=0 a record counts as delivered once
/// written to the socket, and the broker appends it a moment later.
///
/// # Panics
///
/// When the consumer fails, or the log is not read whole within `limit`.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    at_least: usize,
    limit: Duration,
) -> Log {
    let consumer = consumer(bootstrap);
    let deadline = Instant::now() + limit;
    let mut ends = BTreeMap::new();
    loop {
        for p in 0..partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("watermarks of {topic}/{p}: {e}"));
            assert_eq!(low, 0, "{topic}/{p} starts at offset 0");
            ends.insert(p, high);
        }
        if ends.values().sum::<i64>() >= at_least as i64 || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut log: Log = (0..partitions).map(|p| (p, Vec::new())).collect();
    let done = |log: &Log| ends.iter().all(|(p, end)| log[p].len() as i64 >= *end);
    while !done(&log) {
        assert!(
            Instant::now() < deadline,
            "{topic}: read back {} of {} records within {limit:?}",
            log.values().map(Vec::len).sum::<usize>(),
            ends.values().sum::<i64>()
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = message.unwrap_or_else(|e| panic!("{topic}: consumer error: {e}"));
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        let record = Sent {
            timestamp: m.timestamp().to_millis().expect("a CreateTime"),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
        };
        let offset = m.offset();
        if offset < ends[&m.partition()] {
            log.get_mut(&m.partition())
                .expect("an assigned partition")
                .push(Read { offset, record });
        }
    }
    for reads in log.values_mut() {
        reads.sort_by_key(|r| r.offset);
    }
    log
}

/// `record` in the form the consumer reads, with the timestamp the
/// producer reported.
fn as_read(record: &Record, timestamp: i64) -> Sent {
    Sent {
        timestamp,
        key: record.key.as_ref().map(|k| k.to_vec()),
        value: record.value.as_ref().map(|v| v.to_vec()),
        headers: record
            .headers
            .iter()
            .map(|h| (h.key.clone(), h.value.as_ref().map(|v| v.to_vec())))
            .collect(),
    }
}

/// What [`check`] found; [`Checked::assert_exact`] fails the test on any
/// discrepancy.
#[derive(Debug, Default)]
pub struct Checked {
    /// Records in the log.
    pub in_log: usize,
    /// Records the producer reported delivered.
    pub delivered: usize,
    /// Records the producer handed back.
    pub failed: usize,
    /// Delivered records compared with their offset as reported.
    pub offsets_checked: usize,
    /// Delivered records reported with the broker's time for their batch
    /// rather than their CreateTime (see [`Expected::broker_times`]).
    pub broker_times: usize,
    /// Discrepancies, the first few of each kind, in words.
    pub problems: Vec<String>,
    /// Per kind of discrepancy, how many.
    pub counts: BTreeMap<&'static str, usize>,
}

const SHOWN: usize = 5;
fn shown() -> usize {
    std::env::var("KPP_LOG_CHECK_SHOWN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SHOWN)
}

impl Checked {
    fn problem(&mut self, kind: &'static str, detail: impl FnOnce() -> String) {
        let n = self.counts.entry(kind).or_default();
        *n += 1;
        if *n <= shown() {
            self.problems.push(format!("{kind}: {}", detail()));
        }
    }

    /// Panics, listing what was wrong, unless the log holds exactly the
    /// delivered records, each once, as sent, where reported, in send
    /// order.
    pub fn assert_exact(&self) {
        if self.problems.is_empty() {
            return;
        }
        let mut text = format!(
            "the log ({} records) does not match what the producer reported \
             ({} delivered, {} failed); counts {:?}:\n",
            self.in_log, self.delivered, self.failed, self.counts
        );
        for p in &self.problems {
            let _ = writeln!(text, "  {p}");
        }
        panic!("{text}");
    }
}

/// Compares the log of `topic` with what the producer reported for that
/// topic's records. Per partition, the delivered records in send order
/// must be the log, record for record: same fields, and the offset the
/// producer reported, if it reported one.
pub fn check(topic: &str, expected: &Expected<'_>, log: &Log) -> Checked {
    assert_eq!(expected.sent.len(), expected.outcomes.len());
    let mut checked = Checked {
        in_log: log.values().map(Vec::len).sum(),
        ..Checked::default()
    };
    let mut per_partition: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (i, outcome) in expected.outcomes.iter().enumerate() {
        if expected.sent[i].topic != topic {
            continue;
        }
        match outcome {
            Outcome::Delivered { partition, .. } => {
                checked.delivered += 1;
                per_partition.entry(*partition).or_default().push(i);
            }
            Outcome::Failed => checked.failed += 1,
        }
    }
    for (p, indices) in &per_partition {
        let reads = log.get(p).map(Vec::as_slice).unwrap_or_default();
        for (n, i) in indices.iter().enumerate() {
            let record = &expected.sent[*i];
            let Outcome::Delivered {
                offset, timestamp, ..
            } = &expected.outcomes[*i]
            else {
                unreachable!("only delivered records are listed")
            };
            if record.partition.is_some_and(|asked| asked != *p) {
                checked.problem("partition", || {
                    format!(
                        "record {i} asked for partition {:?}, delivered to {p}",
                        record.partition
                    )
                });
            }
            // The CreateTime in the log: as sent when the record carried
            // one, else as the producer stamped and reported it.
            let mut create_time = *timestamp;
            if let Some(t) = record.timestamp {
                create_time = t;
                if t != *timestamp {
                    let broker_time = offset
                        .zip(expected.broker_times)
                        .and_then(|(o, times)| times(*p, o));
                    if broker_time == Some(*timestamp) {
                        checked.broker_times += 1;
                    } else {
                        checked.problem("timestamp", || {
                            format!(
                                "record {i}: sent with timestamp {t}, reported {timestamp} \
                                 (the broker's time for its batch: {broker_time:?})"
                            )
                        });
                    }
                }
            }
            let Some(read) = reads.get(n) else {
                checked.problem("missing", || {
                    format!(
                        "partition {p}: record {i} (the {n}th delivered there) is not in the log, \
                         which ends at {} records",
                        reads.len()
                    )
                });
                continue;
            };
            if let Some(offset) = offset {
                checked.offsets_checked += 1;
                if *offset != read.offset {
                    checked.problem("offset", || {
                        format!(
                            "partition {p}: record {i} reported at offset {offset}, \
                             the log has it (by send order) at {}",
                            read.offset
                        )
                    });
                }
            }
            let want = as_read(record, create_time);
            if read.record != want {
                checked.problem("fields", || {
                    format!(
                        "partition {p} offset {}: record {i} differs: {}",
                        read.offset,
                        difference(&want, &read.record)
                    )
                });
            }
        }
        if reads.len() > indices.len() {
            checked.problem("extra", || {
                format!(
                    "partition {p}: {} records in the log beyond the {} delivered, the first at offset {}",
                    reads.len() - indices.len(),
                    indices.len(),
                    reads[indices.len()].offset
                )
            });
        }
    }
    for (p, reads) in log {
        if !per_partition.contains_key(p) && !reads.is_empty() {
            checked.problem("extra", || {
                format!(
                    "partition {p}: {} records, none delivered there",
                    reads.len()
                )
            });
        }
    }
    checked
}

/// Which fields differ, briefly (values can be a megabyte).
fn difference(want: &Sent, got: &Sent) -> String {
    let brief = |v: &Option<Vec<u8>>| match v {
        None => "null".to_string(),
        Some(b) if b.len() > 40 => format!("{} bytes", b.len()),
        Some(b) => format!("{:?}", String::from_utf8_lossy(b)),
    };
    let mut out = Vec::new();
    if want.key != got.key {
        out.push(format!("key {} vs {}", brief(&want.key), brief(&got.key)));
    }
    if want.value != got.value {
        out.push(format!(
            "value {} vs {}",
            brief(&want.value),
            brief(&got.value)
        ));
    }
    if want.timestamp != got.timestamp {
        out.push(format!("timestamp {} vs {}", want.timestamp, got.timestamp));
    }
    if want.headers != got.headers {
        out.push(format!(
            "{} headers vs {} (first differing: {:?})",
            want.headers.len(),
            got.headers.len(),
            want.headers
                .iter()
                .zip(&got.headers)
                .find(|(a, b)| a != b)
                .map(|(a, _)| &a.0)
        ));
    }
    out.join("; ")
}
