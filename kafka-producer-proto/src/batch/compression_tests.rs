//! The accumulator and batches with a codec: batches fill by estimated
//! compressed size, are compressed when drained, the ratio is learned, and
//! every record comes back from compressed bytes.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::time::Duration;

use super::accumulator::{Accumulator, Drain};
use super::compression_ratio::CompressionRatio;
use crate::record::{Record, RecordId};
use crate::time::Instant;
use crate::wire::compression::{Codec, Compression, CompressionError, builtin};
use crate::wire::record_batch::{BatchHeader, ProducerState, RecordBatch};

const RULES: Drain = Drain {
    linger: Duration::ZERO,
    eager: true,
    max_bytes: 1 << 20,
    idempotent: None,
    refuse: false,
};

fn acc(batch_size: usize, codec: Option<Box<dyn Codec>>) -> Accumulator<u64> {
    let mut a = Accumulator::new(1 << 30, batch_size, Duration::from_secs(60)).with_codec(codec);
    a.intern("t");
    a.topics[0].ensure_partitions(1);
    a.topics[0].partitions[0].leader = 0;
    a
}

/// A compressible JSON-ish value of about 200 bytes.
fn value(i: u64) -> Vec<u8> {
    alloc::format!(
        "{{\"id\":{i},\"kind\":\"order\",\"state\":\"shipped\",\"items\":[\"a\",\"b\"],\
         \"note\":\"the quick brown fox jumps over the lazy dog {}\"}}",
        i % 10
    )
    .into_bytes()
}

fn append(a: &mut Accumulator<u64>, i: u64) {
    let r = Record::new("t").value(value(i)).user(i);
    a.append(0, 0, RecordId(i), 1_000 + i as i64, r, 230, Instant::ZERO)
        .unwrap();
}

#[test]
fn batches_fill_by_their_estimated_compressed_size_learned_per_topic() {
    let mut a = acc(4_096, Some(builtin(Compression::Lz4, 9).unwrap()));
    let mut sizes = Vec::new();
    let mut next = 0u64;
    for round in 0..200 {
        // Fill until a second batch opens, then drain the full one.
        while a.topics[0].partitions[0].queue.len() < 2 {
            append(&mut a, next);
            next += 1;
        }
        let uncompressed = a.topics[0].partitions[0].queue[0].size();
        let drained = a.drain(0, Instant::ZERO, &RULES, |_, _| true);
        assert_eq!(drained.batches.len(), 1);
        let mut batch = drained.batches.into_iter().next().unwrap();
        let bytes = batch.encoded_as(ProducerState::NONE);
        let header = BatchHeader::peek(&bytes).unwrap();
        assert_eq!(header.attributes.compression(), Some(Compression::Lz4));
        sizes.push((uncompressed, bytes.len()));
        // Java's steps: down by 0.005 per batch while the batches compress
        // better than the estimate.
        if round < 10 {
            let mut want = CompressionRatio::INITIAL;
            for _ in 0..=round {
                want.update(CompressionRatio::observed(1, 0));
            }
            assert_eq!(a.topics[0].ratio, want, "round {round}");
        }
        a.finish_in_flight(&batch);
        a.recycle(batch);
    }
    // At first a batch holds what fits uncompressed (ratio 1.0 with the
    // margin); once the ratio is learned, several times batch.size of
    // records, while staying under batch.size compressed.
    let (first, _) = sizes[0];
    assert!(first <= 4_096 && first > 3_500, "{first}");
    let (late, late_compressed) = *sizes.last().unwrap();
    assert!(late > 2 * 4_096, "{sizes:?}");
    assert!(late_compressed <= 4_096, "{late_compressed}");
    let ratio = a.topics[0].ratio;
    assert!(ratio < CompressionRatio::observed(100, 50), "{ratio:?}");
}

#[test]
fn without_a_codec_batches_fill_by_their_size() {
    let mut a = acc(4_096, None);
    while a.topics[0].partitions[0].queue.len() < 2 {
        append(&mut a, 0);
    }
    let size = a.topics[0].partitions[0].queue[0].size();
    assert!(size <= 4_096 && size > 4_096 - 300, "{size}");
    let mut batch = a
        .drain(0, Instant::ZERO, &RULES, |_, _| true)
        .batches
        .pop()
        .unwrap();
    let h = BatchHeader::peek(&batch.encoded()).unwrap();
    assert_eq!(h.attributes.compression(), Some(Compression::None));
    assert_eq!(a.topics[0].ratio, CompressionRatio::INITIAL);
}

#[test]
fn records_come_back_from_compressed_bytes_and_splits_recompress() {
    for c in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut a = acc(1 << 20, Some(builtin(c, 1).unwrap()));
        for i in 0..50 {
            append(&mut a, i);
        }
        let mut batch = a
            .drain(0, Instant::ZERO, &RULES, |_, _| true)
            .batches
            .pop()
            .unwrap();
        let first = batch.encoded_as(ProducerState::new(5, 0, 0));
        // An epoch bump rewrites the header of the compressed bytes.
        let bumped = batch.encoded_as(ProducerState::new(5, 1, 0));
        assert_eq!(first.len(), bumped.len());
        let decoded = RecordBatch::decode_all(bumped.clone()).unwrap();
        assert_eq!(decoded[0].header.producer, ProducerState::new(5, 1, 0));
        assert_eq!(decoded[0].header.attributes.compression(), Some(c));
        assert_eq!(decoded[0].records.len(), 50);
        drop((first, bumped));

        let ratio = batch.compression_ratio().unwrap();
        assert!(ratio < CompressionRatio::INITIAL, "{c}");
        let (halves, unplaced) = batch.split("t", Instant::ZERO, a.codec_mut());
        assert!(unplaced.is_empty());
        let mut users = Vec::new();
        for mut half in halves {
            let _ = half.close(a.codec_mut(), Vec::new()).unwrap();
            let bytes = half.encoded();
            let d = &RecordBatch::decode_all(bytes).unwrap()[0];
            assert_eq!(d.header.attributes.compression(), Some(c));
            for (r, p) in d.records.iter().zip(&half.records) {
                assert_eq!(r.value.as_deref(), Some(&value(p.user)[..]));
            }
            users.extend(half.records.iter().map(|r| r.user));
            let back = half.into_records("t", a.codec_mut());
            assert!(
                back.iter()
                    .all(|(id, r)| r.value.as_deref() == Some(&value(id.0)[..]))
            );
        }
        assert_eq!(users, (0..50).collect::<Vec<u64>>());
        a.split_at_ratio(0, ratio);
        assert_eq!(a.topics[0].ratio, CompressionRatio::INITIAL);
    }
}

#[test]
fn a_failing_codec_fails_its_batch_unsent_and_zstd_can_be_refused() {
    struct Broken;
    impl Codec for Broken {
        fn compression(&self) -> Compression {
            Compression::Snappy
        }
        fn compress(&mut self, _: &[u8], _: &mut Vec<u8>) -> Result<(), CompressionError> {
            Err(CompressionError::failed(Compression::Snappy, "broken"))
        }
        fn decompress(
            &mut self,
            _: &[u8],
            _: &mut Vec<u8>,
            _: usize,
        ) -> Result<(), CompressionError> {
            Err(CompressionError::failed(Compression::Snappy, "broken"))
        }
    }
    let mut a = acc(1 << 20, Some(Box::new(Broken)));
    append(&mut a, 7);
    let drained = a.drain(0, Instant::ZERO, &RULES, |_, _| true);
    assert!(drained.batches.is_empty());
    let (batch, e) = drained.uncompressible.into_iter().next().unwrap();
    assert_eq!(e, CompressionError::failed(Compression::Snappy, "broken"));
    assert_eq!(a.topics[0].partitions[0].in_flight, 0);
    // Its records come back from the uncompressed batch it was left as.
    let back = batch.into_records("t", a.codec_mut());
    assert_eq!(back[0].1.value.as_deref(), Some(&value(7)[..]));
    assert_eq!(back[0].1.user, 7);

    let mut a = acc(1 << 20, Some(builtin(Compression::Zstd, 3).unwrap()));
    append(&mut a, 1);
    let rules = Drain {
        refuse: true,
        idempotent: Some((9, 0)),
        ..RULES
    };
    let drained = a.drain(0, Instant::ZERO, &rules, |_, _| true);
    assert!(drained.batches.is_empty());
    assert_eq!(drained.refused.len(), 1);
    assert_eq!(drained.refused[0].sequence, None, "not numbered");
    assert_eq!(a.topics[0].partitions[0].in_flight, 0);
}
