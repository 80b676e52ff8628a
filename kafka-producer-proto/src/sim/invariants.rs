//! The guarantees of DESIGN.md, checked after every simulated run against
//! what the run left behind: the producer's events, the partitions' logs
//! and the bytes the producer put on the wire. Each check counts what it
//! looked at, so a summary shows the checks were not vacuous.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::observed::{Observed, group, index_of};
use crate::config::Acks;
use crate::error::ProduceError;
use crate::event::Event;
use crate::retry::Backoff;

/// A broken guarantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which guarantee ([`CheckTally::counts`] names them).
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

impl Violation {
    pub(crate) fn new(invariant: &'static str, detail: String) -> Violation {
        Violation { invariant, detail }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.invariant, self.detail)
    }
}

/// How many things each check looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckTally {
    /// Accepted records checked for exactly one terminal event.
    pub one_terminal_event: u64,
    /// Failed records checked to come back as sent.
    pub handed_back: u64,
    /// Delivered records found in their partition's log.
    pub no_loss: u64,
    /// Calm runs checked to deliver everything.
    pub all_delivered: u64,
    /// Log records checked to be records we sent, once, in order.
    pub log_exact: u64,
    /// Terminal events checked against their deadline.
    pub deadline: u64,
    /// Retries checked against their backoff.
    pub backoff: u64,
    /// Runs checked for `max.in.flight` and for memory returned.
    pub bounds: u64,
    /// Batches sent checked to carry `compression.type`'s codec.
    pub codec: u64,
    /// Records of calm runs handed back as possibly written (allowed, and
    /// counted so that a rise shows).
    pub possibly_written: u64,
    /// Runs with SASL checked: nothing before authentication, refusals
    /// only when the broker refused, re-authentication in time.
    pub sasl: u64,
}

impl CheckTally {
    /// Adds another run's tally.
    pub fn add(&mut self, o: &CheckTally) {
        self.one_terminal_event += o.one_terminal_event;
        self.handed_back += o.handed_back;
        self.no_loss += o.no_loss;
        self.all_delivered += o.all_delivered;
        self.log_exact += o.log_exact;
        self.deadline += o.deadline;
        self.backoff += o.backoff;
        self.bounds += o.bounds;
        self.codec += o.codec;
        self.possibly_written += o.possibly_written;
        self.sasl += o.sasl;
    }

    /// Every count with its guarantee's name.
    pub fn counts(&self) -> [(&'static str, u64); 11] {
        [
            ("one terminal event per record", self.one_terminal_event),
            ("failed records handed back", self.handed_back),
            ("delivered records in the log", self.no_loss),
            ("calm runs deliver everything", self.all_delivered),
            ("log: ours, once, in send order", self.log_exact),
            ("deadlines held", self.deadline),
            ("backoff within bounds", self.backoff),
            ("in-flight and memory bounds", self.bounds),
            ("batches sent with compression.type", self.codec),
            (
                "(calm: handed back, possibly written)",
                self.possibly_written,
            ),
            ("SASL first, re-authenticated in time", self.sasl),
        ]
    }
}

struct Checker<'o, 'a> {
    o: &'o Observed<'a>,
    tally: CheckTally,
    violations: Vec<Violation>,
}

impl Checker<'_, '_> {
    fn fail(&mut self, invariant: &'static str, detail: String) {
        // One run can break a rule for thousands of records; the first few
        // say everything.
        if self
            .violations
            .iter()
            .filter(|v| v.invariant == invariant)
            .count()
            < 5
        {
            self.violations.push(Violation::new(invariant, detail));
        }
    }
}

/// Checks every guarantee against what a run left behind.
pub fn check(o: &Observed<'_>) -> (CheckTally, Vec<Violation>) {
    let mut c = Checker {
        o,
        tally: CheckTally::default(),
        violations: Vec::new(),
    };
    let outcomes = terminal_events(&mut c);
    handed_back(&mut c);
    no_loss(&mut c, &outcomes);
    log_exact(&mut c, &outcomes);
    deadlines(&mut c);
    backoff(&mut c);
    bounds(&mut c);
    codec(&mut c);
    sasl(&mut c);
    (c.tally, c.violations)
}

/// A record's end: delivered to a partition (at an offset), or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered { partition: i32, offset: Option<i64> },
    Failed,
}

/// Guarantee 1: every accepted record gets exactly one terminal event, no
/// other record gets one, and `Closed` comes once, last.
fn terminal_events(c: &mut Checker<'_, '_>) -> BTreeMap<u64, Outcome> {
    let o = c.o;
    let mut outcomes = BTreeMap::new();
    let mut closed_at = None;
    for (n, (_, e)) in o.events.iter().enumerate() {
        let (user, outcome) = match e {
            Event::Delivered {
                user,
                partition,
                offset,
                ..
            } => (
                *user,
                Outcome::Delivered {
                    partition: *partition,
                    offset: *offset,
                },
            ),
            Event::Failed { record, .. } => (record.user, Outcome::Failed),
            Event::Closed => {
                if closed_at.replace(n).is_some() {
                    c.fail("terminal events", String::from("Closed came twice"));
                }
                continue;
            }
            _ => continue,
        };
        if o.sent.get(user as usize).is_none_or(|s| s.id.is_none()) {
            c.fail(
                "terminal events",
                format!("record {user} was never accepted but got {outcome:?}"),
            );
        }
        if let Some(first) = outcomes.insert(user, outcome) {
            c.fail(
                "terminal events",
                format!("record {user} got two terminal events: {first:?} then {outcome:?}"),
            );
        }
    }
    match closed_at {
        None => c.fail(
            "terminal events",
            String::from("Closed never came: close did not finish"),
        ),
        Some(n) if n + 1 != o.events.len() => c.fail(
            "terminal events",
            String::from("an event came after Closed"),
        ),
        _ => {}
    }
    for (i, s) in o.sent.iter().enumerate() {
        if s.id.is_none() {
            continue;
        }
        c.tally.one_terminal_event += 1;
        if !outcomes.contains_key(&(i as u64)) {
            c.fail(
                "terminal events",
                format!("record {i} was accepted and never heard of again"),
            );
        }
    }
    if o.schedule.calm {
        c.tally.all_delivered += 1;
        // The one failure a calm run may have: a batch whose earlier send
        // may be in the log when its sequence had to restart. Handing it
        // back is the safe answer; sending it again could duplicate it.
        let unsure: BTreeSet<u64> = o
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Failed {
                    record,
                    error: ProduceError::PossiblyWritten { .. },
                    ..
                } => Some(record.user),
                _ => None,
            })
            .collect();
        c.tally.possibly_written += unsure.len() as u64;
        let failed: Vec<&u64> = outcomes
            .iter()
            .filter(|(i, out)| **out == Outcome::Failed && !unsure.contains(i))
            .map(|(i, _)| i)
            .take(5)
            .collect();
        if !failed.is_empty() {
            let why: Vec<String> = o
                .events
                .iter()
                .filter_map(|(_, e)| match e {
                    Event::Failed { record, error, .. }
                        if !matches!(error, ProduceError::PossiblyWritten { .. }) =>
                    {
                        Some(format!("record {}: {error}", record.user))
                    }
                    _ => None,
                })
                .take(3)
                .collect();
            c.fail(
                "calm runs deliver everything",
                format!("records failed under recoverable faults only: {failed:?}; {why:?}"),
            );
        }
    }
    outcomes
}

/// Every failed record comes back as it was sent.
fn handed_back(c: &mut Checker<'_, '_>) {
    let o = c.o;
    for (_, e) in &o.events {
        let Event::Failed { record, .. } = e else {
            continue;
        };
        c.tally.handed_back += 1;
        let sent = o.sent.get(record.user as usize);
        if sent.is_none_or(|s| record.value.as_ref() != Some(&s.value)) {
            c.fail(
                "failed records handed back",
                format!("record {} came back with another value", record.user),
            );
        }
    }
}

/// Guarantee 2: with acks, a delivered record is in its partition's log,
/// at the offset reported.
fn no_loss(c: &mut Checker<'_, '_>, outcomes: &BTreeMap<u64, Outcome>) {
    let o = c.o;
    if o.schedule.acks == Acks::None {
        return;
    }
    let mut placed: BTreeMap<u64, BTreeSet<(i32, i64)>> = BTreeMap::new();
    for (p, log) in o.logs.iter().enumerate() {
        for r in log {
            if let Some(i) = index_of(r.value.as_ref()) {
                placed.entry(i).or_default().insert((p as i32, r.offset));
            }
        }
    }
    for (user, out) in outcomes {
        let Outcome::Delivered { partition, offset } = *out else {
            continue;
        };
        c.tally.no_loss += 1;
        let at = placed.get(user);
        let in_partition = at.is_some_and(|s| s.iter().any(|(p, _)| *p == partition));
        if !in_partition {
            c.fail(
                "delivered records in the log",
                format!("record {user} was delivered to partition {partition} but is not there (found at {at:?})"),
            );
        } else if let Some(off) = offset
            && !at.is_some_and(|s| s.contains(&(partition, off)))
        {
            c.fail(
                "delivered records in the log",
                format!(
                    "record {user} delivered at {partition}/{off}, but the log has it at {at:?}"
                ),
            );
        }
        if let Some(named) = o.sent.get(*user as usize).and_then(|s| s.partition)
            && named != partition
        {
            c.fail(
                "delivered records in the log",
                format!("record {user} named partition {named} and went to {partition}"),
            );
        }
    }
}

/// The log holds only records we sent; with idempotence, each once, in
/// send order per partition, with sequences counting up from 0 without a
/// gap within each producer epoch.
fn log_exact(c: &mut Checker<'_, '_>, outcomes: &BTreeMap<u64, Outcome>) {
    let o = c.o;
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for (p, log) in o.logs.iter().enumerate() {
        let idx: Vec<Option<u64>> = log.iter().map(|r| index_of(r.value.as_ref())).collect();
        for (r, i) in log.iter().zip(&idx) {
            c.tally.log_exact += 1;
            let Some(i) = *i else {
                c.fail(
                    "log exact",
                    format!("partition {p} holds a record we never sent: {r:?}"),
                );
                continue;
            };
            if o.sent.get(i as usize).is_none_or(|s| s.id.is_none()) {
                c.fail(
                    "log exact",
                    format!("partition {p} holds record {i}, never accepted"),
                );
            }
            if let Some(Outcome::Delivered { partition, .. }) = outcomes.get(&i)
                && *partition != p as i32
            {
                c.fail(
                    "log exact",
                    format!("record {i} is in partition {p} but was delivered to {partition}"),
                );
            }
            *seen.entry(i).or_default() += 1;
        }
        if !o.schedule.idempotence {
            continue;
        }
        let order: Vec<u64> = idx.iter().flatten().copied().collect();
        if let Some(w) = order.windows(2).find(|w| w[0] >= w[1]) {
            c.fail(
                "log exact",
                format!(
                    "partition {p}: record {} follows record {} (duplicate or out of send order)",
                    w[1], w[0]
                ),
            );
        }
        let by_epoch = group(
            log.iter()
                .map(|r| ((r.producer_id, r.producer_epoch), r.sequence)),
        );
        for ((id, epoch), seqs) in by_epoch {
            if seqs.iter().enumerate().any(|(n, s)| *s != n as i32) {
                c.fail(
                    "log exact",
                    format!("partition {p}, producer {id} epoch {epoch}: sequences {seqs:?} do not count up from 0"),
                );
            }
        }
    }
    if o.schedule.idempotence
        && let Some((i, n)) = seen.iter().find(|(_, n)| **n > 1)
    {
        c.fail("log exact", format!("record {i} is in the logs {n} times"));
    }
}

/// Every terminal event comes by the record's delivery deadline, plus one
/// request timeout for a request in flight at the deadline (the producer
/// waits for its answer or its timeout, never longer), plus the network's
/// longest delivery.
fn deadlines(c: &mut Checker<'_, '_>) {
    let o = c.o;
    let grace = o.config.request_timeout() + o.max_latency * 2 + Duration::from_millis(1);
    for (at, e) in &o.events {
        let user = match e {
            Event::Delivered { user, .. } => *user,
            Event::Failed { record, .. } => record.user,
            _ => continue,
        };
        let Some(sent) = o.sent.get(user as usize) else {
            continue;
        };
        c.tally.deadline += 1;
        let limit = sent.at + o.config.delivery_timeout() + grace;
        if *at > limit {
            c.fail(
                "deadlines held",
                format!(
                    "record {user} sent at {:?} ended at {:?}, {:?} past its limit",
                    sent.at,
                    at,
                    *at - limit
                ),
            );
        }
    }
}

/// A batch sent again waits at least the low bound of its backoff after
/// its previous send (the failure it retries came after that send).
fn backoff(c: &mut Checker<'_, '_>) {
    let o = c.o;
    let b = Backoff::new(o.config.retry_backoff(), o.config.retry_backoff_max());
    let sends = group(o.attempts.batches.iter().map(|a| {
        (
            (a.partition, index_of(a.first_value.as_ref()), a.records),
            a.at,
        )
    }));
    for ((partition, first, records), times) in sends {
        for (retry, w) in times.windows(2).enumerate() {
            c.tally.backoff += 1;
            let (low, _) = b.bounds(retry as u32);
            if w[1] - w[0] < low {
                c.fail(
                    "backoff within bounds",
                    format!(
                        "partition {partition}: the batch of {records} from record {first:?} was sent again {:?} after send {} (backoff at least {low:?})",
                        w[1] - w[0],
                        retry + 1
                    ),
                );
            }
        }
    }
}

/// No connection had more requests awaiting answers than allowed, and all
/// memory came back.
fn bounds(c: &mut Checker<'_, '_>) {
    let o = c.o;
    c.tally.bounds += 1;
    let limit = o.config.max_in_flight_requests_per_connection();
    if o.attempts.max_in_flight > limit {
        c.fail(
            "in-flight and memory bounds",
            format!(
                "a connection had {} requests awaiting answers (max.in.flight {limit})",
                o.attempts.max_in_flight
            ),
        );
    }
    if o.buffer_taken_max > o.buffer_total {
        c.fail(
            "in-flight and memory bounds",
            format!(
                "{} buffer bytes taken of {}",
                o.buffer_taken_max, o.buffer_total
            ),
        );
    }
    if o.pending_at_end != 0 || o.buffer_taken_at_end != 0 {
        c.fail(
            "in-flight and memory bounds",
            format!(
                "after close: {} records still held, {} buffer bytes still taken",
                o.pending_at_end, o.buffer_taken_at_end
            ),
        );
    }
}

/// Every batch goes out compressed with `compression.type`'s codec: none
/// falls back to another (a split half, a retry, a batch closed before its
/// first send), and the broker decompressed each (or it would not be in
/// the log that the other checks read).
fn codec(c: &mut Checker<'_, '_>) {
    let o = c.o;
    let want = o.config.compression_type();
    for a in &o.attempts.batches {
        c.tally.codec += 1;
        if a.compression != Some(want) {
            c.fail(
                "batches sent with compression.type",
                format!(
                    "a batch of partition {} went out as {:?}, compression.type={want}",
                    a.partition, a.compression
                ),
            );
        }
    }
}

/// With SASL: the brokers saw no request before authentication; a record
/// failed with an authentication error only after a broker refused one;
/// and, on a network fast enough for the 5 % margin Kafka's client keeps
/// (re-authentication starts at 85 to 95 % of the session), no session
/// ran out before its re-authentication.
fn sasl(c: &mut Checker<'_, '_>) {
    let o = c.o;
    let (Some(stats), Some(schedule)) = (&o.sasl, &o.schedule.sasl) else {
        return;
    };
    c.tally.sasl += 1;
    if stats.unauthenticated_requests > 0 {
        c.fail(
            "SASL first",
            format!(
                "{} requests reached a broker before their connection authenticated",
                stats.unauthenticated_requests
            ),
        );
    }
    let refused = o.events.iter().any(|(_, e)| {
        matches!(
            e,
            Event::Failed {
                error: ProduceError::Authentication(_),
                ..
            }
        )
    });
    if refused && o.faults.auth_refused == 0 && stats.refusals == 0 {
        c.fail(
            "SASL first",
            String::from("records failed authentication, but no broker refused one"),
        );
    }
    let oauth = schedule.mechanism == crate::sasl::Mechanism::OAuthBearer;
    // The shortest session: the listener's, or what is left of a token
    // when the producer asks for its successor (20 % of its life).
    let shortest = match (schedule.session_lifetime, oauth) {
        (Some(l), true) => l.min(schedule.token_lifetime / 5),
        (Some(l), false) => l,
        (None, true) => schedule.token_lifetime / 5,
        (None, false) => return,
    };
    let slowest = o.max_latency + schedule.faults.slow_extra;
    if slowest * 2 * 20 < shortest && stats.expired_sessions_closed > 0 {
        c.fail(
            "SASL first",
            format!(
                "{} requests came after their session ended ({shortest:?} sessions, \
                 latency at most {slowest:?}): re-authentication came too late",
                stats.expired_sessions_closed
            ),
        );
    }
}
