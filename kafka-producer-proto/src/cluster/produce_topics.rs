//! How a Produce request names its topics, and how its answer is matched
//! to what it carried.
//!
//! Up to v12 a topic is named by its name; from v13 by its id, and only by
//! it: the name is `ignorable` in v13, so an encoder drops it without a
//! word and a request that relied on it would reach the broker with the
//! nil id. So a request speaks v13 only when metadata gave an id for every
//! topic in it, and the ids it carried are kept with it in flight: the
//! answer is matched by those, not by what metadata says when it comes
//! back (the topic may have been recreated under a new id meanwhile).

use alloc::string::String;
use smallvec::SmallVec;

use crate::wire::Uuid;
use crate::wire::messages::ProduceResponse;
use crate::wire::messages::produce::{PartitionProduceResponse, TopicProduceData};

/// The first Produce version that names topics by id.
pub(crate) const PRODUCE_BY_ID: i16 = 13;

/// The version for one Produce request: the negotiated one, but below
/// [`PRODUCE_BY_ID`] when some topic in it has no known id.
pub(crate) fn produce_version(negotiated: i16, mut ids: impl Iterator<Item = Uuid>) -> i16 {
    if negotiated >= PRODUCE_BY_ID && ids.any(|id| id.is_nil()) {
        PRODUCE_BY_ID - 1
    } else {
        negotiated
    }
}

/// The topics of one Produce request, as it named them.
#[derive(Debug, Default)]
pub(crate) struct ProduceTopics {
    /// By id (v13+): each topic's index in the accumulator and the id the
    /// request carried. Empty when the request named topics by name.
    by_id: SmallVec<[(u32, Uuid); 2]>,
}

impl ProduceTopics {
    /// Appends a partition's data to `topics` under topic `index`, named as
    /// `version` names topics; consecutive partitions of one topic share an
    /// entry.
    pub fn push(
        &mut self,
        topics: &mut alloc::vec::Vec<TopicProduceData>,
        version: i16,
        index: u32,
        name: &str,
        id: Uuid,
        data: crate::wire::messages::produce::PartitionProduceData,
    ) {
        let by_id = version >= PRODUCE_BY_ID;
        let same = |td: &TopicProduceData| {
            if by_id {
                td.topic_id == id
            } else {
                td.name == name
            }
        };
        match topics.last_mut() {
            Some(td) if same(td) => td.partition_data.push(data),
            _ => {
                let td = TopicProduceData::default().with_partition_data(alloc::vec![data]);
                // Only what the version carries: no name at v13, no id below.
                let td = if by_id {
                    self.by_id.push((index, id));
                    td.with_topic_id(id)
                } else {
                    td.with_name(String::from(name))
                };
                topics.push(td);
            }
        }
    }

    /// The answer for partition `partition` of topic `index` (named `name`
    /// in the accumulator), matched by what the request carried.
    pub fn answer<'a>(
        &self,
        response: &'a ProduceResponse,
        version: i16,
        index: u32,
        name: &str,
        partition: i32,
    ) -> Option<&'a PartitionProduceResponse> {
        let sent_id = if version >= PRODUCE_BY_ID {
            // A topic the request did not carry has no answer.
            Some(self.by_id.iter().find(|(t, _)| *t == index)?.1)
        } else {
            None
        };
        response
            .responses
            .iter()
            .filter(|t| match sent_id {
                Some(id) => t.topic_id == id,
                None => t.name == name,
            })
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Message;
    use crate::wire::Reader;
    use crate::wire::messages::ProduceRequest;
    use crate::wire::messages::produce::{PartitionProduceData, TopicProduceResponse};
    use alloc::vec;
    use alloc::vec::Vec;
    use bytes::BytesMut;

    const A: Uuid = Uuid([0xa; 16]);
    const B: Uuid = Uuid([0xb; 16]);

    fn data(p: i32) -> PartitionProduceData {
        PartitionProduceData::default().with_index(p)
    }

    fn built(version: i16) -> (ProduceRequest, ProduceTopics) {
        let mut sent = ProduceTopics::default();
        let mut topics = Vec::new();
        sent.push(&mut topics, version, 0, "a", A, data(0));
        sent.push(&mut topics, version, 0, "a", A, data(1));
        sent.push(&mut topics, version, 1, "b", B, data(0));
        (ProduceRequest::default().with_topic_data(topics), sent)
    }

    fn wire(request: &ProduceRequest, version: i16) -> ProduceRequest {
        let mut buf = BytesMut::new();
        request.encode(&mut buf, version).unwrap();
        ProduceRequest::decode_exact(&mut Reader::new(buf.freeze()), version).unwrap()
    }

    #[test]
    fn v13_requests_carry_ids_and_no_names() {
        let (request, _) = built(13);
        let on_the_wire = wire(&request, 13);
        let named: Vec<(&str, Uuid, usize)> = on_the_wire
            .topic_data
            .iter()
            .map(|t| (t.name.as_str(), t.topic_id, t.partition_data.len()))
            .collect();
        assert_eq!(named, [("", A, 2), ("", B, 1)]);
    }

    #[test]
    fn v12_requests_carry_names() {
        let (request, _) = built(12);
        let on_the_wire = wire(&request, 12);
        let named: Vec<(&str, Uuid, usize)> = on_the_wire
            .topic_data
            .iter()
            .map(|t| (t.name.as_str(), t.topic_id, t.partition_data.len()))
            .collect();
        assert_eq!(named, [("a", Uuid::NIL, 2), ("b", Uuid::NIL, 1)]);
    }

    fn response(name: &str, id: Uuid, offset: i64) -> ProduceResponse {
        ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default()
                .with_name(name.into())
                .with_topic_id(id)
                .with_partition_responses(vec![
                    PartitionProduceResponse::default()
                        .with_index(0)
                        .with_base_offset(offset),
                ]),
        ])
    }

    #[test]
    fn v13_answers_are_matched_by_the_id_sent_never_by_name() {
        let (_, sent) = built(13);
        // The right id under a wrong name: matched.
        let r = response("not-a", A, 7);
        assert_eq!(
            sent.answer(&r, 13, 0, "a", 0).map(|p| p.base_offset),
            Some(7)
        );
        // The right name under another id: not an answer for topic a.
        let r = response("a", B, 7);
        assert!(sent.answer(&r, 13, 0, "a", 0).is_none());
        // Topic b was sent as B: the answer for B is b's.
        assert_eq!(
            sent.answer(&r, 13, 1, "b", 0).map(|p| p.base_offset),
            Some(7)
        );
        // A topic the request did not carry has no answer.
        assert!(sent.answer(&r, 13, 2, "c", 0).is_none());
    }

    #[test]
    fn v12_answers_are_matched_by_name() {
        let (_, sent) = built(12);
        let r = response("a", Uuid::NIL, 3);
        assert_eq!(
            sent.answer(&r, 12, 0, "a", 0).map(|p| p.base_offset),
            Some(3)
        );
        assert!(sent.answer(&r, 12, 1, "b", 0).is_none());
    }

    #[test]
    fn a_topic_without_an_id_keeps_the_request_below_v13() {
        assert_eq!(produce_version(13, [A, B].into_iter()), 13);
        assert_eq!(produce_version(13, [A, Uuid::NIL].into_iter()), 12);
        assert_eq!(produce_version(11, [Uuid::NIL].into_iter()), 11);
        assert_eq!(produce_version(12, [A].into_iter()), 12);
    }
}
