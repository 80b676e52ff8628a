//! What `send_offsets_to_transaction` takes: the consumed offsets, and the
//! consumer group's metadata, which fences a consumer-side zombie (KIP-447).

use alloc::string::String;

/// A consumer group member as its consumer last saw it (KIP-447): the
/// group coordinator refuses offsets from a generation or member that is
/// no longer current, so a producer whose consumer lost its partitions
/// cannot commit for them.
///
/// `ConsumerGroupMetadata::new(group)` (generation -1, no member, no
/// instance) commits without these checks, as a producer that does not
/// take part in the group's membership.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsumerGroupMetadata {
    /// The group id.
    pub group_id: String,
    /// The group's generation (the member epoch for KIP-848 groups); -1 for
    /// none.
    pub generation_id: i32,
    /// The member id; empty for none.
    pub member_id: String,
    /// The static member's `group.instance.id`, if any.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// A group without membership information.
    pub fn new(group_id: impl Into<String>) -> ConsumerGroupMetadata {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }

    /// With the member's generation and member id.
    pub fn with_member(mut self, generation_id: i32, member_id: impl Into<String>) -> Self {
        self.generation_id = generation_id;
        self.member_id = member_id.into();
        self
    }

    /// With a static member's `group.instance.id`.
    pub fn with_group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }

    /// Whether it names a member, which TxnOffsetCommit can carry only
    /// from v3 on.
    pub(crate) fn has_membership(&self) -> bool {
        self.generation_id >= 0 || !self.member_id.is_empty() || self.group_instance_id.is_some()
    }

    /// Java's rule: a group id, and no generation without a member id.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.group_id.is_empty() {
            return Err("empty group id");
        }
        if self.generation_id > 0 && self.member_id.is_empty() {
            return Err("a generation without a member id");
        }
        Ok(())
    }
}

/// A consumed position to commit with the transaction: the offset of the
/// next record to consume from the partition (the last processed one
/// plus 1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetCommit {
    /// The topic consumed.
    pub topic: String,
    /// The partition consumed.
    pub partition: i32,
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last record consumed, if known.
    pub leader_epoch: Option<i32>,
    /// Metadata stored with the offset.
    pub metadata: Option<String>,
}

impl OffsetCommit {
    /// `offset` of `topic`'s `partition`, without leader epoch or metadata.
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64) -> OffsetCommit {
        OffsetCommit {
            topic: topic.into(),
            partition,
            offset,
            leader_epoch: None,
            metadata: None,
        }
    }

    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.topic.is_empty() {
            return Err("an offset for an empty topic name");
        }
        if self.partition < 0 {
            return Err("an offset for a negative partition");
        }
        if self.offset < 0 {
            return Err("a negative offset");
        }
        Ok(())
    }
}
