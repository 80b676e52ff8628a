//! Helpers shared by the tests of the record batch modules.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use core::fmt::Write;

use super::{BatchBuilder, HeaderRef, ProducerState, RecordBatch};
use crate::wire::codec_error::DecodeError;
use crate::wire::primitives::Reader;

pub(super) fn hex(bytes: &[u8]) -> String {
    let mut s = String::new();
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub(super) fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub(super) fn decode_one(bytes: &[u8]) -> Result<RecordBatch, DecodeError> {
    let mut r = Reader::new(Bytes::copy_from_slice(bytes));
    let batch = RecordBatch::decode(&mut r)?;
    r.finish()?;
    Ok(batch)
}

pub(super) struct TestRecord<'a> {
    pub(super) timestamp: i64,
    pub(super) key: Option<&'a [u8]>,
    pub(super) value: Option<&'a [u8]>,
    pub(super) headers: &'a [HeaderRef<'a>],
}

pub(super) fn encode(
    producer: ProducerState,
    transactional: bool,
    records: &[TestRecord<'_>],
) -> Bytes {
    let mut b = BatchBuilder::new(BytesMut::new(), producer, transactional);
    for r in records {
        let expected = b.size_after(r.timestamp, r.key, r.value, r.headers.iter().copied());
        b.append(r.timestamp, r.key, r.value, r.headers.iter().copied())
            .unwrap();
        assert_eq!(b.size(), expected, "size_after is exact");
    }
    b.finish()
}

pub(super) fn small_batch() -> Bytes {
    encode(
        ProducerState::new(77, 2, 5),
        false,
        &[
            TestRecord {
                timestamp: 500,
                key: Some(b"a"),
                value: Some(b"bc"),
                headers: &[("h", Some(b"1"))],
            },
            TestRecord {
                timestamp: 400,
                key: None,
                value: Some(b""),
                headers: &[("n", None)],
            },
        ],
    )
}
