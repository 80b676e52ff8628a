//! Invariants shared by the fuzz targets.

use bytes::{Bytes, BytesMut};
use kafka_producer_proto::wire::{Message, Reader};

/// Decodes `data[1..]` as `M` in a version picked by `data[0]`. Whatever
/// decodes must encode again, decode to the same value, and re-encode to the
/// same bytes; nothing may panic.
pub fn message<M: Message>(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let span = (M::MAX_VERSION - M::MIN_VERSION + 1) as u8;
    let version = M::MIN_VERSION + i16::from(pick % span);
    let mut r = Reader::new(Bytes::copy_from_slice(body));
    let Ok(value) = M::decode(&mut r, version) else {
        return;
    };
    let mut first = BytesMut::new();
    value
        .encode(&mut first, version)
        .unwrap_or_else(|e| panic!("decoded value does not encode: {e}\n{value:?}"));
    let again = M::decode_exact(&mut Reader::new(first.clone().freeze()), version)
        .unwrap_or_else(|e| panic!("re-encoded bytes do not decode: {e}\n{value:?}"));
    assert_eq!(again, value);
    let mut second = BytesMut::new();
    again.encode(&mut second, version).unwrap();
    assert_eq!(first, second);
}
