#![no_main]
//! Compressed batches. The input picks a codec and one of three things:
//!
//! - arbitrary bytes as the codec's compressed stream: decompressing ends
//!   in bytes or an error, never a panic or more than the limit; whatever
//!   decompresses compresses again and comes back the same;
//! - arbitrary bytes as the compressed records of a batch with a valid
//!   header and CRC, as a broker receives them: decoding never panics, and
//!   a batch that decodes can have its producer fields rewritten;
//! - arbitrary records at an arbitrary level: compressed into a batch, they
//!   decode back exactly, also after the producer fields are rewritten in
//!   place (an epoch bump).
use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use kafka_producer_proto::wire::compression::{Compression, CompressionError, builtin, decompress};
use kafka_producer_proto::wire::record_batch::{
    BatchBuilder, HeaderRef, ProducerState, RecordBatch, rewrite_producer_state,
};
use kafka_producer_proto::wire::{Codec, DecodeError, Reader};
use libfuzzer_sys::fuzz_target;

/// What the decoders may produce here: enough for any input libFuzzer
/// makes to expand a lot, small enough to stay far from the RSS limit.
const LIMIT: usize = 4 << 20;

#[derive(Arbitrary, Debug)]
struct Input {
    codec: u8,
    level: i32,
    what: What,
}

#[derive(Arbitrary, Debug)]
enum What {
    Stream(Vec<u8>),
    BatchRecords {
        records: u8,
        compressed: Vec<u8>,
    },
    RoundTrip {
        producer: (i64, i16, i32),
        records: Vec<Rec>,
    },
}

#[derive(Arbitrary, Debug)]
struct Rec {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn codec(pick: u8) -> Compression {
    [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ][usize::from(pick % 4)]
}

fuzz_target!(|input: Input| {
    let c = codec(input.codec);
    match input.what {
        What::Stream(bytes) => stream(c, input.level, &bytes),
        What::BatchRecords {
            records,
            compressed,
        } => batch_records(c, records, &compressed),
        What::RoundTrip { producer, records } => round_trip(c, input.level, producer, &records),
    }
});

fn stream(c: Compression, level: i32, bytes: &[u8]) {
    let mut out = vec![9u8];
    match decompress(c, bytes, &mut out, LIMIT) {
        Ok(()) => {
            assert!(out.len() <= LIMIT + 1);
            assert_eq!(out[0], 9, "appended after what was there");
            let plain = &out[1..];
            let mut codec = builtin(c, level).unwrap();
            let mut again = Vec::new();
            codec.compress(plain, &mut again).unwrap();
            let mut back = Vec::new();
            decompress(c, &again, &mut back, plain.len()).unwrap();
            assert_eq!(back, plain);
        }
        Err(CompressionError::TooLarge { .. } | CompressionError::Corrupt { .. }) => {
            assert_eq!(out, [9], "nothing appended on failure");
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// A batch header (one record claimed per `records`) around `compressed`,
/// with its length and CRC right, as a producer would send it.
fn batch_records(c: Compression, records: u8, compressed: &[u8]) {
    let mut b = BatchBuilder::new(BytesMut::new(), ProducerState::new(1, 0, 0), false);
    for i in 0..records % 8 {
        b.append(i64::from(i), None, None, []).unwrap();
    }
    // Compress something, then swap in the fuzzer's bytes: the header
    // fields stay the builder's.
    let mut out = Vec::new();
    b.finish_compressed(builtin(c, 1).unwrap().as_mut(), &mut out)
        .unwrap();
    out.truncate(61);
    out.extend_from_slice(compressed);
    let length = (out.len() - 12) as i32;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    // The CRC: rewriting the producer fields recomputes it, but checks the
    // old one first; so compute it as the broker would check it.
    let crc = crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    let bytes = Bytes::from(out);
    let decoded = RecordBatch::decode_with(&mut Reader::new(bytes.clone()), None, LIMIT);
    match decoded {
        Ok(batch) => {
            assert_eq!(batch.header.attributes.compression(), Some(c));
            let mut copy = bytes.to_vec();
            rewrite_producer_state(&mut copy, ProducerState::new(2, 1, 5)).unwrap();
            let again = RecordBatch::decode_with(&mut Reader::new(copy.into()), None, LIMIT)
                .expect("a rewritten batch decodes");
            assert_eq!(again.records, batch.records);
            assert_eq!(again.header.producer, ProducerState::new(2, 1, 5));
        }
        Err(DecodeError::CrcMismatch { .. }) => panic!("the CRC was computed"),
        Err(_) => {}
    }
}

fn round_trip(c: Compression, level: i32, producer: (i64, i16, i32), records: &[Rec]) {
    let producer = ProducerState::new(producer.0, producer.1, producer.2);
    let mut b = BatchBuilder::new(BytesMut::new(), producer, false);
    let mut kept = Vec::new();
    for r in records {
        let headers: Vec<HeaderRef<'_>> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        if b.append(
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            headers.iter().copied(),
        )
        .is_ok()
        {
            kept.push(r);
        }
    }
    let mut codec = builtin(c, level).unwrap();
    let mut out = Vec::new();
    b.finish_compressed(codec.as_mut(), &mut out)
        .expect("the built-in codecs compress anything");
    check(c, codec.as_mut(), out.clone(), producer, &kept);
    let bumped = ProducerState::new(
        producer.producer_id,
        producer.producer_epoch.wrapping_add(1),
        0,
    );
    rewrite_producer_state(&mut out, bumped).unwrap();
    check(c, codec.as_mut(), out, bumped, &kept);
}

/// `bytes` decodes, through `codec`, to one batch of `c` holding exactly
/// `kept`, under `want`.
fn check(
    c: Compression,
    codec: &mut dyn Codec,
    bytes: Vec<u8>,
    want: ProducerState,
    kept: &[&Rec],
) {
    let batch = RecordBatch::decode_all_with(Bytes::from(bytes), Some(codec), LIMIT)
        .expect("a compressed batch decodes")
        .remove(0);
    assert_eq!(batch.header.producer, want);
    assert_eq!(batch.header.attributes.compression(), Some(c));
    assert_eq!(batch.records.len(), kept.len());
    for (got, want) in batch.records.iter().zip(kept) {
        assert_eq!(got.timestamp, want.timestamp);
        assert_eq!(got.key.as_deref(), want.key.as_deref());
        assert_eq!(got.value.as_deref(), want.value.as_deref());
        let headers: Vec<(&str, Option<&[u8]>)> = got
            .headers
            .iter()
            .map(|h| (h.key(), h.value().map(|v| &v[..])))
            .collect();
        let wanted: Vec<(&str, Option<&[u8]>)> = want
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert_eq!(headers, wanted);
    }
}

fn crc32c(bytes: &[u8]) -> u32 {
    kafka_producer_proto::wire::crc32c::crc32c(bytes)
}
