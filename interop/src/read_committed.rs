//! Reading a topic back the way a transactional application's consumer
//! does: the rdkafka consumer at `read_committed` (only what committed
//! transactions wrote, up to the last stable offset) or
//! `read_uncommitted` (everything in the log), to the end of every
//! partition.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};

/// A consumer's isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Only records of committed transactions (and non-transactional
    /// ones), up to the last stable offset.
    ReadCommitted,
    /// Every record in the log.
    ReadUncommitted,
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub value: Option<Vec<u8>>,
}

impl Read {
    /// The value as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.value.as_deref().unwrap_or_default()).into_owned()
    }
}

/// Every record of `topic`'s `partitions`, from the beginning to the end
/// (the last stable offset at `read_committed`), in partition then offset
/// order. Panics when the end is not reached within `wait`.
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: Isolation,
    wait: Duration,
) -> Vec<Read> {
    let level = match isolation {
        Isolation::ReadCommitted => "read_committed",
        Isolation::ReadUncommitted => "read_uncommitted",
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "kpp-read-committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", level)
        .create()
        .expect("rdkafka consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&assignment).expect("assign");
    let mut at_end: BTreeSet<i32> = BTreeSet::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    while at_end.len() < partitions as usize {
        assert!(
            Instant::now() < deadline,
            "{level}: only partitions {at_end:?} of {partitions} reached their end within {wait:?}"
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("{level} consumer: {e}"),
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                out.push(Read {
                    partition: m.partition(),
                    offset: m.offset(),
                    value: m.payload().map(<[u8]>::to_vec),
                });
            }
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}
