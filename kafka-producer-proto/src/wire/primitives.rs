//! Kafka's primitive encodings: fixed-width integers, varints, strings,
//! byte strings, arrays, UUIDs and tagged-field sections.
//!
//! Reading goes through [`Reader`], a cursor over a [`Bytes`] that checks
//! every length against the bytes that remain *before* it allocates or
//! slices. That single rule is what makes every decoder built on it total:
//! no peer-controlled length ever reaches an allocation, an index or a
//! `split_to` unchecked. Writing goes through the `put_*` functions, which
//! append to a [`BytesMut`].
//!
//! `flexible` selects the compact encodings of flexible versions (lengths
//! as unsigned varints of `length + 1`, with 0 meaning null).

use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::codec_error::{DecodeError, EncodeError};

/// A 128-bit UUID as Kafka sends it (topic ids), in wire byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero uuid, which Kafka uses for "none" (a topic without an
    /// id, an id not known).
    pub const NIL: Uuid = Uuid([0; 16]);

    /// Whether this is the all-zero uuid.
    pub fn is_nil(&self) -> bool {
        *self == Uuid::NIL
    }
}

/// A tagged field that this codec does not know, kept as raw bytes so that a
/// message re-encodes exactly as it was received.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawTaggedField {
    /// The field's tag number.
    pub tag: u32,
    /// The field's encoded value.
    pub data: Bytes,
}

/// A checked cursor over received bytes.
///
/// Invariant: every method either consumes exactly the bytes of one value
/// and returns it, or returns an error; a length read from the input is
/// compared with [`Reader::remaining`] before anything is allocated for it.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
}

macro_rules! fixed {
    ($($name:ident: $ty:ty = $get:ident;)*) => {$(
        #[doc = concat!("Reads a big-endian `", stringify!($ty), "`.")]
        #[inline]
        pub fn $name(&mut self) -> Result<$ty, DecodeError> {
            self.need(core::mem::size_of::<$ty>())?;
            Ok(self.buf.$get())
        }
    )*};
}

impl Reader {
    /// Starts reading `buf` from its first byte.
    pub fn new(buf: Bytes) -> Self {
        Reader { buf }
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether all input has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails unless every byte was read: a message that leaves bytes behind
    /// was decoded with the wrong version or schema.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                remaining: self.buf.len(),
            })
        }
    }

    #[inline]
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.buf.len() >= n {
            Ok(())
        } else {
            Err(DecodeError::UnexpectedEnd {
                needed: n - self.buf.len(),
            })
        }
    }

    fixed! {
        i8: i8 = get_i8;
        i16: i16 = get_i16;
        u16: u16 = get_u16;
        i32: i32 = get_i32;
        u32: u32 = get_u32;
        i64: i64 = get_i64;
        f64: f64 = get_f64;
    }

    /// Reads a boolean byte; like the Java client, any non-zero byte is true.
    #[inline]
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.i8()? != 0)
    }

    /// Reads a 16-byte UUID.
    pub fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        self.need(16)?;
        let mut id = [0u8; 16];
        self.buf.copy_to_slice(&mut id);
        Ok(Uuid(id))
    }

    /// Takes the next `n` bytes without copying.
    pub fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        self.need(n)?;
        Ok(self.buf.split_to(n))
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.need(n)?;
        self.buf.advance(n);
        Ok(())
    }

    /// Reads an unsigned varint of at most 5 bytes (compact lengths, tags).
    pub fn unsigned_varint(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let byte = self.u8()?;
            // The fifth byte may only carry the top 4 bits of a u32.
            if i == 4 && byte > 0x0f {
                return Err(DecodeError::VarintTooLong { max_bytes: 5 });
            }
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong { max_bytes: 5 })
    }

    /// Reads an unsigned varlong of at most 10 bytes.
    pub fn unsigned_varlong(&mut self) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = self.u8()?;
            if i == 9 && byte > 0x01 {
                return Err(DecodeError::VarintTooLong { max_bytes: 10 });
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong { max_bytes: 10 })
    }

    /// Reads a zigzag varint (record fields).
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let raw = self.unsigned_varint()?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// Reads a zigzag varlong (record fields).
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let raw = self.unsigned_varlong()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_u8())
    }

    /// Reads a length prefix: `None` for null, otherwise a length that is
    /// known to fit in the remaining input.
    fn length(
        &mut self,
        flexible: bool,
        wide: bool,
        what: &'static str,
    ) -> Result<Option<usize>, DecodeError> {
        let raw: i64 = if flexible {
            i64::from(self.unsigned_varint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        if raw == -1 {
            return Ok(None);
        }
        match usize::try_from(raw) {
            Ok(n) if n <= self.buf.len() => Ok(Some(n)),
            _ => Err(DecodeError::InvalidLength { what, length: raw }),
        }
    }

    /// Reads a nullable string (`int16` length, or compact when `flexible`).
    ///
    /// Compact strings are held to the same 32767-byte limit as the `int16`
    /// form, as Kafka's own codec does, so whatever decodes also encodes.
    pub fn nullable_string(
        &mut self,
        flexible: bool,
        what: &'static str,
    ) -> Result<Option<String>, DecodeError> {
        match self.length(flexible, false, what)? {
            None => Ok(None),
            Some(n) if n > i16::MAX as usize => Err(DecodeError::InvalidLength {
                what,
                length: n as i64,
            }),
            Some(n) => {
                let raw = self.buf.split_to(n);
                match core::str::from_utf8(&raw) {
                    Ok(s) => Ok(Some(String::from(s))),
                    Err(_) => Err(DecodeError::InvalidUtf8),
                }
            }
        }
    }

    /// Reads a non-nullable string.
    pub fn string(&mut self, flexible: bool, what: &'static str) -> Result<String, DecodeError> {
        self.nullable_string(flexible, what)?
            .ok_or(DecodeError::UnexpectedNull { what })
    }

    /// Reads nullable bytes (`int32` length, or compact when `flexible`)
    /// without copying.
    pub fn nullable_bytes(
        &mut self,
        flexible: bool,
        what: &'static str,
    ) -> Result<Option<Bytes>, DecodeError> {
        match self.length(flexible, true, what)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.buf.split_to(n))),
        }
    }

    /// Reads non-nullable bytes.
    pub fn bytes(&mut self, flexible: bool, what: &'static str) -> Result<Bytes, DecodeError> {
        self.nullable_bytes(flexible, what)?
            .ok_or(DecodeError::UnexpectedNull { what })
    }

    /// Reads an array count: `None` for a null array.
    ///
    /// The count is rejected when it exceeds the remaining bytes. That holds
    /// for every array Kafka defines, because every element takes at least
    /// one byte, and it bounds what a decoder allocates by the input size.
    pub fn array_len(
        &mut self,
        flexible: bool,
        what: &'static str,
    ) -> Result<Option<usize>, DecodeError> {
        self.length(flexible, true, what)
    }

    /// Reads a tagged-field section, handing each field's tag and bytes to
    /// `known`, which returns `Ok(false)` for tags it does not know; those
    /// are collected into `unknown`.
    pub fn tagged_fields(
        &mut self,
        unknown: &mut Vec<RawTaggedField>,
        mut known: impl FnMut(u32, &mut Reader) -> Result<bool, DecodeError>,
    ) -> Result<(), DecodeError> {
        let count = self.unsigned_varint()?;
        for _ in 0..count {
            let tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            let data = self.take(size)?;
            let mut field = Reader::new(data.clone());
            if known(tag, &mut field)? {
                field.finish()?;
            } else {
                unknown.push(RawTaggedField { tag, data });
            }
        }
        Ok(())
    }
}

/// Appends an unsigned varint.
#[inline]
pub fn put_unsigned_varint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// Appends an unsigned varlong.
#[inline]
pub fn put_unsigned_varlong(buf: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// Appends a zigzag varint.
#[inline]
pub fn put_varint(buf: &mut BytesMut, value: i32) {
    put_unsigned_varint(buf, ((value << 1) ^ (value >> 31)) as u32);
}

/// Appends a zigzag varlong.
#[inline]
pub fn put_varlong(buf: &mut BytesMut, value: i64) {
    put_unsigned_varlong(buf, ((value << 1) ^ (value >> 63)) as u64);
}

/// The number of bytes [`put_unsigned_varint`] writes for `value`.
#[inline]
pub const fn unsigned_varint_len(value: u32) -> usize {
    match value {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
}

/// The number of bytes [`put_varint`] writes for `value`.
#[inline]
pub const fn varint_len(value: i32) -> usize {
    unsigned_varint_len(((value << 1) ^ (value >> 31)) as u32)
}

/// The number of bytes [`put_varlong`] writes for `value`.
#[inline]
pub const fn varlong_len(value: i64) -> usize {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_length(
    buf: &mut BytesMut,
    len: Option<usize>,
    flexible: bool,
    wide: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    let limit = if wide {
        i32::MAX as usize
    } else {
        i16::MAX as usize
    };
    match len {
        Some(n) if n > limit => Err(EncodeError::TooLong { what, length: n }),
        Some(n) if flexible => {
            put_unsigned_varint(buf, n as u32 + 1);
            Ok(())
        }
        Some(n) if wide => {
            buf.put_i32(n as i32);
            Ok(())
        }
        Some(n) => {
            buf.put_i16(n as i16);
            Ok(())
        }
        None if flexible => {
            buf.put_u8(0);
            Ok(())
        }
        None if wide => {
            buf.put_i32(-1);
            Ok(())
        }
        None => {
            buf.put_i16(-1);
            Ok(())
        }
    }
}

/// Appends a nullable string.
pub fn put_nullable_string(
    buf: &mut BytesMut,
    value: Option<&str>,
    flexible: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    put_length(buf, value.map(str::len), flexible, false, what)?;
    if let Some(s) = value {
        buf.put_slice(s.as_bytes());
    }
    Ok(())
}

/// Appends a non-nullable string.
pub fn put_string(
    buf: &mut BytesMut,
    value: &str,
    flexible: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    put_nullable_string(buf, Some(value), flexible, what)
}

/// Appends nullable bytes.
pub fn put_nullable_bytes(
    buf: &mut BytesMut,
    value: Option<&[u8]>,
    flexible: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    put_length(buf, value.map(<[u8]>::len), flexible, true, what)?;
    if let Some(b) = value {
        buf.put_slice(b);
    }
    Ok(())
}

/// Appends non-nullable bytes.
pub fn put_bytes(
    buf: &mut BytesMut,
    value: &[u8],
    flexible: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    put_nullable_bytes(buf, Some(value), flexible, what)
}

/// Appends an array count (`None` for a null array).
pub fn put_array_len(
    buf: &mut BytesMut,
    len: Option<usize>,
    flexible: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    put_length(buf, len, flexible, true, what)
}

/// Appends a UUID.
pub fn put_uuid(buf: &mut BytesMut, value: &Uuid) {
    buf.put_slice(&value.0);
}

/// Appends a boolean byte.
pub fn put_bool(buf: &mut BytesMut, value: bool) {
    buf.put_u8(u8::from(value));
}

/// Appends a tagged-field section: the known fields that differ from their
/// defaults (already encoded, as `(tag, bytes)`) merged with the unknown ones
/// kept from decoding, in ascending tag order as the protocol requires.
pub fn put_tagged_fields(
    buf: &mut BytesMut,
    known: &mut [(u32, BytesMut)],
    unknown: &[RawTaggedField],
) {
    let count = known.len() + unknown.len();
    put_unsigned_varint(buf, count as u32);
    known.sort_unstable_by_key(|(tag, _)| *tag);
    let mut known = known.iter().peekable();
    let mut unknown = unknown.iter().peekable();
    loop {
        let take_known = match (known.peek(), unknown.peek()) {
            (Some((k, _)), Some(u)) => *k <= u.tag,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let (tag, data): (u32, &[u8]) = if take_known {
            match known.next() {
                Some((tag, data)) => (*tag, data),
                None => break,
            }
        } else {
            match unknown.next() {
                Some(field) => (field.tag, &field.data),
                None => break,
            }
        };
        put_unsigned_varint(buf, tag);
        put_unsigned_varint(buf, data.len() as u32);
        buf.put_slice(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> Reader {
        Reader::new(Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn varint_round_trips_at_boundaries() {
        for v in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN, 300, -300] {
            let mut buf = BytesMut::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "length of {v}");
            assert_eq!(reader(&buf).varint().unwrap(), v);
        }
        for v in [0i64, 1, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut buf = BytesMut::new();
            put_varlong(&mut buf, v);
            assert_eq!(buf.len(), varlong_len(v), "length of {v}");
            assert_eq!(reader(&buf).varlong().unwrap(), v);
        }
    }

    #[test]
    fn zigzag_matches_the_protocol_examples() {
        // -1 zigzags to 1, 1 to 2, -64 to 127 (one byte), 64 to 128 (two).
        let mut buf = BytesMut::new();
        put_varint(&mut buf, -1);
        put_varint(&mut buf, 1);
        put_varint(&mut buf, -64);
        put_varint(&mut buf, 64);
        assert_eq!(&buf[..], &[0x01, 0x02, 0x7f, 0x80, 0x01]);
    }

    #[test]
    fn overlong_varints_are_rejected() {
        assert_eq!(
            reader(&[0xff, 0xff, 0xff, 0xff, 0x1f]).unsigned_varint(),
            Err(DecodeError::VarintTooLong { max_bytes: 5 })
        );
        assert_eq!(
            reader(&[0xff; 11]).unsigned_varlong(),
            Err(DecodeError::VarintTooLong { max_bytes: 10 })
        );
        assert!(matches!(
            reader(&[0x80]).unsigned_varint(),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn lengths_beyond_the_input_are_rejected_before_allocating() {
        // A string claiming 32767 bytes in a 3-byte input.
        assert!(matches!(
            reader(&[0x7f, 0xff, b'a']).string(false, "s"),
            Err(DecodeError::InvalidLength { length: 32767, .. })
        ));
        // An array claiming two billion elements.
        assert!(matches!(
            reader(&[0x7f, 0xff, 0xff, 0xff]).array_len(false, "a"),
            Err(DecodeError::InvalidLength { .. })
        ));
        // -2 is not null, it is invalid.
        assert!(matches!(
            reader(&[0xff, 0xfe]).nullable_string(false, "s"),
            Err(DecodeError::InvalidLength { length: -2, .. })
        ));
        assert_eq!(reader(&[0xff, 0xff]).nullable_string(false, "s"), Ok(None));
        assert_eq!(reader(&[0x00]).nullable_string(true, "s"), Ok(None));
        assert_eq!(
            reader(&[0xff, 0xff]).string(false, "s"),
            Err(DecodeError::UnexpectedNull { what: "s" })
        );
    }

    #[test]
    fn strings_round_trip_in_both_encodings() {
        for flexible in [false, true] {
            let mut buf = BytesMut::new();
            put_string(&mut buf, "héllo", flexible, "s").unwrap();
            put_nullable_string(&mut buf, None, flexible, "s").unwrap();
            put_nullable_bytes(&mut buf, Some(b"\x00\x01"), flexible, "b").unwrap();
            let mut r = reader(&buf);
            assert_eq!(r.string(flexible, "s").unwrap(), "héllo");
            assert_eq!(r.nullable_string(flexible, "s").unwrap(), None);
            assert_eq!(&r.bytes(flexible, "b").unwrap()[..], b"\x00\x01");
            r.finish().unwrap();
        }
    }

    #[test]
    fn compact_strings_longer_than_the_int16_limit_are_rejected() {
        let mut buf = BytesMut::new();
        put_unsigned_varint(&mut buf, 32768 + 1);
        buf.extend_from_slice(&[b'x'; 32768]);
        assert!(matches!(
            reader(&buf).string(true, "s"),
            Err(DecodeError::InvalidLength { length: 32768, .. })
        ));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert_eq!(
            reader(&[0, 1, 0xff]).string(false, "s"),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn oversized_strings_are_refused_on_encode() {
        let long = "x".repeat(40_000);
        let mut buf = BytesMut::new();
        assert!(matches!(
            put_string(&mut buf, &long, false, "s"),
            Err(EncodeError::TooLong { length: 40_000, .. })
        ));
    }

    #[test]
    fn tagged_fields_merge_in_tag_order_and_unknown_ones_survive() {
        let mut known = alloc::vec![
            (3u32, BytesMut::from(&b"\x07"[..])),
            (0u32, BytesMut::from(&b"\x09"[..]))
        ];
        let unknown = [RawTaggedField {
            tag: 1,
            data: Bytes::from_static(b"zz"),
        }];
        let mut buf = BytesMut::new();
        put_tagged_fields(&mut buf, &mut known, &unknown);
        assert_eq!(&buf[..], &[3, 0, 1, 9, 1, 2, b'z', b'z', 3, 1, 7]);
        let mut seen = Vec::new();
        let mut kept = Vec::new();
        reader(&buf)
            .tagged_fields(&mut kept, |tag, r| {
                if tag == 1 {
                    return Ok(false);
                }
                seen.push((tag, r.i8()?));
                Ok(true)
            })
            .unwrap();
        assert_eq!(seen, [(0, 9), (3, 7)]);
        assert_eq!(kept, unknown);
    }
}
