//! Which partition a record goes to.
//!
//! The rules are the Java client's, in its order:
//!
//! 1. A record that names its partition goes there.
//! 2. A record with a key (unless `partitioner.ignore.keys`) goes to
//!    `toPositive(murmur2(key)) % partition_count`, so the same key lands on
//!    the same partition as with every Java, librdkafka (`murmur2_random`)
//!    and franz-go producer writing to the same topic: consumers relying on
//!    per-key ordering see one partition whoever produced.
//! 3. A record without a key goes to the topic's *sticky* partition
//!    (KIP-480), which changes only when a batch on it fills up.
//!
//! Why sticky rather than round-robin for null keys: round-robin spreads
//! consecutive records over every partition, so each partition's batch grows
//! slowly and waits for `linger.ms`; sticking to one partition fills one
//! batch at a time, which then goes out at once. Fewer, fuller batches mean
//! fewer requests and lower latency, and switching at each full batch still
//! spreads the load evenly over time.
//!
//! Every random choice draws on the caller's seeded [`Rng`], so the same
//! seed and inputs always pick the same partitions.

use alloc::borrow::ToOwned;
use alloc::collections::BTreeMap;
use alloc::string::String;
use core::borrow::Borrow;

use crate::rng::Rng;

const SEED: u32 = 0x9747_b28c;
const M: u32 = 0x5bd1_e995;
const R: u32 = 24;

/// The 32-bit murmur2 hash exactly as the Java client's `Utils.murmur2`
/// computes it, bit for bit, as a signed Java `int`.
///
/// ```
/// use kafka_producer_proto::partitioner::murmur2;
/// assert_eq!(murmur2(b"foobar"), -790_332_482);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    // Java mixes in an `int` length; a key longer than 4 GiB cannot exist
    // there, and truncating matches what its arithmetic would do anyway.
    let mut h = SEED ^ (data.len() as u32);

    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let &[b0, b1, b2, b3] = block else {
            continue; // chunks_exact(4) yields nothing else
        };
        let mut k = u32::from_le_bytes([b0, b1, b2, b3]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // Java's `switch` falls through from 3 to 2 to 1, and only the 1 case
    // multiplies, so any non-empty tail is multiplied exactly once.
    let tail = blocks.remainder();
    if let Some(&b) = tail.get(2) {
        h ^= u32::from(b) << 16;
    }
    if let Some(&b) = tail.get(1) {
        h ^= u32::from(b) << 8;
    }
    if let Some(&b) = tail.first() {
        h ^= u32::from(b);
        h = h.wrapping_mul(M);
    }

    // Unsigned shifts on u32 are Java's `>>>` on int.
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The Java client's `Utils.toPositive`: clears the sign bit rather than
/// taking the absolute value, because `abs(i32::MIN)` does not exist and
/// because that is what every compatible client does.
pub const fn to_positive(hash: i32) -> u32 {
    (hash & 0x7fff_ffff) as u32
}

/// The partition for a keyed record: `toPositive(murmur2(key)) % partitions`,
/// the Java client's placement.
///
/// A topic with no partitions has nowhere to put a record; rather than
/// divide by zero this returns 0, and callers must not use it for such a
/// topic ([`Partitioner::choose`] returns `None` there).
///
/// ```
/// use kafka_producer_proto::partitioner::partition_for_key;
/// assert_eq!(partition_for_key(b"abc", 1000), 107); // as the Java client
/// ```
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    to_positive(murmur2(key))
        .checked_rem(partitions)
        .unwrap_or(0)
}

/// Whether `p` names one of a topic's `partition_count` partitions. Metadata
/// comes from the network, so a listed id outside the range is ignored
/// rather than trusted.
fn in_range(p: i32, partition_count: u32) -> bool {
    u32::try_from(p).is_ok_and(|p| p < partition_count)
}

/// A uniform choice among the usable partitions, avoiding `exclude` whenever
/// anything else is possible.
///
/// Usable means listed in `available` (leader known) and in range; when none
/// is, every partition is as good as another and all of them are candidates.
/// No allocation: the k-th candidate is found by a second pass.
fn pick(
    available: &[i32],
    partition_count: u32,
    exclude: Option<i32>,
    rng: &mut Rng,
) -> Option<i32> {
    let usable = || {
        available
            .iter()
            .copied()
            .filter(|&p| in_range(p, partition_count))
    };
    let usable_count = usable().count();
    if usable_count > 0 {
        let others = usable().filter(|&p| Some(p) != exclude).count();
        if others == 0 {
            // The excluded partition is the only usable one: better it than
            // one without a leader.
            return usable().next();
        }
        let k = rng.below(others as u64) as usize;
        return usable().filter(|&p| Some(p) != exclude).nth(k);
    }

    let excluded = exclude.filter(|&p| in_range(p, partition_count) && partition_count > 1);
    match excluded {
        Some(x) => {
            // Choose among the other n-1 by shifting past the excluded one.
            let k = rng.below(u64::from(partition_count - 1)) as i64;
            let p = if k >= i64::from(x) { k + 1 } else { k };
            i32::try_from(p).ok()
        }
        None if partition_count == 0 => None,
        None => i32::try_from(rng.below(u64::from(partition_count))).ok(),
    }
}

/// Sticky assignment of records without a key (KIP-480): one current
/// partition per topic, kept until a batch on it fills.
///
/// `available` arguments list the partitions whose leader is known (from
/// metadata); each should appear once, since a duplicate doubles its chance.
/// Ids outside `0..partition_count` are ignored.
///
/// Topics are told apart by `K`: their names by default; the producer
/// uses its own topic indexes, which compare without reading a name.
#[derive(Debug, Clone)]
pub struct StickyPartitioner<K = String> {
    current: BTreeMap<K, i32>,
}

impl<K> Default for StickyPartitioner<K> {
    fn default() -> Self {
        StickyPartitioner {
            current: BTreeMap::new(),
        }
    }
}

impl<K: Ord> StickyPartitioner<K> {
    /// A partitioner that has not yet picked anything.
    pub fn new() -> StickyPartitioner<K> {
        StickyPartitioner::default()
    }

    /// The partition for the next record without a key on `topic`.
    ///
    /// This is the topic's sticky partition while its leader is known (or
    /// while no partition's leader is known, since then none is better);
    /// otherwise a new one drawn uniformly from `available`, or from all
    /// partitions when `available` has none in range. `None` only when the
    /// topic has no partitions.
    pub fn partition<Q>(
        &mut self,
        topic: &Q,
        available: &[i32],
        partition_count: u32,
        rng: &mut Rng,
    ) -> Option<i32>
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(&p) = self.current.get(topic) {
            let still_good = in_range(p, partition_count)
                && (available.contains(&p)
                    || !available.iter().any(|&a| in_range(a, partition_count)));
            if still_good {
                return Some(p);
            }
        }
        let p = pick(available, partition_count, None, rng)?;
        self.set(topic, p);
        Some(p)
    }

    /// A batch on `full_partition` of `topic` filled up: move the topic's
    /// sticky partition elsewhere, to a partition other than the full one
    /// whenever there is another choice.
    ///
    /// As in the Java client, nothing changes when `full_partition` is not
    /// the topic's current sticky partition: that batch filled with keyed or
    /// explicitly placed records, or the switch already happened, and
    /// switching again would cut the current sticky batch short.
    pub fn on_batch_full<Q>(
        &mut self,
        topic: &Q,
        full_partition: i32,
        available: &[i32],
        partition_count: u32,
        rng: &mut Rng,
    ) where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        if self
            .current
            .get(topic)
            .is_some_and(|&p| p != full_partition)
        {
            return;
        }
        match pick(available, partition_count, Some(full_partition), rng) {
            Some(p) => self.set(topic, p),
            None => {
                self.current.remove(topic);
            }
        }
    }

    /// The topic's current sticky partition, if one was picked.
    pub fn current<Q>(&self, topic: &Q) -> Option<i32>
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        self.current.get(topic).copied()
    }

    /// Drops what is remembered of `topic` (for example once it is deleted
    /// or no longer produced to), so the map does not grow without bound.
    pub fn forget<Q>(&mut self, topic: &Q)
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        self.current.remove(topic);
    }

    fn set<Q>(&mut self, topic: &Q, p: i32)
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        // Allocates a key only the first time a topic is seen.
        match self.current.get_mut(topic) {
            Some(slot) => *slot = p,
            None => {
                self.current.insert(topic.to_owned(), p);
            }
        }
    }
}

/// The three placement rules together, configured as the Java client's
/// `partitioner.ignore.keys`.
/// Topics are told apart by `K`, as in [`StickyPartitioner`].
#[derive(Debug, Clone)]
pub struct Partitioner<K = String> {
    ignore_keys: bool,
    sticky: StickyPartitioner<K>,
}

impl<K> Default for Partitioner<K> {
    fn default() -> Self {
        Partitioner {
            ignore_keys: false,
            sticky: StickyPartitioner::default(),
        }
    }
}

impl<K: Ord> Partitioner<K> {
    /// A partitioner; with `ignore_keys` (`partitioner.ignore.keys=true`)
    /// keyed records are placed like records without a key.
    pub fn new(ignore_keys: bool) -> Partitioner<K> {
        Partitioner {
            ignore_keys,
            sticky: StickyPartitioner::new(),
        }
    }

    /// The partition for a record of `topic` with the given explicit
    /// partition and key.
    ///
    /// An explicit partition is returned as given, even out of range:
    /// refusing it (as the Java client does) is the caller's decision,
    /// made with the error it wants to report. Otherwise `None` when the
    /// topic has no partitions. An empty key is a key (it hashes); only
    /// `None` is a null key.
    #[allow(clippy::too_many_arguments)]
    pub fn choose<Q>(
        &mut self,
        topic: &Q,
        explicit: Option<i32>,
        key: Option<&[u8]>,
        available: &[i32],
        partition_count: u32,
        rng: &mut Rng,
    ) -> Option<i32>
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(p) = explicit {
            return Some(p);
        }
        match key {
            Some(key) if !self.ignore_keys => {
                if partition_count == 0 {
                    return None;
                }
                // Below partition_count, itself at most u32::MAX; an i32
                // partition id is what Kafka can address.
                i32::try_from(partition_for_key(key, partition_count)).ok()
            }
            _ => self
                .sticky
                .partition(topic, available, partition_count, rng),
        }
    }

    /// See [`StickyPartitioner::on_batch_full`].
    pub fn on_batch_full<Q>(
        &mut self,
        topic: &Q,
        full_partition: i32,
        available: &[i32],
        partition_count: u32,
        rng: &mut Rng,
    ) where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        self.sticky
            .on_batch_full(topic, full_partition, available, partition_count, rng);
    }

    /// Whether keys are ignored (`partitioner.ignore.keys`).
    pub fn ignore_keys(&self) -> bool {
        self.ignore_keys
    }

    /// The sticky state, to inspect or to [`forget`](StickyPartitioner::forget)
    /// a topic.
    pub fn sticky_mut(&mut self) -> &mut StickyPartitioner<K> {
        &mut self.sticky
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec::Vec;

    // Apache Kafka's UtilsTest.testMurmur2: the Java client's own answers.
    #[test]
    fn murmur2_matches_java_test_vectors() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
            (b"", 275_646_681),
        ];
        for &(input, expected) in cases {
            assert_eq!(
                murmur2(input),
                expected,
                "{:?}",
                core::str::from_utf8(input)
            );
        }
    }

    // librdkafka's unittest_murmur2 (rdmurmur2.c), checked there against the
    // Java client; covers every tail length 0 to 3.
    #[test]
    fn murmur2_matches_librdkafka_vectors() {
        let unaligned: &[u8] = b"PreAmbleWillBeRemoved,ThePrePartThatIs";
        let cases: &[(&[u8], u32)] = &[
            (b"kafka", 0xd067_cf64),
            (b"giberish123456789", 0x8f55_2b0c),
            (b"1234", 0x9fc9_7b14),
            (b"234", 0xe7c0_09ca),
            (b"34", 0x8739_30da),
            (b"4", 0x5a4b_5ca1),
            (unaligned, 0x7842_4f1c),
            (&unaligned[1..], 0x4a62_b377),
            (&unaligned[2..], 0xe0e4_e09e),
            (&unaligned[3..], 0x62b8_b43f),
            (b"", 0x106e_08d9),
        ];
        for &(input, expected) in cases {
            assert_eq!(
                murmur2(input) as u32,
                expected,
                "{:?}",
                core::str::from_utf8(input)
            );
        }
    }

    #[test]
    fn partition_for_key_matches_java_placements() {
        // kafka-python's Java-compatibility vectors over 1000 partitions.
        assert_eq!(partition_for_key(b"", 1000), 681);
        assert_eq!(partition_for_key(b"a", 1000), 524);
        assert_eq!(partition_for_key(b"ab", 1000), 434);
        assert_eq!(partition_for_key(b"abc", 1000), 107);
        assert_eq!(partition_for_key(b"123456789", 1000), 566);
        assert_eq!(partition_for_key(b"\x00 ", 1000), 742);
        // Over 4 partitions, from the librdkafka hashes above (low two bits).
        assert_eq!(partition_for_key(b"kafka", 4), 0);
        assert_eq!(partition_for_key(b"234", 4), 2);
        assert_eq!(partition_for_key(b"4", 4), 1);
        assert_eq!(
            partition_for_key(b"reAmbleWillBeRemoved,ThePrePartThatIs", 4),
            3
        );
        // toPositive, not abs: a negative hash keeps its low bits.
        assert_eq!(
            partition_for_key(b"foobar", 4),
            (-790_332_482i32 & 0x7fff_ffff) as u32 % 4
        );
    }

    #[test]
    fn partition_for_key_is_stable_and_even() {
        let mut counts = [0u32; 4];
        for i in 0..10_000 {
            let key = format!("key-{i}");
            let p = partition_for_key(key.as_bytes(), 4);
            assert_eq!(p, partition_for_key(key.as_bytes(), 4));
            counts[p as usize] += 1;
        }
        // Expected 2500 each; 10% slack is many standard deviations.
        assert!(
            counts.iter().all(|&n| (2250..2750).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn zero_partitions_do_not_divide_by_zero() {
        assert_eq!(partition_for_key(b"k", 0), 0);
        let mut rng = Rng::new(1);
        let mut p = Partitioner::new(false);
        assert_eq!(p.choose("t", None, Some(b"k"), &[], 0, &mut rng), None);
        assert_eq!(p.choose("t", None, None, &[0, 1], 0, &mut rng), None);
        p.on_batch_full("t", 0, &[], 0, &mut rng);
        assert_eq!(p.sticky_mut().current("t"), None);
        // A range of one still works.
        assert_eq!(p.choose("t", None, None, &[], 1, &mut rng), Some(0));
    }

    #[test]
    fn sticky_stays_until_batch_full_then_switches() {
        let mut rng = Rng::new(42);
        let mut s = StickyPartitioner::new();
        let all = [0, 1, 2, 3];
        let first = s.partition("t", &all, 4, &mut rng).unwrap();
        for _ in 0..100 {
            assert_eq!(s.partition("t", &all, 4, &mut rng), Some(first));
        }
        s.on_batch_full("t", first, &all, 4, &mut rng);
        let second = s.partition("t", &all, 4, &mut rng).unwrap();
        assert_ne!(second, first);
        assert_eq!(s.current("t"), Some(second));
    }

    #[test]
    fn batch_full_on_another_partition_keeps_the_sticky_one() {
        let mut rng = Rng::new(3);
        let mut s = StickyPartitioner::new();
        let all = [0, 1, 2, 3];
        let sticky = s.partition("t", &all, 4, &mut rng).unwrap();
        let other = (sticky + 1) % 4;
        s.on_batch_full("t", other, &all, 4, &mut rng);
        assert_eq!(s.current("t"), Some(sticky));
    }

    #[test]
    fn sticky_topics_are_independent() {
        let mut rng = Rng::new(9);
        let mut s = StickyPartitioner::new();
        let all: Vec<i32> = (0..8).collect();
        let a = s.partition("a", &all, 8, &mut rng).unwrap();
        let b = s.partition("b", &all, 8, &mut rng).unwrap();
        s.on_batch_full("b", b, &all, 8, &mut rng);
        assert_eq!(s.partition("a", &all, 8, &mut rng), Some(a));
        s.forget("a");
        assert_eq!(s.current("a"), None);
    }

    #[test]
    fn sticky_avoids_unavailable_partitions() {
        for seed in 0..200 {
            let mut rng = Rng::new(seed);
            let mut s = StickyPartitioner::new();
            let p = s.partition("t", &[2, 5], 6, &mut rng).unwrap();
            assert!(p == 2 || p == 5);
            s.on_batch_full("t", p, &[2, 5], 6, &mut rng);
            let q = s.partition("t", &[2, 5], 6, &mut rng).unwrap();
            assert_eq!(q, if p == 2 { 5 } else { 2 });
            // The sticky partition loses its leader: move to one that has one.
            let r = s.partition("t", &[1, 3], 6, &mut rng).unwrap();
            assert!(r == 1 || r == 3);
            // Out-of-range ids from metadata are never chosen.
            let mut s = StickyPartitioner::new();
            assert_eq!(s.partition("u", &[-1, 9, 4], 6, &mut rng), Some(4));
        }
    }

    #[test]
    fn sticky_with_a_single_choice_keeps_it() {
        let mut rng = Rng::new(5);
        let mut s = StickyPartitioner::new();
        assert_eq!(s.partition("t", &[3], 4, &mut rng), Some(3));
        s.on_batch_full("t", 3, &[3], 4, &mut rng);
        assert_eq!(s.current("t"), Some(3));
        let mut s = StickyPartitioner::new();
        assert_eq!(s.partition("t", &[], 1, &mut rng), Some(0));
        s.on_batch_full("t", 0, &[], 1, &mut rng);
        assert_eq!(s.current("t"), Some(0));
    }

    #[test]
    fn sticky_without_available_partitions_uses_all_and_still_switches() {
        let mut rng = Rng::new(11);
        let mut s = StickyPartitioner::new();
        let p = s.partition("t", &[], 5, &mut rng).unwrap();
        assert!((0..5).contains(&p));
        assert_eq!(s.partition("t", &[], 5, &mut rng), Some(p));
        for _ in 0..50 {
            let before = s.current("t").unwrap();
            s.on_batch_full("t", before, &[], 5, &mut rng);
            let after = s.current("t").unwrap();
            assert_ne!(after, before);
            assert!((0..5).contains(&after));
        }
    }

    #[test]
    fn sticky_is_deterministic_for_a_seed() {
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut s = StickyPartitioner::new();
            let all: Vec<i32> = (0..16).collect();
            let mut seq = Vec::new();
            for _ in 0..64 {
                let p = s.partition("t", &all, 16, &mut rng).unwrap();
                seq.push(p);
                s.on_batch_full("t", p, &all, 16, &mut rng);
            }
            seq
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn sticky_spreads_over_all_partitions() {
        let mut rng = Rng::new(2024);
        let mut s = StickyPartitioner::new();
        let all = [0, 1, 2, 3, 4, 5];
        let mut counts = [0u32; 6];
        for _ in 0..6000 {
            let p = s.partition("t", &all, 6, &mut rng).unwrap();
            counts[p as usize] += 1;
            s.on_batch_full("t", p, &all, 6, &mut rng);
        }
        assert!(
            counts.iter().all(|&n| (800..1200).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn choose_applies_the_rules_in_order() {
        let mut rng = Rng::new(1);
        let all = [0, 1, 2, 3];
        let mut p = Partitioner::new(false);
        assert_eq!(
            p.choose("t", Some(7), Some(b"kafka"), &all, 4, &mut rng),
            Some(7)
        );
        assert_eq!(p.choose("t", None, Some(b"4"), &all, 4, &mut rng), Some(1));
        assert_eq!(
            p.choose("t", None, Some(b""), &all, 1000, &mut rng),
            Some(681)
        );
        let sticky = p.choose("t", None, None, &all, 4, &mut rng).unwrap();
        assert_eq!(p.choose("t", None, None, &all, 4, &mut rng), Some(sticky));

        let mut ignoring = Partitioner::new(true);
        assert!(ignoring.ignore_keys());
        let a = ignoring.choose("t", None, Some(b"kafka"), &all, 4, &mut rng);
        let b = ignoring.choose("t", None, Some(b"4"), &all, 4, &mut rng);
        assert_eq!(a, b, "keys ignored: both stick to the same partition");
    }
}
