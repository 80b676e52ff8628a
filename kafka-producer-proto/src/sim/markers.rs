//! Transactions as one partition's log sees them: which producers have a
//! transaction open and from which offset, the commit and abort markers
//! that close them, the last stable offset, the index of aborted
//! transactions, and the `read_committed` view a consumer gets.
//!
//! The view follows the consumer's rules (Java's `CompletedFetch`), not the
//! simulator's own bookkeeping, so that it checks the markers and the index
//! as a real reader would use them.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use super::cluster::StoredRecord;

/// A control record closing a transaction on a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Marker {
    /// COMMIT (control type 1): the transaction's records become visible.
    Commit,
    /// ABORT (control type 0): they never do.
    Abort,
}

/// An aborted transaction, as the partition's index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// Its producer id.
    pub producer_id: i64,
    /// The offset of its first record.
    pub first_offset: i64,
    /// The offset of its abort marker.
    pub last_offset: i64,
}

/// A partition's transactions.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartitionTxns {
    /// Open transactions: producer id → offset of its first record here,
    /// and the epoch it was opened under.
    open: BTreeMap<i64, (i64, i16)>,
    aborted: Vec<AbortedTxn>,
}

impl PartitionTxns {
    /// Whether `producer_id` has a transaction open here.
    pub fn is_open(&self, producer_id: i64) -> bool {
        self.open.contains_key(&producer_id)
    }

    /// Whether `producer_id` has a transaction open here under `epoch`
    /// (a batch of another epoch belongs to another transaction, which its
    /// coordinator must know of first).
    pub fn is_open_at(&self, producer_id: i64, epoch: i16) -> bool {
        self.open
            .get(&producer_id)
            .is_some_and(|(_, e)| *e == epoch)
    }

    /// A transactional batch of `producer_id` under `epoch` was appended at
    /// `offset`: it opens a transaction unless one is open.
    pub fn on_append(&mut self, producer_id: i64, epoch: i16, offset: i64) {
        self.open.entry(producer_id).or_insert((offset, epoch));
    }

    /// A marker for `producer_id` was written at `offset`. A marker for a
    /// producer with nothing open here changes nothing but the producer's
    /// epoch (the caller's business).
    pub fn on_marker(&mut self, producer_id: i64, marker: Marker, offset: i64) {
        let Some((first, _)) = self.open.remove(&producer_id) else {
            return;
        };
        if marker == Marker::Abort {
            self.aborted.push(AbortedTxn {
                producer_id,
                first_offset: first,
                last_offset: offset,
            });
        }
    }

    /// The last stable offset: below the first record of every open
    /// transaction (the high watermark is the log end here: no replicas lag).
    pub fn last_stable_offset(&self, log_end: i64) -> i64 {
        self.open
            .values()
            .map(|(first, _)| *first)
            .min()
            .unwrap_or(log_end)
            .min(log_end)
    }

    /// The aborted transactions.
    pub fn aborted(&self) -> &[AbortedTxn] {
        &self.aborted
    }
}

/// What a `read_committed` consumer reads of `log` (records in offset
/// order): records below `lso`, without control records and without the
/// records of aborted transactions. A fetch lists the aborted transactions
/// that overlap it; the consumer skips a producer's transactional records
/// from the first offset of its aborted transaction until its abort marker.
pub fn read_committed<'a>(
    log: &'a [StoredRecord],
    aborted: &[AbortedTxn],
    lso: i64,
) -> Vec<&'a StoredRecord> {
    let mut queue: Vec<AbortedTxn> = aborted.to_vec();
    queue.sort_by_key(|a| a.first_offset);
    let mut queue = queue.into_iter().peekable();
    let mut skipping: BTreeSet<i64> = BTreeSet::new();
    let mut out = Vec::new();
    for r in log.iter().take_while(|r| r.offset < lso) {
        while let Some(a) = queue.next_if(|a| a.first_offset <= r.offset) {
            skipping.insert(a.producer_id);
        }
        if let Some(marker) = r.control {
            if marker == Marker::Abort {
                skipping.remove(&r.producer_id);
            }
            continue;
        }
        if r.transactional && skipping.contains(&r.producer_id) {
            continue;
        }
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: i64, pid: i64, control: Option<Marker>) -> StoredRecord {
        StoredRecord {
            offset,
            timestamp: 0,
            key: None,
            value: None,
            headers: Vec::new(),
            producer_id: pid,
            producer_epoch: 0,
            sequence: 0,
            transactional: pid >= 0,
            control,
        }
    }

    #[test]
    fn committed_aborted_and_open_transactions() {
        let mut txns = PartitionTxns::default();
        // pid 1 commits offsets 0-1, pid 2 aborts 2 and 4, pid 3 stays open
        // from 6, a non-transactional record at 7.
        let log = alloc::vec![
            rec(0, 1, None),
            rec(1, 1, None),
            rec(2, 2, None),
            rec(3, 1, Some(Marker::Commit)),
            rec(4, 2, None),
            rec(5, 2, Some(Marker::Abort)),
            rec(6, 3, None),
            rec(7, -1, None),
        ];
        for r in &log {
            match r.control {
                Some(m) => txns.on_marker(r.producer_id, m, r.offset),
                None if r.transactional => txns.on_append(r.producer_id, 0, r.offset),
                None => {}
            }
        }
        assert!(txns.is_open(3) && !txns.is_open(1) && !txns.is_open(2));
        let lso = txns.last_stable_offset(8);
        assert_eq!(lso, 6);
        let seen: Vec<i64> = read_committed(&log, txns.aborted(), lso)
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(seen, [0, 1], "committed only, below the LSO");
        let all: Vec<i64> = read_committed(&log, txns.aborted(), 8)
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(all, [0, 1, 6, 7], "as if 6 had committed");
        txns.on_marker(9, Marker::Abort, 8);
        assert_eq!(txns.aborted().len(), 1, "nothing open, nothing recorded");
    }
}
