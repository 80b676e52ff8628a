#![no_main]
//! The record batch decoder on arbitrary bytes. Whatever decodes must
//! survive the producer's own operations unchanged: re-encoding its records
//! with the streaming encoder gives a batch that decodes to the same
//! records, and rewriting the producer fields of the first batch in place
//! changes those fields and nothing else.
use bytes::{Bytes, BytesMut};
use kafka_producer_proto::wire::record_batch::{
    BatchBuilder, BatchHeader, HeaderRef, ProducerState, RecordBatch, rewrite_producer_state,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    let Ok(batches) = RecordBatch::decode_all(input.clone()) else {
        return;
    };
    for batch in &batches {
        let h = &batch.header;
        let mut b = BatchBuilder::new(BytesMut::new(), h.producer, h.attributes.is_transactional());
        for r in &batch.records {
            let headers: Vec<HeaderRef<'_>> = r
                .headers
                .iter()
                .map(|x| (x.key(), x.value().map(|v| &v[..])))
                .collect();
            b.append(
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
                headers.iter().copied(),
            )
            .expect("a decoded record re-encodes");
        }
        let again = RecordBatch::decode_all(b.finish()).expect("re-encoded batch decodes");
        assert_eq!(again.len(), 1);
        let again = &again[0];
        assert_eq!(again.header.producer, h.producer);
        assert_eq!(again.records.len(), batch.records.len());
        for (x, y) in again.records.iter().zip(&batch.records) {
            assert_eq!(
                (x.timestamp, &x.key, &x.value, &x.headers),
                (y.timestamp, &y.key, &y.value, &y.headers)
            );
        }
    }
    if let Some(first) = batches.first() {
        let size = BatchHeader::peek(&input)
            .ok()
            .and_then(|h| h.total_size())
            .expect("a decoded batch has a size");
        let mut bytes = input[..size].to_vec();
        let new = ProducerState::new(first.header.producer.producer_id ^ 1, 7, 1234);
        rewrite_producer_state(&mut bytes, new).expect("a decoded batch can be rewritten");
        let rewritten =
            RecordBatch::decode_all(Bytes::from(bytes)).expect("a rewritten batch decodes");
        assert_eq!(rewritten[0].header.producer, new);
        assert_eq!(rewritten[0].records, first.records);
    }
});
