//! CRC-32C (Castagnoli), the checksum of Kafka record batches.
//!
//! Two implementations compute the same function:
//!
//! * a portable slicing-by-8 over tables built at compile time, used on
//!   every target and whenever the hardware path is unavailable;
//! * on `x86_64`, the SSE4.2 `crc32` instruction. One instruction folds
//!   eight bytes, but it has a latency of three cycles and a throughput of
//!   one per cycle, so a single dependency chain would leave two thirds of
//!   the unit idle. The buffer is therefore cut into blocks of three equal
//!   lanes whose CRCs are computed as three independent chains and then
//!   combined (see [Combining lanes](#combining-lanes)).
//!
//! # Combining lanes
//!
//! Inside this module a CRC is the *raw* register: no initial or final
//! inversion (the public functions add those). The raw register is a
//! polynomial over GF(2) reduced modulo the Castagnoli polynomial P, and
//! feeding one zero bit multiplies it by x. Because the update is linear,
//!
//! ```text
//! update(c, A ++ B) = update(c, A) * x^(8 |B|)  xor  update(0, B)   (mod P)
//! ```
//!
//! so for three lanes of `n` bytes each,
//! `update(c, A ++ B ++ C) = ((a * x^8n) ^ b) * x^8n ^ cc` where `a` is
//! lane A's chain started from `c` and `b`, `cc` are lanes B and C started
//! from zero. Multiplying by the constant `x^8n` is itself linear in the 32
//! register bits, so it is four lookups in a 4 x 256 table (`ZeroShift`)
//! computed at compile time from `x^8n mod P`.
//!
//! Three block sizes are used, largest first: long lanes (4 KiB) for the bulk
//! of large buffers, where the two lookups per block are negligible; short
//! lanes (256 B) so that a buffer of a few KiB, or the rest of a large one,
//! still runs three-way; tiny lanes (64 B) so that the single chain at the
//! end, which runs at a third of the speed, covers less than 192 bytes.
//!
//! # Invariants
//!
//! This is the only module of the crate allowed to contain `unsafe`
//! (`tests/unsafe_audit.rs` enforces that). Its soundness rests on these
//! invariants, which any change here must preserve:
//!
//! 1. The only `unsafe` operation is calling a `#[target_feature]` function.
//!    Input is read exclusively through safe slice APIs (`as_chunks`,
//!    `chunks_exact`, `split_at`); there are no raw pointers, casts of
//!    pointers or unchecked indexing, so memory safety never depends on a
//!    length or an alignment computed here. The single thing `unsafe`
//!    vouches for is that the CPU can execute the instructions.
//! 2. `update_sse42` and the helpers it calls are `#[target_feature(enable =
//!    "sse4.2")]` and are reached from exactly one call site outside that
//!    feature context, in `x86::update`, which is dominated by a check of
//!    `x86::sse42_available()`.
//! 3. `x86::sse42_available()` returns `true` only if the executing CPU has
//!    SSE4.2: with the `std` feature, because CPUID said so at run time
//!    (the answer is cached, and a stale cache can only ever hold an answer
//!    CPUID gave on this machine); without it, only if the crate was compiled
//!    with `target_feature = "sse4.2"`, in which case the whole binary
//!    already requires it.
//! 4. Both paths compute the same function over any input, length and
//!    alignment; the unit tests below compare them exhaustively for short
//!    inputs and on large ones, and check both against published vectors.

// The crate denies `unsafe_code`; the hardware CRC needs one kind of
// `unsafe`, calling a `#[target_feature]` function after detecting that
// feature, and the invariants above confine it to this module.
#![allow(unsafe_code)]

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82f6_3b78;

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            k += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static TABLES: [[u32; 256]; 8] = make_tables();

/// Continues a raw (not pre/post-inverted) CRC register over `data`.
fn update_portable(mut crc: u32, data: &[u8]) -> u32 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ u32::from(b)) & 0xff) as usize];
    }
    crc
}

/// Continues a raw CRC register over `data` on the fastest path this CPU
/// offers.
fn update(crc: u32, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(crc) = x86::update(crc, data) {
        return crc;
    }
    update_portable(crc, data)
}

/// Computes the CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c_append(0, data)
}

/// Extends a finished CRC-32C `crc` of some prefix with `data`, so that
/// `crc32c_append(crc32c(a), b) == crc32c(a ++ b)`.
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    !update(!crc, data)
}

/// Computes the CRC-32C of `data` on the portable path only, whatever the
/// CPU supports; a reference for tests and benchmarks.
#[doc(hidden)]
pub fn crc32c_portable(data: &[u8]) -> u32 {
    !update_portable(!0, data)
}

// The GF(2) arithmetic below serves the lane combination, which only the
// x86_64 path performs; elsewhere only the tests use it.

/// Multiplies two polynomials modulo P, both in the reflected bit order of
/// the CRC register (bit 31 holds the coefficient of x^0).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const fn mul_mod_p(a: u32, mut b: u32) -> u32 {
    let mut product = 0;
    let mut degree = 0;
    while degree < 32 {
        if a & (0x8000_0000 >> degree) != 0 {
            product ^= b;
        }
        // b *= x; the bit falling off the low end is x^32 = P - x^32.
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
        degree += 1;
    }
    product
}

/// `x^(8 * bytes) mod P`, reflected: what `bytes` zero bytes multiply the
/// register by.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const fn x_pow_8n(mut bytes: usize) -> u32 {
    let mut result = 0x8000_0000; // x^0
    let mut square = 0x0080_0000; // x^8: one zero byte
    while bytes != 0 {
        if bytes & 1 != 0 {
            result = mul_mod_p(result, square);
        }
        square = mul_mod_p(square, square);
        bytes >>= 1;
    }
    result
}

/// Advances a raw CRC register over a fixed number of zero bytes in four
/// lookups, without touching the bytes.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct ZeroShift([[u32; 256]; 4]);

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl ZeroShift {
    /// Tabulates the shift over `bytes` zero bytes. Multiplication by a
    /// constant is linear, so the image of the register is the xor of the
    /// images of its four bytes taken separately.
    const fn new(bytes: usize) -> Self {
        let factor = x_pow_8n(bytes);
        let mut t = [[0u32; 256]; 4];
        let mut k = 0;
        while k < 4 {
            let mut b = 0;
            while b < 256 {
                t[k][b] = mul_mod_p((b as u32) << (8 * k), factor);
                b += 1;
            }
            k += 1;
        }
        Self(t)
    }

    #[inline]
    fn apply(&self, crc: u32) -> u32 {
        let [b0, b1, b2, b3] = crc.to_le_bytes();
        self.0[0][usize::from(b0)]
            ^ self.0[1][usize::from(b1)]
            ^ self.0[2][usize::from(b2)]
            ^ self.0[3][usize::from(b3)]
    }
}

/// Lane length, in bytes, of the blocks that carry large buffers.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const LONG_LANE: usize = 4096;
/// Lane length, in bytes, of the blocks for what is left after long blocks.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const SHORT_LANE: usize = 256;
/// Lane length, in bytes, of the last blocks. Below this the combination
/// (two dependent table lookups) would cost about as much as it saves.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const TINY_LANE: usize = 64;

// The lane loops consume whole 8-byte words; a partial word would silently
// be dropped.
const _: () = assert!(
    LONG_LANE.is_multiple_of(8) && SHORT_LANE.is_multiple_of(8) && TINY_LANE.is_multiple_of(8)
);

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u64};

    use super::{LONG_LANE, SHORT_LANE, TINY_LANE, ZeroShift};

    static LONG_SHIFT: ZeroShift = ZeroShift::new(LONG_LANE);
    static SHORT_SHIFT: ZeroShift = ZeroShift::new(SHORT_LANE);
    static TINY_SHIFT: ZeroShift = ZeroShift::new(TINY_LANE);

    /// Continues a raw CRC register over `data` with SSE4.2, or returns
    /// `None` if this CPU lacks it.
    #[inline]
    pub(super) fn update(crc: u32, data: &[u8]) -> Option<u32> {
        if !sse42_available() {
            return None;
        }
        // SAFETY: `sse42_available` just returned true, which by invariant 3
        // of the module means the executing CPU supports SSE4.2, the only
        // feature `update_sse42` enables. Nothing else about the call is
        // unsafe: it takes a plain value and a slice.
        Some(unsafe { update_sse42(crc, data) })
    }

    /// Whether the executing CPU supports SSE4.2, detected once.
    #[cfg(feature = "std")]
    pub(super) fn sse42_available() -> bool {
        use core::sync::atomic::{AtomicU8, Ordering};

        const UNKNOWN: u8 = 0;
        const ABSENT: u8 = 1;
        const PRESENT: u8 = 2;
        // Relaxed is enough: the value is a pure function of the machine,
        // so racing detections store the same answer and no other memory is
        // published through it.
        static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
        match STATE.load(Ordering::Relaxed) {
            PRESENT => true,
            ABSENT => false,
            _ => {
                let present = std::is_x86_feature_detected!("sse4.2");
                STATE.store(if present { PRESENT } else { ABSENT }, Ordering::Relaxed);
                present
            }
        }
    }

    /// Whether the executing CPU supports SSE4.2. Without `std` there is no
    /// portable way to ask it, so only a build that already requires the
    /// feature uses it.
    #[cfg(not(feature = "std"))]
    pub(super) fn sse42_available() -> bool {
        cfg!(target_feature = "sse4.2")
    }

    #[target_feature(enable = "sse4.2")]
    fn update_sse42(crc: u32, data: &[u8]) -> u32 {
        let (crc, rest) = three_way::<LONG_LANE>(crc, data, &LONG_SHIFT);
        let (crc, rest) = three_way::<SHORT_LANE>(crc, rest, &SHORT_SHIFT);
        let (crc, rest) = three_way::<TINY_LANE>(crc, rest, &TINY_SHIFT);
        one_way(crc, rest)
    }

    /// Runs whole blocks of three `LANE`-byte lanes and returns the register
    /// with the bytes that did not fill a block. `shift` must advance over
    /// `LANE` zero bytes.
    #[target_feature(enable = "sse4.2")]
    #[inline]
    fn three_way<'a, const LANE: usize>(
        mut crc: u32,
        data: &'a [u8],
        shift: &ZeroShift,
    ) -> (u32, &'a [u8]) {
        let mut blocks = data.chunks_exact(3 * LANE);
        for block in &mut blocks {
            let (a, rest) = block.split_at(LANE);
            let (b, c) = rest.split_at(LANE);
            let (a, _) = a.as_chunks::<8>();
            let (b, _) = b.as_chunks::<8>();
            let (c, _) = c.as_chunks::<8>();
            let (mut ca, mut cb, mut cc) = (u64::from(crc), 0u64, 0u64);
            for ((wa, wb), wc) in a.iter().zip(b).zip(c) {
                ca = _mm_crc32_u64(ca, u64::from_le_bytes(*wa));
                cb = _mm_crc32_u64(cb, u64::from_le_bytes(*wb));
                cc = _mm_crc32_u64(cc, u64::from_le_bytes(*wc));
            }
            // The instruction zero-extends its 32-bit result, so the
            // truncations drop nothing.
            let ab = shift.apply(ca as u32) ^ cb as u32;
            crc = shift.apply(ab) ^ cc as u32;
        }
        (crc, blocks.remainder())
    }

    /// Runs `data` as a single chain.
    #[target_feature(enable = "sse4.2")]
    #[inline]
    fn one_way(crc: u32, data: &[u8]) -> u32 {
        let (words, tail) = data.as_chunks::<8>();
        let mut crc = u64::from(crc);
        for w in words {
            crc = _mm_crc32_u64(crc, u64::from_le_bytes(*w));
        }
        // Zero-extended result, as above.
        let mut crc = crc as u32;
        for &b in tail {
            crc = _mm_crc32_u8(crc, b);
        }
        crc
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    /// A deterministic xorshift64 stream, so failures reproduce.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    /// Every published vector, as (input, CRC-32C).
    fn vectors() -> Vec<(Vec<u8>, u32)> {
        alloc::vec![
            (Vec::new(), 0),
            (b"123456789".to_vec(), 0xE306_9283),
            // RFC 3720 (iSCSI), appendix B.4.
            (alloc::vec![0x00; 32], 0x8A91_36AA),
            (alloc::vec![0xFF; 32], 0x62A8_AB43),
            ((0..32).collect(), 0x46DD_794E),
            ((0..32).rev().collect(), 0x113F_DB5C),
        ]
    }

    #[test]
    fn published_vectors() {
        for (input, expected) in vectors() {
            assert_eq!(crc32c(&input), expected, "crc32c({input:02x?})");
            assert_eq!(crc32c_portable(&input), expected, "portable({input:02x?})");
        }
    }

    #[test]
    fn append_property_on_random_splits() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for round in 0..2000 {
            let len = if round % 10 == 0 {
                (rng.next() % 100_000) as usize
            } else {
                (rng.next() % 3000) as usize
            };
            let data = rng.bytes(len);
            let whole = crc32c(&data);
            assert_eq!(whole, crc32c_portable(&data), "len {len}");
            let split = (rng.next() as usize) % (len + 1);
            let (a, b) = data.split_at(split);
            assert_eq!(
                crc32c_append(crc32c(a), b),
                whole,
                "len {len} split {split}"
            );
            let second = split + (rng.next() as usize) % (len - split + 1);
            let (b, c) = data[split..].split_at(second - split);
            assert_eq!(
                crc32c_append(crc32c_append(crc32c(a), b), c),
                whole,
                "len {len} splits {split} {second}"
            );
        }
    }

    #[test]
    fn x_pow_8n_agrees_with_bytewise_shifting() {
        // One zero byte in the table-driven update is the reference for
        // "multiply by x^8"; repeated, it must match the closed form.
        let mut by_bytes = 0x8000_0000u32;
        for n in 0..2000 {
            assert_eq!(x_pow_8n(n), by_bytes, "n = {n}");
            by_bytes = update_portable(by_bytes, &[0]);
        }
    }

    #[test]
    fn mul_mod_p_is_a_commutative_ring_product() {
        let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
        for _ in 0..1000 {
            let (a, b, c) = (rng.next() as u32, rng.next() as u32, rng.next() as u32);
            assert_eq!(mul_mod_p(a, 0x8000_0000), a);
            assert_eq!(mul_mod_p(a, b), mul_mod_p(b, a));
            assert_eq!(mul_mod_p(a, b ^ c), mul_mod_p(a, b) ^ mul_mod_p(a, c));
            assert_eq!(mul_mod_p(mul_mod_p(a, b), c), mul_mod_p(a, mul_mod_p(b, c)));
        }
    }

    #[test]
    fn zero_shift_equals_feeding_zero_bytes() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for bytes in [
            0,
            1,
            7,
            8,
            9,
            100,
            TINY_LANE,
            SHORT_LANE,
            1000,
            LONG_LANE,
            3 * LONG_LANE,
        ] {
            let shift = ZeroShift::new(bytes);
            let zeros = alloc::vec![0u8; bytes];
            for crc in [
                0,
                1,
                0x8000_0000,
                u32::MAX,
                rng.next() as u32,
                rng.next() as u32,
            ] {
                assert_eq!(
                    shift.apply(crc),
                    update_portable(crc, &zeros),
                    "{bytes} bytes from {crc:#010x}"
                );
            }
        }
    }

    // A build without `std` and without `target_feature = "sse4.2"` never
    // selects the hardware path, so there is nothing of it to test there.
    #[cfg(all(
        target_arch = "x86_64",
        any(feature = "std", target_feature = "sse4.2")
    ))]
    mod x86_64 {
        use alloc::vec::Vec;

        use super::super::{LONG_LANE, SHORT_LANE, TINY_LANE, update_portable, x86};
        use super::{XorShift, vectors};

        /// The SSE4.2 path itself; fails the test rather than fall back, so
        /// an undetected CPU feature cannot make these tests vacuous.
        fn hw(crc: u32, data: &[u8]) -> u32 {
            x86::update(crc, data).expect("SSE4.2 CRC-32C unavailable")
        }

        /// Compares both paths on `data` at every start offset 0..8, from a
        /// few starting registers.
        fn assert_paths_agree(buf: &[u8], len: usize, rng: &mut XorShift) {
            for offset in 0..8 {
                let data = &buf[offset..offset + len];
                for crc in [0, u32::MAX, rng.next() as u32] {
                    assert_eq!(
                        hw(crc, data),
                        update_portable(crc, data),
                        "len {len}, offset {offset}, start {crc:#010x}"
                    );
                }
            }
        }

        #[test]
        fn sse42_detected() {
            #[cfg(feature = "std")]
            assert!(
                std::is_x86_feature_detected!("sse4.2"),
                "this test suite expects a CPU with SSE4.2, or the hardware \
                 path goes untested"
            );
            // Twice: the first call may detect, the second reads the cache.
            assert!(x86::sse42_available());
            assert!(x86::sse42_available());
        }

        #[test]
        fn hw_published_vectors() {
            for (input, expected) in vectors() {
                assert_eq!(!hw(!0, &input), expected, "{input:02x?}");
            }
        }

        #[test]
        fn hw_matches_portable_every_length_to_2048() {
            let mut rng = XorShift(0x0123_4567_89AB_CDEF);
            let buf = rng.bytes(2048 + 8);
            for len in 0..=2048 {
                assert_paths_agree(&buf, len, &mut rng);
            }
        }

        #[test]
        fn hw_matches_portable_large_lengths() {
            let mut rng = XorShift(0xFEDC_BA98_7654_3210);
            // Lengths up to 2048 are covered one by one elsewhere; these
            // straddle the long-block boundaries and reach every tier.
            let lens = [
                4095,
                4096,
                3 * LONG_LANE - 1,
                3 * LONG_LANE,
                3 * LONG_LANE + 1,
                3 * LONG_LANE + 3 * SHORT_LANE + 3 * TINY_LANE + 7,
                6 * LONG_LANE + 3 * SHORT_LANE - 1,
                16384,
                16385,
                65535,
                65536,
                65537,
                (1 << 20) + 3,
            ];
            let buf = rng.bytes((1 << 20) + 3 + 8);
            for len in lens {
                assert_paths_agree(&buf, len, &mut rng);
            }
        }

        #[test]
        fn hw_append_property_on_random_splits() {
            let mut rng = XorShift(0x5851_F42D_4C95_7F2D);
            for _ in 0..500 {
                let len = (rng.next() % 40_000) as usize;
                let data: Vec<u8> = rng.bytes(len);
                let split = (rng.next() as usize) % (len + 1);
                let (a, b) = data.split_at(split);
                let start = rng.next() as u32;
                assert_eq!(
                    hw(hw(start, a), b),
                    update_portable(start, &data),
                    "len {len} split {split}"
                );
            }
        }
    }
}
