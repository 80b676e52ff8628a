//! Where the simulation's choices come from: a seed, or a fuzzer's bytes.
//!
//! Every random decision of a simulated run (the schedule's shape, each
//! fault, each latency) is drawn from one [`Entropy`], so a run is a pure
//! function of its seed or its bytes, and replays exactly.
//!
//! Invariant: an exhausted byte source yields zeros, and zero always means
//! the mildest choice ([`Entropy::chance`] says no, [`Entropy::below`]
//! gives 0). A fuzzer's short input is therefore a calm run, never an
//! endless storm of faults, and every run ends.

use alloc::vec::Vec;

use crate::rng::Rng;

/// Probability in parts per million: `Chance(0)` never, `Chance(1_000_000)`
/// always. Integers keep runs identical on every platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Chance(pub u32);

impl Chance {
    /// Never.
    pub const NEVER: Chance = Chance(0);

    /// `percent` in a hundred (capped at 100).
    pub const fn percent(percent: u32) -> Chance {
        Chance(if percent > 100 { 100 } else { percent } * 10_000)
    }

    /// Whether it ever happens.
    pub const fn is_never(self) -> bool {
        self.0 == 0
    }
}

/// The source of every choice a simulated run makes.
#[derive(Debug, Clone)]
pub enum Entropy {
    /// A seeded pseudo-random generator (SplitMix64).
    Seeded(Rng),
    /// Bytes from a fuzzer, read eight at a time, zeros once used up.
    Bytes {
        /// The bytes.
        data: Vec<u8>,
        /// How many have been read.
        pos: usize,
    },
}

impl Entropy {
    /// Choices from `seed`.
    pub fn seeded(seed: u64) -> Entropy {
        Entropy::Seeded(Rng::new(seed))
    }

    /// Choices from a fuzzer's bytes.
    pub fn from_bytes(data: &[u8]) -> Entropy {
        Entropy::Bytes {
            data: data.to_vec(),
            pos: 0,
        }
    }

    /// A source for choices added to the simulation after seeds were
    /// recorded: derived from this one's state without drawing from it, so
    /// that every choice a seed made before stays what it was (and each
    /// regression seed keeps setting up its bug). `salt` tells such sources
    /// apart. From a fuzzer's bytes it reads the bytes this one reads next.
    pub fn aside(&self, salt: u64) -> Entropy {
        match self {
            Entropy::Seeded(rng) => {
                let mut peek = rng.clone();
                Entropy::Seeded(Rng::new(peek.next_u64() ^ salt))
            }
            Entropy::Bytes { data, pos } => Entropy::Bytes {
                data: data.get(*pos..).unwrap_or_default().to_vec(),
                pos: 0,
            },
        }
    }

    /// 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        match self {
            Entropy::Seeded(rng) => rng.next_u64(),
            Entropy::Bytes { data, pos } => {
                let mut word = [0u8; 8];
                let rest = data.get(*pos..).unwrap_or(&[]);
                let n = rest.len().min(8);
                word[..n].copy_from_slice(&rest[..n]);
                *pos += n;
                u64::from_le_bytes(word)
            }
        }
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Modulo bias is irrelevant for test schedules, and the modulo maps
        // an exhausted source (zero) to the mildest choice.
        self.next_u64() % n
    }

    /// A number in `lo..=hi` (`lo` when `hi < lo`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// Whether an event of probability `c` happens now.
    pub fn chance(&mut self, c: Chance) -> bool {
        if c.is_never() {
            return false;
        }
        // Counting from the top of the range keeps a zero draw a "no".
        self.below(1_000_000) >= 1_000_000u64.saturating_sub(u64::from(c.0))
    }

    /// One of `items` (`None` when empty).
    pub fn pick<'a, X>(&mut self, items: &'a [X]) -> Option<&'a X> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhausted_bytes_choose_the_mildest_option() {
        let mut e = Entropy::from_bytes(&[]);
        assert!(!e.chance(Chance::percent(99)));
        assert_eq!(e.below(10), 0);
        assert_eq!(e.between(3, 9), 3);
        assert!(
            e.chance(Chance::percent(100)),
            "certain events still happen"
        );
    }

    #[test]
    fn bytes_are_read_little_endian_eight_at_a_time() {
        let mut e = Entropy::from_bytes(&[5, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(e.next_u64(), 5);
        assert_eq!(e.next_u64(), 7);
        assert_eq!(e.next_u64(), 0);
    }

    #[test]
    fn chances_come_out_near_their_rate() {
        let mut e = Entropy::seeded(1);
        let hits = (0..100_000)
            .filter(|_| e.chance(Chance::percent(10)))
            .count();
        assert!((9_000..11_000).contains(&hits), "{hits}");
        assert_eq!(
            (0..1000).filter(|_| e.chance(Chance::NEVER)).count(),
            0,
            "never is never"
        );
    }
}
