//! A deterministic simulation of a Kafka cluster and the network to it
//! (feature `sim`): the real [`crate::Producer`] talks to [`SimCluster`]
//! through real bytes, in virtual time, through [`SimNet`].
//!
//! ```
//! use core::time::Duration;
//! use kafka_producer_proto::sim::{SimCluster, SimNet};
//! use kafka_producer_proto::{Config, Event, Instant, Producer, Record};
//!
//! let mut cluster = SimCluster::new(3);
//! cluster.create_topic("events", 4);
//! let config = Config::builder().bootstrap_servers(&cluster.bootstrap_servers()).build()?;
//! let mut net = SimNet::new(Producer::new(config, Instant::ZERO), cluster, Instant::ZERO);
//! for i in 0..100 {
//!     net.producer.send(Record::new("events").key(format!("k{i}")).value("v"), net.now).unwrap();
//! }
//! assert!(net.run_until(Duration::from_secs(10), |n| n.events.len() == 100));
//! assert!(net.events.iter().all(|e| matches!(e, Event::Delivered { .. })));
//! let stored: usize = (0..4).map(|p| net.cluster.log("events", p).len()).sum();
//! assert_eq!(stored, 100);
//! # Ok::<(), kafka_producer_proto::ConfigError>(())
//! ```

mod attempts;
mod batch_validation;
mod cluster;
mod coordinators;
mod entropy;
mod faults;
mod harness;
mod invariants;
mod markers;
mod network;
mod observed;
mod producer_state;
mod sasl;
mod schedule;
#[cfg(feature = "std")]
mod server;
mod topic_ids;
mod txn_checks;
mod txn_handlers;
mod txn_run;
mod txn_schedule;

pub use attempts::{Attempt, AttemptLog};
pub use cluster::{SimBroker, SimCluster, StoredRecord, request_api};
pub use coordinators::{Fence, TxnDecision};
pub use entropy::{Chance, Entropy};
pub use faults::{
    FaultTally, Latency, NetFaults, error_codes, is_sequence_error, recoverable,
    transactional_produce_codes,
};
pub use harness::{Report, TOPIC, run, run_bytes, run_seed};
pub use invariants::{CheckTally, Violation, check};
pub use markers::{AbortedTxn, Marker, read_committed};
pub use network::SimNet;
pub use observed::{Observed, Sent};
pub use sasl::{SaslFaults, SaslStats, SimReply, SimSasl, SimSession};
pub use schedule::{ClusterFault, SaslSchedule, Schedule};
#[cfg(feature = "std")]
pub use server::{SimServer, SimServerBuilder};
pub use txn_checks::TxnChecks;
pub use txn_handlers::CoordinatorKind;
pub use txn_run::{
    GROUP, INPUT, OUTPUT, TRANSACTIONAL_ID, TxnReport, TxnTally, run_transactional,
    run_transactional_bytes, run_transactional_seed,
};
pub use txn_schedule::{TxnFault, TxnSchedule};
