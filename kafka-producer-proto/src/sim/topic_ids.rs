//! Topic ids in the simulated cluster: every topic gets one when it is
//! created, a topic created again under the same name gets a new one, and
//! Produce v13 finds its topic by it.

use alloc::collections::BTreeMap;
use alloc::string::String;

use crate::wire::Uuid;

/// Every live topic's id.
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicIds {
    by_name: BTreeMap<String, Uuid>,
    /// Ids handed out so far: the next one is derived from it, so ids
    /// are deterministic and never reused.
    issued: u64,
}

impl TopicIds {
    /// A new id for `name`, replacing any it had.
    pub fn assign(&mut self, name: &str) -> Uuid {
        self.issued += 1;
        let mut id = [0u8; 16];
        // A fixed, recognisable high half (never nil), the count below.
        id[..8].copy_from_slice(&0x5349_4d5f_544f_5049u64.to_be_bytes());
        id[8..].copy_from_slice(&self.issued.to_be_bytes());
        let id = Uuid(id);
        self.by_name.insert(String::from(name), id);
        id
    }

    /// The id of topic `name`, if it exists.
    pub fn id_of(&self, name: &str) -> Option<Uuid> {
        self.by_name.get(name).copied()
    }

    /// The topic with id `id`, if any.
    pub fn name_of(&self, id: Uuid) -> Option<&str> {
        self.by_name
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.as_str())
    }

    /// `name` is gone.
    pub fn remove(&mut self, name: &str) {
        self.by_name.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_never_nil_and_change_when_a_topic_is_recreated() {
        let mut ids = TopicIds::default();
        let a = ids.assign("a");
        let b = ids.assign("b");
        assert!(!a.is_nil() && a != b);
        assert_eq!(ids.name_of(a), Some("a"));
        ids.remove("a");
        assert_eq!(ids.name_of(a), None);
        let a2 = ids.assign("a");
        assert_ne!(a2, a);
        assert_eq!(ids.id_of("a"), Some(a2));
    }
}
