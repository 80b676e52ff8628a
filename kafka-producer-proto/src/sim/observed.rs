//! What a run leaves behind for the checks: the records sent, the
//! producer's events, the logs, the requests on the wire
//! ([`Observed`]), and small helpers to read them. The harness fills it;
//! the invariants read it.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use bytes::Bytes;
use core::time::Duration;

use super::attempts::AttemptLog;
use super::cluster::StoredRecord;
use super::schedule::Schedule;
use crate::config::Config;
use crate::event::Event;
use crate::record::RecordId;
use crate::time::Instant;

/// A record the run tried to send.
#[derive(Debug, Clone)]
pub struct Sent {
    /// When.
    pub at: Instant,
    /// Its value (its index in decimal, then padding).
    pub value: Bytes,
    /// The partition it named, if it named one.
    pub partition: Option<i32>,
    /// The id `send` gave it, or `None` if `send` refused it.
    pub id: Option<RecordId>,
}

/// Everything a run left behind, for the checks.
#[derive(Debug)]
pub struct Observed<'a> {
    /// The schedule run.
    pub schedule: &'a Schedule,
    /// The producer's configuration, as built.
    pub config: Config,
    /// Every record the run tried to send, by index.
    pub sent: Vec<Sent>,
    /// The producer's terminal events, with their times.
    pub events: Vec<(Instant, Event<u64>)>,
    /// Each partition's whole log, including what retention removed.
    pub logs: Vec<Vec<StoredRecord>>,
    /// What the producer put on the wire.
    pub attempts: AttemptLog,
    /// Connection attempts: when, to which broker.
    pub connects: Vec<(Instant, i32)>,
    /// Records the producer held at the end (must be 0).
    pub pending_at_end: usize,
    /// Buffer bytes still taken at the end (must be 0).
    pub buffer_taken_at_end: u64,
    /// The most buffer bytes taken at any sample.
    pub buffer_taken_max: u64,
    /// `buffer.memory`.
    pub buffer_total: u64,
    /// The longest one-way latency the network could draw.
    pub max_latency: Duration,
    /// The producer's metrics at the end.
    pub metrics: crate::metrics::Metrics,
    /// What the brokers' SASL listener did, if the cluster had one.
    pub sasl: Option<super::sasl::SaslStats>,
    /// Faults injected.
    pub faults: super::faults::FaultTally,
}

/// Parses a stored value back to its record index.
pub(crate) fn index_of(value: Option<&Bytes>) -> Option<u64> {
    let v = value?;
    let end = v.iter().position(|b| *b == b'-')?;
    core::str::from_utf8(&v[..end]).ok()?.parse().ok()
}

/// Groups values by key, keeping order (small helper for the checks).
pub(crate) fn group<K: Ord, V>(items: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, Vec<V>> {
    let mut out: BTreeMap<K, Vec<V>> = BTreeMap::new();
    for (k, v) in items {
        out.entry(k).or_default().push(v);
    }
    out
}
