//! Producer metrics under the Java client's names (`record-send-total`,
//! `request-latency-avg`, ...), so dashboards and alerts written for Java or
//! librdkafka producers read ours unchanged.
//!
//! Unlike the Java client's metrics, which average over a window of recent
//! samples (30 s by default), these are cumulative since the producer was
//! created: the core has no clock of its own to age samples with. A driver
//! that wants windowed values takes two [`Metrics`] snapshots and compares
//! them. An average or maximum with no sample yet is 0, not NaN, so
//! snapshots compare equal with `==`.

use alloc::collections::BTreeMap;
use core::time::Duration;

use crate::kafka_code::KafkaCode;

/// A snapshot of the producer's metrics.
///
/// [`iter`](Metrics::iter) lists them under Kafka's names; the fields below
/// name the Kafka metric each one is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// `record-send-total`: records accepted by `send`.
    pub record_send_total: u64,
    /// `record-retry-total`: record sends retried (each record of a retried
    /// batch counts once per retry).
    pub record_retry_total: u64,
    /// `record-error-total`: records that ended in failure.
    pub record_error_total: u64,
    /// `request-total`: requests sent to brokers, of every kind.
    pub request_total: u64,
    /// `request-latency-avg`: mean Produce round trip, in milliseconds.
    pub request_latency_avg_ms: f64,
    /// `request-latency-max`: longest Produce round trip, in milliseconds.
    pub request_latency_max_ms: f64,
    /// `batch-size-avg`: mean bytes per batch sent.
    pub batch_size_avg: f64,
    /// `batch-size-max`: largest batch sent, in bytes.
    pub batch_size_max: u64,
    /// `compression-rate-avg`: mean ratio of a batch sent, compressed size
    /// over uncompressed size (1 for uncompressed batches).
    pub compression_rate_avg: f64,
    /// `records-per-request-avg`: mean records per Produce request.
    pub records_per_request_avg: f64,
    /// `requests-in-flight`: requests sent and not yet answered.
    pub requests_in_flight: u64,
    /// `buffer-available-bytes`: `buffer.memory` not taken by records.
    pub buffer_available_bytes: u64,
    /// `buffer-total-bytes`: `buffer.memory`.
    pub buffer_total_bytes: u64,
    /// `produce-throttle-time-avg`: mean throttle time brokers asked for in
    /// Produce responses (zeros included), in milliseconds.
    pub produce_throttle_time_avg_ms: f64,
    /// `produce-throttle-time-max`: longest such throttle, in milliseconds.
    pub produce_throttle_time_max_ms: f64,
    /// `batch-retry-total`: batches sent again.
    pub batch_retry_total: u64,
    /// `batch-split-total`: batches split after MESSAGE_TOO_LARGE.
    pub batch_split_total: u64,
    /// Partition responses, and transaction requests' answers, per error
    /// code (`NONE` is not counted).
    pub errors_by_code: BTreeMap<i16, u64>,
    /// `connection-creation-total`: connections opened.
    pub connection_creation_total: u64,
    /// `connection-close-total`: connections closed.
    pub connection_close_total: u64,
    /// Metadata requests sent (also counted in `request_total`).
    pub metadata_request_total: u64,
}

impl Metrics {
    /// Every metric that has a Kafka name, as `(name, value)`, each name
    /// once. Counts are exact in an `f64` up to 2^53.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> {
        [
            ("record-send-total", self.record_send_total as f64),
            ("record-retry-total", self.record_retry_total as f64),
            ("record-error-total", self.record_error_total as f64),
            ("request-latency-avg", self.request_latency_avg_ms),
            ("request-latency-max", self.request_latency_max_ms),
            ("batch-size-avg", self.batch_size_avg),
            ("batch-size-max", self.batch_size_max as f64),
            ("compression-rate-avg", self.compression_rate_avg),
            ("records-per-request-avg", self.records_per_request_avg),
            ("requests-in-flight", self.requests_in_flight as f64),
            ("buffer-available-bytes", self.buffer_available_bytes as f64),
            ("buffer-total-bytes", self.buffer_total_bytes as f64),
            (
                "produce-throttle-time-avg",
                self.produce_throttle_time_avg_ms,
            ),
            (
                "produce-throttle-time-max",
                self.produce_throttle_time_max_ms,
            ),
            ("request-total", self.request_total as f64),
            ("batch-split-total", self.batch_split_total as f64),
            (
                "connection-creation-total",
                self.connection_creation_total as f64,
            ),
            ("connection-close-total", self.connection_close_total as f64),
        ]
        .into_iter()
    }

    /// How many partition responses carried `code`.
    pub fn error_count(&self, code: KafkaCode) -> u64 {
        self.errors_by_code.get(&code.code()).copied().unwrap_or(0)
    }
}

/// A sum, a count and a maximum: enough for an average and a max without
/// keeping samples.
#[derive(Debug, Clone, Copy, Default)]
struct Stat {
    sum: u128,
    count: u64,
    max: u64,
}

impl Stat {
    fn record(&mut self, v: u64) {
        self.sum = self.sum.saturating_add(u128::from(v));
        self.count = self.count.saturating_add(1);
        self.max = self.max.max(v);
    }

    fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }
}

const NANOS_PER_MS: f64 = 1_000_000.0;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Where the producer counts as it goes; [`snapshot`](MetricsRecorder::snapshot)
/// turns it into [`Metrics`].
///
/// Each call is a few additions on fixed fields; only
/// [`partition_error`](MetricsRecorder::partition_error) may allocate, the
/// first time a code is seen. Counters saturate instead of wrapping.
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
pub struct MetricsRecorder {
    record_send_total: u64,
    record_retry_total: u64,
    record_error_total: u64,
    request_total: u64,
    produce_requests: Stat, // records per Produce request
    latency: Stat,          // nanoseconds
    batch_bytes: Stat,
    compression_rate: Stat, // ten-thousandths
    throttle: Stat,         // nanoseconds
    batch_retry_total: u64,
    batch_split_total: u64,
    errors_by_code: BTreeMap<i16, u64>,
    connection_creation_total: u64,
    connection_close_total: u64,
    metadata_request_total: u64,
}

fn bump(counter: &mut u64, n: u64) {
    *counter = counter.saturating_add(n);
}

impl MetricsRecorder {
    /// Nothing counted yet.
    pub fn new() -> MetricsRecorder {
        MetricsRecorder::default()
    }

    /// `send` accepted `records` records.
    pub fn record_sent(&mut self, records: u64) {
        bump(&mut self.record_send_total, records);
    }

    /// `n` records are being sent again.
    pub fn records_retried(&mut self, n: u64) {
        bump(&mut self.record_retry_total, n);
    }

    /// A batch is being sent again.
    pub fn batch_retried(&mut self) {
        bump(&mut self.batch_retry_total, 1);
    }

    /// A batch too large for the broker was split.
    pub fn batch_split(&mut self) {
        bump(&mut self.batch_split_total, 1);
    }

    /// `n` records ended in failure.
    pub fn records_failed(&mut self, n: u64) {
        bump(&mut self.record_error_total, n);
    }

    /// A Produce request carrying `records` records was sent; call
    /// [`batch_sent`](MetricsRecorder::batch_sent) for each of its batches.
    pub fn request_sent(&mut self, records: u64) {
        bump(&mut self.request_total, 1);
        self.produce_requests.record(records);
    }

    /// A request other than Produce or Metadata was sent (ApiVersions,
    /// InitProducerId, the transaction calls, ...).
    pub fn control_request_sent(&mut self) {
        bump(&mut self.request_total, 1);
    }

    /// A batch of `bytes` encoded bytes went out in a Produce request.
    pub fn batch_sent(&mut self, bytes: usize) {
        self.batch_bytes
            .record(u64::try_from(bytes).unwrap_or(u64::MAX));
    }

    /// A batch went out at this compression rate, in ten-thousandths
    /// (10,000 uncompressed).
    pub fn batch_compression_rate(&mut self, rate: u32) {
        self.compression_rate.record(u64::from(rate));
    }

    /// A Produce request was answered `latency` after it was sent.
    pub fn request_completed(&mut self, latency: Duration) {
        self.latency.record(nanos(latency));
    }

    /// A Produce response asked for `throttle` (call it for every Produce
    /// response, zero included, as the Java client does).
    pub fn throttled(&mut self, throttle: Duration) {
        self.throttle.record(nanos(throttle));
    }

    /// A partition response carried `code`; `NONE` is ignored.
    pub fn partition_error(&mut self, code: KafkaCode) {
        if code.is_error() {
            bump(self.errors_by_code.entry(code.code()).or_insert(0), 1);
        }
    }

    /// A connection was opened.
    pub fn connection_created(&mut self) {
        bump(&mut self.connection_creation_total, 1);
    }

    /// A connection was closed.
    pub fn connection_closed(&mut self) {
        bump(&mut self.connection_close_total, 1);
    }

    /// A Metadata request was sent.
    pub fn metadata_requested(&mut self) {
        bump(&mut self.metadata_request_total, 1);
        bump(&mut self.request_total, 1);
    }

    /// The metrics now, with the gauges only the caller knows.
    pub fn snapshot(
        &self,
        requests_in_flight: u64,
        buffer_available: u64,
        buffer_total: u64,
    ) -> Metrics {
        Metrics {
            record_send_total: self.record_send_total,
            record_retry_total: self.record_retry_total,
            record_error_total: self.record_error_total,
            request_total: self.request_total,
            request_latency_avg_ms: self.latency.avg() / NANOS_PER_MS,
            request_latency_max_ms: self.latency.max as f64 / NANOS_PER_MS,
            batch_size_avg: self.batch_bytes.avg(),
            batch_size_max: self.batch_bytes.max,
            compression_rate_avg: self.compression_rate.avg() / 10_000.0,
            records_per_request_avg: self.produce_requests.avg(),
            requests_in_flight,
            buffer_available_bytes: buffer_available,
            buffer_total_bytes: buffer_total,
            produce_throttle_time_avg_ms: self.throttle.avg() / NANOS_PER_MS,
            produce_throttle_time_max_ms: self.throttle.max as f64 / NANOS_PER_MS,
            batch_retry_total: self.batch_retry_total,
            batch_split_total: self.batch_split_total,
            errors_by_code: self.errors_by_code.clone(),
            connection_creation_total: self.connection_creation_total,
            connection_close_total: self.connection_close_total,
            metadata_request_total: self.metadata_request_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use alloc::vec::Vec;

    #[test]
    fn empty_recorder_gives_zeros_not_nan() {
        let m = MetricsRecorder::new().snapshot(0, 0, 0);
        assert_eq!(m, Metrics::default());
        assert!(m.iter().all(|(_, v)| v == 0.0));
    }

    #[test]
    fn averages_and_maxima_are_computed_from_sums_and_counts() {
        let mut r = MetricsRecorder::new();
        r.record_sent(10);
        r.request_sent(6);
        r.batch_sent(100);
        r.batch_sent(300);
        r.request_sent(3);
        r.batch_sent(200);
        r.request_completed(Duration::from_millis(10));
        r.request_completed(Duration::from_millis(30));
        r.request_completed(Duration::from_micros(6_500));
        r.throttled(Duration::ZERO);
        r.throttled(Duration::from_millis(100));
        r.records_retried(4);
        r.batch_retried();
        r.batch_split();
        r.records_failed(2);
        r.metadata_requested();
        r.control_request_sent();
        r.connection_created();
        r.connection_created();
        r.connection_closed();

        let m = r.snapshot(3, 1024, 4096);
        assert_eq!(m.record_send_total, 10);
        assert_eq!(m.records_per_request_avg, 4.5);
        assert_eq!(m.batch_size_avg, 200.0);
        assert_eq!(m.batch_size_max, 300);
        assert_eq!(m.request_latency_avg_ms, 15.5);
        assert_eq!(m.request_latency_max_ms, 30.0);
        assert_eq!(m.produce_throttle_time_avg_ms, 50.0);
        assert_eq!(m.produce_throttle_time_max_ms, 100.0);
        assert_eq!(m.record_retry_total, 4);
        assert_eq!(m.batch_retry_total, 1);
        assert_eq!(m.batch_split_total, 1);
        assert_eq!(m.record_error_total, 2);
        // Two Produce, one Metadata, one other.
        assert_eq!(m.request_total, 4);
        assert_eq!(m.metadata_request_total, 1);
        assert_eq!(m.connection_creation_total, 2);
        assert_eq!(m.connection_close_total, 1);
        assert_eq!(m.requests_in_flight, 3);
        assert_eq!(m.buffer_available_bytes, 1024);
        assert_eq!(m.buffer_total_bytes, 4096);
    }

    #[test]
    fn iter_yields_every_kafka_name_exactly_once() {
        let expected = [
            "record-send-total",
            "record-retry-total",
            "record-error-total",
            "request-latency-avg",
            "request-latency-max",
            "batch-size-avg",
            "batch-size-max",
            "compression-rate-avg",
            "records-per-request-avg",
            "requests-in-flight",
            "buffer-available-bytes",
            "buffer-total-bytes",
            "produce-throttle-time-avg",
            "produce-throttle-time-max",
            "request-total",
            "batch-split-total",
            "connection-creation-total",
            "connection-close-total",
        ];
        let m = Metrics::default();
        let names: Vec<&str> = m.iter().map(|(n, _)| n).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), unique.len(), "a name repeats: {names:?}");
        assert_eq!(unique, expected.iter().copied().collect::<BTreeSet<_>>());
    }

    #[test]
    fn iter_values_follow_the_fields() {
        let mut r = MetricsRecorder::new();
        r.record_sent(7);
        r.request_completed(Duration::from_millis(2));
        r.batch_compression_rate(2_500);
        r.batch_compression_rate(10_000);
        let m = r.snapshot(1, 10, 20);
        let get = |name| m.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
        assert_eq!(get("record-send-total"), Some(7.0));
        assert_eq!(get("request-latency-avg"), Some(2.0));
        assert_eq!(get("compression-rate-avg"), Some(0.625));
        assert_eq!(get("requests-in-flight"), Some(1.0));
        assert_eq!(get("buffer-available-bytes"), Some(10.0));
        assert_eq!(get("buffer-total-bytes"), Some(20.0));
    }

    #[test]
    fn error_count_per_code() {
        let mut r = MetricsRecorder::new();
        r.partition_error(KafkaCode::NotLeaderOrFollower);
        r.partition_error(KafkaCode::NotLeaderOrFollower);
        r.partition_error(KafkaCode::MessageTooLarge);
        r.partition_error(KafkaCode::None);
        r.partition_error(KafkaCode::from_i16(9999));
        let m = r.snapshot(0, 0, 0);
        assert_eq!(m.error_count(KafkaCode::NotLeaderOrFollower), 2);
        assert_eq!(m.error_count(KafkaCode::MessageTooLarge), 1);
        assert_eq!(m.error_count(KafkaCode::None), 0);
        assert_eq!(m.error_count(KafkaCode::RequestTimedOut), 0);
        assert_eq!(m.error_count(KafkaCode::from_i16(9999)), 1);
        assert_eq!(m.errors_by_code.len(), 3);
        assert_eq!(m.errors_by_code.get(&6), Some(&2));
    }

    #[test]
    fn counters_saturate_instead_of_overflowing() {
        let mut r = MetricsRecorder::new();
        r.record_sent(u64::MAX);
        r.record_sent(1);
        r.request_completed(Duration::MAX);
        r.request_completed(Duration::MAX);
        r.batch_sent(usize::MAX);
        let m = r.snapshot(0, 0, 0);
        assert_eq!(m.record_send_total, u64::MAX);
        assert!(m.request_latency_max_ms.is_finite());
        assert!(m.request_latency_avg_ms.is_finite());
    }
}
