//! Runs one [`Schedule`]: the real [`Producer`] against a [`SimCluster`]
//! through a faulty [`SimNet`], in virtual time, then checks every
//! guarantee of the run ([`super::invariants`]).
//!
//! ```
//! use kafka_producer_proto::sim::run_seed;
//!
//! let report = run_seed(42);
//! assert!(report.violations.is_empty(), "{report}");
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;
use core::fmt;
use core::time::Duration;

use super::cluster::{SimCluster, StoredRecord};
use super::entropy::Entropy;
use super::faults::FaultTally;
use super::invariants::{CheckTally, Violation, check};
use super::network::SimNet;
use super::observed::{Observed, Sent, index_of};
use super::sasl::SimSasl;
use super::schedule::{ClusterFault, Schedule};
use crate::config::Config;
use crate::config::SecurityProtocol;
use crate::event::Event;
use crate::producer::Producer;
use crate::record::Record;
use crate::time::Instant;

/// The one topic every schedule writes to.
pub const TOPIC: &str = "sim";
/// The SASL user of every schedule with SASL.
const SASL_USER: &str = "sim-user";
const SASL_PASSWORD: &str = "sim-password";

/// What one run did and whether it held every guarantee.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The seed, when the run came from one.
    pub seed: Option<u64>,
    /// The schedule, printed.
    pub schedule: String,
    /// Records accepted by `send`.
    pub accepted: u64,
    /// Records refused by `send` (buffer full).
    pub refused: u64,
    /// Records delivered.
    pub delivered: u64,
    /// Records failed (and handed back).
    pub failed: u64,
    /// Virtual time the run took.
    pub virtual_time: Duration,
    /// Faults injected.
    pub faults: FaultTally,
    /// Checks made, per guarantee.
    pub checks: CheckTally,
    /// Guarantees broken.
    pub violations: Vec<Violation>,
    /// When a guarantee broke: every partition's log and every batch sent,
    /// one line each, for the replay to print.
    pub trace: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(seed) = self.seed {
            writeln!(f, "seed {seed}")?;
        }
        write!(f, "{}", self.schedule)?;
        writeln!(
            f,
            "outcome: {} accepted, {} refused, {} delivered, {} failed, {:?} of virtual time",
            self.accepted, self.refused, self.delivered, self.failed, self.virtual_time
        )?;
        let faults: Vec<String> = self
            .faults
            .counts()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        writeln!(f, "faults: {}", faults.join(", "))?;
        for v in &self.violations {
            writeln!(f, "VIOLATION {v}")?;
        }
        Ok(())
    }
}

/// Draws the schedule from `seed` and runs it.
pub fn run_seed(seed: u64) -> Report {
    let mut entropy = Entropy::seeded(seed);
    let schedule = Schedule::generate(&mut entropy);
    let mut report = run(&schedule, entropy);
    report.seed = Some(seed);
    report
}

/// Draws the schedule from a fuzzer's bytes and runs it; the same bytes
/// keep choosing each fault as the run goes.
pub fn run_bytes(data: &[u8]) -> Report {
    let mut entropy = Entropy::from_bytes(data);
    let schedule = Schedule::generate(&mut entropy);
    run(&schedule, entropy)
}

/// What happens at a point of the run.
#[derive(Debug, Clone, Copy)]
enum Action {
    Send(u64),
    Fault(ClusterFault),
    Up(i32),
    Unmute(i32),
    Close,
}

fn config(s: &Schedule, cluster: &SimCluster, seed: u64) -> Result<Config, String> {
    let mut b = Config::builder();
    b.bootstrap_servers(&cluster.bootstrap_servers())
        .acks(s.acks)
        .enable_idempotence(s.idempotence)
        .max_in_flight_requests_per_connection(s.max_in_flight)
        .linger(s.linger)
        .batch_size(s.batch_size)
        .retries(s.retries)
        .request_timeout(s.request_timeout)
        .delivery_timeout(s.delivery_timeout)
        .retry_backoff(s.retry_backoff)
        .retry_backoff_max(s.retry_backoff_max)
        .reconnect_backoff(s.reconnect_backoff)
        .reconnect_backoff_max(s.reconnect_backoff * 10)
        .buffer_memory(s.buffer_memory)
        .max_block(s.max_block)
        .compression_type(s.compression)
        .random_seed(seed);
    if let Some(sasl) = &s.sasl {
        b.security_protocol(SecurityProtocol::SaslPlaintext)
            .sasl_mechanism(sasl.mechanism);
        if sasl.mechanism.uses_password() {
            b.sasl_credentials(SASL_USER, SASL_PASSWORD);
        }
    }
    b.build().map_err(|e| format!("{e}"))
}

/// Runs `schedule`, drawing its faults from `entropy`.
pub fn run(schedule: &Schedule, mut entropy: Entropy) -> Report {
    let s = schedule;
    let start = Instant::from_millis(1_700_000_000_000);
    let mut cluster = SimCluster::new(s.brokers);
    cluster.create_topic(TOPIC, s.partitions);
    if let Some(sasl) = &s.sasl {
        let mut listener = SimSasl::new(&crate::sasl::Mechanism::ALL)
            .user(SASL_USER, SASL_PASSWORD)
            .session_lifetime(sasl.session_lifetime);
        listener.token_lifetime = sasl.token_lifetime;
        cluster.sasl = Some(listener);
    }
    let mut report = Report {
        schedule: format!("{s}"),
        ..Report::default()
    };
    let config = match config(s, &cluster, entropy.next_u64()) {
        Ok(c) => c,
        Err(e) => {
            report.violations.push(Violation::new(
                "schedule",
                format!("the schedule's config is refused: {e}"),
            ));
            return report;
        }
    };
    let mut net = SimNet::new(Producer::new(config.clone(), start), cluster, start);
    net.faults = s.net.clone();
    net.entropy = entropy;
    if let Some(sasl) = &s.sasl {
        net.sasl_faults = sasl.faults;
    }

    let mut timeline: Vec<(Duration, Action)> = Vec::new();
    for i in 0..s.records {
        timeline.push((
            s.send_gap * u32::try_from(i).unwrap_or(u32::MAX),
            Action::Send(i),
        ));
    }
    let mut longest_fault = Duration::ZERO;
    for (at, f) in &s.faults {
        timeline.push((*at, Action::Fault(*f)));
        match *f {
            ClusterFault::Restart { node, down_for } | ClusterFault::Outage { node, down_for } => {
                timeline.push((*at + down_for, Action::Up(node)));
                longest_fault = longest_fault.max(down_for);
            }
            ClusterFault::Hang { node, mute_for } => {
                timeline.push((*at + mute_for, Action::Unmute(node)));
                longest_fault = longest_fault.max(mute_for);
            }
            _ => {}
        }
    }
    let last_send = s.send_gap * u32::try_from(s.records).unwrap_or(u32::MAX);
    timeline.push((last_send, Action::Close));
    // Stable: sends keep their order, and a fault and its end too.
    timeline.sort_by_key(|(at, _)| *at);

    let mut sent: Vec<Sent> = Vec::new();
    let mut archive: Vec<Vec<StoredRecord>> = alloc::vec![Vec::new(); s.partitions];
    let mut buffer_taken_max = 0u64;
    for (at, action) in timeline {
        net.advance_to(start + at);
        match action {
            Action::Send(i) => {
                let mut value = format!("{i}-");
                value.extend(core::iter::repeat_n('x', s.padding));
                let value = Bytes::from(value);
                let mut r = Record::new(TOPIC).value(value.clone()).user(i);
                if s.key_every > 0 && i % s.key_every == 0 {
                    r = r.key(format!("key-{}", i % 17));
                }
                if s.partition_every > 0 && i % s.partition_every == 0 {
                    r.partition = Some((i % s.partitions as u64) as i32);
                }
                let partition = r.partition;
                let id = net.producer.send(r, net.now).ok();
                sent.push(Sent {
                    at: net.now,
                    value,
                    partition,
                    id,
                });
            }
            Action::Fault(f) => apply(&mut net, f, &mut archive),
            Action::Up(node) => net.broker_up(node),
            Action::Unmute(node) => {
                net.mute.remove(&node);
            }
            Action::Close => net.producer.close(net.now),
        }
        let m = net.producer.metrics();
        buffer_taken_max = buffer_taken_max.max(m.buffer_total_bytes - m.buffer_available_bytes);
    }
    let horizon = config.delivery_timeout() + config.request_timeout() * 2 + longest_fault;
    net.run_until(horizon + Duration::from_secs(60), |n| {
        n.events.last().is_some_and(|e| matches!(e, Event::Closed))
    });

    let m = net.producer.metrics();
    let logs = archive
        .into_iter()
        .enumerate()
        .map(|(p, mut old)| {
            old.extend(net.cluster.log(TOPIC, p).iter().cloned());
            old
        })
        .collect();
    let events: Vec<(Instant, Event<u64>)> = net
        .event_times
        .iter()
        .copied()
        .zip(core::mem::take(&mut net.events))
        .collect();
    report.virtual_time = net.now - start;
    report.faults = net.tally.clone();
    report.accepted = sent.iter().filter(|r| r.id.is_some()).count() as u64;
    report.refused = sent.len() as u64 - report.accepted;
    for (_, e) in &events {
        match e {
            Event::Delivered { .. } => report.delivered += 1,
            Event::Failed { .. } => report.failed += 1,
            _ => {}
        }
    }
    let observed = Observed {
        schedule: s,
        config,
        sent,
        events,
        logs,
        attempts: core::mem::take(&mut net.attempts),
        connects: core::mem::take(&mut net.connects),
        pending_at_end: net.producer.pending_records(),
        buffer_taken_at_end: m.buffer_total_bytes - m.buffer_available_bytes,
        buffer_taken_max,
        buffer_total: m.buffer_total_bytes,
        max_latency: s.net.latency.max() + s.net.slow_read * 64,
        metrics: m,
        sasl: net.cluster.sasl.as_ref().map(|s| s.stats.clone()),
        faults: net.tally.clone(),
    };
    let (checks, violations) = check(&observed);
    if !violations.is_empty() {
        report.trace = trace(&observed, start);
    }
    report.checks = checks;
    report.violations = violations;
    report
}

fn trace(o: &Observed<'_>, start: Instant) -> Vec<String> {
    let ms = |t: Instant| (t - start).as_secs_f64() * 1e3;
    let mut out = Vec::new();
    out.push(format!(
        "producer: errors by code {:?}, {} batches retried",
        o.metrics.errors_by_code, o.metrics.batch_retry_total
    ));
    for (p, log) in o.logs.iter().enumerate() {
        let entries: Vec<String> = log
            .iter()
            .map(|r| {
                let i = index_of(r.value.as_ref()).map_or(-1, |i| i as i64);
                format!(
                    "{i}@{}({},{},{})",
                    r.offset, r.producer_id, r.producer_epoch, r.sequence
                )
            })
            .collect();
        out.push(format!("log p{p}: {}", entries.join(" ")));
    }
    for a in &o.attempts.batches {
        out.push(format!(
            "sent {:.3} ms p{} conn {} records {:?}+{} as ({},{},{})",
            ms(a.at),
            a.partition,
            a.conn.0,
            index_of(a.first_value.as_ref()),
            a.records,
            a.producer_id,
            a.producer_epoch,
            a.base_sequence
        ));
    }
    for (at, e) in &o.events {
        if let Event::Failed { record, error, .. } = e {
            out.push(format!(
                "failed {:.3} ms record {}: {error}",
                ms(*at),
                record.user
            ));
        }
    }
    out
}

fn apply(net: &mut SimNet<u64>, f: ClusterFault, archive: &mut [Vec<StoredRecord>]) {
    match f {
        ClusterFault::MoveLeader { partition, to } => {
            net.cluster.set_leader(TOPIC, partition, to);
            net.tally.leader_moves += 1;
        }
        ClusterFault::Restart { node, .. } => {
            net.broker_restart(node);
            net.tally.restarts += 1;
        }
        ClusterFault::Outage { node, .. } => {
            net.broker_down(node);
            net.tally.outages += 1;
        }
        ClusterFault::Hang { node, .. } => {
            net.mute.insert(node);
            net.tally.hangs += 1;
        }
        ClusterFault::Truncate { partition } => {
            // Retention (or DeleteRecords) up to just past the last offset
            // the producer has been told of: everything it knows is
            // written goes, with the broker's memory of the producer.
            let acked = net
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::Delivered {
                        partition: p,
                        offset: Some(o),
                        ..
                    } if *p as usize == partition => Some(*o),
                    _ => None,
                })
                .max();
            let Some(last) = acked else { return };
            let start = net.cluster.log_start(TOPIC, partition);
            let log = net.cluster.log(TOPIC, partition);
            let gone = usize::try_from(last + 1 - start)
                .unwrap_or(0)
                .min(log.len());
            if let Some(kept) = archive.get_mut(partition) {
                kept.extend(log[..gone].iter().cloned());
            }
            net.cluster.truncate_log(TOPIC, partition, last + 1);
            net.tally.truncations += 1;
        }
    }
}
