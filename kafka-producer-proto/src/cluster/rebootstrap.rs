//! Starting again from the bootstrap servers (KIP-1102).
//!
//! A broker answers a Metadata request (v13+) with the top-level error
//! REBOOTSTRAP_REQUIRED when the client's view of the cluster cannot be
//! trusted any more (the cluster was replaced, or the client missed too
//! much). Like the Java client under its default
//! `metadata.recovery.strategy=rebootstrap`, the producer then forgets
//! every broker it learned and every partition leader, and asks the
//! bootstrap servers again. Leader epochs are kept, so an answer older
//! than what was known still cannot move a leader backwards.

use alloc::vec::Vec;

use super::Metadata;
use crate::batch::Accumulator;
use crate::event::ConnectionId;

impl Metadata {
    /// Forgets the brokers metadata named (bootstrap servers, with their
    /// negative ids, stay) and every partition's leader. Returns the
    /// connections to the forgotten brokers: they must take no new
    /// request, so that the next Metadata goes to a bootstrap server.
    pub fn rebootstrap<T>(&mut self, acc: &mut Accumulator<T>) -> Vec<ConnectionId> {
        let mut retired = Vec::new();
        self.brokers.retain(|node, b| {
            if *node < 0 {
                return true;
            }
            retired.extend(b.conn);
            false
        });
        for p in acc.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            p.leader = -1;
        }
        self.wanted = true;
        retired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka_code::KafkaCode;
    use crate::time::Instant;
    use crate::wire::messages::MetadataResponse;
    use crate::wire::messages::metadata::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use alloc::vec;
    use core::time::Duration;

    fn answer() -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(1)
                    .with_host("b1".into())
                    .with_port(9092),
            ])
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some("t".into()))
                    .with_partitions(vec![
                        MetadataResponsePartition::default()
                            .with_partition_index(0)
                            .with_leader_id(1)
                            .with_leader_epoch(5),
                    ]),
            ])
    }

    #[test]
    fn rebootstrap_required_forgets_brokers_and_leaders_but_not_epochs() {
        let backoff = Duration::from_millis(100);
        let mut m = Metadata::new(&[("boot".into(), 9000)], Duration::from_secs(300), backoff);
        let mut acc: Accumulator<()> = Accumulator::new(1 << 20, 1024, Duration::from_secs(1));
        acc.intern("t");
        m.apply(&answer(), &mut acc, Instant::ZERO);
        m.brokers.get_mut(&1).unwrap().conn = Some(ConnectionId(7));
        assert_eq!(acc.topics[0].partitions[0].leader, 1);

        // The top-level code: nothing else in the answer is applied.
        let now = Instant::from_millis(10);
        let refusal = answer().with_error_code(KafkaCode::RebootstrapRequired.code());
        let applied = m.apply(&refusal, &mut acc, now);
        assert!(applied.rebootstrap);
        assert_eq!(m.due_at(false), Some(now + backoff), "after the backoff");

        assert_eq!(m.rebootstrap(&mut acc), [ConnectionId(7)]);
        assert_eq!(m.brokers.keys().copied().collect::<Vec<_>>(), [-1]);
        let p = &acc.topics[0].partitions[0];
        assert_eq!((p.leader, p.leader_epoch), (-1, 5));
    }

    #[test]
    fn other_top_level_errors_fail_the_update_without_rebootstrap() {
        let backoff = Duration::from_millis(100);
        let mut m = Metadata::new(&[("boot".into(), 9000)], Duration::from_secs(300), backoff);
        let mut acc: Accumulator<()> = Accumulator::new(1 << 20, 1024, Duration::from_secs(1));
        acc.intern("t");
        let now = Instant::from_millis(10);
        let refusal = answer().with_error_code(KafkaCode::UnknownServerError.code());
        let applied = m.apply(&refusal, &mut acc, now);
        assert!(!applied.rebootstrap);
        assert!(!acc.topics[0].is_known(), "nothing applied");
        assert!(!m.brokers.contains_key(&1));
        assert_eq!(m.due_at(false), Some(now + backoff));
    }
}
