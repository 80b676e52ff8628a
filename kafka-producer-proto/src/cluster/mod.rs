//! The producer's view of the cluster: the brokers, partition leaders and
//! refresh policy ([`Metadata`]), and one connection to a broker
//! ([`Connection`]: framing, correlation, requests in flight, negotiated
//! versions).
//!
//! Above `batch/`: a Metadata answer sets the partitions' leaders in the
//! accumulator, and a Produce request in flight carries its batches.

mod authentication;
mod connection;
mod metadata;
mod produce_topics;
mod rebootstrap;

pub(crate) use authentication::{AuthInput, AuthOutcome, Authentication, Context, Step};
pub(crate) use connection::{Connection, InFlight, Phase, Purpose};
pub(crate) use metadata::{Metadata, invalidates_metadata};
pub(crate) use produce_topics::{ProduceTopics, produce_version};
