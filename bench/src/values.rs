//! The record values every client sends: slices of one 1 MiB pool, built
//! the same way in every language (`peers/README.md`, "Values").

/// Bytes in the pool.
pub const POOL_LEN: usize = 1 << 20;

/// The pool: `'a' + ((state >> 33) % 16)` for a 64-bit LCG seeded with
/// the golden ratio, so that every client's values are byte for byte the
/// same (and compress alike).
pub fn pool() -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..POOL_LEN)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            b'a' + ((state >> 33) % 16) as u8
        })
        .collect()
}

/// Where record `i`'s value of `size` bytes starts in the pool.
pub fn offset(i: u64, size: usize) -> usize {
    let span = (POOL_LEN - size) as u64;
    (i.wrapping_mul(7919 * 64) % span) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_starts_as_the_contract_says() {
        let pool = pool();
        assert_eq!(pool.len(), POOL_LEN);
        assert_eq!(&pool[..32], b"agfbkpgcihbakndjpehphoaphdncmbih");
        assert!(pool.iter().all(|b| (b'a'..=b'p').contains(b)));
    }

    #[test]
    fn offsets_stay_inside_the_pool() {
        assert_eq!(offset(0, 100), 0);
        assert_eq!(offset(1, 100), 7919 * 64);
        for i in [1, 2, 1000, 999_999, u64::MAX / 7919] {
            for size in [0, 100, 1024, 10_240, POOL_LEN - 1] {
                assert!(offset(i, size) + size <= POOL_LEN, "i {i} size {size}");
            }
        }
    }
}
