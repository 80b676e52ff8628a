//! The producer with `compression.type` set, against the simulated
//! cluster, which decompresses and validates every batch as a broker does:
//! each codec delivers every record exactly (field by field, in the log);
//! batches fill by their estimated compressed size; MESSAGE_TOO_LARGE
//! still splits; an epoch bump rewrites compressed batches in place; zstd
//! never goes out below Produce v7; a bad frame is refused and its records
//! come back; a codec of one's own is used.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kafka_producer_proto::sim::{SimCluster, SimNet};
use kafka_producer_proto::wire::ApiKey;
use kafka_producer_proto::wire::compression::{
    Codec, CodecFactory, Compression, CompressionError, builtin,
};
use kafka_producer_proto::{
    Config, ConfigBuilder, Event, Header, Instant, KafkaCode, ProduceError, Producer, Record,
};

const START: Instant = Instant::from_millis(1_700_000_000_000);
const CODECS: [Compression; 4] = [
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn cluster(partitions: usize) -> SimCluster {
    let mut c = SimCluster::new(3);
    c.create_topic("t", partitions);
    c
}

fn builder(cluster: &SimCluster, compression: Compression) -> ConfigBuilder {
    let mut b = Config::builder();
    b.bootstrap_servers(&cluster.bootstrap_servers())
        .compression_type(compression)
        .linger(Duration::from_millis(5));
    b
}

fn net(cluster: SimCluster, b: &ConfigBuilder) -> SimNet<u64> {
    SimNet::new(
        Producer::new(b.build().expect("valid config"), START),
        cluster,
        START,
    )
}

/// Record `i`: a key on most, a JSON-like value of varying length (a
/// tombstone now and then), headers on some, one with a null value.
fn record(i: u64) -> Record<u64> {
    let mut r = Record::new("t").user(i);
    if !i.is_multiple_of(7) {
        r = r.key(format!("user-{}", i % 97));
    }
    if i % 50 != 49 {
        let pad = "lorem ipsum dolor sit amet ".repeat((i % 40) as usize);
        r = r.value(format!(
            "{{\"seq\":{i},\"kind\":\"order\",\"note\":\"{pad}\"}}"
        ));
    }
    if i.is_multiple_of(3) {
        r = r
            .header("trace", Some(format!("t-{i}")))
            .header("flag", None::<Bytes>);
    }
    r.timestamp = Some(1_700_000_000_000 + i as i64);
    r
}

fn terminal(n: &SimNet<u64>) -> usize {
    n.events
        .iter()
        .filter(|e| matches!(e, Event::Delivered { .. } | Event::Failed { .. }))
        .count()
}

fn send_all(n: &mut SimNet<u64>, range: std::ops::Range<u64>) {
    for i in range {
        let now = n.now;
        n.producer.send(record(i), now).expect("accepted");
    }
}

/// Every delivered record is at its offset in its partition's log with
/// exactly the key, value, headers and timestamp it was sent with.
fn check_delivered_exactly(n: &SimNet<u64>, count: u64) {
    let mut delivered = 0;
    for e in &n.events {
        let Event::Delivered {
            user,
            partition,
            offset,
            ..
        } = e
        else {
            continue;
        };
        delivered += 1;
        let want = record(*user);
        let log = n.cluster.log("t", *partition as usize);
        let offset = offset.expect("acks=all gives offsets");
        let got = log
            .iter()
            .find(|r| r.offset == offset)
            .unwrap_or_else(|| panic!("record {user} missing at offset {offset}"));
        assert_eq!(got.key, want.key, "record {user}: key");
        assert_eq!(got.value, want.value, "record {user}: value");
        assert_eq!(got.timestamp, want.timestamp.unwrap(), "record {user}");
        let headers: Vec<Header> = got
            .headers
            .iter()
            .map(|h| Header {
                key: h.key().to_owned(),
                value: h.value().cloned(),
            })
            .collect();
        assert_eq!(headers, want.headers, "record {user}: headers");
    }
    assert_eq!(delivered, count);
}

#[test]
fn every_codec_delivers_every_record_field_by_field() {
    for c in CODECS {
        let cl = cluster(3);
        let mut n = net(cl.clone(), &builder(&cl, c));
        send_all(&mut n, 0..3_000);
        assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 3_000));
        check_delivered_exactly(&n, 3_000);
        assert!(!n.attempts.batches.is_empty());
        assert!(
            n.attempts.batches.iter().all(|a| a.compression == Some(c)),
            "{c}: every batch went out compressed"
        );
        let m = n.producer.metrics();
        assert!(
            m.compression_rate_avg > 0.0 && m.compression_rate_avg < 0.5,
            "{c}: compression-rate-avg {}",
            m.compression_rate_avg
        );
    }
}

#[test]
fn compressed_batches_hold_more_records_than_batch_size_uncompressed() {
    // One partition, no linger limit in the way: batches close when full
    // by their estimated compressed size.
    let run = |c: Compression| {
        let cl = cluster(1);
        let mut b = builder(&cl, c);
        b.batch_size(4_096).linger(Duration::from_millis(100));
        let mut n = net(cl, &b);
        // In waves, so that batches closed teach the ratio to the next
        // ones (all sent at once, every batch would open at 1.0).
        for wave in 0..100 {
            send_all(&mut n, wave * 200..(wave + 1) * 200);
            let done = (wave as usize + 1) * 200;
            assert!(n.run_until(Duration::from_secs(60), |n| terminal(n) == done));
        }
        check_delivered_exactly(&n, 20_000);
        let records: Vec<usize> = n.attempts.batches.iter().map(|a| a.records).collect();
        (records, n.producer.metrics().batch_size_max)
    };
    let (plain, plain_max) = run(Compression::None);
    let (zstd, zstd_max) = run(Compression::Zstd);
    assert!(plain_max <= 4_096, "{plain_max}");
    assert!(
        zstd_max <= 4_096 + 200,
        "compressed batches stay near batch.size: {zstd_max}"
    );
    // Once the ratio is learned (about 100 batches for 1.0 -> 0.5), a
    // compressed batch carries several times the records of a plain one.
    let late = |v: &[usize]| v[v.len() / 2..].iter().sum::<usize>() / (v.len() - v.len() / 2);
    assert!(
        late(&zstd) > 3 * late(&plain),
        "records per batch: zstd {} vs none {}",
        late(&zstd),
        late(&plain)
    );
    // The first batches of a topic fill as if uncompressed.
    assert!(zstd[0] <= plain[0] + 2, "{} vs {}", zstd[0], plain[0]);
}

#[test]
fn message_too_large_splits_compressed_batches() {
    for c in CODECS {
        let mut cl = cluster(1);
        cl.inject(
            ApiKey::Produce,
            &[KafkaCode::MessageTooLarge, KafkaCode::MessageTooLarge],
        );
        let mut b = builder(&cl, c);
        b.enable_idempotence(true);
        let mut n = net(cl, &b);
        send_all(&mut n, 0..40);
        n.producer.flush(n.now);
        assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 40));
        check_delivered_exactly(&n, 40);
        assert_eq!(n.producer.metrics().batch_split_total, 2, "{c}");
        let values: Vec<u64> = n
            .cluster
            .log("t", 0)
            .iter()
            .filter_map(|r| r.timestamp.checked_sub(1_700_000_000_000))
            .map(|t| t as u64)
            .collect();
        assert_eq!(
            values,
            (0..40).collect::<Vec<_>>(),
            "{c}: split halves keep the order"
        );
        assert!(n.attempts.batches.iter().all(|a| a.compression == Some(c)));
    }
}

#[test]
fn an_epoch_bump_rewrites_compressed_batches_in_place() {
    for c in CODECS {
        let mut cl = cluster(1);
        cl.inject(ApiKey::Produce, &[KafkaCode::OutOfOrderSequenceNumber]);
        let mut b = builder(&cl, c);
        b.enable_idempotence(true).linger(Duration::ZERO);
        let mut n = net(cl, &b);
        send_all(&mut n, 0..5);
        assert!(n.run_until(Duration::from_secs(30), |n| terminal(n) == 5));
        check_delivered_exactly(&n, 5);
        let log = n.cluster.log("t", 0);
        assert!(
            log.iter().all(|r| r.producer_epoch == 1),
            "{c}: renumbered under epoch 1"
        );
        let seqs: Vec<i32> = log.iter().map(|r| r.sequence).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4], "{c}");
        assert!(n.attempts.batches.iter().all(|a| a.compression == Some(c)));
        assert!(
            n.attempts.batches.iter().any(|a| a.producer_epoch == 0)
                && n.attempts.batches.iter().any(|a| a.producer_epoch == 1),
            "{c}: the same batches went out under both epochs"
        );
    }
}

#[test]
fn zstd_never_goes_out_below_produce_v7() {
    let mut cl = cluster(1);
    cl.max_produce_version = 6;
    let mut n = net(cl.clone(), &builder(&cl, Compression::Zstd));
    send_all(&mut n, 0..10);
    assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 10));
    for e in &n.events {
        match e {
            Event::Failed { record, error, .. } => {
                assert!(matches!(
                    error,
                    ProduceError::UnsupportedCompression {
                        compression: Compression::Zstd,
                        version: 6,
                        ..
                    }
                ));
                assert_eq!(error.code(), Some(KafkaCode::UnsupportedCompressionType));
                // Handed back whole.
                let want = record_by_timestamp(record.timestamp.unwrap());
                assert_eq!(record.value, want.value);
                assert_eq!(record.key, want.key);
            }
            Event::Delivered { .. } => panic!("a zstd batch was delivered over Produce v6"),
            _ => {}
        }
    }
    assert!(n.attempts.batches.is_empty(), "nothing went out");
    assert!(n.cluster.log("t", 0).is_empty());
    // Other codecs are fine at v6.
    let mut n = net(cl.clone(), &builder(&cl, Compression::Lz4));
    send_all(&mut n, 0..10);
    assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 10));
    check_delivered_exactly(&n, 10);
}

fn record_by_timestamp(ts: i64) -> Record<u64> {
    record((ts - 1_700_000_000_000) as u64)
}

/// Writes its input behind a marker: not lz4, though it says so.
struct NotLz4(Arc<AtomicUsize>);

impl Codec for NotLz4 {
    fn compression(&self) -> Compression {
        Compression::Lz4
    }
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        out.extend_from_slice(b"NOTLZ4");
        out.extend_from_slice(input);
        Ok(())
    }
    fn decompress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        _: usize,
    ) -> Result<(), CompressionError> {
        let rest = input
            .strip_prefix(b"NOTLZ4")
            .ok_or_else(|| CompressionError::corrupt(Compression::Lz4, "no marker"))?;
        out.extend_from_slice(rest);
        Ok(())
    }
}

#[test]
fn a_bad_frame_is_refused_and_its_records_come_back() {
    let cl = cluster(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let mut b = builder(&cl, Compression::Lz4);
    b.compression_codec(CodecFactory::new(move || Box::new(NotLz4(counter.clone()))));
    let mut n = net(cl, &b);
    send_all(&mut n, 0..20);
    assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 20));
    assert!(
        calls.load(Ordering::Relaxed) >= 1,
        "the codec given was used"
    );
    let mut failed = 0;
    for e in &n.events {
        if let Event::Failed { record, error, .. } = e {
            failed += 1;
            // Kafka answers a frame it cannot decompress with
            // UNKNOWN_SERVER_ERROR.
            assert_eq!(error.code(), Some(KafkaCode::UnknownServerError), "{error}");
            let want = record_by_timestamp(record.timestamp.unwrap());
            assert_eq!(record.key, want.key);
            assert_eq!(record.value, want.value);
            assert_eq!(record.headers, want.headers);
        }
    }
    assert_eq!(failed, 20);
    assert!(n.cluster.log("t", 0).is_empty(), "nothing stored");
}

#[test]
fn a_codec_of_ones_own_is_used_for_every_batch() {
    struct Counting(Option<Box<dyn Codec>>, Arc<AtomicUsize>);
    impl Codec for Counting {
        fn compression(&self) -> Compression {
            Compression::Zstd
        }
        fn compress(&mut self, i: &[u8], o: &mut Vec<u8>) -> Result<(), CompressionError> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.as_mut().unwrap().compress(i, o)
        }
        fn decompress(
            &mut self,
            i: &[u8],
            o: &mut Vec<u8>,
            l: usize,
        ) -> Result<(), CompressionError> {
            self.0.as_mut().unwrap().decompress(i, o, l)
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let cl = cluster(2);
    let mut b = builder(&cl, Compression::Zstd);
    b.compression_codec(CodecFactory::new(move || {
        Box::new(Counting(
            Some(builtin(Compression::Zstd, 1).unwrap()),
            counter.clone(),
        ))
    }));
    let mut n = net(cl, &b);
    send_all(&mut n, 0..500);
    assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 500));
    check_delivered_exactly(&n, 500);
    assert_eq!(
        calls.load(Ordering::Relaxed),
        n.attempts.batches.len(),
        "one compression per batch (none was retried)"
    );
}
