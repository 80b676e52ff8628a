//! Pseudo-random message values for the codec's own round-trip tests.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};

use super::{Message, RawTaggedField, Reader};

/// xorshift64*: tiny, deterministic, good enough to vary test values.
pub(crate) struct SampleRng(u64);

impl SampleRng {
    pub(crate) fn new(seed: u64) -> Self {
        SampleRng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }

    pub(crate) fn bool(&mut self) -> bool {
        self.next() & 1 == 1
    }

    pub(crate) fn array16(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next().to_le_bytes());
        out[8..].copy_from_slice(&self.next().to_le_bytes());
        out
    }

    pub(crate) fn string(&mut self) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz-._0123456789\xc3\xa9";
        let len = self.below(10);
        let mut s = String::new();
        for _ in 0..len {
            let c = CHARS[self.below(CHARS.len() as u64 - 2)];
            s.push(c as char);
        }
        if self.below(5) == 0 {
            s.push('é');
        }
        s
    }

    pub(crate) fn bytes(&mut self) -> Bytes {
        let len = self.below(12);
        (0..len)
            .map(|_| self.next() as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    /// Unknown tags sit far above any tag the schemas define, so they never
    /// collide with a known field.
    pub(crate) fn unknown_tagged_fields(&mut self) -> Vec<RawTaggedField> {
        let mut out = Vec::new();
        let mut tag = 1000;
        for _ in 0..self.below(3) {
            tag += 1 + self.below(200) as u32;
            out.push(RawTaggedField {
                tag,
                data: self.bytes(),
            });
        }
        out
    }
}

/// Encodes, decodes and re-encodes `value`, asserting that nothing changes.
pub(crate) fn round_trip<M: Message>(value: &M, version: i16) {
    let mut buf = BytesMut::new();
    value
        .encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("{:?} v{version} encode: {e}\n{value:?}", M::API_KEY));
    let bytes = buf.freeze();
    let mut r = Reader::new(bytes.clone());
    let back = M::decode_exact(&mut r, version).unwrap_or_else(|e| {
        panic!(
            "{:?} {:?} v{version} decode: {e}\n{value:?}",
            M::API_KEY,
            M::KIND
        )
    });
    assert_eq!(&back, value, "{:?} {:?} v{version}", M::API_KEY, M::KIND);
    let mut again = BytesMut::new();
    back.encode(&mut again, version).unwrap();
    assert_eq!(
        &again[..],
        &bytes[..],
        "{:?} {:?} v{version} re-encode",
        M::API_KEY,
        M::KIND
    );
}
