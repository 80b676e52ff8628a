//! How well a topic's batches compress, learned from the batches closed,
//! so that batches fill to `batch.size` by their estimated compressed
//! size. The Java client's `CompressionRatioEstimator`, with its
//! constants:
//!
//! - a topic starts at 1.0 (its first batches fill as if uncompressed);
//! - a batch's estimated size is its header plus its records' size times
//!   the ratio times 1.05, a safety margin;
//! - each batch closed moves the ratio towards the one it showed: at once
//!   and by at least 0.05 when it compressed worse, by at most 0.005 when
//!   it compressed better;
//! - a batch split after MESSAGE_TOO_LARGE sets it to the larger of 1.0
//!   and that batch's ratio, so that splits stay rare.
//!
//! Java keeps one ratio per topic and codec for the whole JVM; this is one
//! per topic per producer (a producer has one codec), so producers do not
//! share state. Kept in fixed point, ten-thousandths, so that runs are the
//! same on every target.

use crate::wire::record_batch::BATCH_HEADER_SIZE;

/// Compressed bytes per uncompressed byte of a batch's records, in
/// ten-thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CompressionRatio(u32);

/// 1.0.
const ONE: u32 = 10_000;
/// Java's `COMPRESSION_RATIO_DETERIORATE_STEP`, 0.05.
const DETERIORATE_STEP: u32 = 500;
/// Java's `COMPRESSION_RATIO_IMPROVING_STEP`, 0.005.
const IMPROVING_STEP: u32 = 50;
/// Java's `COMPRESSION_RATE_ESTIMATION_FACTOR`, 1.05, in hundredths.
const ESTIMATION_FACTOR: u64 = 105;

impl CompressionRatio {
    /// Where a topic starts: as if its batches did not compress.
    pub const INITIAL: CompressionRatio = CompressionRatio(ONE);

    /// The ratio a closed batch showed: its compressed records' size over
    /// their uncompressed size (both without the header), rounded up.
    pub fn observed(uncompressed: usize, compressed: usize) -> CompressionRatio {
        if uncompressed == 0 {
            return CompressionRatio::INITIAL;
        }
        let r = (compressed as u64 * u64::from(ONE)).div_ceil(uncompressed as u64);
        CompressionRatio(u32::try_from(r).unwrap_or(u32::MAX))
    }

    /// The ratio in ten-thousandths.
    pub fn ten_thousandths(self) -> u32 {
        self.0
    }

    /// The estimated compressed size of a batch whose uncompressed size
    /// (header included) is `size`.
    pub fn estimate(self, size: usize) -> usize {
        let records = size.saturating_sub(BATCH_HEADER_SIZE) as u64;
        let scaled =
            (records * u64::from(self.0) * ESTIMATION_FACTOR).div_ceil(u64::from(ONE) * 100);
        BATCH_HEADER_SIZE.saturating_add(usize::try_from(scaled).unwrap_or(usize::MAX))
    }

    /// A batch closed with ratio `observed`.
    pub fn update(&mut self, observed: CompressionRatio) {
        if observed.0 > self.0 {
            self.0 = observed.0.max(self.0.saturating_add(DETERIORATE_STEP));
        } else if observed.0 < self.0 {
            self.0 = observed.0.max(self.0.saturating_sub(IMPROVING_STEP));
        }
    }

    /// A batch with ratio `observed` was split after MESSAGE_TOO_LARGE.
    pub fn reset_after_split(&mut self, observed: CompressionRatio) {
        self.0 = observed.0.max(ONE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_javas_formula() {
        let one = CompressionRatio::INITIAL;
        // 61 + 10,000 * 1.0 * 1.05
        assert_eq!(one.estimate(61 + 10_000), 61 + 10_500);
        let quarter = CompressionRatio::observed(4_000, 1_000);
        assert_eq!(quarter, CompressionRatio(2_500));
        // 61 + 10,000 * 0.25 * 1.05
        assert_eq!(quarter.estimate(61 + 10_000), 61 + 2_625);
        assert_eq!(one.estimate(61), 61, "an empty batch is its header");
        assert_eq!(one.estimate(0), 61);
        assert_eq!(CompressionRatio::observed(0, 10), CompressionRatio::INITIAL);
        // Worse than stored data (incompressible input) is above 1.0.
        assert_eq!(
            CompressionRatio::observed(100, 103),
            CompressionRatio(10_300)
        );
        assert_eq!(CompressionRatio::observed(3, 1), CompressionRatio(3_334));
    }

    #[test]
    fn worse_ratios_jump_up_better_ones_creep_down() {
        let mut r = CompressionRatio::INITIAL;
        // Compressing to 0.5: down 0.005 per batch, 100 batches to get there.
        for _ in 0..99 {
            r.update(CompressionRatio(5_000));
        }
        assert_eq!(r, CompressionRatio(5_050));
        r.update(CompressionRatio(5_000));
        assert_eq!(r, CompressionRatio(5_000));
        r.update(CompressionRatio(5_000));
        assert_eq!(r, CompressionRatio(5_000), "stable at the observed ratio");
        // A slightly worse batch: up by at least 0.05.
        r.update(CompressionRatio(5_010));
        assert_eq!(r, CompressionRatio(5_500));
        // A much worse one: straight to it.
        r.update(CompressionRatio(9_000));
        assert_eq!(r, CompressionRatio(9_000));
        // Never below what a batch showed.
        r.update(CompressionRatio(8_990));
        assert_eq!(r, CompressionRatio(8_990));
    }

    #[test]
    fn a_split_resets_to_at_least_one() {
        let mut r = CompressionRatio(2_000);
        r.reset_after_split(CompressionRatio(3_000));
        assert_eq!(r, CompressionRatio::INITIAL);
        r.reset_after_split(CompressionRatio(12_000));
        assert_eq!(r, CompressionRatio(12_000));
    }
}
